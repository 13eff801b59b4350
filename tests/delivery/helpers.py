"""Seeding for the delivery tests: a branch, its secretary and members on the roster."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from bot.services import admin
from storage.models import Member, MemberState, PartyStatus, Person, Role, Township
from tests.factories import TgUser, telegram_person, telegram_user
from tests.harness import BotHarness

SECRETARY = TgUser(5001, "书记")
OTHER_SECRETARY = TgUser(5002, "别的书记")


async def make_branch(
    harness: BotHarness, name: str = "深圳流动党支部", secretary: TgUser = SECRETARY
) -> int:
    async with harness.session() as session:
        branch = await admin.create_branch(session, name=name, city="深圳", timezone="Asia/Shanghai")
        await admin.grant(
            session, user=secretary.id, role=Role.SECRETARY, branch=str(branch.id), township=None
        )
        await session.commit()
        return branch.id


async def make_township(harness: BotHarness, name: str) -> int:
    async with harness.session() as session:
        township = Township(name=name)
        session.add(township)
        await session.commit()
        return township.id


async def add_members(
    harness: BotHarness,
    branch_id: int,
    user_ids: Iterable[int],
    *,
    party_status: PartyStatus = PartyStatus.FULL,
    township_id: int | None = None,
    language: str | None = None,
    state: MemberState = MemberState.APPROVED,
) -> list[int]:
    """Members on the roster with a private chat (their chat id is their user id); returns person ids."""
    person_ids = []
    async with harness.session() as session:
        for user_id in user_ids:
            person = await session.scalar(select(Person).where(telegram_user(user_id)))
            if person is None:
                person = telegram_person(user_id, language=language)
                session.add(person)
                await session.flush()
            session.add(
                Member(
                    person_id=person.id,
                    branch_id=branch_id,
                    state=state,
                    party_status=party_status,
                    name=f"党员{user_id}",
                    township_id=township_id,
                )
            )
            person_ids.append(person.id)
        await session.commit()
    return person_ids
