"""Party dues rule of 中组发〔2008〕3号: categories, rates, rounding, money parsing and make-up limits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from bot.rules.dates import YearMonth, months_between
from bot.rules.errors import DuesInputError

FEN = Decimal("0.01")
JIAO = Decimal("0.1")
FLAT_AMOUNT = Decimal("0.20")
FARMER_MIN = Decimal("0.20")
FARMER_MAX = Decimal("1.00")
# No member earns a million yuan a month: a bigger figure is a typo (extra zeros) or someone testing the bot.
MAX_MONTHLY_BASE = Decimal("1000000")
MAKEUP_MONTHS_MAX = 6

# Long pasted text cannot be an amount; bounding it keeps Decimal and the regex cheap.
_MAX_MONEY_TEXT = 40
_PREFIXES = ("人民币", "RMB", "CNY", "¥")
_SUFFIXES = ("人民币", "RMB", "CNY", "元整", "元", "块钱", "块")
_PLAIN = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)


class DuesCategory(StrEnum):
    """Which line of the rule applies; the member declares, the secretary confirms."""

    EMPLOYED = "employed"
    ANNUAL_SALARY = "annual_salary"
    SELF_EMPLOYED = "self_employed"
    RETIRED = "retired"
    FARMER = "farmer"
    STUDENT = "student"
    UNEMPLOYED = "unemployed"
    RELIEF = "relief"


class DuesBracket(StrEnum):
    """Which row of the rule produced the amount, for ledgers and for explaining the figure to the member."""

    WAGE_UP_TO_3000 = "wage_up_to_3000"
    WAGE_3000_TO_5000 = "wage_3000_to_5000"
    WAGE_5000_TO_10000 = "wage_5000_to_10000"
    WAGE_OVER_10000 = "wage_over_10000"
    PENSION_UP_TO_5000 = "pension_up_to_5000"
    PENSION_OVER_5000 = "pension_over_5000"
    FARMER_FIXED = "farmer_fixed"
    FLAT_MINIMUM = "flat_minimum"


WAGE_CATEGORIES = frozenset({DuesCategory.EMPLOYED, DuesCategory.ANNUAL_SALARY, DuesCategory.SELF_EMPLOYED})
FLAT_CATEGORIES = frozenset({DuesCategory.STUDENT, DuesCategory.UNEMPLOYED, DuesCategory.RELIEF})

# (upper bound inclusive or None, rate, bracket); one rate applies to the whole base, not marginally.
_WAGE_TABLE: tuple[tuple[Decimal | None, Decimal, DuesBracket], ...] = (
    (Decimal("3000"), Decimal("0.005"), DuesBracket.WAGE_UP_TO_3000),
    (Decimal("5000"), Decimal("0.01"), DuesBracket.WAGE_3000_TO_5000),
    (Decimal("10000"), Decimal("0.015"), DuesBracket.WAGE_5000_TO_10000),
    (None, Decimal("0.02"), DuesBracket.WAGE_OVER_10000),
)
_PENSION_TABLE: tuple[tuple[Decimal | None, Decimal, DuesBracket], ...] = (
    (Decimal("5000"), Decimal("0.005"), DuesBracket.PENSION_UP_TO_5000),
    (None, Decimal("0.01"), DuesBracket.PENSION_OVER_5000),
)


@dataclass(frozen=True, slots=True)
class DuesResult:
    """One month's dues.

    `amount` is what the member owes this month (after any reduction or exemption, plus any voluntary
    extra); `standard_amount` is what the rule alone gives, kept so a ledger can show both.
    """

    category: DuesCategory
    amount: Decimal
    rate: Decimal | None
    bracket: DuesBracket
    base: Decimal | None
    standard_amount: Decimal
    reduced: bool = False
    exempt: bool = False
    voluntary_extra: Decimal = Decimal("0.00")


def _decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _check_amount(value: Decimal, *, allow_zero: bool = False) -> Decimal:
    if not value.is_finite():
        raise DuesInputError("not_a_number")
    if value < 0 or (value == 0 and not allow_zero):
        raise DuesInputError("not_positive")
    # Strip trailing zeros first so "3000.500" counts as one decimal, not three.
    if _decimal_places(value.normalize()) > 2:
        raise DuesInputError("too_many_decimals")
    if value > MAX_MONTHLY_BASE:
        raise DuesInputError("absurd")
    return value


def _pick(
    table: tuple[tuple[Decimal | None, Decimal, DuesBracket], ...], base: Decimal
) -> tuple[Decimal, DuesBracket]:
    for upper, rate, bracket in table:
        if upper is None or base <= upper:
            return rate, bracket
    raise AssertionError("unreachable: the last row has no upper bound")


def compute_monthly_dues(
    category: DuesCategory,
    base: Decimal | None,
    *,
    farmer_amount: Decimal = FARMER_MIN,
    rounding_unit: Decimal = FEN,
    reduced_amount: Decimal | None = None,
    exempt: bool = False,
    voluntary_extra: Decimal = Decimal("0"),
) -> DuesResult:
    """Monthly dues for one member.

    `base` is the after-tax wage, the month's pay (annual salary), the previous quarter's average net
    income (self-employed) or the pension; it is ignored for farmers and flat-rate categories.
    `rounding_unit` is the fen (default) or the jiao if the branch chose it; only a percentage amount is
    rounded, because fixed amounts are already set by the branch or the rule.
    """
    category = DuesCategory(category)
    if rounding_unit not in (FEN, JIAO):
        raise DuesInputError("bad_rounding_unit")
    if reduced_amount is not None and exempt:
        raise DuesInputError("reduced_and_exempt")
    # is_finite first: comparing a Decimal NaN raises instead of answering.
    if not voluntary_extra.is_finite():
        raise DuesInputError("not_a_number")
    if voluntary_extra < 0:
        raise DuesInputError("negative_extra")
    extra = _check_amount(voluntary_extra, allow_zero=True).quantize(FEN)

    rate: Decimal | None = None
    checked_base: Decimal | None = None
    if category in WAGE_CATEGORIES or category is DuesCategory.RETIRED:
        if base is None:
            raise DuesInputError("base_required")
        checked_base = _check_amount(base)
        table = _PENSION_TABLE if category is DuesCategory.RETIRED else _WAGE_TABLE
        rate, bracket = _pick(table, checked_base)
        standard = (checked_base * rate).quantize(rounding_unit, rounding=ROUND_HALF_UP).quantize(FEN)
    elif category is DuesCategory.FARMER:
        if not farmer_amount.is_finite() or not FARMER_MIN <= farmer_amount <= FARMER_MAX:
            raise DuesInputError("farmer_amount_out_of_range")
        if _decimal_places(farmer_amount.normalize()) > 2:
            raise DuesInputError("too_many_decimals")
        bracket = DuesBracket.FARMER_FIXED
        standard = farmer_amount.quantize(FEN)
    else:
        bracket = DuesBracket.FLAT_MINIMUM
        standard = FLAT_AMOUNT

    owed = standard
    if exempt:
        owed = Decimal("0.00")
    elif reduced_amount is not None:
        reduced = _check_amount(reduced_amount).quantize(FEN)
        if reduced > standard:
            raise DuesInputError("reduced_above_standard")
        owed = reduced

    return DuesResult(
        category=category,
        amount=(owed + extra).quantize(FEN),
        rate=rate,
        bracket=bracket,
        base=checked_base,
        standard_amount=standard,
        reduced=reduced_amount is not None,
        exempt=exempt,
        voluntary_extra=extra,
    )


def _strip_affixes(text: str) -> str:
    for prefix in _PREFIXES:
        if text.upper().startswith(prefix):
            text = text[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if text.upper().endswith(suffix):
            text = text[: -len(suffix)]
            break
    return text


def parse_money(text: str) -> Decimal:
    """Parse an amount typed by a member: "3000", "3,000.50", "３０００", "3000元", "¥3000".

    Returns the value quantized to the fen. Refuses zero and negatives (a base or a payment is positive),
    more than two decimals, and anything above MAX_MONTHLY_BASE.
    """
    if not isinstance(text, str) or len(text) > _MAX_MONEY_TEXT:
        raise DuesInputError("not_a_number")
    # NFKC folds full-width digits, "，", "．" and "￥" into their ASCII forms.
    cleaned = "".join(unicodedata.normalize("NFKC", text).split())
    cleaned = _strip_affixes(cleaned)
    if _GROUPED.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    elif not _PLAIN.fullmatch(cleaned):
        raise DuesInputError("not_a_number")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise DuesInputError("not_a_number") from None
    return _check_amount(value).quantize(FEN)


def self_employed_base(last_quarter_monthly_incomes: Sequence[Decimal]) -> Decimal:
    """Base for a member without a monthly wage: the average monthly net income of the previous quarter."""
    if len(last_quarter_monthly_incomes) != 3:
        raise DuesInputError("need_three_months")
    for income in last_quarter_monthly_incomes:
        if not income.is_finite():
            raise DuesInputError("not_a_number")
        # A month at a loss is recorded as zero income; a negative figure is a typing error.
        if income < 0:
            raise DuesInputError("negative_income")
    average = sum(last_quarter_monthly_incomes, Decimal("0")) / 3
    return average.quantize(FEN, rounding=ROUND_HALF_UP)


def makeup_months_allowed(today_month: YearMonth, month: YearMonth) -> bool:
    """Whether dues for `month` may be paid now: not a future month, and at most six months back."""
    return 0 <= months_between(month, today_month) <= MAKEUP_MONTHS_MAX
