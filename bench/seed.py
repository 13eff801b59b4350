"""Seeding shared by the benchmarks: many Telegram people written in bulk, each with their account."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Person


async def insert_telegram_people(session: AsyncSession, chats: Sequence[int]) -> list[int]:
    """One person per private chat (the chat is the user id) with their preferred Telegram account;
    returns the new person ids in the order of ``chats``."""
    people = [{"chat_id": chat, "unreachable": False} for chat in chats]
    ids = list(
        await session.scalars(insert(Person).returning(Person.id, sort_by_parameter_order=True), people)
    )
    await session.execute(
        insert(Account),
        [
            {
                "person_id": person_id,
                "channel": "telegram",
                "external_id": str(chat),
                "address": str(chat),
                "preferred": True,
                "unreachable": False,
            }
            for person_id, chat in zip(ids, chats, strict=True)
        ],
    )
    return ids
