"""Branches, secretaries and approved members made straight in the database (registration is elsewhere),
plus the helpers the dues tests share: opening months, running the reminder tick, reading the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.scheduling.engine import QuietHours, TickResult, tick
from bot.scheduling.kinds_dues import REMINDER_KINDS
from bot.services import admin, dues
from bot.services.identity import Actor, load_actor
from storage.models import Member, MemberState, OutboxMessage, PartyStatus, Person, Role
from storage.models.dues import (
    AdjustmentKind,
    DuesAdjustment,
    DuesMonth,
    DuesPayment,
    PaymentPlace,
    PaymentStatus,
)
from tests.factories import TgUser, telegram_person, telegram_user
from tests.harness import BotHarness

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRETARY = TgUser(9001, "李书记")


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A wall-clock time in Shanghai, as the aware UTC instant the FakeClock wants."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class World:
    branch_id: int
    secretary: TgUser
    member_ids: dict[int, int] = field(default_factory=dict)  # telegram user id -> member id
    person_ids: dict[int, int] = field(default_factory=dict)  # telegram user id -> person id


async def add_member(
    session: AsyncSession,
    branch_id: int,
    user: TgUser,
    *,
    approved_at: datetime,
    joined_party_on: date | None = date(2010, 7, 1),
    party_status: str = PartyStatus.FULL,
    state: str = MemberState.APPROVED,
) -> Member:
    person = telegram_person(
        user.id,
        client_language=user.language_code,
        created_at=approved_at,
    )
    session.add(person)
    await session.flush()
    member = Member(
        person_id=person.id,
        branch_id=branch_id,
        state=state,
        party_status=party_status,
        name=user.first_name,
        joined_party_on=joined_party_on,
        decided_at=approved_at,
        created_at=approved_at,
        updated_at=approved_at,
    )
    session.add(member)
    await session.flush()
    return member


async def make_world(
    harness: BotHarness,
    members: list[TgUser],
    *,
    name: str = "上海流动党支部",
    secretary: TgUser = SECRETARY,
    approved_at: datetime | None = None,
    role: Role = Role.SECRETARY,
) -> World:
    async with harness.session() as session:
        info = await admin.create_branch(session, name=name, city="上海", timezone="Asia/Shanghai")
        await admin.grant(session, user=secretary.id, role=role, branch=str(info.id), township=None)
        world = World(branch_id=info.id, secretary=secretary)
        for user in members:
            member = await add_member(session, info.id, user, approved_at=approved_at or local(2026, 1, 5))
            world.member_ids[user.id] = member.id
            world.person_ids[user.id] = member.person_id
        await session.commit()
    return world


async def open_months(harness: BotHarness, branch_id: int, *months: date, at: datetime | None = None) -> None:
    """Open months directly (the /duesadmin button is tested on its own)."""
    async with harness.session() as session:
        for month in months:
            session.add(DuesMonth(branch_id=branch_id, month=month, opened_at=at or harness.clock.now()))
        await session.commit()


async def run_tick(harness: BotHarness, kinds=None) -> TickResult:
    return await tick(
        harness.db, harness.clock.now(), QuietHours(), kinds=REMINDER_KINDS if kinds is None else kinds
    )


async def outbox_for(harness: BotHarness, chat_id: int) -> list[OutboxMessage]:
    async with harness.session() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == chat_id).order_by(OutboxMessage.id)
        )
        return list(rows)


async def actor_for(harness: BotHarness, user: TgUser) -> Actor:
    """The Actor the handlers would load for this Telegram user."""
    async with harness.session() as session:
        person = await session.scalar(select(Person).where(telegram_user(user.id)))
        assert person is not None
        return await load_actor(session, person)


async def declare(
    harness: BotHarness, world: World, user: TgUser, category: str = "employed", base: str | None = "3000"
) -> None:
    async with harness.session() as session:
        await dues.declare(
            session,
            member_id=world.member_ids[user.id],
            actor_person_id=world.person_ids[user.id],
            category=category,
            base=Decimal(base) if base else None,
            effective=None,
            now=harness.clock.now(),
        )
        await session.commit()  # services leave the commit to the caller (the core commits once per event)


async def pay(
    harness: BotHarness,
    world: World,
    user: TgUser,
    *months: date,
    place: str = "host",
    confirm: bool = True,
) -> int:
    """The member reports months paid (today) and, unless told otherwise, the secretary confirms."""
    async with harness.session() as session:
        overview = await dues.member_overview(session, world.member_ids[user.id], harness.clock.now())
        outcome = await dues.report_payment(
            session,
            member_id=world.member_ids[user.id],
            actor_person_id=world.person_ids[user.id],
            months=list(months),
            paid_on=overview.today,
            place=place,
            paid_by=None,
            extra=Decimal("0"),
            now=harness.clock.now(),
        )
        await session.commit()
    if confirm:
        secretary = await actor_for(harness, world.secretary)
        async with harness.session() as session:
            await dues.decide_report(
                session, report_id=outcome.report_id, actor=secretary, confirm=True, now=harness.clock.now()
            )
            await session.commit()
    return outcome.report_id


def add_month_rows(
    session: AsyncSession,
    *,
    member_id: int,
    branch_id: int,
    report_id: int,
    months: list[date],
    pattern: list[tuple[bool, str]],
    opened_at: datetime,
    voluntary_extra: Decimal = Decimal("0.00"),
) -> None:
    """Rows for a pattern of months, each (opened by the branch?, what the member's month holds): a
    payment reported/confirmed/rejected (or reported as paid at home), a waiver or a reduction, or none."""
    for month, (opened, kind) in zip(months, pattern, strict=True):
        if opened:
            session.add(DuesMonth(branch_id=branch_id, month=month, opened_at=opened_at))
        if kind in ("reported", "confirmed", "home", "rejected"):
            session.add(
                DuesPayment(
                    member_id=member_id,
                    branch_id=branch_id,
                    month=month,
                    report_id=report_id,
                    amount_due=Decimal("15.00"),
                    voluntary_extra=voluntary_extra,
                    place=PaymentPlace.HOME if kind == "home" else PaymentPlace.HOST,
                    paid_on=month,
                    status=PaymentStatus.REPORTED if kind == "home" else PaymentStatus(kind),
                )
            )
        elif kind in ("exempt", "reduced"):
            session.add(
                DuesAdjustment(
                    member_id=member_id,
                    month=month,
                    kind=AdjustmentKind(kind),
                    reduced_amount=Decimal("5.00") if kind == "reduced" else None,
                    reason="困难",
                )
            )
