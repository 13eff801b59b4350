"""Tests for the activity-day calendar rules, month arithmetic, quiet hours and date parsing."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.dates import (
    LAST,
    ActivityRule,
    in_quiet_hours,
    month_add,
    months_between,
    next_allowed_time,
    next_occurrence,
    occurrence_date,
    occurrence_datetime,
    parse_date,
)
from bot.rules.errors import DateInputError, RuleInputError

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("day", "year", "month", "expected"),
    [
        (31, 2025, 2, date(2025, 2, 28)),  # the documented clamp
        (31, 2024, 2, date(2024, 2, 29)),
        (30, 2025, 2, date(2025, 2, 28)),
        (29, 2024, 2, date(2024, 2, 29)),
        (31, 2025, 4, date(2025, 4, 30)),
        (31, 2025, 1, date(2025, 1, 31)),
        (1, 2025, 6, date(2025, 6, 1)),
        (15, 2025, 12, date(2025, 12, 15)),
    ],
)
def test_day_of_month_clamps(day: int, year: int, month: int, expected: date) -> None:
    assert occurrence_date(ActivityRule.day_of_month(day), year, month) == expected


@pytest.mark.parametrize(
    ("nth", "weekday", "year", "month", "expected"),
    [
        (1, 4, 2025, 8, date(2025, 8, 1)),  # first Friday, month starts on a Friday
        (1, 4, 2025, 7, date(2025, 7, 4)),
        (2, 0, 2025, 9, date(2025, 9, 8)),
        (4, 6, 2025, 2, date(2025, 2, 23)),
        (LAST, 4, 2025, 2, date(2025, 2, 28)),
        (LAST, 0, 2025, 3, date(2025, 3, 31)),
        (LAST, 6, 2025, 3, date(2025, 3, 30)),
    ],
)
def test_nth_weekday(nth: int, weekday: int, year: int, month: int, expected: date) -> None:
    assert occurrence_date(ActivityRule.nth_weekday(nth, weekday), year, month) == expected


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "bad_rule"),
        ({"day": 0}, "bad_day"),
        ({"day": 32}, "bad_day"),
        ({"day": 1, "nth": 1, "weekday": 0}, "bad_rule"),
        ({"nth": 1}, "bad_rule"),
        ({"weekday": 1}, "bad_rule"),
        ({"nth": 5, "weekday": 0}, "bad_nth"),
        ({"nth": 0, "weekday": 0}, "bad_nth"),
        ({"nth": 1, "weekday": 7}, "bad_weekday"),
        ({"day": 1, "at": time(9, tzinfo=UTC)}, "bad_rule"),
    ],
)
def test_bad_rules(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(DateInputError) as err:
        ActivityRule(**kwargs)  # type: ignore[arg-type]
    assert err.value.code == code


def test_occurrence_datetime_is_aware_local() -> None:
    rule = ActivityRule.day_of_month(10, at=time(19, 30))
    dt = occurrence_datetime(rule, 2025, 5, SHANGHAI)
    assert dt == datetime(2025, 5, 10, 19, 30, tzinfo=SHANGHAI)
    assert dt.utcoffset() == timedelta(hours=8)


def test_occurrence_in_dst_gap_moves_forward() -> None:
    # 2025-03-30 02:30 does not exist in Berlin.
    rule = ActivityRule.nth_weekday(LAST, 6, at=time(2, 30))
    dt = occurrence_datetime(rule, 2025, 3, BERLIN)
    assert dt.astimezone(UTC) == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2025, 5, 1, 0, 0, tzinfo=SHANGHAI), datetime(2025, 5, 10, 9, 0, tzinfo=SHANGHAI)),
        (datetime(2025, 5, 10, 8, 59, tzinfo=SHANGHAI), datetime(2025, 5, 10, 9, 0, tzinfo=SHANGHAI)),
        (datetime(2025, 5, 10, 9, 0, tzinfo=SHANGHAI), datetime(2025, 6, 10, 9, 0, tzinfo=SHANGHAI)),
        (datetime(2025, 12, 31, 23, 0, tzinfo=SHANGHAI), datetime(2026, 1, 10, 9, 0, tzinfo=SHANGHAI)),
        # an instant given in UTC is judged in the branch's zone
        (datetime(2025, 5, 10, 0, 59, tzinfo=UTC), datetime(2025, 5, 10, 9, 0, tzinfo=SHANGHAI)),
        (datetime(2025, 5, 10, 1, 0, tzinfo=UTC), datetime(2025, 6, 10, 9, 0, tzinfo=SHANGHAI)),
    ],
)
def test_next_occurrence(after: datetime, expected: datetime) -> None:
    assert next_occurrence(ActivityRule.day_of_month(10), after, SHANGHAI) == expected


def test_next_occurrence_refuses_naive() -> None:
    with pytest.raises(DateInputError) as err:
        next_occurrence(ActivityRule.day_of_month(10), datetime(2025, 5, 1), SHANGHAI)
    assert err.value.code == "naive_datetime"


@pytest.mark.parametrize(
    ("year", "month", "delta", "expected"),
    [
        (2025, 1, 0, (2025, 1)),
        (2025, 12, 1, (2026, 1)),
        (2025, 1, -1, (2024, 12)),
        (2025, 7, -6, (2025, 1)),
        (2025, 7, -7, (2024, 12)),
        (2025, 7, 30, (2028, 1)),
    ],
)
def test_month_add(year: int, month: int, delta: int, expected: tuple[int, int]) -> None:
    assert month_add(year, month, delta) == expected


@pytest.mark.parametrize("month", [0, 13])
def test_month_add_bad_month(month: int) -> None:
    with pytest.raises(DateInputError) as err:
        month_add(2025, month, 1)
    assert err.value.code == "bad_month"


def test_months_between() -> None:
    assert months_between((2024, 11), (2025, 2)) == 3
    assert months_between((2025, 2), (2024, 11)) == -3
    assert months_between((2025, 2), (2025, 2)) == 0


@pytest.mark.parametrize(
    ("t", "start", "end", "quiet"),
    [
        (time(23, 0), time(22), time(7), True),
        (time(22, 0), time(22), time(7), True),
        (time(0, 0), time(22), time(7), True),
        (time(6, 59), time(22), time(7), True),
        (time(7, 0), time(22), time(7), False),
        (time(12, 0), time(22), time(7), False),
        (time(21, 59), time(22), time(7), False),
        (time(13, 0), time(12), time(14), True),
        (time(14, 0), time(12), time(14), False),
        (time(11, 0), time(12), time(14), False),
        (time(3, 0), time(0), time(0), False),  # equal ends: no quiet hours
    ],
)
def test_in_quiet_hours(t: time, start: time, end: time, quiet: bool) -> None:
    assert in_quiet_hours(t, start, end) is quiet


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2025, 5, 10, 12, 0), datetime(2025, 5, 10, 12, 0)),
        (datetime(2025, 5, 10, 23, 30), datetime(2025, 5, 11, 7, 0)),
        (datetime(2025, 5, 31, 22, 0), datetime(2025, 6, 1, 7, 0)),
        (datetime(2025, 5, 10, 3, 0), datetime(2025, 5, 10, 7, 0)),
        (datetime(2025, 5, 10, 7, 0), datetime(2025, 5, 10, 7, 0)),
    ],
)
def test_next_allowed_time(local: datetime, expected: datetime) -> None:
    dt = local.replace(tzinfo=SHANGHAI)
    assert next_allowed_time(dt, time(22), time(7), SHANGHAI) == expected.replace(tzinfo=SHANGHAI)


def test_next_allowed_time_returns_same_object_when_allowed() -> None:
    dt = datetime(2025, 5, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert next_allowed_time(dt, time(22), time(7), SHANGHAI) is dt


@pytest.mark.parametrize(
    "text",
    [
        "2015-07-01",
        "2015/7/1",
        "2015.7.1",
        "2015年7月1日",
        "2015年7月1号",
        "2015年7月1",
        "２０１５年７月１日",
        "２０１５－０７－０１",
        " 2015 年 7 月 1 日 ",
        "20150701",
    ],
)
def test_parse_date_good(text: str) -> None:
    assert parse_date(text) == date(2015, 7, 1)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "bad_format"),
        ("yesterday", "bad_format"),
        ("2015-7/1", "bad_format"),
        ("15-7-1", "bad_format"),
        ("2015-07", "bad_format"),
        ("7/1/2015", "bad_format"),
        ("2015-02-30", "no_such_day"),
        ("2015-13-01", "no_such_day"),
        ("0000-01-01", "no_such_day"),
        ("1921-06-30", "too_old"),
        ("2030-01-01", "in_future"),
        ("x" * 500, "bad_format"),
    ],
)
def test_parse_date_bad(text: str, code: str) -> None:
    with pytest.raises(DateInputError) as err:
        parse_date(text, today=date(2025, 5, 10))
    assert err.value.code == code


def test_parse_date_bounds() -> None:
    assert parse_date("1921-07-01") == date(1921, 7, 1)
    assert parse_date("2025-05-10", today=date(2025, 5, 10)) == date(2025, 5, 10)
    # Without `today` no future check is possible.
    assert parse_date("2030-01-01") == date(2030, 1, 1)


# --- properties -------------------------------------------------------------------------------------

_years = st.integers(min_value=1922, max_value=2200)
_months = st.integers(min_value=1, max_value=12)


@given(st.integers(min_value=1, max_value=31), _years, _months)
def test_day_rule_in_month_and_clamped(day: int, year: int, month: int) -> None:
    result = occurrence_date(ActivityRule.day_of_month(day), year, month)
    assert (result.year, result.month) == (year, month)
    assert result.day == min(day, calendar.monthrange(year, month)[1])


@given(st.sampled_from([1, 2, 3, 4, LAST]), st.integers(min_value=0, max_value=6), _years, _months)
def test_nth_weekday_properties(nth: int, weekday: int, year: int, month: int) -> None:
    result = occurrence_date(ActivityRule.nth_weekday(nth, weekday), year, month)
    assert (result.year, result.month) == (year, month)
    assert result.weekday() == weekday
    if nth == LAST:
        assert (result + timedelta(days=7)).month != month
    else:
        assert (result.day - 1) // 7 + 1 == nth


@given(
    st.integers(min_value=1, max_value=31),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_next_occurrence_is_next(day: int, after: datetime) -> None:
    rule = ActivityRule.day_of_month(day, at=time(19))
    nxt = next_occurrence(rule, after, SHANGHAI)
    assert nxt > after
    assert nxt - after <= timedelta(days=62)
    local = nxt.astimezone(SHANGHAI)
    assert local.date() == occurrence_date(rule, local.year, local.month)


@given(_years, _months, st.integers(min_value=-600, max_value=600))
def test_month_add_inverts_months_between(year: int, month: int, delta: int) -> None:
    target = month_add(year, month, delta)
    assert 1 <= target[1] <= 12
    assert months_between((year, month), target) == delta
    assert month_add(*target, -delta) == (year, month)


_times = st.times()


@given(_times, _times, _times)
def test_quiet_hours_consistent(t: time, start: time, end: time) -> None:
    quiet = in_quiet_hours(t, start, end)
    if start == end:
        assert not quiet
    else:
        # The window's complement is the window with ends swapped.
        assert quiet != in_quiet_hours(t, end, start)
        assert in_quiet_hours(start, start, end)
        assert not in_quiet_hours(end, start, end)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(SHANGHAI)),
    _times,
    _times,
)
def test_next_allowed_time_properties(dt: datetime, start: time, end: time) -> None:
    result = next_allowed_time(dt, start, end, SHANGHAI)
    assert result >= dt
    assert not in_quiet_hours(result.astimezone(SHANGHAI).time(), start, end)
    assert result - dt <= timedelta(days=1)
    if not in_quiet_hours(dt.time(), start, end):
        assert result is dt


@given(st.text(max_size=60), st.dates())
def test_parse_date_random_text_only_rule_errors(text: str, today: date) -> None:
    try:
        parse_date(text, today=today)
    except RuleInputError:
        pass


@given(st.dates(min_value=date(1921, 7, 1), max_value=date(2100, 12, 31)), st.sampled_from(["-", "/", "."]))
def test_parse_date_round_trips(day: date, sep: str) -> None:
    assert parse_date(f"{day.year}{sep}{day.month}{sep}{day.day}") == day
    assert parse_date(f"{day.year}年{day.month}月{day.day}日") == day
    assert parse_date(day.isoformat()) == day
