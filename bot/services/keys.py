"""`branchbot keys rotate`: re-encrypt every encrypted column with the first key, recompute blind indexes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Table, Text, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import crypto
from storage.crypto import EncryptedJSON, EncryptedString, keyring
from storage.models import Base, Member

if TYPE_CHECKING:
    from bot.config import Settings

logger = logging.getLogger(__name__)


def configure_encryption(settings: Settings) -> None:
    """Use ENCRYPTION_KEY, or for the embedded default a key file kept in the data folder."""
    if settings.encryption_key is not None:
        value = settings.encryption_key.get_secret_value()
    else:
        value = crypto.load_or_create_key_file(Path(settings.data_dir) / "encryption.key")
        logger.warning("ENCRYPTION_KEY is not set: using the key file in the data folder")
    crypto.configure(crypto.Keyring.from_setting(value))


BATCH = 500


def encrypted_columns() -> list[tuple[Table, list[Column[Any]]]]:
    """Every table with encrypted columns, found from the models, so a new feature's columns are included."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedString | EncryptedJSON)]
        if columns:
            found.append((table, columns))
    return found


async def _rotate_table(session: AsyncSession, table: Table, columns: list[Column[Any]]) -> int:
    """Re-encrypt one table in batches (keyset on the primary key), reading and writing the raw tokens."""
    (key,) = table.primary_key.columns  # every table here has a single-column primary key
    raw = [type_coerce(c, Text()).label(c.name) for c in columns]
    ring = keyring()
    rotated, last = 0, None
    while True:
        query = select(key, *raw).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        rows = (await session.execute(query)).all()
        if not rows:
            return rotated
        for row in rows:
            values = {
                c.name: type_coerce(ring.rotate(row[i + 1]), Text())
                for i, c in enumerate(columns)
                if row[i + 1] is not None
            }
            if values:
                await session.execute(update(table).where(key == row[0]).values(values))
                rotated += 1
        last = rows[-1][0]
        await session.flush()


async def _reindex_phones(session: AsyncSession) -> None:
    """The phone look-up index under the primary key (the old keys' indexes stop working when removed)."""
    ring = keyring()
    last = 0
    while True:
        rows = (
            await session.execute(
                select(Member.id, Member.phone)
                .where(Member.id > last, Member.phone.is_not(None))
                .order_by(Member.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return
        for member_id, phone in rows:
            await session.execute(
                update(Member.__table__)
                .where(Member.__table__.c.id == member_id)
                .values(phone_index=ring.blind_index(phone))
            )
        last = rows[-1][0]


async def rotate_all(session: AsyncSession) -> int:
    """Re-encrypt all encrypted values with the first key of ENCRYPTION_KEY; return the rows changed.

    Run with the new key first and the old ones after it ("NEW,OLD"); afterwards the old keys can go.
    The caller commits.
    """
    total = 0
    for table, columns in encrypted_columns():
        total += await _rotate_table(session, table, columns)
    await _reindex_phones(session)
    return total
