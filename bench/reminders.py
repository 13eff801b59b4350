"""Benchmark: the reminder tick's due wave, idle tick, write transactions and storage, for several sizes.

    python -m bench.reminders --members 100000 [--database-url postgresql+asyncpg://...] [--million]

For each size (a tenth of N and N; ``--million`` adds 1,000,000) it seeds a fresh database in bulk
(branches of 50 members, each branch's activity day on 15 March 2026 with reminders three days before
and on the day), then measures, with a concurrent write probe running throughout (every 20 ms one
``handled_update`` insert in its own transaction, as a handler records an update):

- the daily run: the first tick of the UTC day (00:04 UTC), which runs the member-wide daily kinds
  (details check, lost contact, streaks, dues, monthly report) and finds nothing due (wall time);
- the due wave: the tick at 12 March 08:05 that turns every member's reminder into an occurrence and
  an outbox row, in short transactions (wall time);
- the idle tick: the median CPU time of this process over three ticks a minute apart when nothing is
  new (on SQLite all database work is in this process; on PostgreSQL the server's share is not counted,
  the wall time is printed too);
- the longest write transaction (first INSERT/UPDATE/DELETE to COMMIT, any connection; and to the end
  of the commit, which on SQLite includes any automatic WAL checkpoint) and the longest wait of the
  probe;
- the peak resident memory during the wave (psutil), which must stay flat;
- database bytes per member after a month of simulated use (sizes up to ``--month-max``): ticks at 08:05
  and 18:05 each day from 12 March to 12 April with retention on, every outbox row marked sent, one
  handled update per member per reminder, and a weekly notice to every member; bytes are the database's
  used pages (SQLite) or ``pg_database_size`` (PostgreSQL), before and after the month.
It prints the ratios between sizes measured in the same run, and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil
from cryptography.fernet import Fernet
from sqlalchemy import event, insert, select, text, update

from app.features import reminder_kinds
from bot.scheduling.engine import QuietHours, Retention, tick
from bot.services.outbox import Outgoing
from storage import crypto, migrate
from storage.db import Database
from storage.models import Account, Base, Branch, Member, MemberState, OutboxMessage, OutboxStatus, Person
from storage.models.activity import ActivityEvent, ActivityPlan, ActivityReminderSlot, EventStatus
from storage.models.core import HandledUpdate

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
    wave_s: float
    wave_rows: int
    batches: int
    idle_cpu_s: float
    idle_wall_s: float
    longest_write_s: float
    longest_commit_s: float
    probe_max_s: float
    probe_count: int
    peak_rss_mb: float
    base_rss_mb: float
    daily_s: float = 0.0
    bytes_before: int = 0
    bytes_after: int = 0
    month_s: float = 0.0

    @property
    def bytes_per_member(self) -> float:
        return self.bytes_after / self.members

    @property
    def growth_per_member(self) -> float:
        return (self.bytes_after - self.bytes_before) / self.members


class WriteTimer:
    """Write transactions on an engine, from the first INSERT/UPDATE/DELETE: the longest until COMMIT is
    issued (what holds the write lock), and the longest until the connection is returned (the commit too,
    with any automatic WAL checkpoint SQLite runs there after releasing the lock)."""

    def __init__(self, engine: Any) -> None:
        self.longest = 0.0
        self.longest_with_commit = 0.0
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._statement)
        event.listen(sync, "commit", self._commit)
        event.listen(sync, "rollback", self._commit)
        event.listen(sync.pool, "checkin", self._checkin)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "w_start" not in conn.info and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            conn.info["w_start"] = time.perf_counter()

    def _commit(self, conn: Any) -> None:
        started = conn.info.get("w_start")
        if started is not None:
            self.longest = max(self.longest, time.perf_counter() - started)
            conn.info["w_commit"] = True

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        started = record.info.pop("w_start", None)
        if started is not None and record.info.pop("w_commit", False):
            self.longest_with_commit = max(self.longest_with_commit, time.perf_counter() - started)


class Probe:
    """A handler's first write (the redelivery record), every 20 ms in its own transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.longest = 0.0
        self.count = 0
        self._next = 9_000_000_000
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self._next += 1
            started = time.perf_counter()
            async with self.db.session() as session:
                await session.execute(insert(HandledUpdate).values(update_id=self._next, handled_at=TICK_AT))
                await session.commit()
            self.longest = max(self.longest, time.perf_counter() - started)
            self.count += 1
            await asyncio.sleep(0.02)

    def __enter__(self) -> Probe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


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
                [
                    {"event_id": 2 * b - 1, "lead_days": lead, "revision": 0, "due_at": due}
                    for b in ids
                    for lead, due in ((3, REMINDER_DUE), (0, REMINDER_DUE + timedelta(days=3)))
                ],
            )
        for start in range(0, members, CHUNK):
            ids = range(start + 1, min(start + CHUNK, members) + 1)
            await session.execute(
                insert(Person),
                [
                    {
                        "id": p,
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
                insert(Account),
                [
                    {
                        "person_id": p,
                        "channel": "telegram",
                        "external_id": str(10_000_000 + p),
                        "address": str(10_000_000 + p),
                        "preferred": True,
                        "unreachable": False,
                        "created_at": APPROVED,
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
        if db.dialect == "postgresql":  # explicit ids: move the sequences past them
            for table in ("branch", "activity_plan", "activity_event", "person", "member"):
                await session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        await session.commit()
    if db.dialect == "postgresql":
        # Fresh bulk-loaded tables have no statistics (autovacuum analyzes a live database): without them
        # the planner probes the empty occurrence table by a sequential scan, batch after batch.
        async with db.engine.connect() as connection:
            await connection.execute(text("COMMIT"))
            await connection.execute(text("ANALYZE"))
    return branches


async def _empty(url: str) -> None:
    db = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with db.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await db.dispose()


async def _bytes(db: Database) -> int:
    async with db.engine.connect() as connection:
        if db.dialect == "postgresql":
            await connection.execute(text("COMMIT"))
            await connection.execute(text("VACUUM"))
            return int(await connection.scalar(text("SELECT pg_database_size(current_database())")))
        await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        pages = await connection.scalar(text("PRAGMA page_count"))
        free = await connection.scalar(text("PRAGMA freelist_count"))
        size = await connection.scalar(text("PRAGMA page_size"))
        return int((pages - free) * size)


async def _sent(db: Database, now: datetime) -> None:
    """The sender's part, in bulk: every pending row is sent."""
    async with db.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=now, attempts=1)
        )
        await session.commit()


async def _answers(db: Database, first_update: int, members: int, now: datetime) -> int:
    """One handled update per member (each answered the reminder)."""
    async with db.session() as session:
        for start in range(0, members, CHUNK):
            await session.execute(
                insert(HandledUpdate),
                [
                    {"update_id": first_update + i, "handled_at": now}
                    for i in range(start, min(start + CHUNK, members))
                ],
            )
        await session.commit()
    return first_update + members


async def _notice(db: Database, week: int, now: datetime) -> None:
    """A weekly notice to every member, fanned out as the broadcast service does (one body per language)."""
    from bot.services.broadcast import _fan_out

    async with db.session() as session:
        await _fan_out(
            session,
            source=f"notice:bench{week}",
            recipients=select(Person.id),
            message_for=lambda language: Outgoing(text=f"第{week}周通知：" + "请按时参加支部活动。" * 20),
            now=now,
            skip_unreachable=True,
        )
        await session.commit()


async def _month(db: Database, members: int, kinds: list[Any]) -> None:
    quiet = QuietHours()
    retention = Retention()
    update_id = 1
    day0 = local(2026, 3, 12, 0, 0)
    for day in range(32):
        for hour, minute in ((8, 5), (18, 5)):
            now = day0 + timedelta(days=day, hours=hour, minutes=minute)
            result = await tick(db, now, quiet, kinds, retention=retention)
            if result.occurrences:
                update_id = await _answers(db, update_id, result.occurrences, now)
            if day % 7 == 3 and hour == 8:
                await _notice(db, day // 7, now)
            await _sent(db, now + timedelta(minutes=30))


async def measure(url: str, members: int, month: bool) -> Figure:
    await migrate.upgrade(url)
    if url.startswith("postgresql"):
        await _empty(url)
    db = Database(url)
    kinds = reminder_kinds()
    try:
        started = time.perf_counter()
        branches = await _seed(db, members)
        seeded = time.perf_counter() - started
        quiet = QuietHours()
        # The first tick of a UTC day runs the daily kinds (member-wide scans): timed on its own, a minute
        # before the wave, without the reminder that falls due at 00:00 UTC.
        started = time.perf_counter()
        await tick(db, TICK_AT - timedelta(minutes=1), quiet, [k for k in kinds if k.name != "activity.rsvp"])
        daily_s = time.perf_counter() - started
        timer = WriteTimer(db.engine)  # the tick's engine; the probe has its own, as a handler would
        probe_db = Database(url)
        base = psutil.Process().memory_info().rss
        with Probe(probe_db) as probe:
            await asyncio.sleep(0.1)
            with RssSampler() as sampler:
                started = time.perf_counter()
                wave = await tick(db, TICK_AT, quiet, kinds)
                wave_s = time.perf_counter() - started
            idle_cpu, idle_wall = [], []
            for minute in (1, 2, 3):
                cpu, wall = time.process_time(), time.perf_counter()
                idle = await tick(db, TICK_AT + timedelta(minutes=minute), quiet, kinds)
                idle_cpu.append(time.process_time() - cpu)
                idle_wall.append(time.perf_counter() - wall)
                assert idle.occurrences == 0, "an idle tick must find nothing new"
        await probe_db.dispose()
        assert wave.occurrences == members, (wave.occurrences, members)
        figure = Figure(
            members,
            branches,
            seeded,
            wave_s,
            wave.outbox_rows,
            wave.batches,
            statistics.median(idle_cpu),
            statistics.median(idle_wall),
            timer.longest,
            timer.longest_with_commit,
            probe.longest,
            probe.count,
            sampler.peak / 2**20,
            base / 2**20,
            daily_s,
        )
        if month:
            figure.bytes_before = await _bytes(db)
            started = time.perf_counter()
            await _month(db, members, kinds)
            figure.month_s = time.perf_counter() - started
            figure.bytes_after = await _bytes(db)
        return figure
    finally:
        await db.dispose()


async def run(total: int, database_url: str | None, million: bool, month_max: int) -> list[Figure]:
    crypto.configure(crypto.Keyring([Fernet.generate_key().decode()]))
    sizes = sorted({max(total // 10, BRANCH_SIZE), total} | ({1_000_000} if million else set()))
    figures = []
    for size in sizes:
        if database_url:
            figures.append(await measure(database_url, size, size <= month_max))
        else:
            folder = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
            try:
                url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
                figures.append(await measure(url, size, size <= month_max))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        print(report(figures[-1:], header=len(figures) == 1), flush=True)
    return figures


def report(figures: list[Figure], header: bool = True) -> str:
    lines = []
    if header:
        lines.append(
            "members  seed_s  daily_s  wave_s  rows/s  batches  idle_cpu_ms  idle_wall_ms  write_ms  "
            "+commit_ms  probe_max_ms  probes  rss_base_MB  rss_peak_MB  month_s  bytes/member  "
            "growth/member  load"
        )
    for f in figures:
        lines.append(
            f"{f.members:>7}  {f.seed_s:>6.1f}  {f.daily_s:>7.1f}  {f.wave_s:>6.1f}  "
            f"{f.wave_rows / f.wave_s:>6.0f}  "
            f"{f.batches:>7}  {f.idle_cpu_s * 1000:>11.1f}  {f.idle_wall_s * 1000:>12.1f}  "
            f"{f.longest_write_s * 1000:>8.1f}  {f.longest_commit_s * 1000:>10.1f}  "
            f"{f.probe_max_s * 1000:>12.1f}  {f.probe_count:>6}  "
            f"{f.base_rss_mb:>11.1f}  {f.peak_rss_mb:>11.1f}  {f.month_s:>7.1f}  "
            f"{f.bytes_per_member:>12.0f}  {f.growth_per_member:>13.0f}  "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
        )
    return "\n".join(lines)


def summary(figures: list[Figure]) -> str:
    first = figures[0]
    lines = []
    for f in figures[1:]:
        per_member = f.wave_s / f.members / (first.wave_s / first.members)
        lines.append(
            f"{f.members} vs {first.members}: idle-tick CPU {f.idle_cpu_s / first.idle_cpu_s:.2f}x "
            f"(target <= 2), wave time per member {per_member:.2f}x "
            f"(1.0 = linear), peak RSS growth {f.peak_rss_mb - f.base_rss_mb:.1f} MB vs "
            f"{first.peak_rss_mb - first.base_rss_mb:.1f} MB"
        )
    lines.append(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="the largest size (default 100000)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: temporary SQLite)")
    parser.add_argument("--million", action="store_true", help="also measure 1,000,000 members")
    parser.add_argument(
        "--month-max",
        type=int,
        default=100_000,
        help="simulate the month only for sizes up to this (default 100000; 0 skips it)",
    )
    args = parser.parse_args()
    figures = asyncio.run(run(args.members, args.database_url, args.million, args.month_max))
    print(summary(figures))


if __name__ == "__main__":
    main()
