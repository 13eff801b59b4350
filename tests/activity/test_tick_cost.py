"""The tick's cost and footprint (issue 17): short batches, nothing rewritten when nothing is new, kinds
narrowed to what changed, one stored body per message, and the daily retention pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select, update

from bot.config import Settings
from bot.scheduling.engine import (
    Occasion,
    ReminderKind,
    Retention,
    occurrence_columns,
    prune,
    tick,
)
from bot.services.outbox import Outgoing
from storage.models import Branch, Member, MemberState, OutboxBody, OutboxMessage, OutboxStatus, Person
from storage.models.core import HandledUpdate
from storage.models.scheduling import ReminderOccurrence, SchedulerState
from tests.activity.factory import add_member
from tests.activity.test_engine import MEMBERS, NO_QUIET, _world, local, ping_kind
from tests.factories import TgUser, telegram_user
from tests.harness import BotHarness


async def _count(harness: BotHarness, model, *where) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


class Writes:
    """Counts INSERT/UPDATE/DELETE statements on the harness's engine, by table name."""

    def __init__(self, harness: BotHarness) -> None:
        self.statements: list[str] = []
        self.engine = harness.db.engine.sync_engine

    def _seen(self, conn, cursor, statement: str, *args) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.statements.append(statement)

    def __enter__(self) -> Writes:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def besides_state(self) -> list[str]:
        return [s for s in self.statements if "scheduler_state" not in s]


async def test_an_idle_tick_writes_nothing_but_its_own_state(harness: BotHarness) -> None:
    await _world(harness)
    kinds = [ping_kind(local(2026, 3, 2, 9, 0))]
    harness.clock.set(local(2026, 3, 2, 9, 1))
    assert (await tick(harness.db, harness.clock.now(), NO_QUIET, kinds)).occurrences == 3
    harness.clock.advance(minutes=1)
    with Writes(harness) as writes:
        idle = await tick(harness.db, harness.clock.now(), NO_QUIET, kinds)
    assert idle.occurrences == 0 and idle.batches == 0
    assert writes.besides_state() == []
    assert len(writes.statements) == 1  # one UPDATE of the kind's last run, in one transaction


async def test_a_wave_is_written_in_batches_and_a_crash_between_them_loses_nothing(
    harness: BotHarness,
) -> None:
    await _world(harness)
    calls = {"n": 0}
    base = ping_kind(local(2026, 3, 2, 9, 0))

    async def flaky_render(session, occasion: Occasion):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the process dies in the second batch")
        return await base.render(session, occasion)

    kind = ReminderKind(base.name, base.due, flaky_render)
    harness.clock.set(local(2026, 3, 2, 9, 1))
    with pytest.raises(RuntimeError):
        await tick(harness.db, harness.clock.now(), NO_QUIET, [kind], batch_rows=2)
    assert await _count(harness, ReminderOccurrence) == 2  # the first batch was committed
    assert await _count(harness, OutboxMessage) == 2
    harness.clock.advance(minutes=1)
    again = await tick(harness.db, harness.clock.now(), NO_QUIET, [kind], batch_rows=2)
    assert (again.occurrences, again.outbox_rows, again.batches) == (1, 1, 1)
    async with harness.session() as session:
        people = list(await session.scalars(select(OutboxMessage.person_id)))
    assert len(people) == len(set(people)) == 3
    await harness.deliver()
    assert [harness.fake.texts(user.id) for user in MEMBERS] == [["ping 1 zh"], ["ping 1 zh"], ["ping 1 en"]]


