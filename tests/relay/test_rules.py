"""The relay's pure rules: promised deadlines, receipt numbers, month bounds and rates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.relay import (
    end_of_day,
    is_overdue,
    month_bounds,
    percent,
    promised_deadline,
    receipt_number,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZONES = st.sampled_from([SHANGHAI, ZoneInfo("Asia/Urumqi"), ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")])
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@given(MOMENTS, st.integers(min_value=0, max_value=365), ZONES)
def test_the_deadline_is_the_accepted_day_plus_the_promised_days(accepted: datetime, days: int, tz) -> None:
    due_on, due_at = promised_deadline(accepted, days, tz)
    assert (due_on - accepted.astimezone(tz).date()).days == days
    # Overdue from the first instant of the next local day, and not a moment before.
    assert due_at.astimezone(tz).date() == due_on + timedelta(days=1)
    assert due_at.astimezone(tz).time() == time(0, 0)
    assert not is_overdue("accepted", due_at, due_at - timedelta(microseconds=1))
    assert is_overdue("accepted", due_at, due_at)
    assert not is_overdue("completed", due_at, due_at + timedelta(days=3))


@pytest.mark.parametrize(
    ("accepted_local", "days", "due"),
    [
        (datetime(2026, 3, 2, 9, 0), 5, date(2026, 3, 7)),
        (datetime(2026, 3, 2, 23, 59), 0, date(2026, 3, 2)),
        (datetime(2026, 2, 27, 10, 0), 3, date(2026, 3, 2)),  # across the end of February
        (datetime(2026, 12, 30, 8, 0), 7, date(2027, 1, 6)),
    ],
)
def test_deadline_examples(accepted_local: datetime, days: int, due: date) -> None:
    accepted = accepted_local.replace(tzinfo=SHANGHAI).astimezone(UTC)
    assert promised_deadline(accepted, days, SHANGHAI)[0] == due


def test_the_local_day_decides_not_the_utc_day() -> None:
    # 00:30 on 3 March in Shanghai is still 2 March in UTC: the promise counts from 3 March.
    accepted = datetime(2026, 3, 3, 0, 30, tzinfo=SHANGHAI)
    assert promised_deadline(accepted, 1, SHANGHAI)[0] == date(2026, 3, 4)
    assert end_of_day(date(2026, 3, 4), SHANGHAI) == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


@given(
    st.integers(min_value=1, max_value=9999),
    st.integers(min_value=2000, max_value=2099),
    st.integers(min_value=1, max_value=99999),
)
def test_receipt_numbers_are_readable_and_unambiguous(township: int, year: int, sequence: int) -> None:
    number = receipt_number(township, year, sequence)
    match = re.fullmatch(r"T(\d+)-(\d{4})-(\d{4,})", number)
    assert match is not None and len(number) <= 32
    assert (int(match[1]), int(match[2]), int(match[3])) == (township, year, sequence)


@given(st.integers(min_value=2000, max_value=2099), st.integers(min_value=1, max_value=12), ZONES)
def test_months_tile_the_calendar(year: int, month: int, tz) -> None:
    start, end = month_bounds(year, month, tz)
    next_start, _ = month_bounds(year + (month == 12), month % 12 + 1, tz)
    assert start < end == next_start
    assert start.astimezone(tz).day == 1 and start.astimezone(tz).time() == time(0, 0)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_percent_is_a_share_with_one_decimal(part: int, whole: int) -> None:
    if part > whole:
        part, whole = whole, part
        if whole == 0:
            return
    value = percent(part, whole)
    assert Decimal(0) <= value <= Decimal(100)
    assert value.as_tuple().exponent == -1
    assert abs(value - Decimal(part) * 100 / Decimal(whole)) <= Decimal("0.05")


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [(1, 3, "33.3"), (2, 3, "66.7"), (1, 8, "12.5"), (3, 5, "60.0"), (0, 4, "0.0"), (7, 7, "100.0")],
)
def test_percent_examples(part: int, whole: int, shown: str) -> None:
    assert str(percent(part, whole)) == shown


def test_no_rate_without_accepted_requests() -> None:
    assert percent(0, 0) is None
