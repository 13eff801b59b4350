"""Tests for name and short-text cleaning and the minimum age rule."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.errors import InputError, RuleInputError
from bot.rules.validate import age_on, check_age_at_least, clean_name, clean_short_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张三", "张三"),
        ("  张三  ", "张三"),
        ("Li   Wei", "Li Wei"),
        ("买买提·艾力", "买买提·艾力"),
        ("张\u3000三", "张 三"),
        ("王五2", "王五2"),
        ("李", "李"),
        ("a" * 40, "a" * 40),
    ],
)
def test_clean_name_good(text: str, expected: str) -> None:
    assert clean_name(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   \u3000 ", "empty"),
        ("12345", "no_letters"),
        ("···", "no_letters"),
        ("a" * 41, "too_long"),
        ("张\u200b三", "control_chars"),
        ("张\x00三", "control_chars"),
        ("\u202e张三", "control_chars"),
    ],
)
def test_clean_name_bad(text: str, code: str) -> None:
    with pytest.raises(InputError) as err:
        clean_name(text)
    assert err.value.code == code
    assert err.value.key == f"text.{code}"


def test_clean_short_text() -> None:
    assert clean_short_text("  建筑   工地 ", 20) == "建筑 工地"
    assert clean_short_text("line one\r\n\r\n\r\nline  two\n", 50, multiline=True) == "line one\n\nline two"
    assert clean_short_text("a\nb", 10) == "a b"
    for text, code in [("", "empty"), ("abcdef", "too_long"), ("a\x07b", "control_chars")]:
        with pytest.raises(InputError) as err:
            clean_short_text(text, 5)
        assert err.value.code == code
    with pytest.raises(ValueError):
        clean_short_text("a", 0)


@pytest.mark.parametrize(
    ("birth", "today", "adult"),
    [
        (date(2007, 5, 10), date(2025, 5, 10), True),
        (date(2007, 5, 11), date(2025, 5, 10), False),
        (date(2004, 2, 29), date(2022, 2, 28), False),  # a leapling is 18 on 1 March in a common year
        (date(2004, 2, 29), date(2022, 3, 1), True),
        (date(2004, 2, 29), date(2024, 2, 28), True),
        (date(2006, 2, 28), date(2024, 2, 28), True),
        (date(2006, 3, 1), date(2024, 2, 29), False),
        (date(2030, 1, 1), date(2025, 1, 1), False),
    ],
)
def test_check_age_at_least(birth: date, today: date, adult: bool) -> None:
    assert check_age_at_least(birth, today) is adult


@given(st.dates(), st.dates())
def test_age_is_monotone_in_today(birth: date, today: date) -> None:
    assert age_on(birth, today) >= age_on(birth, min(today, date(today.year, 1, 1)))


@given(st.text(max_size=80))
def test_random_text_only_rule_errors(text: str) -> None:
    for call in (
        clean_name,
        lambda t: clean_short_text(t, 50),
        lambda t: clean_short_text(t, 50, multiline=True),
    ):
        try:
            result = call(text)
        except RuleInputError:
            continue
        assert result == result.strip()
        assert 1 <= len(result) <= 50
