"""Encryption at rest: no plaintext in the database file, look-up by blind index, key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import make_url

from storage import crypto
from storage.models import Branch, Member
from tests.conftest import on_postgres
from tests.factories import telegram_person
from tests.harness import BotHarness


async def test_personal_fields_are_not_stored_in_plaintext(harness: BotHarness) -> None:
    keyring = crypto.keyring()
    async with harness.session() as session:
        branch = Branch(name="深圳流动党支部", city="深圳", invite_code="abc")
        person = telegram_person(5)
        session.add_all([branch, person])
        await session.flush()
        session.add(
            Member(
                person_id=person.id,
                branch_id=branch.id,
                name="李四光",
                phone="+8613800138000",
                phone_index=keyring.blind_index("+8613800138000"),
            )
        )
        await session.commit()
    async with harness.session() as session:
        found = await session.scalar(
            select(Member).where(Member.phone_index.in_(keyring.blind_indexes("+8613800138000")))
        )
        assert found is not None and found.name == "李四光"
    if not on_postgres():
        raw = Path(make_url(harness.settings.database_url).database).read_bytes()
        for suffix in ("-wal", "-shm"):
            wal = Path(make_url(harness.settings.database_url).database + suffix)
            if wal.exists():
                raw += wal.read_bytes()
        assert "李四光".encode() not in raw
        assert b"13800138000" not in raw


def test_rotation_keeps_values_readable() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = crypto.Keyring([old])
    token = before.encrypt("王五")
    both = crypto.Keyring([new, old])
    assert both.decrypt(token) == "王五"
    rotated = both.rotate(token)
    assert crypto.Keyring([new]).decrypt(rotated) == "王五"
    assert before.blind_index("x") in both.blind_indexes("x")


def test_bad_key_is_one_clear_error() -> None:
    with pytest.raises(crypto.KeyError_, match="Fernet key"):
        crypto.Keyring.from_setting("not-a-key")
