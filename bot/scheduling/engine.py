"""The reminder engine: one tick a minute turns what is due into occurrences and copies them into the outbox.

How to add a reminder kind (dues months, request deadlines, ...), in three steps:

1. ``async def due(session, now) -> Select | None``: ONE query (no Python loop over members) whose
   columns are ``occurrence_columns(subject_type=..., subject_id=..., period=..., person_id=..., tz=...,
   due_at=...)``: what the reminder is about, the period it is for (a short string, e.g. ``"2026-03"``),
   the recipient's person id, the IANA zone of the recipient's branch (for quiet hours) and when it fell
   due. Select everything due up to ``now`` that is still worth sending, because the tick catches up after
   downtime (bound it: ``deadline > now``), and leave out people who have already acted (an anti-join),
   so reminders stop for them.
2. ``async def render(session, occasion) -> Outgoing | None``: the message for one
   (kind, subject, period, language, tz) group; every recipient in the group gets the same text and
   buttons (callback data never names the recipient: handlers re-check the sender). None skips the group.
3. Declare ``ReminderKind("dues.unpaid", due, render)`` on the feature's ``Feature(reminder_kinds=...)``;
   the composition root collects every feature's (``app.features.reminder_kinds()``) and passes that list
   to the tick (the engine imports no feature).

Cost in what is due, not in members (a tick runs every minute). A kind says how it may be narrowed:

- ``daily=True``: its due query scans every member, so it runs once per UTC day, and in between only
  when the moment its ``next_due(session, now)`` returned after the last run has come (the earliest
  member crossing a threshold: a year since the last check, the branch's days of silence, the next
  activity day ending). What they look at only moves later between runs (a member speaks, confirms,
  attends), so nothing falls due earlier than that moment; the daily run covers the rest (a branch
  lowering its threshold). ``changed(session, since)``, when given, is a cheap check (indexed columns)
  that something the query reads changed since the last run (a dues month opened, a payment rejected):
  then the query runs at once.
- ``incremental=True``: ``due(session, now, since)`` also receives the ``now`` of the kind's last complete
  run (None the first time, or when the clock went back) and selects only what became due after it:
  subjects that fell due in ``(since, now]`` and members approved since. A reminder decided for a member
  is therefore not selected again each minute.
- In every case the engine leaves out rows whose occurrence exists (an anti-join on the occurrence key),
  so the writes of a tick are only what is new.

The key UNIQUE(kind, subject_type, subject_id, period, person_id) makes each reminder happen once per
person, whatever restarts or catch-ups happen. Short transactions: the due query is read (streamed, so
members are never all in memory) outside any write transaction; for each batch of rows one short write
transaction inserts their occurrences (``ON CONFLICT DO NOTHING``), renders each new group's message once,
stores it once in ``outbox_body`` and adds one outbox row per recipient pointing at it (source
``reminder:<occurrence id>``, kind ``reminder``, priority REMINDER), marks the occurrences enqueued and
commits. A crash between batches loses nothing: the next tick selects what has no occurrence yet. The
batch size adapts so that a write transaction takes about ``TARGET_WRITE`` (50 ms on SQLite, whose one
writer blocks all others; 0.5 s on PostgreSQL, where it blocks nobody) (halved after a slow one,
doubled after a quick one, between ``MIN_ROWS`` and ``MAX_ROWS``), because a loaded machine makes the
same rows take several times longer. On SQLite the tick then pauses (``SQLITE_PAUSE``, or half the last
batch's time when longer) so a handler's write, whose busy handler polls every 25 ms or so, gets the lock
between two batches instead of waiting for the whole wave.

Quiet hours: the occurrence is recorded when it falls due, but its outbox row's ``next_attempt_at`` is
moved to the end of the quiet window in the recipient's branch time zone, so the sender holds it until
the morning. A change that must reach people at once (an event moved, a study item published) calls
``fire(session, kind, now, quiet)`` inside its own transaction instead of waiting for the tick.

Retention (``Retention``, once a UTC day after the kinds, in batches): handled update ids older than
``updates`` are deleted; outbox rows older than ``outbox_text`` lose their text (payload and body; status
and times stay for the reports), and bodies nobody points at any more are deleted; occurrences older than
``occurrences`` are deleted when their kind declares ``keep`` (how long its due query can still select
them) and that has passed too. Kinds without ``keep`` (a yearly check, a streak) keep their keys.

The tick itself is ONE PTB JobQueue job, ``send_due_reminders``, every 60 s, coalescing, with no misfire
grace limit (``bot/scheduling/component.py``); tests call ``tick(db, now, quiet, kinds)`` with the fake
clock. Several instances on PostgreSQL: each tick takes the session-level ``pg_try_advisory_lock`` on its
own connection first and does nothing when another instance holds it; it is released at the end.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time as time_
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.rules.dates import next_allowed_time
from bot.scheduling.sql import language_of_person
from bot.services.outbox import Outgoing, account_route_join, chat_route
from storage.dialect import insert_ignore_stmt
from storage.models import Account, OutboxBody, OutboxMessage, OutboxStatus, Person, Priority, UTCDateTime
from storage.models.core import HandledUpdate
from storage.models.scheduling import ReminderMessage, ReminderOccurrence, SchedulerState

logger = logging.getLogger(__name__)

OCCURRENCE_KEY = ("kind", "subject_type", "subject_id", "period", "person_id")
OUTBOX_KIND = "reminder"
# pg_try_advisory_lock key of the tick: "BRANCHBT" read as a 64-bit number, unlikely to collide.
TICK_LOCK_KEY = 0x4252414E43484254 & 0x7FFFFFFFFFFFFFFF
# Rows per write transaction: on SQLite about 30-60 ms of writing each (see bench/reminders.py).
BATCH_ROWS = {"sqlite": 250, "postgresql": 2000}  # the first batch; then adapted to TARGET_WRITE
MIN_ROWS, MAX_ROWS = 25, 10_000
# Seconds a write batch should take. SQLite has one writer at a time, so its batches stay short; on
# PostgreSQL a long transaction blocks no other writer, and each commit waits for a WAL flush.
TARGET_WRITE = {"sqlite": 0.05, "postgresql": 0.5}
SQLITE_PAUSE = 0.03  # seconds between two write batches on SQLite: room for a handler's write
PRUNE_ROWS = 2000  # rows per retention transaction

DueQuery = Callable[..., Awaitable[Select[Any] | None]]
Prepare = Callable[[AsyncSession, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Occasion:
    """One group of new occurrences that share a message: render it once, send it to all of them."""

    kind: str
    subject_type: str
    subject_id: int
    period: str
    language: str
    tz: str


Renderer = Callable[[AsyncSession, Occasion], Awaitable[Outgoing | None]]


@dataclass(frozen=True)
class ReminderKind:
    """A kind of reminder: a set-based query of what is due, and the text of one group.

    ``prepare`` (optional) runs in its own transaction before the kind's query in each tick, for derived
    rows the query needs (the activity day materialises next month's event there). ``daily``,
    ``incremental`` and ``keep`` are explained in the module docstring.
    """

    name: str
    due: DueQuery
    render: Renderer
    prepare: Prepare | None = None
    daily: bool = False
    next_due: Callable[[AsyncSession, datetime], Awaitable[datetime | None]] | None = None
    changed: Callable[[AsyncSession, datetime], Awaitable[bool]] | None = None
    incremental: bool = False
    keep: timedelta | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 40:
            raise ValueError("a reminder kind name has 1 to 40 characters")


@dataclass(frozen=True)
class QuietHours:
    """The nightly window in which reminders wait (local time of the recipient's branch)."""

    start: time | None = None
    end: time | None = None

    @classmethod
    def from_settings(cls, settings: _HasQuietHours) -> QuietHours:
        return cls(settings.quiet_hours_start, settings.quiet_hours_end)

    def release_time(self, now: datetime, tz: str) -> datetime:
        """``now``, or the end of the quiet window when ``now`` falls inside it."""
        if self.start is None or self.end is None:
            return now
        return next_allowed_time(now, self.start, self.end, zone(tz))


class _HasQuietHours(Protocol):
    quiet_hours_start: time | None
    quiet_hours_end: time | None


@dataclass(frozen=True)
class Retention:
    """How long the tick keeps what it no longer needs (settings RETENTION_*_DAYS)."""

    updates: timedelta = timedelta(days=7)
    outbox_text: timedelta = timedelta(days=30)
    occurrences: timedelta = timedelta(days=90)

    @classmethod
    def from_settings(cls, settings: Any) -> Retention:
        return cls(
            timedelta(days=settings.retention_updates_days),
            timedelta(days=settings.retention_outbox_text_days),
            timedelta(days=settings.retention_occurrence_days),
        )


@dataclass
class TickResult:
    ran: bool = True
    occurrences: int = 0
    outbox_rows: int = 0
    groups: int = 0
    batches: int = 0
    pruned: int = 0

    def add(self, other: TickResult) -> None:
        self.occurrences += other.occurrences
        self.outbox_rows += other.outbox_rows
        self.groups += other.groups
        self.batches += other.batches
        self.pruned += other.pruned


def zone(name: str) -> ZoneInfo:
    """A branch's zone; a bad stored name falls back to Shanghai rather than stopping every reminder."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r, using Asia/Shanghai", name)
        return ZoneInfo("Asia/Shanghai")


def _as_column(value: Any, type_: Any) -> Any:
    """Plain values become typed literals; columns and expressions pass through."""
    return literal(value, type_) if isinstance(value, str | int | datetime) else value


def occurrence_columns(
    *,
    subject_type: str | ColumnElement[Any],
    subject_id: int | ColumnElement[Any],
    period: str | ColumnElement[Any],
    person_id: Any,
    tz: str | ColumnElement[Any],
    due_at: datetime | ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """The labelled columns every due query selects (values become literals)."""
    return [
        _as_column(subject_type, String(24)).label("subject_type"),
        _as_column(subject_id, BigInteger()).label("subject_id"),
        _as_column(period, String(40)).label("period"),
        _as_column(person_id, Integer()).label("person_id"),
        _as_column(tz, String(64)).label("tz"),
        _as_column(due_at, UTCDateTime()).label("due_at"),
    ]


async def _due_query(
    session: AsyncSession, kind: ReminderKind, now: datetime, since: datetime | None
) -> Select[Any] | None:
    if kind.incremental:
        return await kind.due(session, now, since)
    return await kind.due(session, now)


def _not_yet(kind: ReminderKind, query: Select[Any]) -> Select[Any]:
    """The kind's due rows that have no occurrence yet (the UNIQUE key's index answers each probe)."""
    due = query.subquery()
    occ = ReminderOccurrence
    known = (
        select(occ.id)
        .where(
            occ.kind == kind.name,
            occ.subject_type == due.c.subject_type,
            occ.subject_id == due.c.subject_id,
            occ.period == due.c.period,
            occ.person_id == due.c.person_id,
        )
        .exists()
    )
    return select(
        due.c.subject_type, due.c.subject_id, due.c.period, due.c.person_id, due.c.tz, due.c.due_at
    ).where(~known)


async def collect(session: AsyncSession, kind: ReminderKind, now: datetime) -> None:
    """Insert the kind's due occurrences in one statement; existing keys are skipped by the UNIQUE key."""
    query = await _due_query(session, kind, now, None)
    if query is None:
        return
    due = query.subquery()
    rows = select(
        literal(kind.name, String(40)),
        due.c.subject_type,
        due.c.subject_id,
        due.c.period,
        due.c.person_id,
        due.c.tz,
        due.c.due_at,
        literal(now, UTCDateTime()),
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
    stmt = insert_ignore_stmt(session, ReminderOccurrence, OCCURRENCE_KEY).from_select(
        ["kind", "subject_type", "subject_id", "period", "person_id", "tz", "due_at", "created_at"], rows
    )
    await session.execute(stmt)


async def copy_to_outbox(
    session: AsyncSession,
    kinds: Sequence[ReminderKind],
    now: datetime,
    quiet: QuietHours,
    *,
    only: str | None = None,
) -> TickResult:
    """Copy the occurrences this transaction created into the outbox.

    Each group's message is rendered once and stored once in ``outbox_body``; the group is staged in
    ``reminder_message`` under a batch token, and one ``INSERT ... SELECT`` per time zone joins the new
    occurrences to their group's body. The cost grows with occurrences (one pass) plus groups (one
    render each), never groups x occurrences, and the text is stored once per group, not per person.
    """
    occ, msg = ReminderOccurrence, ReminderMessage
    by_name = {kind.name: kind for kind in kinds}
    language = language_of_person()
    pending = [occ.enqueued_at.is_(None)]
    if only is not None:
        pending.append(occ.kind == only)
    result = TickResult()
    result.occurrences = (await session.scalar(select(func.count()).select_from(occ).where(*pending))) or 0
    if not result.occurrences:
        return result
    groups = (
        await session.execute(
            select(occ.kind, occ.subject_type, occ.subject_id, occ.period, occ.tz, language)
            .join(Person, Person.id == occ.person_id)
            .where(*pending)
            .distinct()
            .order_by(occ.kind, occ.subject_type, occ.subject_id, occ.period, occ.tz, language)
        )
    ).all()
    batch = secrets.token_hex(8)
    staged: list[dict[str, Any]] = []
    payloads: list[dict[str, Any]] = []
    for kind_name, subject_type, subject_id, period, tz, lang in groups:
        kind = by_name.get(kind_name)
        occasion = Occasion(kind_name, subject_type, subject_id, period, lang, tz)
        message = await kind.render(session, occasion) if kind is not None else None
        if message is not None:
            payloads.append({"payload": message.to_payload(), "created_at": now})
            staged.append(
                {
                    "batch": batch,
                    "kind": kind_name,
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "period": period,
                    "tz": tz,
                    "language": lang,
                }
            )
    result.groups = len(staged)
    body_ids: list[int] = []
    if staged:
        body_ids = list(
            await session.scalars(
                insert(OutboxBody).returning(OutboxBody.id, sort_by_parameter_order=True), payloads
            )
        )
        for row, body_id in zip(staged, body_ids, strict=True):
            row["body_id"] = body_id
        await session.execute(insert(msg), staged)
    for tz in sorted({row["tz"] for row in staged}):
        group = and_(
            msg.batch == batch,
            msg.kind == occ.kind,
            msg.subject_type == occ.subject_type,
            msg.subject_id == occ.subject_id,
            msg.period == occ.period,
            msg.tz == occ.tz,
            msg.language == language,
        )
        due = (*pending, occ.tz == tz)
        common = (
            literal(int(Priority.REMINDER), Integer()),
            literal(OutboxStatus.PENDING.value, String(16)),
            literal(0, Integer()),
            literal(quiet.release_time(now, tz), UTCDateTime()),
            literal(now, UTCDateTime()),
        )
        tail = ["priority", "status", "attempts", "next_attempt_at", "created_at"]
        source = literal("reminder:", String) + cast(occ.id, String)
        head = (source, literal(OUTBOX_KIND, String(32)))
        recipients = select(occ).join(Person, Person.id == occ.person_id).join(msg, group)
        # One copy per person, the same body: their Telegram chat (unless they blocked the bot), or
        # their account off Telegram (the web chat, WeChat) when it is the preferred one or Telegram
        # cannot take it.
        routes = (
            (
                ["chat_id"],
                (Person.chat_id,),
                recipients.where(*due, chat_route(), Person.unreachable.is_(False)),
                ["source", "chat_id"],
            ),
            (
                ["channel", "address"],
                (Account.channel, Account.address),
                recipients.join(Account, account_route_join()).where(*due),
                ["source", "channel", "address"],
            ),
        )
        for columns, values, chosen, key in routes:
            rows = chosen.with_only_columns(*head, *values, Person.id, null(), msg.body_id, *common)
            stmt = insert_ignore_stmt(session, OutboxMessage, key).from_select(
                ["source", "kind", *columns, "person_id", "payload", "body_id", *tail], rows
            )
            inserted = await session.execute(stmt)
            result.outbox_rows += max(inserted.rowcount or 0, 0)
    await session.execute(delete(msg).where(msg.batch == batch))
    if body_ids:
        # A group whose recipients all lack a chat (or blocked the bot) leaves its body unused.
        used = select(OutboxMessage.id).where(OutboxMessage.body_id == OutboxBody.id).exists()
        await session.execute(delete(OutboxBody).where(OutboxBody.id.in_(body_ids), ~used))
    # Everything pending now was created in this transaction (each transaction marks what it creates),
    # so marking all of it is exact; a person with no chat or who blocked the bot simply gets no row.
    await session.execute(update(occ).where(*pending).values(enqueued_at=now))
    return result


async def fire(
    session: AsyncSession, kind: ReminderKind, now: datetime, quiet: QuietHours = QuietHours()
) -> TickResult:
    """Fan one kind out now, inside the caller's transaction (the caller commits)."""
    await collect(session, kind, now)
    return await copy_to_outbox(session, [kind], now, quiet, only=kind.name)


class _Database(Protocol):
    """What the tick needs of ``storage.db.Database``."""

    engine: Any

    @property
    def dialect(self) -> str: ...

    def session(self) -> Any: ...


@asynccontextmanager
async def _tick_lock(db: _Database) -> AsyncIterator[bool]:
    """True when this instance may run the tick. PostgreSQL: a session-level advisory lock held on its
    own connection for the whole tick (the tick commits many times); SQLite runs as one instance."""
    if db.dialect != "postgresql":
        yield True
        return
    async with db.engine.connect() as connection:
        held = bool(await connection.scalar(select(func.pg_try_advisory_lock(TICK_LOCK_KEY))))
        await connection.commit()
        try:
            yield held
        finally:
            if held:
                await connection.scalar(select(func.pg_advisory_unlock(TICK_LOCK_KEY)))
                await connection.commit()


def _state_name(kind: ReminderKind) -> str:
    return f"kind:{kind.name}"


async def _states(db: _Database) -> dict[str, SchedulerState]:
    async with db.session() as session:
        return {row.name: row for row in await session.scalars(select(SchedulerState))}


async def _save_states(db: _Database, states: dict[str, tuple[datetime, datetime | None]]) -> None:
    """Record the kinds that ran, all in one short transaction at the end of the tick (a crash before it
    only makes the next tick look again: the occurrence key keeps that exact)."""
    if not states:
        return
    async with db.session() as session:
        known = {
            row.name: row
            for row in await session.scalars(select(SchedulerState).where(SchedulerState.name.in_(states)))
        }
        for name, (ran_at, next_at) in states.items():
            row = known.get(name)
            if row is None:
                session.add(SchedulerState(name=name, ran_at=ran_at, next_at=next_at))
            else:
                row.ran_at, row.next_at = ran_at, next_at
        await session.commit()


async def _pause(db: _Database, last: float = 0.0) -> None:
    if db.dialect == "sqlite":
        await asyncio.sleep(max(SQLITE_PAUSE, last / 2))


def _adapt(size: int, elapsed: float, target: float, fixed: bool) -> int:
    if fixed:
        return size
    if elapsed > target * 1.5:
        return max(MIN_ROWS, size // 2)
    if elapsed < target / 2:
        return min(MAX_ROWS, size * 2)
    return size


async def run_kind(
    db: _Database,
    kind: ReminderKind,
    now: datetime,
    quiet: QuietHours,
    since: datetime | None = None,
    *,
    batch_rows: int | None = None,
) -> TickResult:
    """One kind: prepare, then stream what is newly due and write it in short batches (``batch_rows``
    fixes the batch size, for tests)."""
    result = TickResult()
    size = batch_rows or BATCH_ROWS.get(db.dialect, 500)
    if kind.prepare is not None:
        async with db.session() as session:
            await kind.prepare(session, now)
            await session.commit()
    async with db.session() as reader:
        query = await _due_query(reader, kind, now, since)
        if query is None:
            return result
        stream = await reader.stream(_not_yet(kind, query).execution_options(yield_per=MIN_ROWS))
        while chunk := await stream.fetchmany(size):
            rows = [
                {
                    "kind": kind.name,
                    "subject_type": r.subject_type,
                    "subject_id": r.subject_id,
                    "period": r.period,
                    "person_id": r.person_id,
                    "tz": r.tz,
                    "due_at": r.due_at,
                    "created_at": now,
                }
                for r in chunk
            ]
            started = time_.monotonic()
            async with db.session() as writer:
                await writer.execute(insert_ignore_stmt(writer, ReminderOccurrence, OCCURRENCE_KEY), rows)
                # Only this kind's rows are pending in this transaction: no filter on the kind, so every
                # step finds them through the index on ``enqueued_at`` (a filter on the kind would let
                # SQLite walk the key index over all of the kind's occurrences, batch after batch).
                part = await copy_to_outbox(writer, [kind], now, quiet)
                await writer.commit()
            elapsed = time_.monotonic() - started
            part.batches = 1
            result.add(part)
            size = _adapt(size, elapsed, TARGET_WRITE.get(db.dialect, 0.05), batch_rows is not None)
            await _pause(db, elapsed)
    return result


def _skip(kind: ReminderKind, state: SchedulerState | None, now: datetime) -> bool:
    """A daily kind that already ran today waits for its next threshold (or tomorrow)."""
    if not kind.daily or state is None or state.ran_at is None:
        return False
    if state.ran_at > now or state.ran_at.date() != now.date():
        return False
    return state.next_at is None or now < state.next_at


async def _changed(db: _Database, kind: ReminderKind, state: SchedulerState | None) -> bool:
    if kind.changed is None or state is None or state.ran_at is None:
        return False
    async with db.session() as session:
        return await kind.changed(session, state.ran_at)


async def _next_due(db: _Database, kind: ReminderKind, now: datetime) -> datetime | None:
    if kind.next_due is None:
        return None
    async with db.session() as session:
        return await kind.next_due(session, now)


async def tick(
    db: _Database,
    now: datetime,
    quiet: QuietHours,
    kinds: Sequence[ReminderKind],
    *,
    retention: Retention | None = None,
    batch_rows: int | None = None,
) -> TickResult:
    """Turn everything due up to ``now`` into occurrences and outbox rows, in short transactions.

    ``kinds`` is the list to run (the composition root passes ``app.features.reminder_kinds()``);
    ``retention`` None keeps everything (tests), the bot passes ``Retention.from_settings``.
    """
    result = TickResult()
    async with _tick_lock(db) as held:
        if not held:
            logger.info("reminder tick skipped: another instance holds the lock")
            return TickResult(ran=False)
        states = await _states(db)
        ran: dict[str, tuple[datetime, datetime | None]] = {}
        for kind in kinds:
            state = states.get(_state_name(kind))
            since = state.ran_at if state is not None else None
            if _skip(kind, state, now) and not await _changed(db, kind, state):
                continue
            if since is not None and since > now:
                since = None  # the clock went back: select everything still due
            result.add(await run_kind(db, kind, now, quiet, since, batch_rows=batch_rows))
            ran[_state_name(kind)] = (now, await _next_due(db, kind, now))
        await _save_states(db, ran)
        if retention is not None:
            result.pruned = await prune(db, now, retention, kinds, states)
    if result.occurrences:
        logger.info(
            "reminder tick: %d occurrences, %d outbox rows in %d groups, %d batches",
            result.occurrences,
            result.outbox_rows,
            result.groups,
            result.batches,
        )
    return result


# -- retention ---------------------------------------------------------------------------------------

FINISHED = (OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.CANCELLED.value)


async def prune(
    db: _Database,
    now: datetime,
    retention: Retention,
    kinds: Sequence[ReminderKind],
    states: dict[str, SchedulerState] | None = None,
    *,
    force: bool = False,
) -> int:
    """The daily retention pass (see the module docstring); returns the rows deleted or blanked."""
    states = states if states is not None else await _states(db)
    state = states.get("retention")
    if not force and state is not None and state.ran_at is not None and state.ran_at.date() == now.date():
        return 0
    done = await _prune_updates(db, now - retention.updates)
    done += await _blank_outbox(db, now - retention.outbox_text, states.get("retention:outbox"))
    done += await _compact_occurrences(
        db, now, retention.occurrences, kinds, states.get("retention:occurrence")
    )
    await _save_states(db, {"retention": (now, None)})
    if done:
        logger.info("retention: %d rows pruned, blanked or compacted", done)
    return done


async def _prune_updates(db: _Database, before: datetime) -> int:
    done = 0
    while True:
        old = (
            select(HandledUpdate.update_id)
            .where(HandledUpdate.handled_at < before)
            .order_by(HandledUpdate.handled_at)
            .limit(PRUNE_ROWS)
        )
        async with db.session() as session:
            result = await session.execute(
                delete(HandledUpdate).where(HandledUpdate.update_id.in_(old.scalar_subquery()))
            )
            await session.commit()
        count = max(result.rowcount or 0, 0)
        done += count
        if count < PRUNE_ROWS:
            return done
        await _pause(db)


async def _blank_outbox(db: _Database, before: datetime, state: SchedulerState | None) -> int:
    """Walk the outbox by id from the last cursor: rows older than ``before`` that are finished lose their
    text; the cursor stops at the first row that is still too young. Unused bodies are deleted."""
    table = OutboxMessage.__table__
    cursor = (state.cursor if state is not None else None) or 0
    done = 0
    while True:
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(table.c.id, table.c.created_at, table.c.status, table.c.body_id)
                    .where(table.c.id > cursor)
                    .order_by(table.c.id)
                    .limit(PRUNE_ROWS)
                )
            ).all()
            old = []
            for row in rows:
                if row.created_at >= before:
                    break
                old.append(row)
            ids = [r.id for r in old if r.status in FINISHED]
            bodies = sorted({r.body_id for r in old if r.status in FINISHED and r.body_id is not None})
            if ids:
                await session.execute(
                    update(table).where(table.c.id.in_(ids)).values(payload=None, body_id=None)
                )
            if bodies:
                used = select(table.c.id).where(table.c.body_id == OutboxBody.id).exists()
                await session.execute(delete(OutboxBody).where(OutboxBody.id.in_(bodies), ~used))
            if old:
                cursor = old[-1].id
                row_state = await session.get(SchedulerState, "retention:outbox")
                if row_state is None:
                    session.add(SchedulerState(name="retention:outbox", cursor=cursor))
                else:
                    row_state.cursor = cursor
            await session.commit()
        done += len(ids)
        if len(old) < PRUNE_ROWS:
            return done
        await _pause(db)


def _compactable(keep: timedelta | None, age: timedelta, due_at: datetime, now: datetime) -> bool:
    """Only kinds whose due query stops selecting a key within ``age`` lose their old keys."""
    return keep is not None and keep <= age and due_at < now - keep


async def _compact_occurrences(
    db: _Database,
    now: datetime,
    age: timedelta,
    kinds: Sequence[ReminderKind],
    state: SchedulerState | None,
) -> int:
    """Delete occurrences older than ``age`` whose kind can no longer select them (``keep`` <= ``age``).

    Walks by id from a cursor like the outbox pass; an occurrence of a kind without ``keep`` (or a longer
    one) stays: its key is what keeps that reminder from repeating."""
    bounded = {kind.name: kind.keep for kind in kinds if kind.keep is not None}
    occ = ReminderOccurrence
    cursor = (state.cursor if state is not None else None) or 0
    before = now - age
    done = 0
    while True:
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(occ.id, occ.kind, occ.created_at, occ.due_at)
                    .where(occ.id > cursor)
                    .order_by(occ.id)
                    .limit(PRUNE_ROWS)
                )
            ).all()
            old = []
            for row in rows:
                if row.created_at >= before:
                    break
                old.append(row)
            ids = [r.id for r in old if _compactable(bounded.get(r.kind), age, r.due_at, now)]
            if ids:
                await session.execute(delete(occ).where(occ.id.in_(ids)))
            if old:
                cursor = old[-1].id
                row_state = await session.get(SchedulerState, "retention:occurrence")
                if row_state is None:
                    session.add(SchedulerState(name="retention:occurrence", cursor=cursor))
                else:
                    row_state.cursor = cursor
            await session.commit()
        done += len(ids)
        if len(old) < PRUNE_ROWS:
            return done
        await _pause(db)
