"""The outbox sender: claims due rows, sends each through a channel within the rate budget, and
writes what happened, so that a crash never loses a row and never sends one twice unless it was
already in flight.

Life of a row: ``pending`` --claim--> ``sending`` --send--> ``sent`` | ``failed`` | ``uncertain``,
or back to ``pending`` with a later ``next_attempt_at`` (see ``bot.delivery.errors`` for the
matrix). Decisions:

* **Claim** in one short statement: ``UPDATE outbox SET status='sending', claimed_by=<me>,
  claimed_at=<now> WHERE id IN (SELECT id ... WHERE status='pending' AND next_attempt_at <= now
  ORDER BY priority, next_attempt_at, id LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING ...``.
  On PostgreSQL several instances claim disjoint rows thanks to ``SKIP LOCKED``; on SQLite one
  instance runs and the conditional UPDATE is enough. About a second of work is claimed at a
  time (``BATCH_SECONDS``; more is claimed when half is left), so memory stays flat however large
  the notice, a newer, more urgent row waits at most that long, and a kill leaves at most about
  two seconds of sending claimed but not sent.
* **Record** outcomes conditional on ``status='sending' AND claimed_by=<me>``: failures row by row
  right away; deliveries in one transaction every ``FLUSH_EVERY`` (0.2 s) or ``FLUSH_ROWS``,
  because a commit per message (five round trips on PostgreSQL with pool pre-ping) slowed the
  event loop enough to cost 5-8 % of the rate on a busy machine. The only rows a kill -9 can
  duplicate are those whose request had left but whose 'sent' was not yet written: rows still
  ``sending``, i.e. in flight (at 25/s, at most ``CONCURRENCY`` requests plus a fifth of a
  second of answers).
* **Owner and lease.** ``claimed_by`` is ``<host>:<pid>:<random token>``. A live sender refreshes
  ``claimed_at`` of its rows every ``HEARTBEAT``. At start-up and every ``RECOVER_EVERY`` a
  sender puts back to ``pending`` the ``sending`` rows of owners that are dead: on SQLite every
  other owner (only one instance may run there); on PostgreSQL an owner on this host whose pid no
  longer runs (or is our own pid with another token: we are its restart), and any owner whose
  ``claimed_at`` is older than ``LEASE`` (20 s: it stopped heart-beating, a dead host). Those rows
  were in flight when their owner died, so at most they are sent twice. One sender runs per
  process. On PostgreSQL the senders also divide the global rate between them
  (``bot.delivery.share``).
* **Stop** (SIGTERM → ``Application.stop`` → ``post_stop``): claim nothing more, cancel at once
  the sends still waiting for a slot, give requests already sent up to ``STOP_GRACE`` (2 s) to be
  answered, cancel the rest, then write every row held: not yet sent → ``pending``; request left
  without an answer → ``uncertain``; answered → ``sent``. Nothing is left ``sending``, and the
  sender's part of a stop is at most about two seconds.
* **Concurrency.** ``concurrency`` workers (16) share the queue, so several requests are in flight
  at once (the budget spaces them by start time; 25/s at a 250 ms round trip needs about seven);
  one row per chat is in progress at a time, so a chat's own limit holds back only that chat.
  Claims and flushes run in one loop; hooks, heartbeats, recovery and the rate share in another,
  so a slow hook never starves the workers.
* **Hooks** run after delivery progress (every ``HOOK_EVERY`` s while running, and whenever a drain
  runs out of due rows): features whose rows need a follow-up (a notice's progress message and
  final report) compute it from the database and enqueue it; see ``bot.delivery.hooks``.
* ``drain()`` sends everything due now and returns: the tests' ``harness.deliver()`` and tools
  use it; the background loop is ``start()``/``stop()``.
* **One sender, a lane per channel.** ``Delivery`` holds one ``OutboxSender`` (a lane) per channel
  adapter (``bot.delivery.channel``): the lane claims only its channel's rows (Telegram's by chat,
  the others' by address), draws from a budget built from the adapter's ``ChannelLimits`` (Telegram's
  is the bot's, shared with the replies and, on PostgreSQL, between instances), and asks the adapter
  to classify what went wrong. All lanes share one instance id, so recovery and leases are the same
  for every channel (each lane recovers only its own channel's rows); ``stop()`` stops them together.
* **Edits are a capability.** A lane whose channel cannot edit drops a progress edit (``cancelled``,
  ``cannot_edit``: the final report follows anyway) and sends any other edit as a new message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, func, or_, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.clock import Clock
from bot.delivery.channel import Channel, is_edit, is_progress, without_edit
from bot.delivery.errors import DeliveryError, ErrorKind, decide
from bot.delivery.limits import TELEGRAM, ChannelLimits, RateBudget, current_slot, timer_for
from bot.delivery.share import REFRESH, RateShare
from bot.services.outbox import CHAT_CHANNEL, fallback_route
from storage.crypto import EncryptedJSON
from storage.db import Database
from storage.models import Account, OutboxMessage, OutboxStatus, Person
from storage.models.outbox import outbox_payload

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=20)
HEARTBEAT = 5.0
RECOVER_EVERY = 5.0
HOOK_EVERY = 2.0
IDLE_POLL = 0.5
STOP_GRACE = 2.0  # how long a stop waits for requests already sent to be answered
RATE_RETRIES = 3  # 429s retried in process (after the pause) before the row goes back to the table
BATCH_SECONDS = 1.0
CONCURRENCY = 16  # requests in flight at most: 25/s at a 250 ms round trip needs about seven
FLUSH_EVERY = 0.2  # delivered rows are marked 'sent' in batches at least this often
FLUSH_ROWS = 20

Hook = Callable[[AsyncSession, datetime], Awaitable[int]]

_OUTBOX = OutboxMessage.__table__
_PAYLOAD = EncryptedJSON()


async def run_delivery_hooks(db: Database, clock: Clock, hooks: Sequence[Hook]) -> int:
    """Run each hook in a session of its own and commit it; a failing hook is logged (no personal
    data) and the others still run. Returns how many rows they enqueued. Every channel's sender uses it."""
    added = 0
    for hook in hooks:
        try:
            async with db.session() as session:
                added += await hook(session, clock.now())
                await session.commit()
        except Exception as exc:
            logger.error("delivery hook %s failed: %s", getattr(hook, "__name__", hook), type(exc).__name__)
    return added


