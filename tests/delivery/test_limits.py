"""The rate budget on virtual time: global rate, priority, 429 pauses, per-chat limits."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import FakeClock
from bot.delivery.limits import MARGIN, TELEGRAM, WINDOW, RateBudget, Slot, VirtualTimer
from tests.delivery.virtual_loop import LoopTimer, run_virtual


def budget(rate: float = 25) -> RateBudget:
    return RateBudget(rate, VirtualTimer(FakeClock(datetime(2026, 1, 1, tzinfo=UTC))))


def max_in_window(times: list[float], seconds: float = 1.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def starts_squeezed(slots: list[Slot], limit: int) -> bool:
    """Do any ``limit + 1`` of these sends start within ``WINDOW``? If not, requests that each reach
    the server within ``MARGIN`` of their start never put ``limit + 1`` in one second there."""
    starts = sorted(s.start for s in slots)
    return any(b - a < WINDOW - 1e-9 for a, b in zip(starts, starts[limit:], strict=False))


def could_arrive_together(slots: list[Slot], limit: int) -> bool:
    """Could more than ``limit`` of these requests reach the server within one second, wherever in
    its round trip (between start and end) each arrived? (The per-chat limit promises this.)"""
    for latest in slots:
        overlapping = [
            s for s in slots if s is not latest and s.start <= latest.start and s.end > latest.start - 1.0
        ]
        if len(overlapping) >= limit:
            return True
    return False


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([1, 2.5, 10, 25, 30]),
    jobs=st.lists(
        st.tuples(
            st.sampled_from([0, 10, 30]),  # priority
            st.integers(-3, 40),  # chat (negative: a group)
            st.floats(0, 2),  # arrives after
            st.floats(0, 0.3),  # the request takes
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_no_second_can_ever_hold_more_than_the_rate(
    rate: float, jobs: list[tuple[int, int, float, float]]
) -> None:
    """Whatever arrives when and takes how long: ≤ rate per second (by start time, several in
    flight), never more than a window's worth out at once, and ≤ 1/s per private chat wherever in
    its round trip each request actually reached the server."""

    async def scenario() -> list[Slot]:
        b = budget(rate)
        taken: list[Slot] = []

        async def job(priority: int, chat: int, arrives: float, takes: float) -> None:
            await b.timer.sleep(arrives)
            async with b.slot(priority, chat) as slot:
                taken.append(slot)
                out.append(b.in_flight)
                await b.timer.sleep(takes)

        await asyncio.gather(*(job(*j) for j in jobs))
        return taken

    out: list[int] = []
    taken = asyncio.run(scenario())
    assert len(taken) == len(jobs)
    assert not starts_squeezed(taken, int(rate))
    assert max(out) <= max(1, int(rate))
    for chat in {s.chat_id for s in taken if s.chat_id > 0}:
        assert not could_arrive_together([s for s in taken if s.chat_id == chat], 1)


async def test_sustained_rate_is_close_to_the_setting() -> None:
    b = budget(25)
    start = b.timer.now()
    starts = []
    for i in range(500):
        async with b.slot(30, 10_000 + i) as slot:
            starts.append(slot.start)
            await b.timer.sleep(0.004)  # a loopback round trip
    rate = (len(starts) - 1) / (starts[-1] - start)
    assert rate >= 0.97 * 25
    assert max_in_window(starts) <= 25


async def test_a_request_still_out_does_not_hold_back_the_ones_after_it() -> None:
    b = budget(5)
    hanging = await b.acquire(30, 1)
    others = [await b.acquire(30, 2 + i) for i in range(3)]
    for slot in others:
        b.release(slot)
    fifth = await asyncio.wait_for(b.acquire(30, 98), 1)  # the first is still out: no matter
    b.release(fifth)
    sixth = await asyncio.wait_for(b.acquire(30, 99), 1)
    assert sixth.start >= hanging.start + WINDOW  # a window after the first *started*
    assert hanging.end is None
    b.release(sixth)


async def test_a_whole_window_out_holds_back_the_next_send() -> None:
    b = budget(5)
    out = [await b.acquire(30, 1 + i) for i in range(5)]
    blocked = asyncio.create_task(b.acquire(30, 99))
    b.timer.clock.advance(seconds=3)  # type: ignore[attr-defined]
    for _ in range(50):
        await asyncio.sleep(0)
    assert not blocked.done()  # five answers outstanding: a sixth could overtake a slow first
    b.release(out[0])
    slot = await asyncio.wait_for(blocked, 1)
    assert slot.start >= out[0].end


async def run_with_round_trips(
    b: RateBudget, sends: int, *, rtt: float, jitter: float, workers: int = 16, seed: int = 1
) -> list[Slot]:
    """``workers`` tasks send one message each to distinct chats, each request taking
    rtt ± jitter (uniform) on the virtual clock."""
    import random

    rng = random.Random(seed)
    chats = iter(range(10_000, 10_000 + sends))
    taken: list[Slot] = []

    async def worker() -> None:
        for chat in chats:
            async with b.slot(30, chat) as slot:
                taken.append(slot)
                await b.timer.sleep(rtt + rng.uniform(-jitter, jitter))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return taken


def test_rate_holds_at_real_round_trips_with_requests_in_flight() -> None:
    """On a loop whose clock is virtual, so that sixteen round trips overlap as they do for real."""
    for rtt in (0.0, 0.15, 0.3):
        b = RateBudget(25, LoopTimer())
        taken = run_virtual(run_with_round_trips(b, 600, rtt=rtt, jitter=min(rtt, 0.1)))
        starts = sorted(s.start for s in taken)
        rate = (len(starts) - 1) / (starts[-1] - starts[0])
        assert rate >= 0.95 * 25, (rtt, rate)
        assert not starts_squeezed(taken, 25)
        # arriving anywhere within MARGIN of its start, no second at the server holds more than 25
        assert max_in_window([t + 0.99 * MARGIN for t in starts[::2]] + starts[1::2]) <= 25


async def test_a_429_pauses_everyone_even_with_requests_in_flight() -> None:
    b = budget(25)
    in_flight = [await b.acquire(30, 100 + i) for i in range(20)]  # twenty requests are out
    deadline = b.pause(7)  # the answer to one of them is a 429 with retry_after 7

    async def take(chat: int) -> float:
        async with b.slot(30, chat) as slot:
            return slot.start

    later = [asyncio.create_task(take(200 + i)) for i in range(10)]
    for _ in range(20):
        await asyncio.sleep(0)
    for slot in in_flight:  # the others come back afterwards
        b.release(slot)
    times = await asyncio.gather(*later)
    assert min(times) >= deadline


async def test_interactive_replies_go_before_queued_bulk_sends() -> None:
    b = budget(10)
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        async with b.slot(priority, None):
            order.append(name)

    for _ in range(20):  # spend the initial allowance: the budget is busy
        async with b.slot(30, None):
            pass
    bulk = [asyncio.create_task(take(f"bulk{i}", 30)) for i in range(10)]
    await asyncio.sleep(0)
    reply = asyncio.create_task(take("reply", 0))
    await asyncio.gather(reply, *bulk)
    # bulk0 went before the reply existed and bulk1's slot was already due when it came;
    # it then jumps the eight bulk sends still queued (first come, it would be eleventh).
    assert order.index("reply") <= 2


async def test_a_pause_holds_back_everyone_already_waiting() -> None:
    b = budget(25)
    b.release(await b.acquire(30, 1))
    deadline = b.pause(5)

    async def take(priority: int, chat: int) -> float:
        async with b.slot(priority, chat) as slot:
            return slot.start

    times = await asyncio.gather(*(take(p, 100 + i) for i, p in enumerate([0, 10, 30] * 7)))
    assert min(times) >= deadline
    assert b.pauses == 1


async def test_group_chats_get_at_most_twenty_a_minute() -> None:
    b = budget(25)
    times = []
    for _ in range(45):
        async with b.slot(30, -1001) as slot:
            times.append(slot.start)
    assert max_in_window(times, 60.0) <= TELEGRAM.group_limit
    assert times[-1] - times[0] >= 120


async def test_a_cancelled_waiter_does_not_block_the_queue() -> None:
    b = budget(1)
    b.release(await b.acquire(30, None))
    waiter = asyncio.create_task(b.acquire(0, None))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    slot = await asyncio.wait_for(b.acquire(30, None), 1)
    assert slot.start > 0


async def test_time_lost_to_a_stall_is_partly_made_up() -> None:
    b = budget(25)
    for _ in range(50):
        async with b.slot(30, None):
            pass
    b.timer.clock.advance(seconds=2)  # type: ignore[attr-defined]  # the process was descheduled
    starts = []
    for _ in range(20):
        async with b.slot(30, None) as slot:
            starts.append(slot.start)
    early = sum(1 for a, b_ in itertools.pairwise(starts) if b_ - a < b.interval / 2)
    assert 4 <= early <= 8  # about CATCH_UP worth of sends go at once, not a second's worth
    assert max_in_window(starts) <= 25


async def test_the_window_counts_from_when_the_request_was_written() -> None:
    b = budget(5)
    first = await b.acquire(30, 1)
    first.writing()  # the transport has it; the process is descheduled before the write ends
    others = [await b.acquire(30, 2 + i) for i in range(4)]
    for slot in others:
        b.release(slot)
    blocked = asyncio.create_task(b.acquire(30, 99))
    b.timer.clock.advance(seconds=2)  # type: ignore[attr-defined]
    for _ in range(50):
        await asyncio.sleep(0)
    assert not blocked.done()  # the first is still being written: it has not left yet
    first.stamp()  # written now, two seconds after its slot
    sixth = await asyncio.wait_for(blocked, 1)
    assert sixth.start >= first.sent + WINDOW > first.start + 2


async def test_the_transport_stamps_a_slot_when_its_request_is_written() -> None:
    import telegram

    from bench.fake_botapi import FakeBotAPI
    from bot.delivery.limits import current_slot
    from bot.delivery.telegram import make_request

    b = RateBudget(25)
    async with FakeBotAPI(latency=0.3) as api:
        async with telegram.Bot("123:ABC", base_url=api.base_url, request=make_request(4)) as bot:
            await bot.get_me()
            async with b.slot(30, 42) as slot:
                assert current_slot.get() is slot
                await bot.send_message(42, "x")
                answered = b.timer.now()
    assert slot.sent is not None
    assert slot.start <= slot.sent < slot.start + 0.2 < answered  # written long before the answer
    assert abs(slot.sent - api.delivered[-1].t) < 0.1  # about when it reached the server
