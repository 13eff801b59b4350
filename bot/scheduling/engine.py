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
3. Add ``ReminderKind("dues.unpaid", due, render)`` to ``KINDS`` in ``bot/scheduling/kinds.py``.

The key UNIQUE(kind, subject_type, subject_id, period, person_id) makes each reminder happen once per
person, whatever restarts or catch-ups happen: occurrences are inserted with ``INSERT ... SELECT ... ON
CONFLICT DO NOTHING`` and the new ones copied into the outbox (source ``reminder:<occurrence id>``,
kind ``reminder``, priority REMINDER): each group's message is rendered once, staged, and joined to its
occurrences by one ``INSERT ... SELECT`` per time zone, all in one transaction.

Quiet hours: the occurrence is recorded when it falls due, but its outbox row's ``next_attempt_at`` is
moved to the end of the quiet window in the recipient's branch time zone, so the sender holds it until
the morning. A change that must reach people at once (an event moved, a study item published) calls
``fire(session, kind, now, quiet)`` inside its own transaction instead of waiting for the tick.

The tick itself is ONE PTB JobQueue job, ``send_due_reminders``, every 60 s, coalescing, with no misfire
grace limit (``bot/scheduling/component.py``); tests call ``tick(db, now, quiet)`` with the fake clock.
Several instances on PostgreSQL: each tick takes ``pg_try_advisory_xact_lock`` first and does nothing when
another instance holds it; the lock ends with the transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
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
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.rules.dates import next_allowed_time
from bot.scheduling.sql import language_of_person
from bot.services.outbox import Outgoing
from storage.dialect import insert_ignore_stmt
from storage.models import OutboxMessage, OutboxStatus, Person, Priority, UTCDateTime
from storage.models.scheduling import ReminderMessage, ReminderOccurrence

logger = logging.getLogger(__name__)

OCCURRENCE_KEY = ("kind", "subject_type", "subject_id", "period", "person_id")
OUTBOX_KIND = "reminder"
# pg_try_advisory_xact_lock key of the tick: "BRANCHBT" read as a 64-bit number, unlikely to collide.
TICK_LOCK_KEY = 0x4252414E43484254 & 0x7FFFFFFFFFFFFFFF

DueQuery = Callable[[AsyncSession, datetime], Awaitable[Select[Any] | None]]
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

    ``prepare`` (optional) runs before any kind's query in each tick, for derived rows the query needs
    (the activity day materialises next month's event there).
    """

    name: str
    due: DueQuery
    render: Renderer
    prepare: Prepare | None = None

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


@dataclass
class TickResult:
    ran: bool = True
    occurrences: int = 0
    outbox_rows: int = 0
    groups: int = 0


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


async def collect(session: AsyncSession, kind: ReminderKind, now: datetime) -> None:
    """Insert the kind's due occurrences; existing keys are skipped by the UNIQUE constraint."""
    query = await kind.due(session, now)
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

    Each group's message is rendered once and staged in ``reminder_message`` under a batch token; then
    one ``INSERT ... SELECT`` per time zone joins the new occurrences to their group's message. The
    cost grows with occurrences (one pass) plus groups (one render each), never groups x occurrences.
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
    for kind_name, subject_type, subject_id, period, tz, lang in groups:
        kind = by_name.get(kind_name)
        occasion = Occasion(kind_name, subject_type, subject_id, period, lang, tz)
        message = await kind.render(session, occasion) if kind is not None else None
        if message is not None:
            staged.append(
                {
                    "batch": batch,
                    "kind": kind_name,
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "period": period,
                    "tz": tz,
                    "language": lang,
                    "payload": message.to_payload(),
                }
            )
    result.groups = len(staged)
    if staged:
        await session.execute(insert(msg), staged)
    for tz in sorted({row["tz"] for row in staged}):
        rows = (
            select(
                literal("reminder:", String) + cast(occ.id, String),
                literal(OUTBOX_KIND, String(32)),
                Person.chat_id,
                Person.id,
                msg.payload,  # the staged ciphertext, copied as it is
                literal(int(Priority.REMINDER), Integer()),
                literal(OutboxStatus.PENDING.value, String(16)),
                literal(0, Integer()),
                literal(quiet.release_time(now, tz), UTCDateTime()),
                literal(now, UTCDateTime()),
            )
            .select_from(occ)
            .join(Person, Person.id == occ.person_id)
            .join(
                msg,
                and_(
                    msg.batch == batch,
                    msg.kind == occ.kind,
                    msg.subject_type == occ.subject_type,
                    msg.subject_id == occ.subject_id,
                    msg.period == occ.period,
                    msg.tz == occ.tz,
                    msg.language == language,
                ),
            )
            .where(
                *pending,
                occ.tz == tz,
                Person.chat_id.is_not(None),
                Person.unreachable.is_(False),
            )
        )
        stmt = insert_ignore_stmt(session, OutboxMessage, ["source", "chat_id"]).from_select(
            [
                "source",
                "kind",
                "chat_id",
                "person_id",
                "payload",
                "priority",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
            rows,
        )
        inserted = await session.execute(stmt)
        result.outbox_rows += max(inserted.rowcount or 0, 0)
    await session.execute(delete(msg).where(msg.batch == batch))
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


async def _take_tick_lock(session: AsyncSession) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite runs as one instance
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(TICK_LOCK_KEY))))


async def run_tick(
    session: AsyncSession,
    now: datetime,
    quiet: QuietHours,
    kinds: Sequence[ReminderKind] | None = None,
) -> TickResult:
    """One tick in the given session: lock, prepare, collect every kind, copy, commit."""
    if kinds is None:
        from bot.scheduling.kinds import KINDS

        kinds = KINDS
    if not await _take_tick_lock(session):
        await session.rollback()
        logger.info("reminder tick skipped: another instance holds the lock")
        return TickResult(ran=False)
    for kind in kinds:
        if kind.prepare is not None:
            await kind.prepare(session, now)
    for kind in kinds:
        await collect(session, kind, now)
    result = await copy_to_outbox(session, kinds, now, quiet)
    await session.commit()
    if result.occurrences:
        logger.info(
            "reminder tick: %d occurrences, %d outbox rows in %d groups",
            result.occurrences,
            result.outbox_rows,
            result.groups,
        )
    return result


class _SessionSource(Protocol):
    def session(self) -> Any: ...


async def tick(
    db: _SessionSource, now: datetime, quiet: QuietHours, kinds: Sequence[ReminderKind] | None = None
) -> TickResult:
    """Turn everything due up to ``now`` into occurrences and outbox rows, in one transaction."""
    async with db.session() as session:
        return await run_tick(session, now, quiet, kinds)
