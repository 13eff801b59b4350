"""Tests for mainland China mobile normalisation and masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.errors import PhoneInputError, RuleInputError
from bot.rules.phone import mask_phone, normalize_mobile


@pytest.mark.parametrize(
    "text",
    [
        "+86 138 0013 8000",
        "13800138000",
        "138-0013-8000",
        "１３８００１３８０００",
        "＋８６ １３８ ００１３ ８０００",
        "0086 13800138000",
        "+8613800138000",
        "+86 (138) 0013 8000",
        " 13800138000 ",
    ],
)
def test_mobile_normalised(text: str) -> None:
    assert normalize_mobile(text) == "+8613800138000"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("010 6552 9988", "not_mobile"),
        ("+86 10 6552 9988", "not_mobile"),
        ("021-6234 5678", "not_mobile"),
        ("12345", "invalid"),
        ("1380013800", "invalid"),
        ("138001380001", "invalid"),
        ("+1 650 253 0000", "not_cn"),
        ("+852 6123 4567", "not_cn"),
        ("", "not_a_number"),
        ("   ", "not_a_number"),
        ("abc", "not_a_number"),
        ("138OO138OOO", "not_a_number"),
        ("1-800-FLOWERS", "not_a_number"),
        ("138 0013 8000 ext 5", "not_a_number"),
        ("1" * 100, "not_a_number"),
        ("+", "not_a_number"),
    ],
)
def test_refused(text: str, code: str) -> None:
    with pytest.raises(PhoneInputError) as err:
        normalize_mobile(text)
    assert err.value.code == code
    assert err.value.key == f"phone.{code}"


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613800138000", "138****8000"),
        ("13800138000", "138****8000"),
        ("+16502530000", "165****0000"),
        ("12345", "****"),
        ("", "****"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


_cn_mobiles = st.builds(
    lambda prefix, rest: f"{prefix}{rest:08d}",
    st.sampled_from(["130", "135", "138", "139", "150", "158", "166", "177", "186", "188", "199"]),
    st.integers(min_value=0, max_value=99_999_999),
)


@given(_cn_mobiles, st.sampled_from(["{}", "+86{}", "+86 {}", "0086{}", "{0:.3} {1} {2}"]))
def test_normalize_is_idempotent(mobile: str, template: str) -> None:
    text = template.format(mobile, mobile[3:7], mobile[7:]) if "{0" in template else template.format(mobile)
    first = normalize_mobile(text)
    assert first == f"+86{mobile}"
    assert normalize_mobile(first) == first
    assert mask_phone(first) == f"{mobile[:3]}****{mobile[-4:]}"


@given(st.text(max_size=40))
def test_random_text_only_rule_errors(text: str) -> None:
    try:
        result = normalize_mobile(text)
    except RuleInputError:
        return
    assert result.startswith("+861") and len(result) == 14
    assert normalize_mobile(result) == result


@given(st.text(alphabet="0123456789 +-()", max_size=25))
def test_random_digits_only_rule_errors(text: str) -> None:
    try:
        normalize_mobile(text)
    except RuleInputError:
        pass


@given(st.text(max_size=40))
def test_mask_never_raises(text: str) -> None:
    assert isinstance(mask_phone(text), str)
