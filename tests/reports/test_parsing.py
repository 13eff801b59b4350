"""The month and year a user types after /report and /townreport: properties and awkward inputs."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reports.figures import add_months, month_bounds, month_code
from bot.reports.service import parse_month, parse_year
from tests.harness import BotHarness
from tests.reports.world import SECRETARY_A, TZ, World

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@given(st.text(max_size=40))
def test_parse_month_never_raises(text: str) -> None:
    month = parse_month(text)
    assert month is None or (month.day == 1 and 2000 <= month.year <= 2200)


@given(st.integers(2000, 2200), st.integers(1, 12), st.booleans())
def test_every_written_form_of_a_month(year: int, number: int, wide: bool) -> None:
    forms = [f"{year}-{number}", f"{year}-{number:02d}", f"{year}/{number}", f"{year}.{number:02d}"]
    forms += [f"{year}{number:02d}", f"{year}年{number}月", f" {year} 年 {number} 月 "]
    for form in forms:
        text = form.translate(FULL_WIDTH) if wide else form
        assert parse_month(text) == date(year, number, 1), text
    assert parse_month(month_code(date(year, number, 1))) == date(year, number, 1)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-0", "1999-12", "26-02", "2026", "2026-2-1", "二〇二六年二月", ""]
)
def test_months_refused(text: str) -> None:
    assert parse_month(text) is None


@given(st.text(max_size=20))
def test_parse_year_never_raises(text: str) -> None:
    year = parse_year(text)
    assert year is None or 2000 <= year <= 2200


@given(st.integers(2000, 2199), st.integers(1, 12), st.integers(-30, 30))
def test_months_tile_the_timeline(year: int, number: int, delta: int) -> None:
    month = add_months(date(year, number, 1), delta)
    start, end = month_bounds(month, TZ)
    next_start, _ = month_bounds(add_months(month, 1), TZ)
    assert start < end == next_start
    assert start.astimezone(TZ).day == 1 and start.astimezone(TZ).hour == 0


AWKWARD = [
    "/report \u202e2026-02",
    "/report " + "9" * 400,
    "/report 2026-02 2026-03",
    "/report -1",
    "/report 0000-00",
]


async def test_awkward_arguments_get_a_clear_answer(harness: BotHarness, world: World) -> None:
    for text in AWKWARD:
        calls = await harness.send(SECRETARY_A, text)
        assert [c.method for c in calls] == ["sendMessage"], text
        assert "月份没看懂" in calls[0].text
