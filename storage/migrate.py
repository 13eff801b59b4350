"""Apply, revert and inspect Alembic migrations from code (the CLI, start-up and tests use this)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import create_engine


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "storage:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def revisions(url: str = "sqlite+aiosqlite://") -> list[str]:
    """Every revision from the first to head."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head_revision(url: str = "sqlite+aiosqlite://") -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head() or ""


async def _run(url: str, action: str, revision: str) -> None:
    cfg = alembic_config(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # A batch migration rebuilds a table (copy, drop, rename); with foreign keys on, dropping
                # a parent table (person) would cascade to every child row. Off for this connection
                # only, before its transaction starts (SQLite ignores the pragma inside one).
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")

            def work(sync_connection: Connection) -> None:
                cfg.attributes["connection"] = sync_connection
                getattr(command, action)(cfg, revision)

            await connection.run_sync(work)
            await connection.commit()
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, "upgrade", revision)


async def downgrade(url: str, revision: str) -> None:
    await _run(url, "downgrade", revision)


async def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync_connection: MigrationContext.configure(sync_connection).get_current_revision()
            )
    finally:
        await engine.dispose()
