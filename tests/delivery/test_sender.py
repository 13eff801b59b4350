"""The outbox sender through the real Application and the fake Bot API: every delivery row of the
reliability table that does not need a second process (see test_process.py for those)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.delivery import sender as sender_module
from bot.delivery.telegram import budget_of, build_sender
from bot.services.outbox import Outgoing, enqueue
from storage.models import OutboxMessage, OutboxStatus, Person
from tests.conftest import on_postgres
from tests.factories import telegram_person
from tests.harness import BotHarness

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*")


async def enqueue_many(harness: BotHarness, chat_ids: list[int], *, source: str = "test:1") -> None:
    async with harness.session() as session:
        for chat_id in chat_ids:
            await enqueue(
                session,
                source=source,
                chat_id=chat_id,
                message=Outgoing(text=f"hello {chat_id}"),
                not_before=harness.clock.now(),
            )
        await session.commit()


async def rows_by_chat(harness: BotHarness) -> dict[int, OutboxMessage]:
    return {row.chat_id: row for row in await harness.outbox()}


def record_virtual_times(harness: BotHarness) -> list[tuple[float, int | None, str, int]]:
    """Wrap the fake so each request is stamped with the budget's (virtual) time and its status."""
    timer = budget_of(harness.app.bot).timer
    stamps: list[tuple[float, int | None, str, int]] = []
    original = harness.fake.do_request

    async def stamped(url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any):
        at = timer.now()
        chat = request_data.parameters.get("chat_id") if request_data else None
        status, body = await original(url, method, request_data, *args, **kwargs)
        stamps.append((at, int(chat) if chat is not None else None, url.rsplit("/", 1)[-1], status))
        return status, body

    harness.fake.do_request = stamped  # type: ignore[method-assign]
    return stamps


async def test_each_row_is_sent_once_and_marked_sent(harness: BotHarness) -> None:
    chats = list(range(8001, 8031))
    await enqueue_many(harness, chats)
    calls = await harness.deliver()
    assert sorted(c.chat_id for c in calls) == chats
    rows = await rows_by_chat(harness)
    assert {r.status for r in rows.values()} == {OutboxStatus.SENT}
    assert all(r.attempts == 1 and r.message_id for r in rows.values())
    assert await harness.deliver() == []


async def test_rows_not_yet_due_wait_for_the_clock(harness: BotHarness) -> None:
    async with harness.session() as session:
        await enqueue(
            session,
            source="later:1",
            chat_id=8001,
            message=Outgoing(text="later"),
            not_before=harness.clock.now() + timedelta(minutes=5),
        )
        await session.commit()
    assert await harness.deliver() == []
    harness.clock.advance(minutes=5)
    assert [c.chat_id for c in await harness.deliver()] == [8001]


async def test_429_pauses_everyone_until_the_deadline_and_the_row_is_delivered_once(
    harness: BotHarness,
) -> None:
    chats = list(range(8001, 8041))
    await enqueue_many(harness, chats)
    harness.fake.fail("retry_after:5", chat_id=8005)
    stamps = record_virtual_times(harness)
    sender = build_sender(harness.app.bot, harness.db, harness.clock, concurrency=20)
    await sender.drain()

    [(t429, _, _, _)] = [s for s in stamps if s[3] == 429]
    after = [s for s in stamps if s[0] > t429]
    assert len(after) >= 20  # the other sends were waiting for their slot when the 429 came
    assert all(at >= t429 + 5 for at, *_ in after)
    delivered = [c.chat_id for c in harness.fake.sent(method="sendMessage")]
    assert sorted(delivered) == chats  # the limited one too, exactly once
    rows = await rows_by_chat(harness)
    assert rows[8005].status == OutboxStatus.SENT
    assert budget_of(harness.app.bot).pauses == 1


async def test_429_beyond_the_in_process_retries_goes_back_to_the_table(harness: BotHarness) -> None:
    await enqueue_many(harness, [8001])
    harness.fake.fail("retry_after:7", chat_id=8001, times=sender_module.RATE_RETRIES + 1)
    await harness.deliver()
    row = (await rows_by_chat(harness))[8001]
    assert (row.status, row.last_error) == (OutboxStatus.PENDING, "retry_after")
    assert row.next_attempt_at == harness.clock.now() + timedelta(seconds=7)
    harness.clock.advance(seconds=7)
    assert [c.chat_id for c in await harness.deliver()] == [8001]


