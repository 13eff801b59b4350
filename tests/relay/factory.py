"""Two branches, two home townships with agents and catalogues, and approved members, built straight in
the database (registration is another feature)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import admin, relay
from storage.models import Member, MemberState, PartyStatus, Person, Role, ServiceItem
from tests.factories import TgUser, telegram_person, telegram_user

# Township A: 青山镇, its agent, and a member of branch A. Township B: 绿水镇, its own agent and member.
SECRETARY_A = TgUser(7100, "书记甲")
SECRETARY_B = TgUser(7200, "书记乙")
AGENT_A = TgUser(7101, "代理员甲")
AGENT_B = TgUser(7201, "代理员乙")
MEMBER_A = TgUser(7102, "张")
MEMBER_A2 = TgUser(7103, "李")
MEMBER_B = TgUser(7202, "王")
OUTSIDER = TgUser(7900, "群众")


@dataclass
class World:
    branch_a: int
    branch_b: int
    township_a: int
    township_b: int
    items: dict[str, int] = field(default_factory=dict)  # "a.hukou" -> item id
    person_ids: dict[int, int] = field(default_factory=dict)  # telegram user id -> person id
    member_ids: dict[int, int] = field(default_factory=dict)


async def add_member(
    session: AsyncSession,
    user: TgUser,
    *,
    branch_id: int,
    township_id: int | None,
    name: str,
    phone: str,
    at: datetime,
    state: str = MemberState.APPROVED,
) -> Member:
    person = await session.scalar(select(Person).where(telegram_user(user.id)))
    if person is None:
        person = telegram_person(user.id, client_language=user.language_code, created_at=at)
        session.add(person)
        await session.flush()
    member = Member(
        person_id=person.id,
        branch_id=branch_id,
        state=state,
        party_status=PartyStatus.FULL,
        name=name,
        phone=phone,
        township_id=township_id,
        decided_at=at,
        created_at=at,
        updated_at=at,
    )
    session.add(member)
    await session.flush()
    return member


async def make_world(session: AsyncSession, at: datetime) -> World:
    branch_a = await admin.create_branch(
        session, name="深圳流动党支部", city="深圳", timezone="Asia/Shanghai"
    )
    branch_b = await admin.create_branch(
        session, name="东莞流动党支部", city="东莞", timezone="Asia/Shanghai"
    )
    township_a, _ = await admin.add_township(session, name="青山镇", villages=["东村"])
    township_b, _ = await admin.add_township(session, name="绿水镇", villages=["西村"])
    for user, role, branch, township in (
        (SECRETARY_A, Role.SECRETARY, str(branch_a.id), None),
        (SECRETARY_B, Role.SECRETARY, str(branch_b.id), None),
        (AGENT_A, Role.AGENT, None, str(township_a)),
        (AGENT_B, Role.AGENT, None, str(township_b)),
    ):
        await admin.grant(session, user=user.id, role=role, branch=branch, township=township)
    world = World(branch_a.id, branch_b.id, township_a, township_b)
    for user, branch_id, township_id, name, phone in (
        (MEMBER_A, branch_a.id, township_a, "张三", "+8613800138001"),
        (MEMBER_A2, branch_a.id, township_a, "李四", "+8613800138002"),
        (MEMBER_B, branch_b.id, township_b, "王五", "+8613800138003"),
    ):
        member = await add_member(
            session, user, branch_id=branch_id, township_id=township_id, name=name, phone=phone, at=at
        )
        world.person_ids[user.id] = member.person_id
        world.member_ids[user.id] = member.id
    for key, township_id, name, kind, materials, days in (
        ("a.hukou", township_a, "户口迁移", "full", ["身份证", "户口本"], 5),
        ("a.pension", township_a, "养老保险咨询", "consult", [], 0),
        ("a.proof", township_a, "在外务工证明", "full", ["身份证"], 2),
        ("b.hukou", township_b, "户口迁移", "full", ["身份证"], 3),
        ("b.ask", township_b, "低保咨询", "consult", [], 0),
    ):
        item = await relay.add_item(
            session,
            township_id=township_id,
            name=name,
            kind=kind,
            materials=materials,
            promised_days=days,
            actor_person_id=None,
        )
        world.items[key] = item.id
    await session.commit()
    for user in (SECRETARY_A, SECRETARY_B, AGENT_A, AGENT_B):
        person = await session.scalar(select(Person).where(telegram_user(user.id)))
        world.person_ids[user.id] = person.id
    return world


async def item_id(session: AsyncSession, township_id: int, name: str) -> int:
    return await session.scalar(
        select(ServiceItem.id).where(ServiceItem.township_id == township_id, ServiceItem.name == name)
    )
