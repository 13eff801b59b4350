"""Benchmark: one reminder tick for 10%, 50% and 100% of N members, in the same run.

    python -m bench.reminders --members 100000 [--database-url postgresql+asyncpg://...]

For each size it seeds a fresh database in bulk (branches of 50 members, each branch's activity day on
15 March 2026 with its three-day reminder due), then times the tick at 12 March 08:05 that turns every
member's reminder into an occurrence and an outbox row, and a second tick a minute later that finds
nothing new (the steady state of every other minute). It prints the time per member of each size and
its ratio to the smallest size (about 1.0 means linear growth) and the peak resident memory during
each tick (sampled with psutil), which must stay flat: members are never loaded into Python.
The default database is a temporary SQLite file per size; with --database-url (PostgreSQL) every table
is emptied between sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select, text

from bot.scheduling.engine import QuietHours, tick
from storage import crypto, migrate
from storage.db import Database
from storage.models import Base, Branch, Member, MemberState, OutboxMessage, Person
from storage.models.activity import ActivityEvent, ActivityPlan, ActivityReminderSlot, EventStatus

BRANCH_SIZE = 50
CHUNK = 5_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


EVENT_STARTS = local(2026, 3, 15, 19, 0)
REMINDER_DUE = local(2026, 3, 12, 8, 0)
TICK_AT = local(2026, 3, 12, 8, 5)
SEEN = local(2026, 3, 1, 12, 0)
APPROVED = local(2026, 1, 5, 10, 0)


@dataclass
class Figure:
    members: int
    branches: int
    seed_s: float
    tick_s: float
    steady_s: float
    occurrences: int
    outbox_rows: int
    peak_rss_mb: float
    base_rss_mb: float

    @property
    def per_member_us(self) -> float:
        return self.tick_s / self.members * 1e6


class RssSampler:
    """Samples this process's resident set size every few milliseconds in a thread; keeps the peak."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


async def _seed(db: Database, members: int) -> int:
    """Bulk-insert branches, plans, events, reminder slots, people and members; returns branches."""
    branches = (members + BRANCH_SIZE - 1) // BRANCH_SIZE
    async with db.session() as session:
        for start in range(0, branches, CHUNK):
            ids = range(start + 1, min(start + CHUNK, branches) + 1)
            await session.execute(
                insert(Branch),
                [
                    {
                        "id": b,
                        "name": f"branch {b}",
                        "city": "上海",
                        "timezone": "Asia/Shanghai",
                        "invite_code": f"bench{b}",
                        "created_at": APPROVED,
                    }
                    for b in ids
                ],
            )
            await session.execute(
                insert(ActivityPlan),
                [
                    {
                        "id": b,
                        "branch_id": b,
                        "rule_day": 15,
                        "start_time": EVENT_STARTS.astimezone(SHANGHAI).time(),
                        "programme": [],
                        "lead_days": [3, 0],
                        "remind_at": REMINDER_DUE.astimezone(SHANGHAI).time(),
                        "lost_contact_days": 90,
                        "study_backfill_days": 7,
                        "rule_set_at": APPROVED,
                        "updated_at": APPROVED,
                    }
                    for b in ids
                ],
            )
            # March's event with its due three-day reminder, and April's already planned (the planner's
            # once-a-month work per branch is not what this benchmark measures).
            await session.execute(
                insert(ActivityEvent),
                [
                    {
                        "id": 2 * b - 1 + offset,
                        "branch_id": b,
                        "month_key": 2026 * 12 + 2 + offset,
                        "starts_at": EVENT_STARTS + timedelta(days=31 * offset),
                        "ends_at": EVENT_STARTS + timedelta(days=31 * offset, hours=5),
                        "status": EventStatus.SCHEDULED,
                        "revision": 0,
                        "moved": False,
                        "created_at": APPROVED,
                    }
                    for b in ids
                    for offset in (0, 1)
                ],
            )
            await session.execute(
                insert(ActivityReminderSlot),
                [{"event_id": 2 * b - 1, "lead_days": 3, "revision": 0, "due_at": REMINDER_DUE} for b in ids],
            )
        for start in range(0, members, CHUNK):
            ids = range(start + 1, min(start + CHUNK, members) + 1)
            await session.execute(
                insert(Person),
                [
                    {
                        "id": p,
                        "telegram_user_id": 10_000_000 + p,
                        "chat_id": 10_000_000 + p,
                        "client_language": "zh-hans" if p % 10 else "en",
                        "unreachable": False,
                        "created_at": APPROVED,
                        "last_seen_at": SEEN,
                    }
                    for p in ids
                ],
            )
            await session.execute(
                insert(Member),
                [
                    {
                        "id": p,
                        "person_id": p,
                        "branch_id": (p - 1) // BRANCH_SIZE + 1,
                        "state": MemberState.APPROVED,
                        "decided_at": APPROVED,
                        "created_at": APPROVED,
                        "updated_at": APPROVED,
                    }
                    for p in ids
                ],
            )
        await session.commit()
    return branches