async def test_forbidden_marks_the_person_unreachable_and_is_not_retried(harness: BotHarness) -> None:
    async with harness.session() as session:
        person = telegram_person(8002)
        session.add(person)
        await session.flush()
        for chat_id, person_id in ((8001, None), (8002, person.id)):
            await enqueue(
                session,
                source="t:1",
                chat_id=chat_id,
                person_id=person_id,
                message=Outgoing(text="x"),
                not_before=harness.clock.now(),
            )
        await session.commit()
    harness.fake.fail("deactivated", chat_id=8002)
    await harness.deliver()
    rows = await rows_by_chat(harness)
    assert (rows[8002].status, rows[8002].last_error) == (OutboxStatus.FAILED, "deactivated")
    async with harness.session() as session:
        assert (await session.scalar(select(Person.unreachable).where(Person.chat_id == 8002))) is True
    harness.clock.advance(days=1)
    assert await harness.deliver() == []
    assert harness.fake.sent(8002) == []


async def test_read_timeout_is_uncertain_and_not_resent(harness: BotHarness) -> None:
    await enqueue_many(harness, [8001, 8002])
    harness.fake.fail("read_timeout", chat_id=8001)
    await harness.deliver()
    rows = await rows_by_chat(harness)
    assert (rows[8001].status, rows[8001].last_error) == (OutboxStatus.UNCERTAIN, "timeout")
    assert rows[8002].status == OutboxStatus.SENT
    harness.clock.advance(days=1)
    await harness.deliver()
    assert len(harness.fake.sent(8001)) == 1  # the fake saw it arrive once; never again


async def test_pool_timeout_is_retried_and_delivered_once(harness: BotHarness) -> None:
    await enqueue_many(harness, [8001])
    harness.fake.fail("pool_timeout", chat_id=8001, times=2)
    await harness.deliver()
    assert len(harness.fake.sent(8001)) == 1
    row = (await rows_by_chat(harness))[8001]
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 3)


async def test_bad_request_fails_with_its_code(harness: BotHarness) -> None:
    await enqueue_many(harness, [8001])
    harness.fake.fail("bad_request:chat not found", chat_id=8001)
    await harness.deliver()
    row = (await rows_by_chat(harness))[8001]
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "chat_not_found")
    harness.clock.advance(days=1)
    assert await harness.deliver() == []


async def test_network_errors_back_off_exponentially(harness: BotHarness) -> None:
    await enqueue_many(harness, [8001])
    harness.fake.fail("network", chat_id=8001, times=3)
    start = harness.clock.now()
    await harness.deliver()
    for waited, attempts in ((5, 1), (10, 2), (20, 3)):
        row = (await rows_by_chat(harness))[8001]
        assert (row.status, row.attempts, row.last_error) == (OutboxStatus.PENDING, attempts, "network")
        assert row.next_attempt_at == harness.clock.now() + timedelta(seconds=waited)
        harness.clock.advance(seconds=waited - 1)
        assert await harness.deliver() == []
        harness.clock.advance(seconds=1)
        await harness.deliver()
    row = (await rows_by_chat(harness))[8001]
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 4)
    assert len(harness.fake.sent(8001)) == 1
    assert harness.clock.now() - start == timedelta(seconds=35)


async def test_chat_migrated_moves_the_row_and_the_person_and_retries_once(harness: BotHarness) -> None:
    async with harness.session() as session:
        session.add(Person(chat_id=-555))
        await session.commit()
    await enqueue_many(harness, [-555, -777])
    harness.fake.fail("migrate:-100555", chat_id=-555)
    harness.fake.fail("migrate:-100777", chat_id=-777)
    harness.fake.fail("migrate:-100999777", chat_id=-100777)  # migrated twice: give up
    await harness.deliver()
    assert len(harness.fake.sent(-100555)) == 1
    rows = {r.source + str(r.id): r for r in await harness.outbox()}
    by_chat = {r.chat_id: r for r in rows.values()}
    assert (by_chat[-100555].status, by_chat[-100555].last_error) == (OutboxStatus.SENT, "migrated")
    assert (by_chat[-100777].status, by_chat[-100777].last_error) == (OutboxStatus.FAILED, "migrated_again")
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).where(Person.chat_id == -100555)) == 1
        assert await session.scalar(select(func.count()).where(Person.chat_id == -555)) == 0


