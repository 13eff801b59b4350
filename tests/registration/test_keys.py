"""`branchbot keys rotate`: every encrypted column re-encrypted with the new key, phone index recomputed."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Text, select, type_coerce

from app import cli
from bot.services.keys import encrypted_columns
from bot.services.outbox import Outgoing, enqueue
from storage import crypto, migrate
from storage.crypto import Keyring
from storage.db import Database
from storage.models import Branch, Draft, Member, OutboxMessage
from tests.conftest import run_blocking
from tests.factories import telegram_person

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PHONE = "+8613800138000"


@pytest.fixture
def keep_keyring():
    """The CLI configures the process-wide keyring and logging; put both back for the other tests."""
    saved, root = crypto._keyring, logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    crypto.configure(saved)
    root.handlers[:] = handlers
    root.setLevel(level)


async def _seed(url: str) -> None:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        async with db.session() as session:
            branch = Branch(name="深圳流动党支部", city="深圳", timezone="Asia/Shanghai", invite_code="abc")
            person = telegram_person(42)
            session.add_all([branch, person])
            await session.flush()
            session.add(
                Member(
                    person_id=person.id,
                    branch_id=branch.id,
                    state="approved",
                    name="王建国",
                    phone=PHONE,
                    phone_index=crypto.keyring().blind_index(PHONE),
                    employer=None,
                )
            )
            session.add(Draft(person_id=person.id, flow="register", step="name", data={"name": "王建国"}))
            await enqueue(
                session, source="t:1", chat_id=42, person_id=person.id, message=Outgoing("王建国您好")
            )
            await session.commit()
    finally:
        await db.dispose()


async def _check(url: str, checks: dict) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            member = await session.scalar(select(Member))
            checks["name"], checks["phone"] = member.name, member.phone
            checks["index"] = member.phone_index
            checks["draft"] = (await session.scalar(select(Draft))).data
            checks["outbox"] = (await session.scalar(select(OutboxMessage))).payload["text"]
            checks["raw_name"] = await session.scalar(select(type_coerce(Member.name, Text())))
            checks["raw_employer"] = await session.scalar(select(type_coerce(Member.employer, Text())))
    finally:
        await db.dispose()


def test_rotate_through_the_cli(monkeypatch, tmp_path, capsys, fresh_database_factory, keep_keyring) -> None:
    url = fresh_database_factory()
    crypto.configure(Keyring.from_setting(OLD))
    run_blocking(_seed(url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ENCRYPTION_KEY", f"{NEW},{OLD}")
    monkeypatch.delenv("BOT_TOKEN", raising=False)

    assert cli.main(["keys", "rotate"]) == 0
    assert "re-encrypted 3 rows" in capsys.readouterr().out  # the member, the draft, the outbox row

    # The old key is gone: everything still reads, and the phone index is the new key's.
    crypto.configure(Keyring.from_setting(NEW))
    checks: dict = {}
    run_blocking(_check(url, checks))
    assert checks["name"] == "王建国" and checks["phone"] == PHONE
    assert checks["draft"] == {"name": "王建国"} and checks["outbox"] == "王建国您好"
    assert checks["index"] == Keyring.from_setting(NEW).blind_index(PHONE)
    assert checks["index"] != Keyring.from_setting(OLD).blind_index(PHONE)
    assert Fernet(NEW.encode()).decrypt(checks["raw_name"].encode()).decode() == "王建国"
    assert checks["raw_employer"] is None  # a NULL stays NULL


def test_every_encrypted_column_is_found() -> None:
    found = {(table.name, column.name) for table, columns in encrypted_columns() for column in columns}
    assert {
        ("member", "name"),
        ("member", "phone"),
        ("member", "decision_reason"),
        ("draft", "data"),
    } <= found
    assert ("outbox", "payload") in found and ("member", "phone_index") not in found
