"""Errors raised by the rule modules: each carries a short code the caller maps to a catalogue message."""

from __future__ import annotations

from typing import ClassVar


class RuleInputError(ValueError):
    """Input refused by a rule; `code` is a stable snake_case identifier, never a sentence.

    Subclasses list every code they may raise in CODES, so the message catalogue can be checked
    for completeness by a test instead of by reading the source.
    """

    DOMAIN: ClassVar[str] = "input"
    CODES: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, code: str, detail: str | None = None) -> None:
        # A typo in a code would surface to the user as a missing message: fail loudly at the raise site.
        if code not in self.CODES:
            raise AssertionError(f"{type(self).__name__} has no code {code!r}")
        super().__init__(code if detail is None else f"{code}: {detail}")
        self.code: str = code
        # `detail` is for logs and tests only; it must never carry personal data.
        self.detail: str | None = detail

    @property
    def key(self) -> str:
        """Catalogue key, e.g. "dues.not_a_number"."""
        return f"{self.DOMAIN}.{self.code}"


class DuesInputError(RuleInputError):
    """A money amount or dues parameter was refused."""

    DOMAIN = "dues"
    CODES = frozenset(
        {
            "not_a_number",
            "not_positive",
            "too_many_decimals",
            "absurd",
            "base_required",
            "farmer_amount_out_of_range",
            "bad_rounding_unit",
            "reduced_and_exempt",
            "reduced_above_standard",
            "negative_extra",
            "need_three_months",
            "negative_income",
        }
    )


class DateInputError(RuleInputError):
    """A date, month or activity-day rule was refused."""

    DOMAIN = "date"
    CODES = frozenset(
        {
            "bad_format",
            "no_such_day",
            "in_future",
            "too_old",
            "bad_month",
            "bad_day",
            "bad_nth",
            "bad_weekday",
            "bad_rule",
            "naive_datetime",
        }
    )


class PhoneInputError(RuleInputError):
    """A phone number was refused."""

    DOMAIN = "phone"
    CODES = frozenset({"not_a_number", "invalid", "not_mobile", "not_cn"})


class InputError(RuleInputError):
    """A free-text field (name, short text) was refused."""

    DOMAIN = "text"
    CODES = frozenset({"empty", "too_long", "no_letters", "control_chars"})