async def test_kill_9_loses_nothing_and_duplicates_at_most_the_rows_in_flight(harness: BotHarness) -> None:
    chats = list(range(8001, 8061))
    await enqueue_many(harness, chats)
    original = harness.fake.do_request
    delivered = 0
    hanging = asyncio.Event()

    async def dies_after_20(url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any):
        nonlocal delivered
        status, body = await original(url, method, request_data, *args, **kwargs)
        if url.endswith("sendMessage"):
            delivered += 1
            if delivered > 20:  # delivered, but the process dies before it hears back
                hanging.set()
                await asyncio.Event().wait()
        return status, body

    harness.fake.do_request = dies_after_20  # type: ignore[method-assign]
    doomed = build_sender(harness.app.bot, harness.db, harness.clock, concurrency=4)
    task = asyncio.create_task(doomed.drain())
    await hanging.wait()
    for _ in range(20):  # let the other workers reach the network too
        await asyncio.sleep(0)
    task.cancel()  # like kill -9: nothing after this point is written
    with pytest.raises(asyncio.CancelledError):
        await task
    async with harness.session() as session:
        in_flight = await session.scalar(
            select(func.count()).where(OutboxMessage.status == OutboxStatus.SENDING)
        )
    assert in_flight >= 1
    await harness.db.dispose()  # the dead process's connections go with it

    first_run = [c.chat_id for c in harness.fake.sent(method="sendMessage")]
    fresh = await harness.restart()
    try:
        await fresh.deliver()
        second_run = [c.chat_id for c in fresh.fake.sent(method="sendMessage")]
        outbox = await fresh.outbox()
    finally:
        await fresh.stop()
    everything = first_run + second_run
    assert set(everything) == set(chats)  # nobody lost
    duplicates = len(everything) - len(set(everything))
    assert duplicates <= in_flight
    assert {r.status for r in outbox} == {OutboxStatus.SENT}


async def test_stop_during_a_notice_leaves_rows_sent_uncertain_or_pending(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "STOP_GRACE", 0.3)
    chats = list(range(8001, 8201))
    await enqueue_many(harness, chats)
    original = harness.fake.do_request
    slow = {8007, 8013}
    seen_slow = asyncio.Event()

    async def some_hang(url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any):
        status, body = await original(url, method, request_data, *args, **kwargs)
        chat = int(request_data.parameters.get("chat_id", 0)) if request_data else 0
        if chat in slow:
            if all(harness.fake.sent(c) for c in slow):
                seen_slow.set()
            await asyncio.sleep(3600)  # delivered; the answer never comes back
        return status, body

    harness.fake.do_request = some_hang  # type: ignore[method-assign]
    sender = build_sender(harness.app.bot, harness.db, harness.clock, concurrency=4)
    await sender.start()
    await asyncio.wait_for(seen_slow.wait(), 10)
    started = time.monotonic()
    await sender.stop()
    assert time.monotonic() - started < 10

    rows = await rows_by_chat(harness)
    statuses = {r.status for r in rows.values()}
    assert statuses <= {OutboxStatus.SENT, OutboxStatus.UNCERTAIN, OutboxStatus.PENDING}
    assert OutboxStatus.PENDING in statuses  # it really stopped in the middle
    for chat, row in rows.items():
        arrived = len(harness.fake.sent(chat))
        if row.status == OutboxStatus.SENT:
            assert arrived == 1
        elif row.status == OutboxStatus.PENDING:
            assert arrived == 0
        else:
            assert chat in slow and arrived == 1
    assert {c for c, r in rows.items() if r.status == OutboxStatus.UNCERTAIN} == slow


