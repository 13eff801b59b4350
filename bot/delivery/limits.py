"""The one rate budget every outgoing message draws from: global rate, per-chat limits, 429 pauses.

Decisions (Telegram: about 30 messages/s overall, 1/s per private chat, 20/min per group):

* **Windows by start time.** A request reaches Telegram a few milliseconds to a few hundred after
  we take its slot (``start``), and its answer comes back a round trip later (``end``). A first
  version spaced send j + N from the *end* of send j, which is safe whatever the network does but
  costs a round trip per window: 25/s became 25/(1.002 + RTT), 0.80 of the rate at 200 ms. Now a
  send may start only ``WINDOW`` after the *start* of the send N places earlier (N = floor(rate)),
  with several requests in flight, so the rate no longer depends on the round trip. ``WINDOW`` is a
  second plus ``MARGIN`` (20 ms): what it absorbs is the difference between two requests' times
  from slot to server. The part of it spent in our own process (other tasks running between the
  slot and the write, or the process descheduled: 30-300 ms at times on a loaded two-core
  machine) is taken out: the HTTP transport stamps each slot once the request's last byte is
  written (``Slot.stamp``, found through the ``current_slot`` context variable), the window
  counts from that stamp, and a request still being written holds back the send a window later.
  What is left is the way to the server and its jitter. The configured rate
  (default 25) stays below Telegram's 30/s, so a window that is nevertheless squeezed by a larger
  difference still does not draw a 429.
* **In flight.** At most N requests are out without an answer: a request that is very slow to
  arrive cannot be overtaken by a whole window of later ones.
* **Global.** Send j may start only ``WINDOW`` after the start of send j − N: never N + 1 starts in
  one second, integer rate or not.
* **Even spacing.** Within that bound, starts follow a schedule one interval (``WINDOW / N``) apart
  (a GCRA), so the budget is spent evenly and a reply never finds a whole second already used up.
  Time lost to a stall (a busy event loop, a slow database write) is made up, at most
  ``CATCH_UP`` seconds of it, by starting the next few sends early: without that, every stall of a
  busy machine was rate lost for good (a 25/s notice ran at 0.93 of its rate on a loaded box).
* **Shares.** ``set_rate`` changes the rate in place: instances that share one bot on PostgreSQL
  divide the configured rate between them (``bot.delivery.share``); the window check then looks N'
  places back for the new N'.
* **Priority.** Waiters queue by priority (lower first: interactive replies are 0, outbox rows use
  their row priority) and the head of the queue takes the next slot, so a reply never waits
  behind a bulk notice, only behind the slot currently due.
* **Per chat.** With ``chat_limit=True`` (everything the bot sends uses it) a private chat gets a
  send only the channel's ``chat_gap`` after the previous one to it ended, and none while one is in
  flight; a group at most ``group_limit`` per ``group_window``. A waiter whose chat is cooling down
  steps out of the global queue meanwhile, so one busy chat never holds the others back.
* **Limits per channel.** What a channel allows is a ``ChannelLimits`` object the channel's adapter
  declares (``TELEGRAM`` here; WeChat's beside its adapter); the budget reads the chat rules from it,
  the algorithm is the same for every channel.
* **429.** ``pause(retry_after)`` stops everyone, including waiters already queued, until the
  deadline; the check is made at the moment a slot is taken, right before the request leaves.
* **Time.** A ``Timer`` gives ``now()`` and ``sleep()``. Production uses the monotonic clock;
  tests use ``VirtualTimer`` on the ``FakeClock``, where sleeping moves virtual time forward at
  once, so rate limits are exercised without waiting on the real clock.

Use ``async with budget.slot(priority, chat_id):`` around the request, or ``acquire``/``release``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from bot.clock import Clock, FakeClock

MARGIN = 0.02
WINDOW = 1.0 + MARGIN
CATCH_UP = 0.25


@dataclass(frozen=True)
class ChannelLimits:
    """What one channel allows, as its adapter declares it.

    ``rate``: messages per second overall (the channel's own quota; a budget for it runs at that
    rate, or at a configured rate below it). ``chat_gap``: seconds between two sends to one private
    chat (0: no spacing). ``group_limit`` per ``group_window`` seconds to one group (None: no group
    rule). ``can_edit``: the channel can change a message it sent (else progress edits are dropped
    and changed screens go as new messages, ``bot.delivery.sender``). ``shared``: the rate is the
    bot's, not the process's, so instances on PostgreSQL divide it (``bot.delivery.share``).
    """

    rate: float
    chat_gap: float = 0.0
    group_limit: int | None = None
    group_window: float = 60.0
    can_edit: bool = True
    shared: bool = False


# Telegram: about 30/s overall, 1/s per private chat, 20/min per group (a little margin on each
# window: what the server counts is when our requests arrive).
TELEGRAM = ChannelLimits(
    rate=30.0, chat_gap=1.01, group_limit=20, group_window=60.1, can_edit=True, shared=True
)


class Timer(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicTimer:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualTimer:
    """Test time on top of a FakeClock: sleeping advances a virtual offset instead of waiting.

    Advancing the FakeClock advances this timer too, so a test that moves the clock also lets
    per-chat windows expire.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.offset = 0.0
        self._base = clock.now()  # small numbers keep float sums exact enough

    def now(self) -> float:
        return (self.clock.now() - self._base).total_seconds() + self.offset

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.offset += seconds
        await asyncio.sleep(0)


