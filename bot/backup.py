"""Backups and restores an operator can run while the bot runs, and the lock that tells them it runs.

SQLite: `backup` copies the live database with SQLite's online backup API in one step (a consistent
snapshot; writers are not blocked in WAL mode), checks the copy's integrity and only then gives it the
target name. `restore` refuses while a `branchbot run` holds the database's lock file, keeps the
current database beside it, and copies the backup in with the same API.
PostgreSQL: the right tools are pg_dump and pg_restore; these commands check the connection and say how.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import _sqlite_file


class BackupError(Exception):
    """One line for the operator; nothing was changed."""


@dataclass
class CopyReport:
    path: Path
    size: int
    revision: str | None
    tables: int


def sqlite_path(database_url: str) -> Path | None:
    return _sqlite_file(database_url)


def lock_path(db_file: Path) -> Path:
    return db_file.with_name(db_file.name + ".lock")


@contextlib.contextmanager
def instance_lock(database_url: str) -> Iterator[None]:
    """Held by `branchbot run` on SQLite for its whole life: a second run, or a restore, is refused.

    An OS lock (flock) is released by the kernel when the process dies, even after kill -9.
    """
    db_file = sqlite_path(database_url)
    if db_file is None:
        yield
        return
    db_file.parent.mkdir(parents=True, exist_ok=True)
    fd = _try_lock(lock_path(db_file))
    if fd is None:
        from bot.config import ConfigError

        raise ConfigError(
            f"another `branchbot run` ({_holder(lock_path(db_file))}) uses {db_file}; "
            "SQLite runs one instance (use PostgreSQL for more)"
        )
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "another process"


def running_holder(db_file: Path) -> str | None:
    """Who holds the database (e.g. "pid 1234"), or None when no `branchbot run` does."""
    path = lock_path(db_file)
    if not path.exists():
        return None
    fd = _try_lock(path)
    if fd is None:
        return _holder(path)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return None


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30)
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def inspect_copy(path: Path) -> CopyReport:
    """Integrity check and schema revision of a SQLite file; BackupError when it is not a sound one."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
            tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            try:
                revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.OperationalError:
                revision = None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database ({exc})") from None
    if verdict != "ok":
        raise BackupError(f"{path} fails the integrity check: {verdict}")
    return CopyReport(path, path.stat().st_size, revision[0] if revision else None, tables)


def backup_sqlite(db_file: Path, target: Path, *, overwrite: bool = False) -> CopyReport:
    """A consistent copy of the live database at `target` (written beside it first, then renamed)."""
    if not db_file.is_file():
        raise BackupError(f"there is no database at {db_file}")
    target = target.resolve()
    if target == db_file.resolve():
        raise BackupError("the backup file must not be the database itself")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another name or add --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    source = _connect(db_file)
    copy = sqlite3.connect(partial)
    try:
        # pages=-1: the whole database in one step, under one read transaction: a consistent snapshot.
        source.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        copy.commit()
    finally:
        copy.close()
        source.close()
    try:
        inspect_copy(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return inspect_copy(target)


def restore_sqlite(
    backup_file: Path, db_file: Path, *, force: bool = False
) -> tuple[CopyReport, Path | None]:
    """Copy a checked backup over the database; refused while a bot runs on it. Returns the kept old copy."""
    report = inspect_copy(backup_file)
    if report.revision is None:
        raise BackupError(f"{backup_file} has no schema revision: it is not a branchbot database")
    holder = running_holder(db_file)
    if holder is not None:
        raise BackupError(f"the bot is running on {db_file} ({holder}); stop it before restoring")
    db_file.parent.mkdir(parents=True, exist_ok=True)
    fd = _try_lock(lock_path(db_file))  # keep a bot from starting while we copy
    if fd is None:
        raise BackupError(f"the bot is running on {db_file}; stop it before restoring")
    try:
        kept = None
        if db_file.exists() and db_file.stat().st_size > 0:
            if not force:
                raise BackupError(f"{db_file} exists; add --force to replace it (a copy of it is kept)")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = db_file.with_name(f"{db_file.name}.before-restore-{stamp}")
            backup_sqlite(db_file, kept)
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        target = _connect(db_file)
        try:
            source.backup(target, pages=-1)
            target.commit()
        finally:
            target.close()
            source.close()
        return inspect_copy(db_file), kept
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def postgres_target(database_url: str) -> str:
    """The URL for pg_dump/pg_restore: libpq form, password left out (use PGPASSWORD or ~/.pgpass)."""
    url = make_url(database_url).set(drivername="postgresql", password=None)
    return url.render_as_string(hide_password=False)


async def postgres_check(database_url: str) -> tuple[str, str | None, int]:
    """(server version, schema revision, other sessions on this database) or an exception."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            version = str(await connection.scalar(text("SHOW server_version")))
            try:
                revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            except Exception:
                revision = None
                await connection.rollback()
            others = int(
                await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                or 0
            )
            return version, revision, others
    finally:
        await engine.dispose()