async def test_rows_of_a_live_instance_are_not_stolen_until_its_lease_expires(harness: BotHarness) -> None:
    await enqueue_many(harness, [8001, 8002])
    async with harness.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.chat_id == 8001)
            .values(
                status=OutboxStatus.SENDING, claimed_by="other-host:42:abcd", claimed_at=harness.clock.now()
            )
        )
        await session.commit()
    sender = build_sender(harness.app.bot, harness.db, harness.clock, concurrency=1)
    sender.single_instance = False  # as on PostgreSQL: another host may be alive
    await sender.drain()
    assert [c.chat_id for c in harness.fake.sent()] == [8002]
    harness.clock.advance(seconds=sender_module.LEASE.total_seconds() + 1)
    assert await sender.recover() == 1
    await sender.drain()
    assert sorted(c.chat_id for c in harness.fake.sent()) == [8001, 8002]


async def test_dead_owners_on_this_host_are_recognised() -> None:
    class _Db:
        dialect = "postgresql"

    sender = sender_module.OutboxSender(_Db(), None, None, budget_of_rate(25))  # type: ignore[arg-type]
    host, pid, _token = sender.instance_id.split(":")
    assert not sender._owner_dead(sender.instance_id)
    assert sender._owner_dead(f"{host}:{pid}:ffffffff")  # our own pid, an earlier life
    assert sender._owner_dead(f"{host}:999999999:ab")  # no such process
    assert not sender._owner_dead(f"{host}:1:ab")  # init is alive
    assert not sender._owner_dead("another-host:1234:ab")  # only the lease can tell
    sender.single_instance = True
    assert sender._owner_dead("another-host:1234:ab")  # SQLite: one instance, so any other is dead


def budget_of_rate(rate: float):
    from bot.delivery.limits import RateBudget

    return RateBudget(rate)


@pytest.mark.skipif(not on_postgres(), reason="SKIP LOCKED needs PostgreSQL")
async def test_two_instances_claim_disjoint_rows_on_postgres(harness: BotHarness) -> None:
    await enqueue_many(harness, list(range(8001, 8101)))
    first = build_sender(harness.app.bot, harness.db, harness.clock)
    second = build_sender(harness.app.bot, harness.db, harness.clock)
    claims = await asyncio.gather(*(s._claim(30) for s in (first, second, first, second)))
    ids = [row.id for claim in claims for row in claim]
    assert len(ids) == len(set(ids)) == 100


@pytest.mark.skipif(not on_postgres(), reason="several instances run on PostgreSQL only")
async def test_instances_share_the_rate_and_a_dead_ones_share_is_handed_over(harness: BotHarness) -> None:
    from bot.delivery.limits import RateBudget, VirtualTimer
    from bot.delivery.share import TTL, RateShare

    budgets = [RateBudget(25, VirtualTimer(harness.clock)) for _ in range(3)]
    shares = [
        RateShare(harness.db, harness.clock, b, f"host-{name}:1:ab")
        for name, b in zip("abc", budgets, strict=True)
    ]
    a, b, c = shares
    assert await a.join() == 25  # alone: the whole rate, at once
    assert budgets[0].paused_until < budgets[0].timer.now()
    assert await b.join() == 12
    assert budgets[1].paused_until > budgets[1].timer.now()  # held until the first has made room
    assert await a.refresh() == 13
    assert await c.join() == 8
    assert [await s.refresh() for s in shares] == [9, 8, 8]
    assert sum(x.burst for x in budgets) == 25

    # c dies (no more heartbeats); a clean stop of b deletes its row at once
    harness.clock.advance(seconds=TTL.total_seconds() - 1)
    assert [await a.refresh(), await b.refresh()] == [9, 8]  # c still counts within its TTL
    harness.clock.advance(seconds=2)
    assert await a.refresh() == 13 and await b.refresh() == 12
    assert budgets[0].burst + budgets[1].burst == 25  # c's share handed over
    await b.leave()
    assert await a.refresh() == 25

    # c comes back from a long stall: it finds its row gone and waits before sending again
    harness.clock.advance(seconds=1)
    assert await c.refresh() == 12
    assert budgets[2].paused_until > budgets[2].timer.now()
    assert await a.refresh() == 13


