"""Is the bot alive? The figures behind /healthz, /metrics and `branchbot status`, read from SQL.

Health is *degraded* when the oldest due pending outbox row has waited more than 10 minutes (outside
quiet hours), or the reminder tick has not run for more than 3 minutes. Both figures come from the
database, so every instance answers for the whole deployment: on PostgreSQL only one instance runs the
tick, and the others still see its heartbeat.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.scheduling.engine import QuietHours
from storage.dialect import dialect_insert
from storage.models import Heartbeat, OutboxMessage, OutboxStatus

OUTBOX_STALE = timedelta(minutes=10)
TICK_STALE = timedelta(minutes=3)
TICK = "tick"
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass
class Figures:
    """What the database says right now."""

    outbox_by_status: dict[str, int]
    oldest_pending_s: float | None
    last_tick_at: datetime | None
    last_tick_seconds: float | None

    @property
    def outbox_pending(self) -> int:
        return self.outbox_by_status.get(OutboxStatus.PENDING, 0)


@dataclass
class Health:
    status: str  # "ok" | "degraded"
    figures: Figures
    channels: dict[str, str]
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        f = self.figures
        return {
            "status": self.status,
            "outbox_pending": f.outbox_pending,
            "outbox_oldest_pending_s": None if f.oldest_pending_s is None else round(f.oldest_pending_s, 1),
            "last_tick_at": f.last_tick_at.isoformat() if f.last_tick_at else None,
            "channels": dict(self.channels),
            "reasons": list(self.reasons),
        }


async def record_tick(db: Any, at: datetime, seconds: float) -> None:
    """The tick's heartbeat (one upserted row) and its duration in the metrics."""
    metrics.observe_tick(seconds)
    async with db.session() as session:
        await upsert_heartbeat(session, TICK, at, seconds)
        await session.commit()


async def upsert_heartbeat(session: AsyncSession, name: str, at: datetime, seconds: float | None) -> None:
    values = {"name": name, "at": at, "seconds": seconds, "instance": INSTANCE}
    stmt = dialect_insert(session.get_bind().dialect.name, Heartbeat).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"at": stmt.excluded.at, "seconds": stmt.excluded.seconds, "instance": stmt.excluded.instance},
    )
    await session.execute(stmt)


async def read_figures(session: AsyncSession, now: datetime) -> Figures:
    outbox = OutboxMessage.__table__
    rows = await session.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    counts = {str(status): int(n) for status, n in rows}
    # Age of a pending row = how long it has been due: rows held for quiet hours or a retry back-off
    # are not late until their time comes.
    oldest_due = await session.scalar(
        select(func.min(outbox.c.next_attempt_at)).where(
            outbox.c.status == OutboxStatus.PENDING, outbox.c.next_attempt_at <= now
        )
    )
    oldest_s = None
    if oldest_due is not None:
        oldest_s = max((now - oldest_due).total_seconds(), 0.0)
    beat = await session.get(Heartbeat, TICK, populate_existing=True)
    return Figures(
        outbox_by_status=counts,
        oldest_pending_s=oldest_s,
        last_tick_at=beat.at if beat else None,
        last_tick_seconds=beat.seconds if beat else None,
    )


def judge(
    figures: Figures,
    now: datetime,
    *,
    quiet: QuietHours,
    timezone: str,
    since: datetime,
    channels: Mapping[str, str],
) -> Health:
    """Apply the two rules; `since` is when this process started (a fresh start has no tick yet)."""
    reasons = []
    in_quiet_hours = quiet.release_time(now, timezone) != now
    if (
        figures.oldest_pending_s is not None
        and figures.oldest_pending_s > OUTBOX_STALE.total_seconds()
        and not in_quiet_hours
    ):
        reasons.append("outbox_stale")
    # A tick from before this process started does not count against it until it has had time to tick.
    if now - max(figures.last_tick_at or since, since) > TICK_STALE:
        reasons.append("tick_stale")
    return Health("degraded" if reasons else "ok", figures, dict(channels), reasons)


async def check(
    db: Any,
    now: datetime,
    *,
    quiet: QuietHours,
    timezone: str,
    since: datetime,
    channels: Mapping[str, str],
) -> Health:
    """Read the figures, judge them and move the gauges that /metrics shows."""
    async with db.session() as session:
        figures = await read_figures(session, now)
    health = judge(figures, now, quiet=quiet, timezone=timezone, since=since, channels=channels)
    metrics.set_outbox(figures.outbox_by_status, figures.oldest_pending_s)
    metrics.set_health(health.ok, figures.last_tick_at.timestamp() if figures.last_tick_at else None)
    return health