async def _empty(url: str) -> None:
    db = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with db.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await db.dispose()


async def measure(url: str, members: int) -> Figure:
    await migrate.upgrade(url)
    if url.startswith("postgresql"):
        await _empty(url)
    db = Database(url)
    try:
        started = time.perf_counter()
        branches = await _seed(db, members)
        seeded = time.perf_counter() - started
        quiet = QuietHours()
        base = psutil.Process().memory_info().rss
        with RssSampler() as sampler:
            started = time.perf_counter()
            result = await tick(db, TICK_AT, quiet)
            tick_s = time.perf_counter() - started
            started = time.perf_counter()
            steady = await tick(db, TICK_AT + timedelta(minutes=1), quiet)
            steady_s = time.perf_counter() - started
        assert steady.occurrences == 0, "the second tick must find nothing new"
        async with db.session() as session:
            outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
        return Figure(
            members,
            branches,
            seeded,
            tick_s,
            steady_s,
            result.occurrences,
            outbox or 0,
            sampler.peak / 2**20,
            base / 2**20,
        )
    finally:
        await db.dispose()


async def run(total: int, database_url: str | None) -> list[Figure]:
    crypto.configure(crypto.Keyring([Fernet.generate_key().decode()]))
    sizes = sorted({max(total // 10, BRANCH_SIZE), max(total // 2, BRANCH_SIZE), total})
    figures = []
    for size in sizes:
        if database_url:
            figures.append(await measure(database_url, size))
            continue
        folder = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
        try:
            figures.append(await measure(f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", size))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return figures


def report(figures: list[Figure]) -> str:
    first = figures[0]
    lines = [
        "members  branches  seed_s  tick_s  us/member  ratio  steady_s  occurrences  outbox  "
        "rss_base_MB  rss_peak_MB",
    ]
    for f in figures:
        lines.append(
            f"{f.members:>7}  {f.branches:>8}  {f.seed_s:>6.2f}  {f.tick_s:>6.2f}  {f.per_member_us:>9.1f}  "
            f"{f.per_member_us / first.per_member_us:>5.2f}  {f.steady_s:>8.2f}  {f.occurrences:>11}  "
            f"{f.outbox_rows:>6}  {f.base_rss_mb:>11.1f}  {f.peak_rss_mb:>11.1f}"
        )
    last = figures[-1]
    lines.append(
        f"time per member {last.members} vs {first.members}: {last.per_member_us / first.per_member_us:.2f}x "
        f"(1.0 = linear); peak RSS growth during the tick: "
        f"{first.peak_rss_mb - first.base_rss_mb:.1f} MB at {first.members}, "
        f"{last.peak_rss_mb - last.base_rss_mb:.1f} MB at {last.members}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="the largest size (default 100000)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: temporary SQLite)")
    args = parser.parse_args()
    figures = asyncio.run(run(args.members, args.database_url))
    print(report(figures))


if __name__ == "__main__":
    main()