def timer_for(clock: Clock | None) -> Timer:
    """The monotonic clock in production; virtual time when the bot runs on a FakeClock (tests)."""
    return VirtualTimer(clock) if isinstance(clock, FakeClock) else MonotonicTimer()


def is_private(chat_id: int | str | None) -> bool:
    return isinstance(chat_id, int) and chat_id > 0


class Slot:
    """One send's place in the budget: taken at ``start``, released at ``end``; ``sent`` is when
    its last byte had been written, if the channel says so (``writing``, then ``stamp``)."""

    __slots__ = ("budget", "chat_id", "end", "sent", "stamped", "start")

    def __init__(self, start: float, chat_id: int | str | None, budget: RateBudget | None = None) -> None:
        self.start = start
        self.end: float | None = None
        self.sent: float | None = None
        self.stamped = False  # the channel will stamp this slot when the request is written
        self.chat_id = chat_id
        self.budget = budget

    def writing(self) -> None:
        """The transport has the request and will ``stamp`` it once it is written."""
        self.stamped = True

    def stamp(self) -> None:
        """The request has been written to the connection (called by the transport)."""
        if self.sent is None and self.budget is not None:
            self.sent = max(self.start, self.budget.timer.now())
            self.budget._notify()

    @property
    def left(self) -> float:
        """When the request left, as late as we know: the window is counted from here. A request
        the transport is still writing has not left yet (it holds back the send a window later)."""
        if self.sent is not None:
            return self.sent
        if self.stamped and self.end is None:
            return math.inf
        return self.start


# The slot of the send in progress in this task, for the transport to stamp (``Slot.stamp``).
current_slot: ContextVar[Slot | None] = ContextVar("current_slot", default=None)


