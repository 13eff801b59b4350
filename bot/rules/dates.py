"""Calendar rules: the monthly activity day, month arithmetic, quiet hours and date parsing."""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.rules.errors import DateInputError

YearMonth = tuple[int, int]

# The party was founded on 1 July 1921: no joining date, and no sensible birth date we need, lies before it.
PARTY_FOUNDED = date(1921, 7, 1)

LAST = -1
_NTH_ALLOWED = frozenset({1, 2, 3, 4, LAST})

# Inputs longer than this cannot be a date; refusing early keeps the regex cheap on pasted text.
_MAX_DATE_TEXT = 40

# re.ASCII: \d would otherwise match digits of other scripts that NFKC leaves alone.
_SEP_DATE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})", re.ASCII)
_CJK_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?", re.ASCII)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)


@dataclass(frozen=True, slots=True)
class ActivityRule:
    """When a branch holds its activity day: either `day` of month, or the `nth` `weekday` of the month.

    `weekday` follows `date.weekday()` (0 = Monday .. 6 = Sunday); `nth` is 1..4 or -1 for the last one,
    because a fifth weekday does not exist every month. `at` is local wall-clock time, hence naive.
    """

    day: int | None = None
    nth: int | None = None
    weekday: int | None = None
    at: time = time(9, 0)

    def __post_init__(self) -> None:
        by_day = self.day is not None
        by_weekday = self.nth is not None or self.weekday is not None
        if by_day == by_weekday:
            raise DateInputError("bad_rule", "give either day or nth+weekday")
        if by_day:
            if not 1 <= self.day <= 31:  # type: ignore[operator]
                raise DateInputError("bad_day")
        else:
            if self.nth is None or self.weekday is None:
                raise DateInputError("bad_rule", "nth and weekday go together")
            if self.nth not in _NTH_ALLOWED:
                raise DateInputError("bad_nth")
            if not 0 <= self.weekday <= 6:
                raise DateInputError("bad_weekday")
        if self.at.tzinfo is not None:
            # The zone belongs to the branch, not the rule, so a rule stays valid if the branch moves.
            raise DateInputError("bad_rule", "time of day must be naive")

    @classmethod
    def day_of_month(cls, day: int, at: time = time(9, 0)) -> ActivityRule:
        return cls(day=day, at=at)

    @classmethod
    def nth_weekday(cls, nth: int, weekday: int, at: time = time(9, 0)) -> ActivityRule:
        return cls(nth=nth, weekday=weekday, at=at)


def _check_month(year: int, month: int) -> None:
    if not 1 <= month <= 12 or not 1 <= year <= 9999:
        raise DateInputError("bad_month")


def last_day(year: int, month: int) -> int:
    """Number of days in the month."""
    _check_month(year, month)
    return calendar.monthrange(year, month)[1]


def occurrence_date(rule: ActivityRule, year: int, month: int) -> date:
    """The activity day in the given month.

    A day of month the month lacks (31 in April, 30 in February) is clamped to the month's last day:
    members expect one activity day every month, never a skipped month nor a spill into the next.
    """
    end = last_day(year, month)
    if rule.day is not None:
        return date(year, month, min(rule.day, end))
    assert rule.nth is not None and rule.weekday is not None
    if rule.nth == LAST:
        last = date(year, month, end)
        return last - timedelta(days=(last.weekday() - rule.weekday) % 7)
    first = date(year, month, 1)
    offset = (rule.weekday - first.weekday()) % 7
    # nth <= 4 keeps this within day 28, so it always exists.
    return first + timedelta(days=offset + (rule.nth - 1) * 7)


def _localize(day: date, at: time, tz: ZoneInfo) -> datetime:
    # A round trip through UTC moves a wall time that falls in a DST gap to a real instant.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC).astimezone(tz)


def occurrence_datetime(rule: ActivityRule, year: int, month: int, tz: ZoneInfo) -> datetime:
    """The activity day's start in the month, as an aware datetime in `tz`."""
    return _localize(occurrence_date(rule, year, month), rule.at, tz)


def _require_aware(dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise DateInputError("naive_datetime")


def next_occurrence(rule: ActivityRule, after: datetime, tz: ZoneInfo) -> datetime:
    """First occurrence strictly after `after` (aware), in `tz`."""
    _require_aware(after)
    local = after.astimezone(tz)
    year, month = local.year, local.month
    # Every month has exactly one occurrence, so this month's or next month's is the answer;
    # a third step only guards against an occurrence shifted across a month end by a DST gap.
    for delta in range(3):
        y, m = month_add(year, month, delta)
        candidate = occurrence_datetime(rule, y, m, tz)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: an occurrence exists every month")


def month_add(year: int, month: int, delta: int) -> YearMonth:
    """(year, month) shifted by `delta` months (negative goes back)."""
    _check_month(year, month)
    y, m0 = divmod(year * 12 + (month - 1) + delta, 12)
    return y, m0 + 1


def months_between(a: YearMonth, b: YearMonth) -> int:
    """Whole months from `a` to `b`: positive when `b` is later, e.g. ((2024, 11), (2025, 2)) -> 3."""
    _check_month(*a)
    _check_month(*b)
    return (b[0] - a[0]) * 12 + (b[1] - a[1])


def year_month(day: date | datetime) -> YearMonth:
    """The (year, month) a date falls in."""
    return day.year, day.month


def in_quiet_hours(local_time: time, start: time, end: time) -> bool:
    """Whether a wall-clock time lies in the quiet window [start, end).

    A window with start > end crosses midnight (22:00-07:00); start == end means no quiet hours,
    because a branch that wants none should not have to find a magic pair of times.
    """
    t = local_time.replace(tzinfo=None)
    s = start.replace(tzinfo=None)
    e = end.replace(tzinfo=None)
    if s == e:
        return False
    if s < e:
        return s <= t < e
    return t >= s or t < e


def next_allowed_time(dt: datetime, start: time, end: time, tz: ZoneInfo) -> datetime:
    """`dt` itself if outside quiet hours in `tz`, else the instant the quiet window ends."""
    _require_aware(dt)
    local = dt.astimezone(tz)
    if not in_quiet_hours(local.time(), start, end):
        return dt
    end_day = local.date()
    # In a window crossing midnight, the evening part ends on the next calendar day.
    if start > end and local.time().replace(tzinfo=None) >= start.replace(tzinfo=None):
        end_day += timedelta(days=1)
    return _localize(end_day, end.replace(tzinfo=None), tz)


def parse_date(text: str, today: date | None = None, *, earliest: date = PARTY_FOUNDED) -> date:
    """Parse a date typed by a user: 2015-07-01, 2015/7/1, 2015.7.1, 2015年7月1日, 20150701.

    Full-width digits and stray spaces are accepted because that is what Chinese phone keyboards produce.
    `in_future` is only checked when `today` is given; `too_old` always (before `earliest`).
    """
    if not isinstance(text, str) or len(text) > _MAX_DATE_TEXT:
        raise DateInputError("bad_format")
    cleaned = "".join(unicodedata.normalize("NFKC", text).split())
    match = _SEP_DATE.fullmatch(cleaned) or _CJK_DATE.fullmatch(cleaned) or _COMPACT_DATE.fullmatch(cleaned)
    if match is None:
        raise DateInputError("bad_format")
    parts = [g for g in match.groups() if g.isdigit()]
    year, month, day = (int(p) for p in parts)
    try:
        parsed = date(year, month, day)
    except ValueError:
        raise DateInputError("no_such_day") from None
    if parsed < earliest:
        raise DateInputError("too_old")
    if today is not None and parsed > today:
        raise DateInputError("in_future")
    return parsed
