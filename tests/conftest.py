"""Fixtures: a migrated database per test (SQLite by default, PostgreSQL with TEST_DATABASE_URL),
a fake clock, and a harness running the real Application against the fake Bot API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.clock import FakeClock
from storage import crypto, migrate
from storage.db import create_engine
from storage.models import Base
from tests.harness import BotHarness, _test_key

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def _configure_test_encryption() -> None:
    crypto.configure(crypto.Keyring.from_setting(_test_key()))


_configure_test_encryption()


@pytest.fixture(autouse=True)
def _test_keyring() -> None:
    """Every test starts with the test key: a test that rotates or replaces the process's keyring (keys
    rotate, the CLI in-process) must not leave later tests encrypting with another key than the bot
    processes they start (which get the test key in ENCRYPTION_KEY)."""
    _configure_test_encryption()


def on_postgres() -> bool:
    return bool(TEST_DATABASE_URL)


async def _admin_execute(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def run_blocking(coroutine) -> None:
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _normalise(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


@pytest.fixture(scope="session")
def fresh_database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Makes empty databases (not migrated) and drops them at the end of the session."""
    created: list[str] = []
    server = _normalise(TEST_DATABASE_URL) if TEST_DATABASE_URL else None

    def make() -> str:
        if server is None:
            return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        name = f"branchbot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        run_blocking(_admin_execute(server, f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in created:
        run_blocking(_admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def migrated_template(fresh_database_factory) -> str:
    """One database migrated to head for the whole session."""
    url = fresh_database_factory()
    run_blocking(migrate.upgrade(url))
    return url


@pytest.fixture
async def database_url(migrated_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A clean, migrated database for one test: a copy of the template file on SQLite, the shared
    database with every table emptied on PostgreSQL."""
    if not on_postgres():
        source = Path(make_url(migrated_template).database)
        target = tmp_path / "bot.sqlite3"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(migrated_template)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    yield migrated_template


@pytest.fixture
def clock() -> FakeClock:
    # A Monday morning in Shanghai (01:00 UTC = 09:00 local), far from month ends and quiet hours.
    return FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))


@pytest.fixture
async def harness(database_url: str, clock: FakeClock) -> AsyncIterator[BotHarness]:
    bot = BotHarness(database_url, clock)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