class RateBudget:
    """Shared by the PTB rate limiter (interactive replies) and the outbox sender (everything else)."""

    def __init__(self, rate: float, timer: Timer | None = None, limits: ChannelLimits = TELEGRAM) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.timer: Timer = timer or MonotonicTimer()
        self.limits = limits
        self._chat_gap = limits.chat_gap
        self._group_limit = limits.group_limit
        self._group_window = limits.group_window
        self.configured_rate = rate
        self._due = -math.inf  # when the next send is scheduled (GCRA theoretical arrival time)
        self._recent: deque[Slot] = deque(maxlen=max(1, math.floor(rate)))  # latest slots
        self._out = 0  # requests whose answer has not come back
        self._paused_until = -math.inf
        self._waiters: list[tuple[int, int]] = []
        self._seq = itertools.count()
        # Who is woken when something changes: the head of the queue only (waking every waiter made a
        # burst of n replies cost n² wake-ups, each resuming a whole chain of coroutines), and the
        # one waiter of a chat whose previous send is still out.
        self._head_wake: dict[tuple[int, int], asyncio.Event] = {}
        self._chat_free: dict[int | str, asyncio.Event] = {}
        self._chat_busy: dict[int | str, int] = {}
        self._private_last: dict[int | str, float] = {}
        self._group_sends: dict[int | str, deque[float]] = {}
        self._chat_locks: dict[int | str, asyncio.Lock] = {}
        self._pruned_at = -math.inf
        self.pauses = 0
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        """Change the rate (at most the configured one): a share of it, or all of it again."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = min(rate, self.configured_rate)
        self.burst = max(1, math.floor(self.rate))
        self.interval = WINDOW / self.burst
        self._notify()

    @property
    def in_flight(self) -> int:
        return self._out

    # -- 429 -------------------------------------------------------------------------------
    def pause(self, seconds: float) -> float:
        """Nobody sends before now + seconds; returns the deadline (on the timer's scale)."""
        until = self.timer.now() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1
        self._notify()
        return self._paused_until

    @property
    def paused_until(self) -> float:
        return self._paused_until

    # -- per chat ----------------------------------------------------------------------------
    def chat_wait(self, chat_id: int | str | None) -> float:
        """Seconds before a send to this chat keeps within its own limit (inf: one is in flight)."""
        if chat_id is None:
            return 0.0
        if self._chat_busy.get(chat_id):
            return math.inf
        now = self.timer.now()
        if is_private(chat_id):
            last = self._private_last.get(chat_id)
            return 0.0 if last is None else max(0.0, last + self._chat_gap - now)
        sends = self._group_sends.get(chat_id)
        if not sends or self._group_limit is None:
            return 0.0
        while sends and sends[0] <= now - self._group_window:
            sends.popleft()
        if len(sends) < self._group_limit:
            return 0.0
        return max(0.0, sends[0] + self._group_window - now)

    def _chat_started(self, chat_id: int | str | None) -> None:
        if chat_id is not None:
            self._chat_busy[chat_id] = self._chat_busy.get(chat_id, 0) + 1

    def _chat_ended(self, chat_id: int | str | None, end: float) -> None:
        if chat_id is None:
            return
        left = self._chat_busy.get(chat_id, 1) - 1
        if left > 0:
            self._chat_busy[chat_id] = left
        else:
            self._chat_busy.pop(chat_id, None)
        free = self._chat_free.pop(chat_id, None)
        if free is not None:
            free.set()
        if is_private(chat_id):
            if self._chat_gap > 0:
                self._private_last[chat_id] = max(end, self._private_last.get(chat_id, -math.inf))
        elif self._group_limit is not None:
            self._group_sends.setdefault(chat_id, deque()).append(end)
        if end - self._pruned_at > self._group_window:
            self._prune(end)

    def _prune(self, now: float) -> None:
        """Forget chats whose history can no longer hold anyone back (memory stays flat)."""
        self._pruned_at = now
        gap, window = self._chat_gap, self._group_window
        self._private_last = {c: t for c, t in self._private_last.items() if t > now - gap}
        self._group_sends = {c: q for c, q in self._group_sends.items() if q and q[-1] > now - window}

    # -- the global slot ---------------------------------------------------------------------
    def _slot_wait(self, now: float) -> float:
        if self._out >= self.burst:
            return math.inf  # a whole window is still out: wait for release()
        wait = max(self._paused_until - now, self._due - now)
        if len(self._recent) >= self.burst:
            wait = max(wait, self._recent[-self.burst].left + WINDOW - now)  # inf: still writing
        return wait

    async def acquire(
        self, priority: int, chat_id: int | str | None = None, *, chat_limit: bool = False
    ) -> Slot:
        """Wait for the next global slot (lower priority values first) and take it.

        Call ``release`` when the request has been answered (or failed). With ``chat_limit`` the
        chat's own limit is respected too, one waiter per chat at a time.
        """
        if not chat_limit or chat_id is None:
            return await self._take(priority, chat_id, chat_limit=False)
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        try:
            async with lock:
                return await self._take(priority, chat_id, chat_limit=True)
        finally:
            if not lock.locked() and self._chat_locks.get(chat_id) is lock:
                del self._chat_locks[chat_id]

    def release(self, slot: Slot) -> None:
        if slot.end is not None:
            return
        slot.end = self.timer.now()
        self._out -= 1
        self._chat_ended(slot.chat_id, slot.end)
        self._notify()

    @contextlib.asynccontextmanager
    async def slot(
        self, priority: int, chat_id: int | str | None = None, *, chat_limit: bool = True
    ) -> AsyncIterator[Slot]:
        taken = await self.acquire(priority, chat_id, chat_limit=chat_limit)
        token = current_slot.set(taken)
        try:
            yield taken
        finally:
            current_slot.reset(token)
            self.release(taken)

    async def _take(self, priority: int, chat_id: int | str | None, *, chat_limit: bool) -> Slot:
        ticket = (priority, next(self._seq))
        heapq.heappush(self._waiters, ticket)
        try:
            while True:
                if self._waiters[0] != ticket:
                    await self._until_head(ticket)
                    continue
                cooling = self.chat_wait(chat_id) if chat_limit else 0.0
                if cooling > 0:
                    self._leave(ticket)
                    if math.isinf(cooling):  # its previous send is out: wait for that one's answer
                        free = self._chat_free.setdefault(chat_id, asyncio.Event())  # type: ignore[arg-type]
                        await free.wait()
                    else:
                        await self.timer.sleep(cooling)
                    heapq.heappush(self._waiters, ticket)
                    continue
                now = self.timer.now()
                wait = self._slot_wait(now)
                if wait <= 0:
                    heapq.heappop(self._waiters)
                    return self._start(now, chat_id)
                if math.isinf(wait):
                    await self._until_head(ticket)  # woken, as the head, when a slot comes back
                else:
                    await self.timer.sleep(wait)
        except BaseException:
            self._leave(ticket)
            raise

    def _start(self, now: float, chat_id: int | str | None) -> Slot:
        taken = Slot(now, chat_id, self)
        self._recent.append(taken)
        self._out += 1
        self._due = max(self._due, now - CATCH_UP) + self.interval
        self._chat_started(chat_id)
        self._notify()
        return taken

    async def _until_head(self, ticket: tuple[int, int]) -> None:
        """Wait until something changes while this ticket heads the queue (``_notify``)."""
        event = asyncio.Event()
        self._head_wake[ticket] = event
        try:
            await event.wait()
        finally:
            if self._head_wake.get(ticket) is event:
                del self._head_wake[ticket]

    def _leave(self, ticket: tuple[int, int]) -> None:
        if ticket in self._waiters:
            self._waiters.remove(ticket)
            heapq.heapify(self._waiters)
            self._notify()

    def _notify(self) -> None:
        """Something changed (a slot taken or back, a pause, a rate, a queue's head): the head looks again."""
        if self._waiters:
            event = self._head_wake.get(self._waiters[0])
            if event is not None:
                event.set()
