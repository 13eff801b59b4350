"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close, commit) in a worker thread and waits for it
on the event loop: four round trips per statement, each a queue put, a thread wake-up and a loop
wake-up, which cost ten to fifty times the statement itself (an indexed select takes microseconds).
This module gives SQLAlchemy's aiosqlite dialect (through ``async_creator``) a connection with the same
async surface that calls :mod:`sqlite3` directly on the event loop's thread.

What a thread gave, kept:
* waiting for a lock never blocks the loop: the connection's busy timeout is 0, so a statement that
  finds the database locked (another process, or another of our connections in a write transaction)
  fails at once without effect, and is then run again in a worker thread with the usual busy timeout,
  the loop serving everyone else meanwhile;
* one connection is used by one session at a time (SQLAlchemy's pool and its per-connection mutex), so
  the worker thread of such a retry never shares a connection with the loop.
What it costs: a slow statement (a large report) holds the loop for its duration; the bot's queries
read a branch's rows by index and take well under a millisecond.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _locked(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error)


class InlineConnection:
    """The part of ``aiosqlite.Connection`` SQLAlchemy's dialect uses, run on the calling thread."""

    def __init__(self, path: str | Path, busy_timeout_ms: int) -> None:
        self._conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
        self._connection = self._conn  # the dialect checks it before commit and rollback
        self.busy_timeout_ms = busy_timeout_ms
        self._tx = _Immediate()  # the dialect's isolation-level setter queues a function here

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` now; when the database is locked, again in a worker thread that waits
        for the lock up to the busy timeout (a locked statement had no effect, so it may run again)."""
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if not _locked(error) or self.busy_timeout_ms <= 0:
                raise
        return await asyncio.get_running_loop().run_in_executor(None, self._waiting, function, args)

    def _waiting(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        try:
            return function(*args)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def cursor(self) -> _CursorContext:
        return _CursorContext(self)

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = InlineCursor(self, self._conn.cursor())
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        await self.run(self._conn.rollback)

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


class _Immediate:
    """Stands in for aiosqlite's queue of calls: runs each one at once and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(error)


class _CursorContext:
    """``connection.cursor()`` is awaited through ``__aenter__`` by the dialect."""

    def __init__(self, connection: InlineConnection) -> None:
        self.connection = connection

    async def __aenter__(self) -> InlineCursor:
        return InlineCursor(self.connection, self.connection._conn.cursor())

    async def __aexit__(self, *exc: object) -> None:
        pass


class InlineCursor:
    """The part of ``aiosqlite.Cursor`` the dialect uses."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if parameters is None:
            await self._connection.run(self._cursor.execute, sql)
        else:
            await self._connection.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> InlineCursor:
        await self._connection.run(self._cursor.executemany, sql, parameters)
        return self

    # Fetching takes no new lock (the statement's first step, in execute, did), so it is not retried:
    # rows already read would be lost.
    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        pass

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._rows()

    async def _rows(self) -> AsyncIterator[Any]:
        while rows := await self.fetchmany():
            for row in rows:
                yield row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


def inline_creator(path: Path, busy_timeout_ms: int) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: connections to the SQLite file ``path``."""

    async def connect() -> InlineConnection:
        return InlineConnection(path, busy_timeout_ms)

    return connect
