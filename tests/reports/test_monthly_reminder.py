"""The automatic monthly report: once on the 1st to each officer, even across restarts and catch-ups."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from app.features import reminder_kinds
from bot.reports.chart import HEIGHT_PX, WIDTH_PX
from bot.scheduling.engine import QuietHours, tick
from storage.models import OutboxMessage
from storage.models.scheduling import ReminderOccurrence
from tests.factories import telegram_user
from tests.harness import BotHarness
from tests.reports.expected import Expect
from tests.reports.test_report_command import expected_lines, png_size
from tests.reports.world import COMMITTEE_A, SECRETARY_A, SECRETARY_B, World, local


def reports_to(harness: BotHarness, user_id: int) -> list:
    return [
        c for c in harness.fake.sent(user_id, "sendMessage") if "月报" in c.text or "report for" in c.text
    ]


async def tick_at(harness: BotHarness, when) -> None:
    harness.clock.set(when)
    await tick(harness.db, harness.clock.now(), QuietHours.from_settings(harness.settings), reminder_kinds())
    await harness.deliver()


async def report_rows(harness: BotHarness) -> int:
    async with harness.session() as session:
        ids = await session.scalars(
            select(ReminderOccurrence.id).where(ReminderOccurrence.kind == "report.monthly")
        )
        sources = [f"reminder:{i}" for i in ids]
        return await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.source.in_(sources))
        )


async def occurrences(harness: BotHarness) -> list[tuple[int, str, int]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(ReminderOccurrence.subject_id, ReminderOccurrence.period, ReminderOccurrence.person_id)
            .where(ReminderOccurrence.kind == "report.monthly")
            .order_by(ReminderOccurrence.id)
        )
        return [tuple(row) for row in rows]


async def test_the_report_arrives_once_on_the_first(harness: BotHarness, world: World) -> None:
    await tick_at(harness, local(2026, 3, 1, 0, 0))
    await tick_at(harness, local(2026, 3, 1, 8, 59))
    assert await occurrences(harness) == []  # not before 09:00 on the 1st
    await tick_at(harness, local(2026, 3, 1, 9, 0))
    (report,) = reports_to(harness, SECRETARY_A.id)
    assert report.text.startswith("上月支部情况如下")
    e = Expect(world.plan, "A", local(2026, 3, 1, 9, 0)).figures(date(2026, 2, 1))
    for line in expected_lines(e):
        assert line in report.text.splitlines()
    assert report.button("看图表") == f"rpt:c:{world.branch_a}:202602"
    (english,) = reports_to(harness, COMMITTEE_A.id)
    assert "深圳流动党支部: report for 2/2026" in english.text and english.button("Chart")
    (other,) = reports_to(harness, SECRETARY_B.id)
    assert "【东莞流动党支部】2026年2月月报" in other.text and "深圳" not in other.text

    # A restart, later ticks the same day and the next days: nothing more.
    restarted = await harness.restart()
    try:
        for when in (
            local(2026, 3, 1, 9, 1),
            local(2026, 3, 1, 18, 0),
            local(2026, 3, 2, 9, 0),
            local(2026, 3, 31, 23),
        ):
            await tick_at(restarted, when)
        assert len(reports_to(restarted, SECRETARY_A.id)) == 0  # a fresh fake: nothing new was sent
        occ = await occurrences(restarted)
        assert sorted(occ) == sorted(
            [
                (world.branch_a, "2026-02", pid)
                for pid in await _person_ids(restarted, SECRETARY_A.id, COMMITTEE_A.id)
            ]
            + [(world.branch_b, "2026-02", pid) for pid in await _person_ids(restarted, SECRETARY_B.id)]
        )
        assert await report_rows(restarted) == 3  # one outbox row per officer, sent once
        # The next month's report comes on the next 1st, for March.
        await tick_at(restarted, local(2026, 4, 1, 9, 30))
        (april,) = reports_to(restarted, SECRETARY_A.id)
        assert "【深圳流动党支部】2026年3月月报" in april.text
        # Its chart button draws the chart for the officer who taps it.
        calls = await restarted.press(SECRETARY_A, april.button("看图表"))
        (photo,) = [c for c in calls if c.method == "sendPhoto"]
        assert png_size(photo.files["photo"][1]) == (WIDTH_PX, HEIGHT_PX)  # portrait, phone-sized
        assert "2025年4月至2026年3月" in photo.params["caption"]
    finally:
        await restarted.db.dispose()
        await restarted.stop()
        await harness.start()


async def test_a_bot_down_on_the_first_catches_up_once(harness: BotHarness, world: World) -> None:
    await tick_at(harness, local(2026, 3, 4, 14, 0))
    await tick_at(harness, local(2026, 3, 4, 14, 1))
    assert len(reports_to(harness, SECRETARY_A.id)) == 1
    # Only the month just ended: no report for January arrives late.
    assert {period for _, period, _ in await occurrences(harness)} == {"2026-02"}


async def test_quiet_hours_hold_the_report_until_morning(harness: BotHarness, world: World) -> None:
    # Down from the 1st until 23:30 on the 2nd: found at night, sent at the end of quiet hours (07:00).
    await tick_at(harness, local(2026, 3, 2, 23, 30))
    assert reports_to(harness, SECRETARY_A.id) == []
    harness.clock.set(local(2026, 3, 3, 7, 0))
    await harness.deliver()
    assert len(reports_to(harness, SECRETARY_A.id)) == 1


async def test_a_branch_created_this_month_waits_for_the_next_first(
    harness: BotHarness, world: World
) -> None:
    from sqlalchemy import update

    from storage.models import Branch

    async with harness.session() as session:
        await session.execute(
            update(Branch).where(Branch.id == world.branch_b).values(created_at=local(2026, 3, 1, 8))
        )
        await session.commit()
    await tick_at(harness, local(2026, 3, 1, 9, 30))
    assert reports_to(harness, SECRETARY_B.id) == []
    assert len(reports_to(harness, SECRETARY_A.id)) == 1


async def _person_ids(harness: BotHarness, *telegram_ids: int) -> list[int]:
    from storage.models import Person

    async with harness.session() as session:
        return list(await session.scalars(select(Person.id).where(telegram_user(*telegram_ids))))
