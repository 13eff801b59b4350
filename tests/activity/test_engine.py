"""The reminder engine on its own: catch-up, no doubles, quiet hours, time zones, the one tick job."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.features import build_features, reminder_kinds
from bot.i18n import resolve_language
from bot.scheduling.component import JOB_NAME, ReminderTick
from bot.scheduling.engine import Occasion, QuietHours, ReminderKind, fire, occurrence_columns, tick
from bot.scheduling.sql import language_of_person
from bot.services.outbox import Button, Outgoing
from handlers.application import build_application
from handlers.context import DEPS_KEY
from storage.models import Branch, Member, MemberState, OutboxMessage, OutboxStatus, Person
from storage.models.scheduling import ReminderOccurrence
from tests.activity.factory import make_branch, set_plan
from tests.conftest import on_postgres
from tests.factories import TgUser, telegram_person
from tests.fakes import FakeBotAPI
from tests.harness import BotHarness

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRETARY = TgUser(5000, "书记")
MEMBERS = [TgUser(5001, "甲"), TgUser(5002, "乙"), TgUser(5003, "丙", "en")]
NO_QUIET = QuietHours()
NIGHT = QuietHours(time(22, 0), time(7, 0))


def local(*args: int, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def ping_kind(due_at: datetime, name: str = "test.ping") -> ReminderKind:
    """Every approved member of every branch, once, from `due_at` on."""

    async def due(session, now):
        if now < due_at:
            return None
        return (
            select(
                *occurrence_columns(
                    subject_type="branch",
                    subject_id=Member.branch_id,
                    period="p1",
                    person_id=Member.person_id,
                    tz=Branch.timezone,
                    due_at=due_at,
                )
            )
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.state == MemberState.APPROVED)
        )

    async def render(session, occasion: Occasion):
        return Outgoing(
            text=f"ping {occasion.subject_id} {occasion.language}",
            buttons=((Button("ok", data=f"t:{occasion.subject_id}"),),),
        )

    return ReminderKind(name, due, render)


async def _world(harness: BotHarness, timezone: str = "Asia/Shanghai"):
    async with harness.session() as session:
        return await make_branch(
            session,
            secretary=SECRETARY,
            members=MEMBERS,
            approved_at=datetime(2026, 1, 1, tzinfo=UTC),
            timezone=timezone,
        )


async def _count(harness: BotHarness, model) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_down_across_the_due_time_sends_exactly_one_reminder_per_member(harness: BotHarness) -> None:
    await _world(harness)
    kinds = [ping_kind(local(2026, 3, 2, 9, 0))]
    harness.clock.set(local(2026, 3, 2, 8, 54))
    assert (await tick(harness.db, harness.clock.now(), NO_QUIET, kinds)).occurrences == 0
    harness.clock.set(local(2026, 3, 2, 8, 55))  # the bot goes down here ...
    harness.clock.set(local(2026, 3, 2, 11, 30))  # ... and comes back at 11:30
    restarted = await harness.restart()
    try:
        first = await tick(restarted.db, restarted.clock.now(), NO_QUIET, kinds)
        assert (first.occurrences, first.outbox_rows) == (3, 3)
        restarted.clock.advance(minutes=1)
        second = await tick(restarted.db, restarted.clock.now(), NO_QUIET, kinds)
        assert (second.occurrences, second.outbox_rows) == (0, 0)
        await restarted.deliver()
        assert [restarted.fake.texts(user.id) for user in MEMBERS] == [
            ["ping 1 zh"],
            ["ping 1 zh"],
            ["ping 1 en"],
        ]
        assert restarted.fake.texts(SECRETARY.id) == []
    finally:
        await restarted.stop()
        await harness.start()  # the fixture stops the harness it made


async def test_three_restarts_within_a_minute_make_one_occurrence(harness: BotHarness) -> None:
    await _world(harness)
    kinds = [ping_kind(local(2026, 3, 2, 9, 0))]
    current = harness
    for moment in ((8, 59, 40), (9, 0, 5), (9, 0, 35), (9, 0, 59)):
        current.clock.set(local(2026, 3, 2, *moment))
        await tick(current.db, current.clock.now(), NO_QUIET, kinds)
        current = await current.restart()
    try:
        async with current.session() as session:
            keys = (await session.execute(select(ReminderOccurrence.person_id))).scalars().all()
            assert sorted(keys) == sorted(set(keys)) and len(keys) == 3
        assert await _count(current, OutboxMessage) == 3
    finally:
        await current.stop()
        await harness.start()


async def test_one_tick_job_with_an_explicit_id_however_often_it_starts(harness: BotHarness) -> None:
    """Three restarts: each Application has exactly one `send_due_reminders` job, coalescing, no grace."""
    for _ in range(3):
        app = build_application(
            harness.settings, FakeBotAPI(), clock=harness.clock, db=harness.db, features=build_features()
        )
        await app.initialize()
        try:
            await app.post_init(app)
            jobs = app.job_queue.jobs()
            assert [job.name for job in jobs] == [JOB_NAME]
            aps_job = jobs[0].job
            assert aps_job.id == JOB_NAME
            assert aps_job.coalesce is True and aps_job.misfire_grace_time is None
            assert aps_job.trigger.interval.total_seconds() == 60
            # Starting the component again (a second post_init) still leaves one job.
            component = ReminderTick(app.bot_data[DEPS_KEY], reminder_kinds())
            await component.start(app)
            assert len(app.job_queue.jobs()) == 1
            await app.post_stop(app)
            assert app.job_queue.jobs() == ()
        finally:
            await app.shutdown()


async def test_the_job_runs_the_registered_kinds_at_the_clocks_time(harness: BotHarness) -> None:
    world = await _world(harness)
    await set_plan(harness, world, rule="15", time="19:00")
    component = ReminderTick(harness.deps, reminder_kinds())
    harness.clock.set(local(2026, 3, 12, 7, 59))
    assert (await component.run_once()).occurrences == 0
    harness.clock.set(local(2026, 3, 12, 8, 0))  # the three-day activity reminder
    result = await component.run_once()
    assert result.ran and (result.occurrences, result.outbox_rows) == (3, 3)


async def test_quiet_hours_hold_the_outbox_row_until_morning(harness: BotHarness) -> None:
    await _world(harness)
    kinds = [ping_kind(local(2026, 3, 2, 23, 0))]
    harness.clock.set(local(2026, 3, 2, 23, 0))
    result = await tick(harness.db, harness.clock.now(), NIGHT, kinds)
    assert result.occurrences == 3  # recorded when due ...
    async with harness.session() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert {row.next_attempt_at for row in rows} == {local(2026, 3, 3, 7, 0)}  # ... sent after quiet hours
    assert await harness.deliver() == []
    harness.clock.set(local(2026, 3, 3, 7, 0))
    assert len(await harness.deliver()) == 3


async def test_quiet_hours_follow_each_branch_time_zone(harness: BotHarness) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    await _world(harness, timezone="Europe/Berlin")
    # 23:30 in Shanghai is 16:30 in Berlin: not quiet there, so it goes at once.
    harness.clock.set(local(2026, 3, 2, 23, 30))
    await tick(harness.db, harness.clock.now(), NIGHT, [ping_kind(local(2026, 3, 2, 23, 0))])
    assert len(await harness.deliver()) == 3
    # 23:30 in Berlin is quiet there: held until 07:00 Berlin time.
    harness.clock.set(local(2026, 3, 2, 23, 30, tz=berlin))
    await tick(
        harness.db, harness.clock.now(), NIGHT, [ping_kind(local(2026, 3, 2, 23, 0, tz=berlin), "t.2")]
    )
    async with harness.session() as session:
        held = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))))
    assert {row.next_attempt_at for row in held} == {local(2026, 3, 3, 7, 0, tz=berlin)}


async def test_fire_and_tick_share_the_key(harness: BotHarness) -> None:
    await _world(harness)
    kind = ping_kind(local(2026, 3, 2, 9, 0))
    async with harness.session() as session:
        result = await fire(session, kind, harness.clock.now())
        await session.commit()
    assert result.outbox_rows == 3
    again = await tick(harness.db, harness.clock.now(), NO_QUIET, [kind])
    assert again.occurrences == 0
    assert await _count(harness, OutboxMessage) == 3


async def test_unreachable_people_get_an_occurrence_but_no_outbox_row(harness: BotHarness) -> None:
    world = await _world(harness)
    async with harness.session() as session:
        await session.execute(
            update(Person).where(Person.id == world.person_ids[MEMBERS[0].id]).values(unreachable=True)
        )
        await session.execute(
            update(Person).where(Person.id == world.person_ids[MEMBERS[1].id]).values(chat_id=None)
        )
        await session.commit()
    result = await tick(harness.db, harness.clock.now(), NO_QUIET, [ping_kind(local(2026, 3, 2, 9, 0))])
    assert (result.occurrences, result.outbox_rows) == (3, 1)
    async with harness.session() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(ReminderOccurrence)
            .where(ReminderOccurrence.enqueued_at.is_(None))
        )
        assert pending == 0
        row = await session.scalar(select(OutboxMessage))
        assert row.source.startswith("reminder:") and row.kind == "reminder"
        assert row.status == OutboxStatus.PENDING and row.priority == 20


@pytest.mark.skipif(not on_postgres(), reason="the advisory lock exists on PostgreSQL only")
async def test_only_one_instance_runs_the_tick(harness: BotHarness) -> None:
    from sqlalchemy import text

    from bot.scheduling.engine import TICK_LOCK_KEY

    await _world(harness)
    async with harness.session() as holder:
        assert await holder.scalar(text(f"SELECT pg_try_advisory_xact_lock({TICK_LOCK_KEY})"))
        skipped = await tick(harness.db, harness.clock.now(), NO_QUIET, [ping_kind(local(2026, 3, 2, 9, 0))])
        assert skipped.ran is False
        await holder.rollback()
    ran = await tick(harness.db, harness.clock.now(), NO_QUIET, [ping_kind(local(2026, 3, 2, 9, 0))])
    assert ran.ran and ran.occurrences == 3


@pytest.mark.parametrize(
    ("chosen", "client"),
    [
        (None, None),
        (None, "en-US"),
        (None, "EN"),
        (None, "zh-hans"),
        ("en", "zh"),
        ("zh", "en"),
        ("xx", "en-GB"),
        (None, "ru"),
        ("xx", None),
        (None, ""),
    ],
)
async def test_sql_language_matches_resolve_language(harness: BotHarness, chosen, client) -> None:
    async with harness.session() as session:
        person = telegram_person(9, language=chosen, client_language=client)
        session.add(person)
        await session.flush()
        got = await session.scalar(select(language_of_person()).where(Person.id == person.id))
    assert got == resolve_language(chosen, client)
