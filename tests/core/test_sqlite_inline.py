"""SQLite on the event loop's thread: a locked database is waited for off the loop, errors still raise."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage.db import Database


async def _database(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "inline.sqlite3"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.session() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await session.commit()
    return db, path


async def test_a_write_waits_for_another_writer_without_holding_up_the_loop(tmp_path: Path) -> None:
    db, path = await _database(tmp_path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    other.execute("INSERT INTO t (v) VALUES ('other')")
    try:

        async def write() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t (v) VALUES ('ours')"))
                await session.commit()

        writing = asyncio.create_task(write())
        ticks = 0
        for _ in range(10):  # the loop keeps serving others while our write waits for the lock
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 10 and not writing.done()
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
        async with db.session() as session:
            values = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        assert values == ["other", "ours"]
    finally:
        other.close()
        await db.dispose()


async def test_other_errors_raise_and_reads_see_committed_rows(tmp_path: Path) -> None:
    db, _ = await _database(tmp_path)
    try:
        async with db.session() as session:
            with pytest.raises(OperationalError):
                await session.execute(text("SELECT nope FROM t"))
        async with db.session() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
            await session.commit()
        async with db.session() as session, db.session() as second:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 2
            await second.execute(text("INSERT INTO t (v) VALUES ('c')"))
            await second.rollback()
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    finally:
        await db.dispose()
