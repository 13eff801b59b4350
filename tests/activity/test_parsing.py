"""What secretaries and members type: table tests and hypothesis properties for the activity parsers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules.dates import ActivityRule
from bot.services.activity import (
    ActivityInputError,
    key_month,
    month_key,
    parse_days,
    parse_leads,
    parse_move,
    parse_place,
    parse_programme,
    parse_rule,
    parse_time,
)
from bot.services.study import parse_content

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("15", ActivityRule.day_of_month(15)),
        ("每月15日", ActivityRule.day_of_month(15)),
        ("３１号", ActivityRule.day_of_month(31)),
        ("第一个星期五", ActivityRule.nth_weekday(1, 4)),
        ("第3个周六", ActivityRule.nth_weekday(3, 5)),
        ("每月最后一个周日", ActivityRule.nth_weekday(-1, 6)),
        ("最后一个礼拜天", ActivityRule.nth_weekday(-1, 6)),
        ("First Friday", ActivityRule.nth_weekday(1, 4)),
        ("last  sat", ActivityRule.nth_weekday(-1, 5)),
    ],
)
def test_rules_people_type(text: str, rule: ActivityRule) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    "text", ["0", "32", "第五个周五", "第一个周八", "fifth friday", "first funday", "", "十五"]
)
def test_rules_refused(text: str) -> None:
    with pytest.raises(ActivityInputError) as caught:
        parse_rule(text)
    assert caught.value.key == "activity.err.bad_rule" or caught.value.code == "too_long"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19:00", time(19)),
        ("19：30", time(19, 30)),
        ("7点", time(7)),
        ("7点30", time(7, 30)),
        ("0730", time(7, 30)),
    ],
)
def test_times(text: str, expected: time) -> None:
    assert parse_time(text) == expected


def test_leads_and_their_time() -> None:
    assert parse_leads("3,0") == ([3, 0], None)
    assert parse_leads("0、3、3 08:30") == ([3, 0], time(8, 30))
    for bad in ("", "15", "1,2,3,4,5", "a", "3,0 25:00"):
        with pytest.raises(ActivityInputError):
            parse_leads(bad)


def test_place_or_link_and_programme() -> None:
    assert parse_place("  社区 党群服务中心 ") == ("社区 党群服务中心", None)
    assert parse_place("https://meeting.example.org/j/1") == (None, "https://meeting.example.org/j/1")
    assert parse_programme("学党章\n讲党课；做好事") == ["学党章", "讲党课", "做好事"]
    assert parse_programme("无") == []
    with pytest.raises(ActivityInputError):
        parse_programme("\n".join(f"第{i}项" for i in range(13)))


def test_moves() -> None:
    assert parse_move("3月20日 14:30", NOW, SHANGHAI, time(19)) == datetime(
        2026, 3, 20, 14, 30, tzinfo=SHANGHAI
    )
    assert parse_move("2026-03-20", NOW, SHANGHAI, time(19)) == datetime(2026, 3, 20, 19, 0, tzinfo=SHANGHAI)
    assert parse_move("1/5 10:00", datetime(2025, 12, 20, tzinfo=UTC), SHANGHAI, time(19)) == datetime(
        2026, 1, 5, 10, 0, tzinfo=SHANGHAI
    )
    for text, code in (("2026-03-01 10:00", "past_date"), ("2026-09-01", "too_far"), ("明天", "bad_date")):
        with pytest.raises(ActivityInputError) as caught:
            parse_move(text, NOW, SHANGHAI, time(19))
        assert caught.value.code == code


def test_study_content() -> None:
    assert parse_content("https://example.org/a").link == "https://example.org/a"
    assert parse_content("读 https://example.org/a").text == "读 https://example.org/a"
    assert parse_content(None, "file-1", "党章.pdf").file_id == "file-1"
    with pytest.raises(ActivityInputError):
        parse_content("   ")


PARSERS = [
    parse_rule,
    parse_time,
    parse_leads,
    parse_place,
    parse_programme,
    lambda text: parse_days(text, 0, 60),
    lambda text: parse_move(text, NOW, SHANGHAI, time(19)),
    parse_content,
]


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), which=st.integers(0, len(PARSERS) - 1))
def test_any_text_is_parsed_or_refused_with_a_known_code(text: str, which: int) -> None:
    try:
        PARSERS[which](text)
    except ActivityInputError as error:
        assert error.code in ActivityInputError.CODES


@given(
    day=st.integers(1, 31), spaces=st.sampled_from(["", " ", "　"]), suffix=st.sampled_from(["", "日", "号"])
)
def test_every_day_of_month_round_trips(day: int, spaces: str, suffix: str) -> None:
    assert parse_rule(f"{spaces}{day}{suffix}{spaces}").day == day


@given(nth=st.sampled_from([1, 2, 3, 4, -1]), weekday=st.integers(0, 6))
def test_every_nth_weekday_round_trips(nth: int, weekday: int) -> None:
    head = "最后一个" if nth == -1 else f"第{'一二三四'[nth - 1]}个"
    day = "一二三四五六日"[weekday]
    assert parse_rule(f"{head}星期{day}") == ActivityRule.nth_weekday(nth, weekday)


@given(minutes=st.integers(1, 60 * 24 * 60))
def test_a_move_typed_in_full_lands_on_that_minute(minutes: int) -> None:
    target = (NOW + timedelta(minutes=minutes)).astimezone(SHANGHAI)
    parsed = parse_move(target.strftime("%Y-%m-%d %H:%M"), NOW, SHANGHAI, time(19))
    assert parsed == target


@given(year=st.integers(2000, 2100), month=st.integers(1, 12))
def test_month_keys_round_trip(year: int, month: int) -> None:
    assert key_month(month_key(year, month)) == (year, month)


def test_every_refusal_code_has_a_message() -> None:
    from bot.i18n import catalogue

    for code in ActivityInputError.CODES:
        assert catalogue().has(f"activity.err.{code}"), code
