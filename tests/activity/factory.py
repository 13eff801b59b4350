"""Build branches, secretaries and approved members straight in the database (registration is elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.features import reminder_kinds
from bot.scheduling.engine import QuietHours, tick
from bot.services import admin
from storage.models import AuditEntry, Member, MemberState, Role
from tests.factories import TgUser, telegram_person
from tests.fakes import Call
from tests.harness import BotHarness


@dataclass
class BranchWorld:
    branch_id: int
    secretary: TgUser
    members: list[TgUser] = field(default_factory=list)
    member_ids: dict[int, int] = field(default_factory=dict)  # telegram user id -> member id
    person_ids: dict[int, int] = field(default_factory=dict)  # telegram user id -> person id


async def add_member(
    session: AsyncSession,
    branch_id: int,
    user: TgUser,
    *,
    name: str | None = None,
    approved_at: datetime,
    last_seen_at: datetime | None = None,
    state: str = MemberState.APPROVED,
    language: str | None = None,
) -> Member:
    person = telegram_person(
        user.id,
        client_language=user.language_code,
        language=language,
        created_at=approved_at,
        last_seen_at=last_seen_at or approved_at,
    )
    session.add(person)
    await session.flush()
    member = Member(
        person_id=person.id,
        branch_id=branch_id,
        state=state,
        name=name or user.first_name,
        decided_at=approved_at,
        created_at=approved_at,
        updated_at=approved_at,
    )
    session.add(member)
    await session.flush()
    return member


async def make_branch(
    session: AsyncSession,
    *,
    name: str = "上海流动党支部",
    timezone: str = "Asia/Shanghai",
    secretary: TgUser,
    members: list[TgUser],
    approved_at: datetime,
) -> BranchWorld:
    info = await admin.create_branch(session, name=name, city="上海", timezone=timezone)
    await admin.grant(session, user=secretary.id, role=Role.SECRETARY, branch=str(info.id), township=None)
    world = BranchWorld(branch_id=info.id, secretary=secretary)
    for user in members:
        member = await add_member(session, info.id, user, approved_at=approved_at)
        world.members.append(user)
        world.member_ids[user.id] = member.id
        world.person_ids[user.id] = member.person_id
    await session.commit()
    return world


SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int, tz: ZoneInfo = SHANGHAI) -> datetime:
    """A local wall time as an aware UTC instant."""
    return datetime(*args, tzinfo=tz).astimezone(UTC)


async def tick_at(harness: BotHarness, when: datetime) -> list[Call]:
    """Set the clock, run one reminder tick as the job would, and deliver what is due."""
    harness.clock.set(when)
    await tick(harness.db, harness.clock.now(), QuietHours.from_settings(harness.settings), reminder_kinds())
    return await harness.deliver()


async def set_plan(harness: BotHarness, world: BranchWorld, **fields: str) -> None:
    """Fill plan fields through the secretary's buttons and typed answers (rule="15", time="19:00")."""
    for name, value in fields.items():
        await harness.press(world.secretary, f"act:e:{world.branch_id}:{name}")
        await harness.send(world.secretary, value)


def texts_to(calls: list[Call], user: TgUser) -> list[str]:
    return [c.text for c in calls if c.chat_id == user.id and c.method == "sendMessage"]


async def audit_denials(harness: BotHarness, action: str) -> int:
    async with harness.session() as session:
        return await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.result == "denied")
        )
