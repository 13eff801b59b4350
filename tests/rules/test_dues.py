"""Tests for the 中组发〔2008〕3号 dues rule, money parsing and make-up limits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.dues import (
    FLAT_CATEGORIES,
    WAGE_CATEGORIES,
    DuesBracket,
    DuesCategory,
    compute_monthly_dues,
    makeup_months_allowed,
    parse_money,
    self_employed_base,
)
from bot.rules.errors import DuesInputError, RuleInputError

D = Decimal


@pytest.mark.parametrize(
    ("base", "amount", "rate", "bracket"),
    [
        ("2800", "14.00", "0.005", DuesBracket.WAGE_UP_TO_3000),
        ("3000", "15.00", "0.005", DuesBracket.WAGE_UP_TO_3000),
        ("3000.01", "30.00", "0.01", DuesBracket.WAGE_3000_TO_5000),
        ("5000", "50.00", "0.01", DuesBracket.WAGE_3000_TO_5000),
        ("5000.01", "75.00", "0.015", DuesBracket.WAGE_5000_TO_10000),
        ("8000", "120.00", "0.015", DuesBracket.WAGE_5000_TO_10000),
        ("10000", "150.00", "0.015", DuesBracket.WAGE_5000_TO_10000),
        ("10000.01", "200.00", "0.02", DuesBracket.WAGE_OVER_10000),
        ("12000", "240.00", "0.02", DuesBracket.WAGE_OVER_10000),
        ("0.01", "0.00", "0.005", DuesBracket.WAGE_UP_TO_3000),
        ("1", "0.01", "0.005", DuesBracket.WAGE_UP_TO_3000),
    ],
)
@pytest.mark.parametrize("category", sorted(WAGE_CATEGORIES))
def test_wage_brackets(
    category: DuesCategory, base: str, amount: str, rate: str, bracket: DuesBracket
) -> None:
    result = compute_monthly_dues(category, D(base))
    assert result.amount == D(amount)
    assert str(result.amount) == amount
    assert result.rate == D(rate)
    assert result.bracket is bracket
    assert result.category is category


@pytest.mark.parametrize(
    ("base", "amount", "bracket"),
    [
        ("4000", "20.00", DuesBracket.PENSION_UP_TO_5000),
        ("5000", "25.00", DuesBracket.PENSION_UP_TO_5000),
        ("5000.01", "50.00", DuesBracket.PENSION_OVER_5000),
        ("6000", "60.00", DuesBracket.PENSION_OVER_5000),
        ("12000", "120.00", DuesBracket.PENSION_OVER_5000),
    ],
)
def test_retired_brackets(base: str, amount: str, bracket: DuesBracket) -> None:
    result = compute_monthly_dues(DuesCategory.RETIRED, D(base))
    assert str(result.amount) == amount
    assert result.bracket is bracket


@pytest.mark.parametrize(
    ("base", "fen", "jiao"),
    [
        ("2870", "14.35", "14.40"),  # half rounds up at the jiao
        ("2850", "14.25", "14.30"),
        ("2830", "14.15", "14.20"),
        ("2810", "14.05", "14.10"),
        ("2808", "14.04", "14.00"),
        ("2801", "14.01", "14.00"),  # 14.005 -> 14.01 at the fen (half up), 14.0 at the jiao
        ("3333.33", "33.33", "33.30"),
        ("7777", "116.66", "116.70"),  # 116.655 half up
    ],
)
def test_rounding_fen_and_jiao(base: str, fen: str, jiao: str) -> None:
    assert str(compute_monthly_dues(DuesCategory.EMPLOYED, D(base)).amount) == fen
    jiao_result = compute_monthly_dues(DuesCategory.EMPLOYED, D(base), rounding_unit=D("0.1"))
    assert str(jiao_result.amount) == jiao


def test_half_up_not_bankers() -> None:
    # 2801 * 0.5% = 14.005: banker's rounding would give 14.00.
    assert compute_monthly_dues(DuesCategory.EMPLOYED, D("2801")).amount == D("14.01")


@pytest.mark.parametrize("unit", ["1", "0.001", "0.05"])
def test_bad_rounding_unit(unit: str) -> None:
    with pytest.raises(DuesInputError) as err:
        compute_monthly_dues(DuesCategory.EMPLOYED, D("3000"), rounding_unit=D(unit))
    assert err.value.code == "bad_rounding_unit"


@pytest.mark.parametrize("category", sorted(FLAT_CATEGORIES))
def test_flat_categories(category: DuesCategory) -> None:
    result = compute_monthly_dues(category, None)
    assert str(result.amount) == "0.20"
    assert result.rate is None
    assert result.bracket is DuesBracket.FLAT_MINIMUM
    # A base, if given, does not matter for these categories.
    assert compute_monthly_dues(category, D("99999")).amount == D("0.20")


@pytest.mark.parametrize(("farmer_amount", "expected"), [("0.2", "0.20"), ("0.5", "0.50"), ("1", "1.00")])
def test_farmer_amount_in_range(farmer_amount: str, expected: str) -> None:
    result = compute_monthly_dues(DuesCategory.FARMER, None, farmer_amount=D(farmer_amount))
    assert str(result.amount) == expected
    assert result.bracket is DuesBracket.FARMER_FIXED
    assert result.rate is None


def test_farmer_default_is_minimum() -> None:
    assert compute_monthly_dues(DuesCategory.FARMER, None).amount == D("0.20")


@pytest.mark.parametrize("farmer_amount", ["0.19", "0", "-1", "1.01", "2", "NaN"])
def test_farmer_amount_out_of_range(farmer_amount: str) -> None:
    with pytest.raises(DuesInputError) as err:
        compute_monthly_dues(DuesCategory.FARMER, None, farmer_amount=D(farmer_amount))
    assert err.value.code == "farmer_amount_out_of_range"


def test_farmer_amount_too_many_decimals() -> None:
    with pytest.raises(DuesInputError) as err:
        compute_monthly_dues(DuesCategory.FARMER, None, farmer_amount=D("0.255"))
    assert err.value.code == "too_many_decimals"


@pytest.mark.parametrize(
    ("category", "base", "code"),
    [
        (DuesCategory.EMPLOYED, None, "base_required"),
        (DuesCategory.RETIRED, None, "base_required"),
        (DuesCategory.EMPLOYED, D("0"), "not_positive"),
        (DuesCategory.EMPLOYED, D("-1"), "not_positive"),
        (DuesCategory.EMPLOYED, D("3000.001"), "too_many_decimals"),
        (DuesCategory.EMPLOYED, D("1000000.01"), "absurd"),
        (DuesCategory.SELF_EMPLOYED, D("Infinity"), "not_a_number"),
    ],
)
def test_bad_base(category: DuesCategory, base: Decimal | None, code: str) -> None:
    with pytest.raises(DuesInputError) as err:
        compute_monthly_dues(category, base)
    assert err.value.code == code


def test_trailing_zeros_are_not_extra_decimals() -> None:
    assert compute_monthly_dues(DuesCategory.EMPLOYED, D("3000.0000")).amount == D("15.00")


def test_reduced_exempt_and_extra() -> None:
    reduced = compute_monthly_dues(DuesCategory.EMPLOYED, D("8000"), reduced_amount=D("10"))
    assert (reduced.amount, reduced.standard_amount, reduced.reduced) == (D("10.00"), D("120.00"), True)
    exempt = compute_monthly_dues(DuesCategory.EMPLOYED, D("8000"), exempt=True)
    assert (exempt.amount, exempt.exempt) == (D("0.00"), True)
    extra = compute_monthly_dues(DuesCategory.EMPLOYED, D("8000"), voluntary_extra=D("80"))
    assert (extra.amount, extra.voluntary_extra) == (D("200.00"), D("80.00"))
    both = compute_monthly_dues(DuesCategory.STUDENT, None, exempt=True, voluntary_extra=D("5"))
    assert both.amount == D("5.00")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"reduced_amount": D("1"), "exempt": True}, "reduced_and_exempt"),
        ({"reduced_amount": D("121")}, "reduced_above_standard"),
        ({"reduced_amount": D("0")}, "not_positive"),
        ({"voluntary_extra": D("-1")}, "negative_extra"),
        ({"voluntary_extra": D("NaN")}, "not_a_number"),
    ],
)
def test_bad_adjustments(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(DuesInputError) as err:
        compute_monthly_dues(DuesCategory.EMPLOYED, D("8000"), **kwargs)  # type: ignore[arg-type]
    assert err.value.code == code


def test_category_accepts_its_string_value() -> None:
    assert compute_monthly_dues("retired", D("6000")).category is DuesCategory.RETIRED  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3000", "3000.00"),
        ("3,000.50", "3000.50"),
        ("３０００", "3000.00"),
        ("3000元", "3000.00"),
        ("¥3000", "3000.00"),
        ("￥3000", "3000.00"),
        ("  3000  ", "3000.00"),
        ("３，０００．５", "3000.50"),
        ("234,567.8", "234567.80"),
        ("RMB 3000", "3000.00"),
        ("3000块", "3000.00"),
        ("0.2", "0.20"),
        ("+3000", "3000.00"),
        ("1000000", "1000000.00"),
        ("3000.500", "3000.50"),
    ],
)
def test_parse_money_good(text: str, expected: str) -> None:
    assert str(parse_money(text)) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "not_a_number"),
        ("   ", "not_a_number"),
        ("abc", "not_a_number"),
        ("三千", "not_a_number"),
        ("1e5", "not_a_number"),
        ("NaN", "not_a_number"),
        ("Infinity", "not_a_number"),
        ("3,00", "not_a_number"),
        ("30,00.5", "not_a_number"),
        ("3..0", "not_a_number"),
        ("3000.", "not_a_number"),
        ("¥", "not_a_number"),
        ("1" * 100, "not_a_number"),
        ("٣٠٠٠", "not_a_number"),  # Arabic-Indic digits: not what a member types here
        ("0", "not_positive"),
        ("0.00", "not_positive"),
        ("-3000", "not_positive"),
        ("3000.001", "too_many_decimals"),
        ("1000000.01", "absurd"),
        ("99999999", "absurd"),
    ],
)
def test_parse_money_bad(text: str, code: str) -> None:
    with pytest.raises(DuesInputError) as err:
        parse_money(text)
    assert err.value.code == code
    assert err.value.key == f"dues.{code}"


@pytest.mark.parametrize(
    ("incomes", "expected"),
    [
        (("3000", "3000", "3000"), "3000.00"),
        (("1000", "2000", "4000"), "2333.33"),
        (("1000", "1000", "1001"), "1000.33"),
        (("0", "0", "0.02"), "0.01"),  # 0.00666.. rounds up
        (("0", "0", "0.01"), "0.00"),
    ],
)
def test_self_employed_base(incomes: tuple[str, str, str], expected: str) -> None:
    assert str(self_employed_base([D(x) for x in incomes])) == expected


@pytest.mark.parametrize(
    ("incomes", "code"),
    [
        (("1", "2"), "need_three_months"),
        (("1", "2", "3", "4"), "need_three_months"),
        (("1", "-2", "3"), "negative_income"),
        (("1", "NaN", "3"), "not_a_number"),
    ],
)
def test_self_employed_base_bad(incomes: tuple[str, ...], code: str) -> None:
    with pytest.raises(DuesInputError) as err:
        self_employed_base([D(x) for x in incomes])
    assert err.value.code == code


@pytest.mark.parametrize(
    ("today", "month", "allowed"),
    [
        ((2025, 7), (2025, 7), True),
        ((2025, 7), (2025, 1), True),  # exactly six months back
        ((2025, 7), (2024, 12), False),  # seven
        ((2025, 7), (2025, 8), False),  # future
        ((2025, 3), (2024, 9), True),  # across the year
        ((2025, 3), (2024, 8), False),
    ],
)
def test_makeup_months_allowed(today: tuple[int, int], month: tuple[int, int], allowed: bool) -> None:
    assert makeup_months_allowed(today, month) is allowed


# --- properties -------------------------------------------------------------------------------------

_WAGE_BRACKET_BOUNDS = [
    (D("0.01"), D("3000")),
    (D("3000.01"), D("5000")),
    (D("5000.01"), D("10000")),
    (D("10000.01"), D("1000000")),
]
_PENSION_BRACKET_BOUNDS = [(D("0.01"), D("5000")), (D("5000.01"), D("1000000"))]


def _money(lo: Decimal, hi: Decimal) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=lo, max_value=hi, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def _two_bases_same_bracket(draw: st.DrawFn) -> tuple[DuesCategory, Decimal, Decimal]:
    category = draw(st.sampled_from(sorted(DuesCategory)))
    bounds = _PENSION_BRACKET_BOUNDS if category is DuesCategory.RETIRED else _WAGE_BRACKET_BOUNDS
    lo, hi = draw(st.sampled_from(bounds))
    a, b = draw(_money(lo, hi)), draw(_money(lo, hi))
    return category, min(a, b), max(a, b)


@given(_two_bases_same_bracket(), st.sampled_from([D("0.01"), D("0.1")]))
def test_monotone_within_bracket(case: tuple[DuesCategory, Decimal, Decimal], unit: Decimal) -> None:
    category, low, high = case
    a = compute_monthly_dues(category, low, rounding_unit=unit)
    b = compute_monthly_dues(category, high, rounding_unit=unit)
    assert a.bracket is b.bracket
    assert b.amount >= a.amount


@given(
    st.sampled_from(sorted(DuesCategory)),
    _money(D("0.01"), D("1000000")),
    st.sampled_from([D("0.01"), D("0.1")]),
    _money(D("0"), D("1000")),
)
def test_amount_has_two_decimals(
    category: DuesCategory, base: Decimal, unit: Decimal, extra: Decimal
) -> None:
    result = compute_monthly_dues(category, base, rounding_unit=unit, voluntary_extra=extra)
    assert result.amount.as_tuple().exponent == -2
    assert result.amount >= 0
    if unit == D("0.1") and result.rate is not None:
        assert result.standard_amount == result.standard_amount.quantize(D("0.1"))


@given(_money(D("0.01"), D("1000000")))
def test_whole_base_rate_not_marginal(base: Decimal) -> None:
    result = compute_monthly_dues(DuesCategory.EMPLOYED, base)
    assert result.rate is not None
    assert abs(result.amount - base * result.rate) <= D("0.005")


@given(st.text(max_size=60))
def test_parse_money_random_text_only_rule_errors(text: str) -> None:
    try:
        value = parse_money(text)
    except RuleInputError:
        return
    assert D("0") < value <= D("1000000")
    assert value.as_tuple().exponent == -2


@given(_money(D("0.01"), D("1000000")))
def test_parse_money_round_trips(value: Decimal) -> None:
    assert parse_money(str(value)) == value
    assert parse_money(f"{value:,}") == value
