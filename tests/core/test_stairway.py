"""Migrations: every revision upgrades, downgrades and upgrades again; head matches the models."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.db import create_engine
from storage.models import Base


async def test_stairway(fresh_database_factory) -> None:
    url = fresh_database_factory()
    revisions = migrate.revisions()
    assert revisions[0] == "0001_foundation"
    previous = "base"
    for revision in revisions:
        await migrate.upgrade(url, revision)
        await migrate.downgrade(url, previous)
        await migrate.upgrade(url, revision)
        assert await migrate.current_revision(url) == revision
        previous = revision


async def test_head_matches_the_models(fresh_database_factory) -> None:
    url = fresh_database_factory()
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    # Types differ only by our TypeDecorators (stored as their plain implementation).
    meaningful = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert meaningful == []


async def test_accounts_migration_keeps_every_person_role_and_outbox_row(fresh_database_factory) -> None:
    """0012: Telegram user ids move from the person row to accounts (people with an account already,
    people without one), roles and outbox rows stay, and the way back restores the ids."""
    from sqlalchemy import text

    url = fresh_database_factory()
    await migrate.upgrade(url, "0011_web")
    engine = create_engine(url)
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    try:
        async with engine.begin() as connection:
            for person_id, user_id, chat_id, unreachable in ((1, 1001, 1001, False), (2, 1002, 1002, True)):
                await connection.execute(
                    text(
                        "INSERT INTO person (id, telegram_user_id, chat_id, unreachable, created_at)"
                        " VALUES (:id, :user, :chat, :unreachable, :now)"
                    ),
                    {
                        "id": person_id,
                        "user": user_id,
                        "chat": chat_id,
                        "unreachable": unreachable,
                        "now": now,
                    },
                )
            # Person 3 is on the web only; person 1 already has its Telegram account (made by 0010).
            await connection.execute(
                text("INSERT INTO person (id, unreachable, created_at) VALUES (3, FALSE, :now)"), {"now": now}
            )
            for person_id, channel, external, preferred in (
                (1, "telegram", "1001", True),
                (3, "web", "w3", True),
            ):
                await connection.execute(
                    text(
                        "INSERT INTO account (person_id, channel, external_id, address, preferred,"
                        " unreachable, created_at) VALUES (:p, :c, :e, :e, :pref, FALSE, :now)"
                    ),
                    {"p": person_id, "c": channel, "e": external, "pref": preferred, "now": now},
                )
            await connection.execute(
                text("INSERT INTO role_grant (person_id, role, granted_at) VALUES (2, 'admin', :now)"),
                {"now": now},
            )
            await connection.execute(
                text(
                    "INSERT INTO outbox (source, kind, chat_id, channel, person_id, priority, status,"
                    " attempts, next_attempt_at, telegram_message_id, created_at)"
                    " VALUES ('n:1', 'notice', 1002, 'telegram', 2, 30, 'sent', 1, :now, 555, :now)"
                ),
                {"now": now},
            )
        await migrate.upgrade(url)
        async with engine.connect() as connection:
            people = (await connection.execute(text("SELECT id, chat_id FROM person ORDER BY id"))).all()
            accounts = (
                await connection.execute(
                    text(
                        "SELECT person_id, channel, external_id, address, preferred, unreachable FROM account"
                        " ORDER BY person_id, channel"
                    )
                )
            ).all()
            roles = (await connection.execute(text("SELECT person_id, role FROM role_grant"))).all()
            outbox = (
                await connection.execute(text("SELECT person_id, chat_id, message_id FROM outbox"))
            ).all()
        assert [tuple(p) for p in people] == [(1, 1001), (2, 1002), (3, None)]
        assert [(a[0], a[1], a[2], a[3], bool(a[4]), bool(a[5])) for a in accounts] == [
            (1, "telegram", "1001", "1001", True, False),
            (2, "telegram", "1002", "1002", True, True),
            (3, "web", "w3", "w3", True, False),
        ]
        assert [tuple(r) for r in roles] == [(2, "admin")]
        assert [tuple(o) for o in outbox] == [(2, 1002, 555)]

        await migrate.downgrade(url, "0011_web")
        async with engine.connect() as connection:
            back = (
                await connection.execute(text("SELECT id, telegram_user_id FROM person ORDER BY id"))
            ).all()
            sent = await connection.scalar(text("SELECT telegram_message_id FROM outbox"))
        assert [tuple(p) for p in back] == [(1, 1001), (2, 1002), (3, None)] and sent == 555
    finally:
        await engine.dispose()
