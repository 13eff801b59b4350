"""Dues reminders and escalations through the reminder engine, driven by the FakeClock."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from app.features import reminder_kinds
from bot.scheduling.kinds_dues import REMINDER_KINDS
from bot.services import dues
from storage.models import Person
from storage.models.scheduling import ReminderOccurrence
from tests.dues.factory import (
    SECRETARY,
    SHANGHAI,
    World,
    actor_for,
    declare,
    local,
    make_world,
    open_months,
    pay,
    run_tick,
)
from tests.factories import TgUser
from tests.harness import BotHarness

GAP = TgUser(5101, "赵刚")  # skips April to June, makes them up in July
STEADY = TgUser(5102, "钱丽")  # pays every month before the reminder day
SILENT = TgUser(5103, "孙强")  # never pays


def m(year: int, month: int) -> date:
    return date(year, month, 1)


async def occurrences(harness: BotHarness) -> list[tuple[str, int, str, str]]:
    """(kind, telegram user id, period, local due time) of every dues reminder that happened."""
    async with harness.session() as session:
        rows = await session.execute(
            select(ReminderOccurrence, Person.chat_id)  # a private chat: the user id
            .join(Person, Person.id == ReminderOccurrence.person_id)
            .where(ReminderOccurrence.kind.like("dues.%"))
            .order_by(ReminderOccurrence.id)
        )
        return [
            (occ.kind, user_id, occ.period, occ.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M"))
            for occ, user_id in rows
        ]


async def open_month_as_secretary(harness: BotHarness, world: World, month: date) -> None:
    secretary = await actor_for(harness, world.secretary)
    async with harness.session() as session:
        assert await dues.open_month(
            session, branch_id=world.branch_id, month=month, actor=secretary, now=harness.clock.now()
        )
        await session.commit()


async def test_a_year_with_a_three_month_gap(harness: BotHarness) -> None:
    """Opened on the 1st, paid on the 5th, reminded on the 10th: a gap of April-June, made up in July,
    gives three monthly reminders, the member's warning at two months and the secretary's at three."""
    harness.clock.set(local(2026, 1, 1, 7))
    world = await make_world(harness, [GAP, STEADY], approved_at=local(2025, 12, 28))
    await declare(harness, world, GAP, "employed", "3000")
    await declare(harness, world, STEADY, "retired", "6000")
    day = date(2026, 1, 1)
    while day.year == 2026:
        month = m(day.year, day.month)
        if day.day == 1:
            harness.clock.set(local(day.year, day.month, 1, 8))
            await open_month_as_secretary(harness, world, month)
        if day.day == 5:
            harness.clock.set(local(day.year, day.month, 5, 8, 30))
            await pay(harness, world, STEADY, month)
            if day.month == 7:
                await pay(harness, world, GAP, m(2026, 4), m(2026, 5), m(2026, 6), month)
            elif day.month not in (4, 5, 6):
                await pay(harness, world, GAP, month)
        harness.clock.set(local(day.year, day.month, day.day, 10))
        await run_tick(harness)
        day += timedelta(days=1)

    assert await occurrences(harness) == [
        ("dues.unpaid", GAP.id, "2026-04", "04-10 09:00"),
        ("dues.unpaid", GAP.id, "2026-05", "05-10 09:00"),
        ("dues.warn2", GAP.id, "2026-04", "05-10 09:00"),
        ("dues.unpaid", GAP.id, "2026-06", "06-10 09:00"),
        ("dues.alert3", SECRETARY.id, "2026-04", "06-10 09:00"),
    ]
    await harness.deliver()
    texts = harness.fake.texts(GAP.id)
    assert any("2026年4月党费已开始收缴" in t for t in texts)
    assert any("已连续 2 个月未交党费（自2026年4月起）" in t for t in texts)
    assert any(
        "党员 赵刚 已连续 3 个月未交党费（自2026年4月起）" in t for t in harness.fake.texts(SECRETARY.id)
    )
    assert not any("党费提醒" in t for t in harness.fake.texts(STEADY.id))
    async with harness.session() as session:
        overview = await dues.member_overview(session, world.member_ids[GAP.id], harness.clock.now())
    assert overview.reportable == []


async def test_escalation_timeline_of_a_member_who_never_pays(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 1, 1, 7))
    world = await make_world(harness, [SILENT], approved_at=local(2025, 12, 28))
    await declare(harness, world, SILENT, "student", None)
    seen: list[tuple[str, list[str]]] = []
    for month_number in range(1, 9):
        month = m(2026, month_number)
        harness.clock.set(local(2026, month_number, 1, 8))
        await open_month_as_secretary(harness, world, month)
        before = len(await occurrences(harness))
        # Three ticks on the reminder day: before 09:00 nothing, then once, then nothing more.
        for hour, minute in ((8, 59), (9, 0), (15, 0)):
            harness.clock.set(local(2026, month_number, 10, hour, minute))
            await run_tick(harness)
        new = (await occurrences(harness))[before:]
        seen.append((month.isoformat()[:7], [f"{kind}@{user}:{period}" for kind, user, period, _ in new]))
    member, boss = SILENT.id, SECRETARY.id
    assert seen == [
        ("2026-01", [f"dues.unpaid@{member}:2026-01"]),
        ("2026-02", [f"dues.unpaid@{member}:2026-02", f"dues.warn2@{member}:2026-01"]),
        ("2026-03", [f"dues.unpaid@{member}:2026-03", f"dues.alert3@{boss}:2026-01"]),
        ("2026-04", [f"dues.unpaid@{member}:2026-04"]),
        (
            "2026-05",
            [f"dues.unpaid@{member}:2026-05", f"dues.warn5@{member}:2026-01", f"dues.alert5@{boss}:2026-01"],
        ),
        ("2026-06", [f"dues.unpaid@{member}:2026-06"]),
        # Seven months in a row is past the lapse: the arrears list shows it, no monthly repeats.
        ("2026-07", [f"dues.unpaid@{member}:2026-07"]),
        ("2026-08", [f"dues.unpaid@{member}:2026-08"]),
    ]
    await harness.deliver()
    assert any("视为自行脱党" in t for t in harness.fake.texts(SILENT.id))
    assert any("再有一个月将满六个月" in t for t in harness.fake.texts(SECRETARY.id))


async def test_no_reminder_before_the_branch_opens_the_month(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 10, 10))
    world = await make_world(harness, [SILENT], approved_at=local(2026, 2, 20))
    await declare(harness, world, SILENT)
    await run_tick(harness)
    assert await occurrences(harness) == []
    harness.clock.set(local(2026, 3, 15, 14))
    await open_months(harness, world.branch_id, m(2026, 3))
    harness.clock.set(local(2026, 3, 15, 14, 1))
    await run_tick(harness)
    # Due from the moment it was opened, since the reminder day had already passed.
    assert await occurrences(harness) == [("dues.unpaid", SILENT.id, "2026-03", "03-15 14:00")]


async def test_reminder_day_is_configurable_and_clamped_to_the_month_end(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 2, 1, 8))
    world = await make_world(harness, [SILENT], approved_at=local(2026, 1, 20))
    await declare(harness, world, SILENT)
    secretary = await actor_for(harness, SECRETARY)
    async with harness.session() as session:
        await dues.update_settings(
            session, branch_id=world.branch_id, actor=secretary, now=harness.clock.now(), reminder_day=31
        )
        await session.commit()
    await open_months(harness, world.branch_id, m(2026, 2))
    for day in (27, 28):
        harness.clock.set(local(2026, 2, day, 8))
        await run_tick(harness)
        assert await occurrences(harness) == []
    harness.clock.set(local(2026, 2, 28, 9, 30))
    await run_tick(harness)
    assert await occurrences(harness) == [("dues.unpaid", SILENT.id, "2026-02", "02-28 09:00")]


async def test_downtime_and_restarts_give_exactly_one_reminder(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 4, 1, 8))
    world = await make_world(harness, [SILENT], approved_at=local(2026, 3, 20))
    await declare(harness, world, SILENT)
    await open_months(harness, world.branch_id, m(2026, 4))
    harness.clock.set(local(2026, 4, 9, 23))
    await run_tick(harness)
    # Down until the 12th, then three restarts within a minute.
    for second in (0, 20, 40):
        harness.clock.set(local(2026, 4, 12, 11) + timedelta(seconds=second))
        bot = await harness.restart()
        await run_tick(bot)
        harness = bot
    assert await occurrences(harness) == [("dues.unpaid", SILENT.id, "2026-04", "04-10 09:00")]
    await harness.deliver()
    assert len([t for t in harness.fake.texts(SILENT.id) if "党费提醒" in t]) == 1
    await harness.stop()


async def test_a_month_paid_at_home_stops_host_reminders(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 5, 2, 9))
    world = await make_world(harness, [GAP, SILENT], approved_at=local(2026, 4, 20))
    await declare(harness, world, GAP)
    await declare(harness, world, SILENT)
    await open_months(harness, world.branch_id, m(2026, 5))
    # Reported as paid at the home branch; the host secretary has not even confirmed it yet.
    await pay(harness, world, GAP, m(2026, 5), place="home", confirm=False)
    harness.clock.set(local(2026, 5, 10, 9, 5))
    await run_tick(harness)
    assert await occurrences(harness) == [("dues.unpaid", SILENT.id, "2026-05", "05-10 09:00")]


async def test_a_rejected_report_makes_the_month_unpaid_again(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 5, 2, 9))
    world = await make_world(harness, [GAP], approved_at=local(2026, 4, 20))
    await declare(harness, world, GAP)
    await open_months(harness, world.branch_id, m(2026, 5))
    report_id = await pay(harness, world, GAP, m(2026, 5), confirm=False)
    secretary = await actor_for(harness, SECRETARY)
    async with harness.session() as session:
        await dues.decide_report(
            session, report_id=report_id, actor=secretary, confirm=False, now=harness.clock.now()
        )
        await session.commit()
    harness.clock.set(local(2026, 5, 10, 9, 5))
    await run_tick(harness)
    assert await occurrences(harness) == [("dues.unpaid", GAP.id, "2026-05", "05-10 09:00")]


async def test_the_dues_kinds_are_registered_with_the_engine(harness: BotHarness) -> None:
    names = [kind.name for kind in reminder_kinds()]
    for kind in REMINDER_KINDS:
        assert kind.name in names
    # And the real tick (every registered kind) sends the dues reminder too.
    harness.clock.set(local(2026, 4, 1, 8))
    world = await make_world(harness, [SILENT], approved_at=local(2026, 3, 20))
    await declare(harness, world, SILENT)
    await open_months(harness, world.branch_id, m(2026, 4))
    harness.clock.set(local(2026, 4, 10, 9, 1))
    await run_tick(harness, kinds=reminder_kinds())
    assert await occurrences(harness) == [("dues.unpaid", SILENT.id, "2026-04", "04-10 09:00")]
