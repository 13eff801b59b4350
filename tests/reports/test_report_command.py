"""/report through the real Application: the text and the chart, the month asked for, the languages."""

from __future__ import annotations

import io
import logging
import struct
import warnings
from datetime import date

from PIL import Image

from bot.i18n import t
from bot.reports.chart import HEIGHT_PX, WIDTH_PX
from tests.delivery.helpers import SECRETARY, make_branch
from tests.harness import BotHarness
from tests.reports.expected import Expect, Figures
from tests.reports.world import COMMITTEE_A, NOW, SECRETARY_A, World


def _rate(value) -> str:
    return "—" if value is None else f"{value}%"


def expected_lines(e: Figures, language: str = "zh") -> list[str]:
    """Lines the report must contain, rendered from the independently computed figures."""
    return [
        t(
            language,
            "report.members",
            total=e.total,
            new=e.new,
            left=e.left,
            unreachable=e.unreachable,
            lost=e.lost,
        ),
        t(
            language,
            "report.dues",
            due=e.dues_due,
            paid=e.dues_paid,
            rate=_rate(e.dues_rate),
            collected=f"{e.collected:.2f}",
            pending=f"{e.pending:.2f}",
        ),
        t(
            language,
            "report.study",
            items=e.study_items,
            checkins=e.study_checkins,
            expected=e.study_expected,
            rate=_rate(e.study_rate),
        ),
        t(
            language,
            "report.requests",
            received=e.received,
            accepted=e.accepted,
            completed=e.completed,
            on_time=e.on_time,
            overdue=e.overdue,
            rate=_rate(e.completion_rate),
        ),
        t(language, "report.warnings", org_life=e.warn_org_life, dues=e.warn_dues),
    ]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


async def test_report_defaults_to_last_month_with_text_and_chart(
    harness: BotHarness, world: World, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calls = await harness.send(SECRETARY_A, "/report")
    texts = [c for c in calls if c.method == "sendMessage"]
    photos = [c for c in calls if c.method == "sendPhoto"]
    assert len(texts) == 1 and len(photos) == 1
    text = texts[0].text
    e = Expect(world.plan, "A", NOW).figures(date(2026, 2, 1))
    assert text.splitlines()[0] == "【深圳流动党支部】2026年2月月报"
    for line in expected_lines(e):
        assert line in text.splitlines(), (line, text)
    assert f"实到{e.present}/{e.expected}，出勤率{_rate(e.attendance_rate)}" in text
    arrears = "，".join(f"{months}个月{count}人" for months, count in sorted(e.arrears.items()))
    assert f"欠缴：{arrears}" in text
    assert len(text) < 600  # one short message for a cheap phone
    # The chart: a valid PNG of phone size, the Chinese labels drawn (no missing glyph anywhere).
    name, png = photos[0].files["photo"]
    assert name.endswith(".png")
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX) and len(png) < 300_000
    Image.open(io.BytesIO(png)).verify()
    assert "2025年3月至2026年2月" in photos[0].params["caption"]
    assert "暂无数据" not in photos[0].params["caption"]
    glyphs = [str(w.message) for w in caught if "glyph" in str(w.message).lower()]
    assert glyphs == []
    assert not [r for r in caplog.records if "findfont" in r.getMessage() or "Glyph" in r.getMessage()]


async def test_a_past_month_in_english_for_a_committee_member(harness: BotHarness, world: World) -> None:
    calls = await harness.send(COMMITTEE_A, "/report 2025-11")
    (message,) = [c for c in calls if c.method == "sendMessage"]
    e = Expect(world.plan, "A", NOW).figures(date(2025, 11, 1))
    assert message.text.startswith("深圳流动党支部: report for 11/2025")
    for line in expected_lines(e, "en"):
        assert line in message.text.splitlines()
    assert [c.method for c in calls if c.method == "sendPhoto"] == ["sendPhoto"]


async def test_month_forms_and_refusals(harness: BotHarness, world: World) -> None:
    for form in ("2025年11月", "2025/11", "202511", "２０２５-１１"):
        calls = await harness.send(SECRETARY_A, f"/report {form}")
        assert calls[0].text.startswith("【深圳流动党支部】2025年11月月报"), form
    await harness.transcript(
        SECRETARY_A,
        [
            (
                "/report 2026-04",
                "2026年4月还没开始。可以查本月（截至今天）或以前的月份，例如：/report 2026-02",
            ),
            ("/report 2026-13", "月份没看懂"),
            ("/report soon", "月份没看懂"),
        ],
    )
    refused = await harness.send(SECRETARY_A, "/report 2027-01")
    assert not [c for c in refused if c.method == "sendPhoto"]


async def test_the_month_under_way_is_reported_so_far(harness: BotHarness, world: World) -> None:
    """Issue 19: /report of the current month is allowed and marked as "so far" (NOW is 2 March)."""
    calls = await harness.send(SECRETARY_A, "/report 2026-03")
    (message,) = [c for c in calls if c.method == "sendMessage"]
    (photo,) = [c for c in calls if c.method == "sendPhoto"]
    assert message.text.splitlines()[0] == "【深圳流动党支部】2026年3月月报（截至3月2日）"
    assert "2025年4月至2026年3月" in photo.params["caption"] and "（截至3月2日）" in photo.params["caption"]
    english = await harness.send(COMMITTEE_A, "/report 2026-03")
    assert english[0].text.splitlines()[0] == "深圳流动党支部: report for 3/2026 (so far, to 3/2)"
    # The chart button of the current month works too; a month not begun is a stale button.
    assert [c.method for c in await harness.press(SECRETARY_A, f"rpt:c:{world.branch_a}:202603")][-1] == (
        "sendPhoto"
    )
    future = await harness.press(SECRETARY_A, f"rpt:c:{world.branch_a}:202604")
    assert [c.params.get("text") for c in future] == [t("zh", "error.stale_button")]


async def test_a_cancelled_month_and_a_month_without_activity(harness: BotHarness, world: World) -> None:
    calls = await harness.send(SECRETARY_A, "/report 2025-10")
    assert "活动日：本月已取消" in calls[0].text
    calls = await harness.send(SECRETARY_A, "/report 2025-08")
    assert "活动日：本月未安排" in calls[0].text and "党费：本月未开收" in calls[0].text


async def test_a_new_branchs_first_report_says_there_is_no_data_yet(harness: BotHarness) -> None:
    """Issue 19: a new branch's first report was all zeros with an empty chart and nothing said."""
    await make_branch(harness, "新建流动党支部")
    calls = await harness.send(SECRETARY, "/report")
    (photo,) = [c for c in calls if c.method == "sendPhoto"]
    assert photo.params["caption"].endswith("\n暂无数据")
    _, png = photo.files["photo"]
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)
    # A branch with figures says nothing of the kind (see the default report above).
    assert "暂无数据" not in "".join(c.text for c in calls if c.method == "sendMessage")