@dataclass
class Claimed:
    """One claimed row, held in memory while it is sent."""

    id: int
    source: str
    kind: str
    chat_id: int | str  # the row's address on its channel: a Telegram chat id, else the account's address
    person_id: int | None
    payload: dict[str, Any] | None
    priority: int
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    # queued -> sending (the request may have left) -> delivered | answered (with an error)
    phase: str = "queued"
    message_id: int | None = None

    @property
    def order(self) -> tuple[int, datetime, int]:
        return (self.priority, self.next_attempt_at, self.id)


@dataclass
class SenderStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    retried: int = 0
    recovered: int = 0
    dropped: int = 0  # progress edits a channel that cannot edit does not show
    rerouted: int = 0  # blocked here, moved to the person's next reachable account
    by_code: dict[str, int] = field(default_factory=dict)


def new_instance_id() -> str:
    return f"{socket.gethostname()[:36]}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutboxSender:
    """One lane: the rows of one channel, sent through that channel's adapter within its budget."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        channel: Channel,
        budget: RateBudget | None = None,
        *,
        concurrency: int = CONCURRENCY,
        batch: int | None = None,
        hooks: Sequence[Hook] = (),
        instance_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.channel = channel
        self.limits: ChannelLimits = getattr(channel, "limits", TELEGRAM)
        self.channel_name: str = getattr(channel, "name", CHAT_CHANNEL)
        # Telegram rows name a chat (``outbox.chat_id``); every other channel's an address (text).
        self.by_chat = self.channel_name == CHAT_CHANNEL
        self.budget = budget or RateBudget(self.limits.rate, timer_for(clock), self.limits)
        self.concurrency = max(1, concurrency)
        self._batch = batch
        self.hooks = list(hooks)
        self.instance_id = instance_id or new_instance_id()
        self.single_instance = db.dialect == "sqlite"
        self.share: RateShare | None = None
        self.stats = SenderStats()
        self._queue: list[Claimed] = []
        self._inflight: dict[int, Claimed] = {}
        self._unflushed: list[Claimed] = []  # delivered, 'sent' not yet written
        self._flushed_at = time.monotonic()
        self._busy_chats: set[int] = set()
        self._changed = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._holding: dict[asyncio.Task[Any], Claimed] = {}  # worker -> the row it is on
        self._recovered = False

    @property
    def batch(self) -> int:
        """Rows claimed at a time: about ``BATCH_SECONDS`` of sending, at least one per worker."""
        return self._batch or max(self.concurrency, math.ceil(self.budget.rate * BATCH_SECONDS))

    # ------------------------------------------------------------------ background
    async def start(self) -> None:
        """Recover rows of dead instances, then send in the background until ``stop()``."""
        self._stopping = False
        await self.recover()
        if not self.single_instance and self.limits.shared and self.by_chat:
            self.share = RateShare(
                self.db, self.clock, self.budget, self.instance_id, is_dead=self._owner_dead
            )
            await self.share.join()
        self._task = asyncio.create_task(self._run(), name=f"outbox-sender-{self.channel_name}")

    async def stop(self) -> None:
        """Stop within ``STOP_GRACE`` (+ the final writes); every held row ends sent/uncertain/pending."""
        self._stopping = True
        self._notify()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE + 1.0)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif not task.cancelled() and task.exception() is not None:
                logger.error("outbox sender ended with %s", type(task.exception()).__name__)
        try:
            await self._settle_held()
        except Exception as exc:  # the database is gone: the rows stay 'sending' until recovered
            logger.error("outbox sender could not write its held rows: %s", type(exc).__name__)
        if self.share is not None:
            with contextlib.suppress(Exception):
                await self.share.leave()

    async def _run(self) -> None:
        """Claim and flush; hooks, heartbeats, recovery and the share run beside it (``_maintain``),
        so that a slow hook never leaves the workers without rows or delays a flush."""
        self._workers = [
            asyncio.create_task(self._worker(exit_when_empty=False), name=f"outbox-worker-{i}")
            for i in range(self.concurrency)
        ]
        maintenance = asyncio.create_task(self._maintain(), name="outbox-maintenance")
        try:
            while not self._stopping:
                try:
                    if self._flush_due():
                        await self._flush()
                    if len(self._queue) <= self.batch // 2:
                        self._add(await self._claim(self.batch - len(self._queue)))
                except Exception as exc:  # the database went away: keep the loop, try again shortly
                    logger.error("outbox sender loop: %s", type(exc).__name__)
                    await asyncio.sleep(1.0)
                await self._wait_changed(FLUSH_EVERY if self._unflushed else IDLE_POLL)
        finally:
            maintenance.cancel()
            await asyncio.gather(maintenance, return_exceptions=True)
            await self._finish_workers()

    async def _maintain(self) -> None:
        last_hooks = last_heartbeat = last_recover = last_share = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            try:
                if now - last_hooks >= HOOK_EVERY:
                    last_hooks = now
                    await self.run_hooks()
                if now - last_heartbeat >= HEARTBEAT:
                    last_heartbeat = now
                    await self._heartbeat()
                if now - last_recover >= RECOVER_EVERY:
                    last_recover = now
                    await self.recover()
                if self.share is not None and now - last_share >= REFRESH:
                    last_share = now
                    await self.share.refresh()
            except Exception as exc:  # the database went away: try again at the next turn
                logger.error("outbox sender maintenance: %s", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _finish_workers(self) -> None:
        """Workers waiting for a slot stop at once (their rows go back to pending); requests
        already sent get ``STOP_GRACE`` seconds to be answered, then are cancelled (uncertain)."""
        workers, self._workers = self._workers, []
        self._notify()
        if not workers:
            return
        for worker in workers:
            row = self._holding.get(worker)
            if row is None or row.phase == "queued":
                worker.cancel()
        _, pending = await asyncio.wait(workers, timeout=STOP_GRACE)
        for worker in pending:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _wait_changed(self, within: float | None) -> None:
        event = self._changed
        if within is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # ------------------------------------------------------------------ drain
    async def drain(self, *, max_rounds: int = 10_000) -> SenderStats:
        """Send every row due now (and whatever the hooks add because of them), then return."""
        if not self._recovered:
            await self.recover()
        hooks_ran = False
        for _ in range(max_rounds):
            rows = await self._claim(self.batch)
            if rows:
                hooks_ran = False
                self._add(rows)
                workers = min(self.concurrency, len(rows))
                await asyncio.gather(*(self._worker(exit_when_empty=True) for _ in range(workers)))
                await self._flush()
                continue
            if hooks_ran:
                break
            await self.run_hooks()
            hooks_ran = True
        return self.stats

    # ------------------------------------------------------------------ workers
    def _add(self, rows: list[Claimed]) -> None:
        if rows:
            self._queue.extend(rows)
            self._queue.sort(key=lambda r: r.order)
            self._notify()

    def _pick(self) -> Claimed | None:
        for index, row in enumerate(self._queue):
            if row.chat_id not in self._busy_chats:
                del self._queue[index]
                self._busy_chats.add(row.chat_id)
                self._inflight[row.id] = row
                return row
        return None

    async def _worker(self, *, exit_when_empty: bool) -> None:
        while not self._stopping:
            row = self._pick()
            if row is None:
                if exit_when_empty and not self._queue:
                    return
                await self._wait_changed(None if exit_when_empty else IDLE_POLL)
                continue
            me = asyncio.current_task()
            if me is not None:
                self._holding[me] = row
            try:
                await self._process(row)
            except asyncio.CancelledError:
                # Stopping: the row stays held, and stop() writes it as pending, uncertain or sent.
                self._busy_chats.discard(row.chat_id)
                raise
            except Exception as exc:  # a bug must not kill the worker or leave the row 'sending'
                logger.error("outbox row %s: unexpected %s", row.id, type(exc).__name__)
                with contextlib.suppress(Exception):
                    await self._record_failure(
                        row, DeliveryError(ErrorKind.INTERNAL, f"internal_{type(exc).__name__}")
                    )
            finally:
                if me is not None:
                    self._holding.pop(me, None)
            if row.phase != "delivered":
                self._inflight.pop(row.id, None)
            self._busy_chats.discard(row.chat_id)
            self._notify()

    async def _process(self, row: Claimed) -> None:
        if row.payload is None:
            await self._record_failure(row, DeliveryError(ErrorKind.INTERNAL, "undecryptable"))
            return
        payload = row.payload
        if is_edit(payload) and not self.limits.can_edit:
            # The channel cannot change a message it sent: a progress count is not worth a message of
            # its own (the final report follows), a changed screen is shown again as a new message.
            if is_progress(payload):
                await self._record_dropped(row)
                return
            payload = without_edit(payload)
        for attempt in range(RATE_RETRIES + 1):
            slot = await self.budget.acquire(row.priority, row.chat_id, chat_limit=True)
            row.phase = "sending"
            token = current_slot.set(slot)
            try:
                row.message_id = await self.channel.send(row.chat_id, payload, row=row)
            except Exception as exc:
                self.budget.release(slot)
                error = exc if isinstance(exc, DeliveryError) else self.channel.classify(exc)
                if error.kind is ErrorKind.INTERNAL:  # a bug, not the network: say so loudly
                    logger.error("outbox row %s: unexpected %s", row.id, type(exc).__name__)
                if error.kind is ErrorKind.RATE_LIMITED:
                    metrics.count_send(self.channel_name, "rate_limited")
                    self.budget.pause(error.retry_after or 1.0)
                    if attempt < RATE_RETRIES:
                        row.phase = "queued"  # a 429 means it was not delivered
                        self.stats.retried += 1
                        continue
                row.phase = "answered"
                await self._record_failure(row, error)
                return
            finally:
                current_slot.reset(token)
                self.budget.release(slot)  # (a no-op when already released)
            row.phase = "delivered"
            metrics.count_send(self.channel_name, "sent")
            self._unflushed.append(row)
            return

    # ------------------------------------------------------------------ database
    async def _claim(self, limit: int) -> list[Claimed]:
        if limit <= 0 or self._stopping:
            return []
        now = self.clock.now()
        due = (
            select(_OUTBOX.c.id)
            .where(
                _OUTBOX.c.status == OutboxStatus.PENDING,
                _OUTBOX.c.next_attempt_at <= now,
                *self._lane(),
            )
            .order_by(_OUTBOX.c.priority, _OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
            .limit(limit)
        )
        if not self.single_instance:
            if self.share is not None and self.share.peers and self.by_chat:  # one chat, one instance
                modulus, low, high = self.share.partition
                residue = func.abs(_OUTBOX.c.chat_id) % modulus
                due = due.where(residue >= low, residue < high)
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(due.scalar_subquery()), _OUTBOX.c.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENDING, claimed_by=self.instance_id, claimed_at=now)
            .returning(
                _OUTBOX.c.id,
                _OUTBOX.c.source,
                _OUTBOX.c.kind,
                _OUTBOX.c.chat_id if self.by_chat else _OUTBOX.c.address,
                _OUTBOX.c.person_id,
                type_coerce(outbox_payload(_OUTBOX), Text()),  # the row's own payload or its shared body
                _OUTBOX.c.priority,
                _OUTBOX.c.attempts,
                _OUTBOX.c.last_error,
                _OUTBOX.c.next_attempt_at,
            )
        )
        async with self.db.session() as session:
            result = (await session.execute(statement)).all()
            await session.commit()
            dialect = session.get_bind().dialect
        rows = []
        for r in result:
            try:
                payload = _PAYLOAD.process_result_value(r[5], dialect)
            except Exception:  # a key problem: fail this row loudly, not the whole claim
                logger.error("outbox row %s: payload cannot be decrypted", r[0])
                payload = None
            rows.append(Claimed(r[0], r[1], r[2], r[3], r[4], payload, r[6], r[7], r[8], r[9]))
        rows.sort(key=lambda c: c.order)
        self.stats.claimed += len(rows)
        return rows

    def _lane(self) -> tuple[Any, ...]:
        """SQL: the rows of this lane's channel. Telegram's are those with a chat (as before channels
        had addresses); every other channel's, those of its name with an address."""
        if self.by_chat:
            return (_OUTBOX.c.chat_id.is_not(None),)
        return (_OUTBOX.c.channel == self.channel_name, _OUTBOX.c.address.is_not(None))

    def _mine(self, row_id: int):
        return update(_OUTBOX).where(
            _OUTBOX.c.id == row_id,
            _OUTBOX.c.status == OutboxStatus.SENDING,
            _OUTBOX.c.claimed_by == self.instance_id,
        )

    async def _flush(self) -> None:
        """Write 'sent' for every delivered row not yet written, in one transaction."""
        rows, self._unflushed = self._unflushed, []
        self._flushed_at = time.monotonic()
        if not rows:
            return
        statement = (
            update(_OUTBOX)
            .where(
                _OUTBOX.c.id == bindparam("row_id"),
                _OUTBOX.c.status == OutboxStatus.SENDING,
                _OUTBOX.c.claimed_by == self.instance_id,
            )
            .values(
                status=OutboxStatus.SENT,
                sent_at=bindparam("at", type_=OutboxMessage.sent_at.type),
                message_id=bindparam("sent_message_id"),
                attempts=_OUTBOX.c.attempts + 1,
            )
        )
        now = self.clock.now()
        try:
            async with self.db.session() as session:
                await session.execute(
                    statement, [{"row_id": r.id, "at": now, "sent_message_id": r.message_id} for r in rows]
                )
                await session.commit()
        except BaseException:
            self._unflushed = rows + self._unflushed  # written by the next flush or by stop()
            raise
        for row in rows:
            self._inflight.pop(row.id, None)
        self.stats.sent += len(rows)

    def _flush_due(self) -> bool:
        return len(self._unflushed) >= FLUSH_ROWS or (
            bool(self._unflushed) and time.monotonic() - self._flushed_at >= FLUSH_EVERY
        )

    async def _record_failure(self, row: Claimed, error: DeliveryError) -> None:
        decision = decide(error, attempts=row.attempts + 1, last_error=row.last_error)
        now = self.clock.now()
        values: dict[str, Any] = {
            "status": decision.status,
            "last_error": decision.code,
            "attempts": _OUTBOX.c.attempts + 1,
        }
        if decision.status == OutboxStatus.PENDING:
            values.update(
                next_attempt_at=now + (decision.retry_in or timedelta(0)), claimed_by=None, claimed_at=None
            )
        self.stats.by_code[decision.code] = self.stats.by_code.get(decision.code, 0) + 1
        metrics.count_send(self.channel_name, metrics.send_result(decision.status))
        async with self.db.session() as session:
            if decision.mark_unreachable and not self.by_chat:
                await session.execute(
                    update(Account)
                    .where(Account.channel == self.channel_name, Account.address == str(row.chat_id))
                    .values(unreachable=True)
                    .execution_options(synchronize_session=False)
                )
            if decision.mark_unreachable and row.person_id is not None:
                if self.by_chat:
                    await session.execute(
                        update(Person).where(Person.id == row.person_id).values(unreachable=True)
                    )
                if row.payload is not None and not is_edit(row.payload):
                    # One copy still reaches them where they can be reached (the web chat, WeChat).
                    route = await fallback_route(
                        session,
                        person_id=row.person_id,
                        source=row.source,
                        failed_channel=self.channel_name,
                        failed_address=str(row.chat_id),
                    )
                    if route is not None:
                        moved = self._mine(row.id).values(
                            **route,
                            status=OutboxStatus.PENDING,
                            last_error=decision.code,
                            attempts=_OUTBOX.c.attempts + 1,
                            next_attempt_at=now,
                            claimed_by=None,
                            claimed_at=None,
                        )
                        await session.execute(moved)
                        await session.commit()
                        self.stats.rerouted += 1
                        logger.info("outbox row %s: %s -> moved to %s", row.id, error.kind, route["channel"])
                        return
            if decision.new_chat_id is not None and self.by_chat:
                # Everyone who wrote from the old group now lives at the new id; this row moves there.
                await session.execute(
                    update(Person).where(Person.chat_id == row.chat_id).values(chat_id=decision.new_chat_id)
                )
                values["chat_id"] = decision.new_chat_id
            try:
                await session.execute(self._mine(row.id).values(**values))
                await session.commit()
            except IntegrityError:
                # The same message already goes to the new chat id: this copy would be a duplicate.
                await session.rollback()
                await session.execute(
                    self._mine(row.id).values(
                        status=OutboxStatus.FAILED,
                        last_error="migrated_duplicate",
                        attempts=_OUTBOX.c.attempts + 1,
                    )
                )
                await session.commit()
        if decision.status == OutboxStatus.PENDING:
            self.stats.retried += 1
        elif decision.status == OutboxStatus.UNCERTAIN:
            self.stats.uncertain += 1
        else:
            self.stats.failed += 1
        log = logger.warning if decision.status != OutboxStatus.PENDING else logger.info
        log("outbox row %s: %s -> %s", row.id, error.kind, decision.status)

    async def _record_dropped(self, row: Claimed) -> None:
        """A progress edit this channel cannot show: done, nothing sent."""
        async with self.db.session() as session:
            await session.execute(
                self._mine(row.id).values(
                    status=OutboxStatus.CANCELLED, last_error="cannot_edit", attempts=_OUTBOX.c.attempts + 1
                )
            )
            await session.commit()
        self.stats.dropped += 1
        metrics.count_send(self.channel_name, "dropped")

    async def _heartbeat(self) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.claimed_by == self.instance_id,
                    _OUTBOX.c.status == OutboxStatus.SENDING,
                    *self._lane(),
                )
                .values(claimed_at=self.clock.now())
            )
            await session.commit()

    def _owner_dead(self, owner: str) -> bool:
        if owner == self.instance_id:
            return False
        if self.single_instance:
            return True
        host, _, rest = owner.partition(":")
        pid_text, _, _token = rest.partition(":")
        if host != socket.gethostname()[:36] or not pid_text.isdigit():
            return False  # another machine: only its lease can tell
        pid = int(pid_text)
        return pid == os.getpid() or not _pid_alive(pid)

    async def recover(self) -> int:
        """Put rows left 'sending' by dead instances back to pending (see the module docstring)."""
        self._recovered = True
        async with self.db.session() as session:
            owners = set(
                await session.scalars(
                    select(_OUTBOX.c.claimed_by).where(_OUTBOX.c.status == OutboxStatus.SENDING).distinct()
                )
            )
            dead = [o for o in owners if o is not None and self._owner_dead(o)]
            stale = self.clock.now() - LEASE
            result = await session.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.status == OutboxStatus.SENDING,
                    *self._lane(),
                    or_(
                        _OUTBOX.c.claimed_by.is_(None),
                        _OUTBOX.c.claimed_by.in_(dead),
                        _OUTBOX.c.claimed_at < stale,
                    ),
                    or_(_OUTBOX.c.claimed_by.is_(None), _OUTBOX.c.claimed_by != self.instance_id),
                )
                .values(status=OutboxStatus.PENDING, claimed_by=None, claimed_at=None)
            )
            await session.commit()
        count = max(result.rowcount or 0, 0)
        if count:
            logger.warning("outbox: %s rows left 'sending' by a dead instance are pending again", count)
        self.stats.recovered += count
        return count

    async def _settle_held(self) -> None:
        """On stop: every row still held is written as pending, uncertain or sent."""
        held = list(self._inflight.values()) + self._queue  # delivered-but-unflushed rows are in flight
        self._inflight.clear()
        self._queue, self._unflushed = [], []
        if not held:
            return
        by_status: dict[str, list[Claimed]] = {"pending": [], "uncertain": [], "sent": []}
        for row in held:
            if row.phase == "sending":
                by_status["uncertain"].append(row)
            elif row.phase == "delivered":
                by_status["sent"].append(row)
            else:
                by_status["pending"].append(row)
        now = self.clock.now()
        async with self.db.session() as session:
            base = update(_OUTBOX).where(
                _OUTBOX.c.status == OutboxStatus.SENDING, _OUTBOX.c.claimed_by == self.instance_id
            )
            if by_status["pending"]:
                await session.execute(
                    base.where(_OUTBOX.c.id.in_([r.id for r in by_status["pending"]])).values(
                        status=OutboxStatus.PENDING, claimed_by=None, claimed_at=None
                    )
                )
            if by_status["uncertain"]:
                await session.execute(
                    base.where(_OUTBOX.c.id.in_([r.id for r in by_status["uncertain"]])).values(
                        status=OutboxStatus.UNCERTAIN, last_error="stopped", attempts=_OUTBOX.c.attempts + 1
                    )
                )
            for row in by_status["sent"]:
                await session.execute(
                    base.where(_OUTBOX.c.id == row.id).values(
                        status=OutboxStatus.SENT,
                        sent_at=now,
                        message_id=row.message_id,
                        attempts=_OUTBOX.c.attempts + 1,
                    )
                )
            await session.commit()
        logger.info(
            "outbox sender stopped: %s pending, %s uncertain, %s sent",
            *(len(by_status[k]) for k in ("pending", "uncertain", "sent")),
        )

    # ------------------------------------------------------------------ hooks
    async def run_hooks(self) -> int:
        """Let features follow up on delivery progress; returns how many rows they enqueued."""
        added = await run_delivery_hooks(self.db, self.clock, self.hooks)
        if added:
            self._notify()
        return added