@pytest.mark.skipif(not on_postgres(), reason="several instances run on PostgreSQL only")
async def test_a_sender_registers_on_start_and_leaves_on_stop(harness: BotHarness) -> None:
    from storage.models import SenderInstance

    sender = build_sender(harness.app.bot, harness.db, harness.clock, hooks=[])
    await sender.start()
    try:
        async with harness.session() as session:
            assert list(await session.scalars(select(SenderInstance.id))) == [sender.instance_id]
    finally:
        await sender.stop()
    async with harness.session() as session:
        assert list(await session.scalars(select(SenderInstance.id))) == []


async def test_429_with_requests_in_flight_pauses_every_later_send(harness: BotHarness) -> None:
    """Each request takes a (real) 30 ms round trip, so several are out when the 429 comes back."""
    chats = list(range(8001, 8061))
    await enqueue_many(harness, chats)
    harness.fake.fail("retry_after:5", chat_id=8020)
    budget = budget_of(harness.app.bot)
    timer = budget.timer
    original = harness.fake.do_request
    started: list[float] = []
    answered_429: list[tuple[float, int]] = []

    async def round_trip(url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any):
        started.append(timer.now())
        status, body = await original(url, method, request_data, *args, **kwargs)
        await asyncio.sleep(0.03)
        if status == 429:
            answered_429.append((timer.now(), budget.in_flight))
        return status, body

    harness.fake.do_request = round_trip  # type: ignore[method-assign]
    sender = build_sender(harness.app.bot, harness.db, harness.clock, concurrency=16)
    await sender.drain()

    [(answered_at, in_flight)] = answered_429
    assert in_flight > 1  # others were out with it
    later = [t for t in started if t > answered_at]
    assert later and min(later) >= answered_at + 5  # nothing left before the deadline
    assert sorted(c.chat_id for c in harness.fake.sent(method="sendMessage")) == chats  # each once
    assert {r.status for r in (await rows_by_chat(harness)).values()} == {OutboxStatus.SENT}


@pytest.mark.skipif(not on_postgres(), reason="several instances run on PostgreSQL only")
async def test_two_senders_starting_together_never_both_take_the_whole_rate(harness: BotHarness) -> None:
    from bot.delivery.limits import RateBudget, VirtualTimer
    from bot.delivery.share import RateShare

    for attempt in range(5):
        budgets = [RateBudget(25, VirtualTimer(harness.clock)) for _ in range(2)]
        shares = [
            RateShare(harness.db, harness.clock, b, f"host-{attempt}-{i}:1:ab") for i, b in enumerate(budgets)
        ]
        await asyncio.gather(*(s.join() for s in shares))
        unheld = [b.rate for b in budgets if b.paused_until < b.timer.now()]
        assert sum(unheld) <= 25  # whoever sends at once, together within the rate
        for s in shares:
            await s.leave()


@pytest.mark.skipif(not on_postgres(), reason="several instances run on PostgreSQL only")
async def test_each_chat_goes_out_from_one_instance(harness: BotHarness) -> None:
    from bot.delivery.share import RateShare

    await enqueue_many(harness, list(range(8001, 8061)))
    senders = [build_sender(harness.app.bot, harness.db, harness.clock, hooks=[]) for _ in range(3)]
    for s in senders:
        s.share = RateShare(harness.db, harness.clock, budget_of_rate(25), s.instance_id)
        await s.share.join()
    for s in senders:
        await s.share.refresh()
    claimed = {s.instance_id: {row.chat_id for row in await s._claim(60)} for s in senders}
    assert sorted(c for chats in claimed.values() for c in chats) == list(range(8001, 8061))
    ranges = sorted(s.share.partition for s in senders)
    assert ranges == [(25, 0, 9), (25, 9, 17), (25, 17, 25)]  # as wide as the shares 9, 8, 8
    for s in senders:
        _modulus, low, high = s.share.partition
        assert all(low <= c % 25 < high for c in claimed[s.instance_id])
        assert high - low == s.share.share