async def test_one_body_per_group_and_erasure_hides_it_for_one_person(harness: BotHarness) -> None:
    world = await _world(harness)
    harness.clock.set(local(2026, 3, 2, 9, 1))
    await tick(harness.db, harness.clock.now(), NO_QUIET, [ping_kind(local(2026, 3, 2, 9, 0))])
    async with harness.session() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert all(r.inline_payload is None and r.body_id is not None for r in rows)
        assert len({r.body_id for r in rows}) == 2  # zh and en: two groups, two bodies for three rows
        assert [r.payload["text"] for r in rows] == ["ping 1 zh", "ping 1 zh", "ping 1 en"]
        first = world.person_ids[MEMBERS[0].id]
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.person_id == first)
            .values(payload={"text": ""})
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    async with harness.session() as session:
        texts = {r.person_id: r.payload["text"] for r in await session.scalars(select(OutboxMessage))}
    assert texts[first] == "" and sorted(texts.values()) == ["", "ping 1 en", "ping 1 zh"]
    await harness.deliver()
    assert harness.fake.texts(MEMBERS[1].id) == ["ping 1 zh"]


async def test_an_incremental_kind_gets_its_last_run_and_catches_late_joiners(harness: BotHarness) -> None:
    world = await _world(harness)
    seen: list[datetime | None] = []
    due_at = local(2026, 3, 2, 9, 0)

    async def due(session, now, since):
        seen.append(since)
        if now < due_at:
            return None
        newly = [] if since is None or due_at > since else [Member.decided_at > since]
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
            .where(Member.state == MemberState.APPROVED, *newly)
        )

    async def render(session, occasion):
        return Outgoing(text="hello")

    kind = ReminderKind("test.incremental", due, render, incremental=True)
    first, second = local(2026, 3, 2, 9, 1), local(2026, 3, 2, 9, 2)
    harness.clock.set(first)
    assert (await tick(harness.db, first, NO_QUIET, [kind])).occurrences == 3
    harness.clock.set(second)
    assert (await tick(harness.db, second, NO_QUIET, [kind])).occurrences == 0
    late = TgUser(5009, "丁")
    async with harness.session() as session:
        await add_member(session, world.branch_id, late, approved_at=local(2026, 3, 2, 9, 2, 30))
        await session.commit()
    third = local(2026, 3, 2, 9, 3)
    assert (await tick(harness.db, third, NO_QUIET, [kind])).occurrences == 1
    assert seen == [None, first, second]
    # The clock going back (a test, a wrong host clock) means "select everything still due".
    assert (await tick(harness.db, first, NO_QUIET, [kind])).occurrences == 0
    assert seen[-1] is None


async def test_a_daily_kind_runs_once_a_day_and_again_at_its_next_threshold(harness: BotHarness) -> None:
    await _world(harness)
    runs: list[datetime] = []
    threshold = local(2026, 3, 2, 15, 0)

    async def due(session, now):
        runs.append(now)
        return None

    async def next_due(session, now):
        return threshold if now < threshold else None

    kind = ReminderKind("test.daily", due, lambda s, o: None, daily=True, next_due=next_due)
    moments = [
        local(2026, 3, 2, 9, 0),  # the first run of the UTC day
        local(2026, 3, 2, 9, 1),
        local(2026, 3, 2, 14, 59),
        local(2026, 3, 2, 15, 0),  # the threshold
        local(2026, 3, 2, 15, 1),
        local(2026, 3, 2, 23, 0),
        local(2026, 3, 3, 8, 0),  # 00:00 UTC: a new day
        local(2026, 3, 3, 8, 1),
    ]
    for moment in moments:
        await tick(harness.db, moment, NO_QUIET, [kind])
    assert runs == [local(2026, 3, 2, 9, 0), local(2026, 3, 2, 15, 0), local(2026, 3, 3, 8, 0)]