class Delivery:
    """The one sender of a process: a lane (an ``OutboxSender``) per channel adapter, each with its
    own budget built from the adapter's limits (or given: Telegram's is shared with the interactive
    replies), all under one instance id, so that recovery, leases and stop work the same for every
    channel. The delivery hooks run on the first lane (they read the whole outbox)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        adapters: Sequence[Channel],
        *,
        budgets: dict[str, RateBudget] | None = None,
        hooks: Sequence[Hook] = (),
        concurrency: dict[str, int] | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.instance_id = instance_id or new_instance_id()
        self.lanes: dict[str, OutboxSender] = {}
        budgets, concurrency = budgets or {}, concurrency or {}
        # An adapter's own follow-ups (WeChat's early delivery reports) run with the features' hooks.
        all_hooks = [*hooks, *(hook for adapter in adapters for hook in getattr(adapter, "hooks", ()))]
        for index, adapter in enumerate(adapters):
            if adapter.name in self.lanes:
                raise ValueError(f"two adapters for channel {adapter.name}")
            self.lanes[adapter.name] = OutboxSender(
                db,
                clock,
                adapter,
                budgets.get(adapter.name),
                concurrency=concurrency.get(adapter.name, getattr(adapter, "concurrency", CONCURRENCY)),
                hooks=all_hooks if index == 0 else (),
                instance_id=self.instance_id,
            )

    def lane(self, name: str) -> OutboxSender:
        return self.lanes[name]

    async def start(self) -> None:
        for lane in self.lanes.values():
            await lane.start()

    async def stop(self) -> None:
        """Stop every lane at once: the whole stop takes as long as the slowest lane's."""
        await asyncio.gather(*(lane.stop() for lane in self.lanes.values()))

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Send every row due now on every channel, and what the hooks add because of them; returns
        how many rows were sent."""
        lanes = list(self.lanes.values())
        before = sum(lane.stats.sent for lane in lanes)
        for _ in range(max_rounds):
            claimed = sum(lane.stats.claimed for lane in lanes)
            for lane in lanes:
                await lane.drain()
            if sum(lane.stats.claimed for lane in lanes) == claimed:
                break
        return sum(lane.stats.sent for lane in lanes) - before