async def test_retention_prunes_updates_blanks_old_text_and_compacts_bounded_occurrences(
    harness: BotHarness,
) -> None:
    await _world(harness)
    now = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    day = timedelta(days=1)
    async with harness.session() as session:
        person = await session.scalar(select(Person.id).where(telegram_user(MEMBERS[0].id)))
        await session.execute(
            insert(HandledUpdate),
            [{"update_id": i, "handled_at": now - i * day} for i in range(1, 11)],
        )
        old_body = OutboxBody(payload={"text": "old notice"}, created_at=now - 40 * day)
        young_body = OutboxBody(payload={"text": "young notice"}, created_at=now - 10 * day)
        session.add_all([old_body, young_body])
        await session.flush()

        def row(source, status, age, **values):
            return {
                "source": source,
                "kind": "notice",
                "chat_id": MEMBERS[0].id,
                "person_id": person,
                "priority": 30,
                "status": status,
                "attempts": 1,
                "next_attempt_at": now - age * day,
                "created_at": now - age * day,
                **values,
            }

        await session.execute(
            insert(OutboxMessage),
            [
                row("old:sent", OutboxStatus.SENT, 40, body_id=old_body.id),
                row("old:failed", OutboxStatus.FAILED, 39, payload={"text": "failed"}),
                row("old:uncertain", OutboxStatus.UNCERTAIN, 38, payload={"text": "maybe"}),
                row("young:sent", OutboxStatus.SENT, 10, body_id=young_body.id),
            ],
        )
        occurrence = {"subject_type": "branch", "subject_id": 1, "person_id": person, "tz": "Asia/Shanghai"}
        await session.execute(
            insert(ReminderOccurrence),
            [
                {"kind": "t.bounded", "period": "a", "due_at": now - 100 * day, "created_at": now - 100 * day}
                | occurrence,
                {"kind": "t.forever", "period": "a", "due_at": now - 100 * day, "created_at": now - 100 * day}
                | occurrence,
                {"kind": "t.bounded", "period": "b", "due_at": now - 20 * day, "created_at": now - 20 * day}
                | occurrence,
            ],
        )
        await session.commit()

    async def nothing(session, now):
        return None

    kinds = [
        ReminderKind("t.bounded", nothing, lambda s, o: None, keep=timedelta(days=40)),
        ReminderKind("t.forever", nothing, lambda s, o: None),
    ]
    retention = Retention.from_settings(Settings())
    assert retention == Retention(timedelta(days=7), timedelta(days=30), timedelta(days=90))
    await prune(harness.db, now, retention, kinds)
    async with harness.session() as session:
        assert sorted(await session.scalars(select(HandledUpdate.update_id))) == [
            1,
            2,
            3,
            4,
            5,
            6,
            7,
        ]  # 7 days old is not older than 7 days
        rows = {r.source: r for r in await session.scalars(select(OutboxMessage))}
        assert rows["old:sent"].payload is None and rows["old:sent"].status == OutboxStatus.SENT
        assert rows["old:sent"].sent_at is None and rows["old:sent"].created_at == now - 40 * day
        assert rows["old:failed"].payload is None
        assert rows["old:uncertain"].payload == {"text": "maybe"}
        assert rows["young:sent"].payload == {"text": "young notice"}
        assert await session.scalar(select(func.count()).select_from(OutboxBody)) == 1
        kept = sorted((o.kind, o.period) for o in await session.scalars(select(ReminderOccurrence)))
        assert kept == [("t.bounded", "b"), ("t.forever", "a")]
    # Once a day: a second pass the same day does nothing; the next day continues from its cursors.
    assert await prune(harness.db, now + timedelta(hours=1), retention, kinds) == 0
    assert await prune(harness.db, now + day, retention, kinds) == 1  # update 7 is now 8 days old


async def test_the_bot_passes_every_kind_and_the_retention_settings(harness: BotHarness) -> None:
    from app.features import reminder_kinds
    from bot.scheduling.component import ReminderTick

    names = [kind.name for kind in reminder_kinds()]
    assert len(names) == len(set(names)) and {"activity.rsvp", "dues.unpaid", "member.details"} <= set(names)
    result = await ReminderTick(harness.deps, reminder_kinds()).run_once()
    assert result.ran
    async with harness.session() as session:
        states = {s.name for s in await session.scalars(select(SchedulerState))}
    assert "retention" in states and {f"kind:{name}" for name in names} <= states
