"""A fixture year for the reports, as plain lists first (the plan) and then rows in the database.

Branch A (深圳) has a year of history from 2025-03 to 2026-02: members joining, leaving, one erased, one
pending and one rejected; eleven activity days (none in 2025-08, 2025-10 cancelled) with RSVPs, sign-ins
and excuses; six opened dues months with confirmed, reported, rejected, home and unpaid months, a waiver
and a reduction; study items with check-ins; requests of every kind of outcome. Branch B (东莞) has a little
of everything, so leaks would show. Two townships (青山镇, 绿水镇) have members in both branches and
applications to join.

The expected figures (tests/reports/expected.py) are computed from these lists, never from the bot's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import admin
from storage.models import Branch, Member, MemberState, PartyStatus, Person, Role, RoleGrant
from storage.models.activity import ActivityAttendance, ActivityEvent, ActivityRsvp, OrgLifeExcuse
from storage.models.dues import DuesAdjustment, DuesMonth, DuesPayment, DuesReport
from storage.models.relay import JoinApplication, ServiceItem, ServiceRequest
from storage.models.study import StudyCheckin, StudyItem
from tests.factories import TgUser, telegram_person, telegram_user

TZ = ZoneInfo("Asia/Shanghai")
SECRETARY_A = TgUser(8100, "书记甲")
COMMITTEE_A = TgUser(8101, "委员甲", language_code="en")
SECRETARY_B = TgUser(8200, "书记乙")
AGENT_1 = TgUser(8300, "代理员青山")
AGENT_2 = TgUser(8301, "代理员绿水")
OUTSIDER = TgUser(8900, "群众")
MEMBER_BASE = 8400  # member i of branch A is TgUser(8400 + i); branch B's are 8500 + i
APPLICANT_BASE = 8600

APPROVED, LEAVING, LEFT = MemberState.APPROVED.value, MemberState.LEAVING.value, MemberState.LEFT.value
ERASED, PENDING, REJECTED = MemberState.ERASED.value, MemberState.PENDING.value, MemberState.REJECTED.value
# The clock of the harness (tests/conftest.py): 2026-03-02 09:00 in Shanghai.
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def month_add(month: date, delta: int) -> date:
    y, m0 = divmod(month.year * 12 + month.month - 1 + delta, 12)
    return date(y, m0 + 1, 1)


FIRST = date(2025, 3, 1)
MONTHS = [month_add(FIRST, k) for k in range(12)]  # 2025-03 .. 2026-02
DUES_MONTHS = MONTHS[6:]  # 2025-09 .. 2026-02 opened
NO_EVENT = date(2025, 8, 1)
CANCELLED = date(2025, 10, 1)


@dataclass(frozen=True)
class MemberSpec:
    i: int
    branch: str
    state: str
    township: str  # "T1" 青山镇 / "T2" 绿水镇
    approved: datetime | None
    left: datetime | None = None
    unreachable: bool = False
    last_seen: datetime | None = None
    joined_party_on: date | None = None
    created: datetime | None = None

    @property
    def user(self) -> TgUser:
        return TgUser(
            (MEMBER_BASE if self.branch == "A" else 8500) + self.i, f"党员{self.branch}{self.i:02d}"
        )


ROSTER_A = [
    MemberSpec(1, "A", APPROVED, "T1", local(2024, 6, 1)),
    MemberSpec(2, "A", APPROVED, "T1", local(2024, 6, 1), unreachable=True),
    MemberSpec(3, "A", APPROVED, "T2", local(2024, 6, 1), last_seen=local(2025, 10, 1)),
    MemberSpec(4, "A", APPROVED, "T1", local(2024, 9, 10)),
    MemberSpec(5, "A", APPROVED, "T2", local(2025, 3, 20, 10)),
    MemberSpec(6, "A", LEFT, "T1", local(2025, 6, 15, 11), left=local(2025, 11, 20, 12)),
    MemberSpec(7, "A", APPROVED, "T1", local(2025, 11, 5, 9), joined_party_on=date(2025, 12, 10)),
    MemberSpec(8, "A", APPROVED, "T2", local(2026, 2, 10, 9)),
    MemberSpec(9, "A", LEFT, "T1", local(2024, 6, 1), left=local(2026, 2, 15, 12)),
    MemberSpec(10, "A", LEAVING, "T2", local(2024, 6, 1)),
    MemberSpec(11, "A", PENDING, "T1", None, created=local(2025, 5, 1)),
    MemberSpec(12, "A", REJECTED, "T2", local(2025, 5, 5), created=local(2025, 5, 1)),
    MemberSpec(13, "A", ERASED, "T1", local(2024, 6, 1), left=local(2025, 7, 10)),
    MemberSpec(14, "A", ERASED, "T2", local(2024, 6, 1)),  # erased while on the roster: gone everywhere
]
ROSTER_B = [
    MemberSpec(1, "B", APPROVED, "T1", local(2024, 6, 1)),
    MemberSpec(2, "B", APPROVED, "T1", local(2024, 6, 1)),
    MemberSpec(3, "B", LEFT, "T2", local(2024, 6, 1), left=local(2025, 12, 1)),
]


def seen_at(spec: MemberSpec) -> datetime:
    """When the fixture says the member's person was last seen by the bot."""
    return spec.last_seen or NOW - timedelta(hours=1)


def active(spec: MemberSpec, start: datetime, end: datetime) -> bool:
    """Whether the fixture gives this member rows for something happening in [start, end)."""
    if spec.approved is None or spec.state in (PENDING, REJECTED):
        return False
    return spec.approved < end and (spec.left is None or spec.left > start)


@dataclass(frozen=True)
class Event:
    branch: str
    month: date
    starts: datetime
    ends: datetime
    cancelled: bool = False


@dataclass(frozen=True)
class Payment:
    branch: str
    i: int
    month: date
    status: str  # confirmed | reported | rejected
    place: str  # host | home
    amount: Decimal
    extra: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class Item:
    key: str
    branch: str
    starts: datetime
    ends: datetime


@dataclass(frozen=True)
class Checkin:
    item: str
    branch: str
    i: int
    at: datetime
    late: bool


@dataclass(frozen=True)
class Request:
    key: str
    branch: str
    i: int
    township: str
    kind: str  # full | consult
    state: str
    submitted: datetime
    accepted: datetime | None = None
    promised: int | None = None
    closed: datetime | None = None

    @property
    def due_on(self) -> date | None:
        if self.accepted is None or self.promised is None:
            return None
        return self.accepted.astimezone(TZ).date() + timedelta(days=self.promised)

    @property
    def due_at(self) -> datetime | None:
        if self.due_on is None:
            return None
        day = self.due_on + timedelta(days=1)
        return local(day.year, day.month, day.day)


@dataclass(frozen=True)
class Application:
    n: int
    township: str
    stage: str
    submitted: datetime
    talked: bool

    @property
    def talk_due_on(self) -> date:
        return (self.submitted + timedelta(days=31)).astimezone(TZ).date()

    @property
    def talk_due_at(self) -> datetime:
        day = self.talk_due_on + timedelta(days=1)
        return local(day.year, day.month, day.day)


@dataclass
class Plan:
    members: list[MemberSpec]
    events: list[Event] = field(default_factory=list)
    rsvps: list[tuple[str, date, int, str]] = field(default_factory=list)  # branch, month, i, answer
    attendance: list[tuple[str, date, int, str]] = field(default_factory=list)  # branch, month, i, source
    excuses: list[tuple[str, date, int]] = field(default_factory=list)
    dues_months: list[tuple[str, date]] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    adjustments: list[tuple[str, int, date, str]] = field(default_factory=list)  # branch, i, month, kind
    items: list[Item] = field(default_factory=list)
    checkins: list[Checkin] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)

    def spec(self, branch: str, i: int) -> MemberSpec:
        return next(m for m in self.members if m.branch == branch and m.i == i)

    def in_branch(self, branch: str) -> list[MemberSpec]:
        return [m for m in self.members if m.branch == branch]


def _event(branch: str, month: date, cancelled: bool = False) -> Event:
    return Event(
        branch, month, local(month.year, month.month, 15, 19), local(month.year, month.month, 16), cancelled
    )


def _attendance_plan(plan: Plan, event: Event, k: int) -> None:
    for spec in plan.in_branch(event.branch):
        if not active(spec, event.starts, event.ends):
            continue
        i = spec.i
        present = (i + k) % 3 != 0
        if spec.i == 4 and event.month >= date(2025, 12, 1):
            present = False  # drifting away: three held months in a row without organisational life
        answer = None
        if present and (i + k) % 2 == 0:
            answer = "attend"
        elif not present and i % 2 == 0 and spec.i != 4:
            answer = "leave"
        elif not present and i % 3 == 0:
            answer = "attend"  # said yes, did not come
        if answer:
            plan.rsvps.append((event.branch, event.month, i, answer))
        if present:
            source = "secretary" if (i + k) % 7 == 0 else "self"
            plan.attendance.append((event.branch, event.month, i, source))
        elif answer == "leave" and k % 2 == 0:
            plan.excuses.append((event.branch, event.month, i))


def _dues_plan(plan: Plan, branch: str, month: date, k: int) -> None:
    plan.dues_months.append((branch, month))
    end = local(month_add(month, 1).year, month_add(month, 1).month, 1)
    start = local(month.year, month.month, 1)
    for spec in plan.in_branch(branch):
        if not active(spec, start, end):
            continue
        i = spec.i
        if spec.joined_party_on is not None and spec.joined_party_on >= month_add(month, 1):
            continue  # admitted later: owes nothing yet (one payment before admission is added apart)
        if branch == "A" and i == 4 and month >= date(2025, 12, 1):
            continue  # three unpaid months in a row
        if branch == "A" and i == 2 and month == date(2025, 12, 1):
            plan.adjustments.append((branch, i, month, "exempt"))
            continue
        if branch == "A" and i == 5 and month == date(2026, 2, 1):
            plan.adjustments.append((branch, i, month, "reduced"))
        if branch == "A" and i == 1 and month == date(2026, 1, 1):
            plan.payments.append(Payment(branch, i, month, "rejected", "host", Decimal("11.00")))
            continue
        if (i + k) % 4 == 0:
            continue
        status = "reported" if (i + k) % 5 == 0 else "confirmed"
        place = "home" if i == 3 else "host"
        extra = Decimal("2.00") if i == 5 and status == "confirmed" else Decimal("0.00")
        plan.payments.append(
            Payment(branch, i, month, status, place, Decimal(10 + i).quantize(Decimal("0.01")), extra)
        )


def build_plan() -> Plan:
    plan = Plan(members=[*ROSTER_A, *ROSTER_B])
    for k, month in enumerate(MONTHS):
        if month == NO_EVENT:
            continue
        event = _event("A", month, cancelled=month == CANCELLED)
        plan.events.append(event)
        if not event.cancelled:
            _attendance_plan(plan, event, k)
    event_b = _event("B", date(2026, 2, 1))
    plan.events.append(event_b)
    _attendance_plan(plan, event_b, 11)
    for k, month in enumerate(MONTHS):
        if month in DUES_MONTHS:
            _dues_plan(plan, "A", month, k)
    _dues_plan(plan, "B", date(2026, 2, 1), 11)
    # A payment before the member's admission: money received, but not a month he owed.
    plan.payments.append(Payment("A", 7, date(2025, 11, 1), "confirmed", "host", Decimal("0.20")))
    for k, month in enumerate(MONTHS[6:], start=6):
        plan.items.append(
            Item(f"A{k}", "A", local(month.year, month.month, 5), local(month.year, month.month, 13))
        )
    plan.items.append(Item("A10b", "A", local(2026, 1, 20), local(2026, 1, 28)))
    plan.items.append(Item("B11", "B", local(2026, 2, 5), local(2026, 2, 13)))
    for n, item in enumerate(plan.items):
        for spec in plan.in_branch(item.branch):
            if not active(spec, item.starts, item.ends) or (spec.i + n) % 3 == 1:
                continue
            late = (spec.i + n) % 5 == 0
            at = item.ends + timedelta(days=1) if late else item.starts + timedelta(days=2)
            plan.checkins.append(Checkin(item.key, item.branch, spec.i, at, late))
    plan.requests = [
        Request(
            "r1",
            "A",
            1,
            "T1",
            "full",
            "completed",
            local(2026, 2, 3, 10),
            local(2026, 2, 4, 10),
            5,
            local(2026, 2, 8, 15),
        ),
        Request(
            "r2",
            "A",
            4,
            "T1",
            "full",
            "completed",
            local(2026, 2, 5, 10),
            local(2026, 2, 6, 10),
            2,
            local(2026, 2, 12, 15),
        ),
        Request("r3", "A", 5, "T2", "full", "accepted", local(2026, 2, 10, 10), local(2026, 2, 11, 10), 3),
        Request("r4", "A", 7, "T1", "full", "accepted", local(2026, 2, 20, 10), local(2026, 2, 21, 10), 30),
        Request(
            "r5", "A", 8, "T2", "full", "withdrawn", local(2026, 2, 25, 10), closed=local(2026, 2, 25, 11)
        ),
        Request(
            "r6", "A", 1, "T1", "consult", "answered", local(2026, 2, 26, 10), closed=local(2026, 2, 27, 10)
        ),
        Request("r7", "A", 10, "T1", "full", "forwarded", local(2026, 1, 28, 10), local(2026, 2, 2, 10), 10),
        Request("r8", "A", 4, "T2", "full", "submitted", local(2026, 2, 27, 10)),
        Request(
            "r9",
            "A",
            1,
            "T1",
            "full",
            "completed",
            local(2026, 1, 10, 10),
            local(2026, 1, 11, 10),
            9,
            local(2026, 1, 15, 10),
        ),
        Request(
            "r10",
            "B",
            1,
            "T1",
            "full",
            "completed",
            local(2026, 2, 5, 10),
            local(2026, 2, 6, 10),
            5,
            local(2026, 2, 7, 10),
        ),
        Request(
            "r11",
            "A",
            6,
            "T1",
            "full",
            "completed",
            local(2025, 10, 3, 10),
            local(2025, 10, 4, 10),
            5,
            local(2025, 10, 6, 10),
        ),
        Request(
            "r12",
            "A",
            2,
            "T1",
            "full",
            "refused",
            local(2026, 2, 14, 10),
            local(2026, 2, 15, 10),
            5,
            local(2026, 2, 16, 10),
        ),
        Request("r13", "B", 2, "T1", "full", "accepted", local(2026, 2, 1, 10), local(2026, 2, 2, 10), 1),
    ]
    plan.applications = [
        Application(1, "T1", "applied", local(2026, 1, 5), talked=False),  # talk overdue since 2026-02-05
        Application(2, "T1", "applied", local(2026, 2, 20), talked=False),
        Application(3, "T1", "activist", local(2025, 6, 1), talked=True),
        Application(4, "T2", "candidate", local(2025, 3, 1), talked=True),
    ]
    return plan


# -- into the database ---------------------------------------------------------------------------------


@dataclass
class World:
    plan: Plan
    branch_a: int
    branch_b: int
    townships: dict[str, int]
    member_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    event_ids: dict[tuple[str, date], int] = field(default_factory=dict)
    item_ids: dict[str, int] = field(default_factory=dict)

    def branch_id(self, branch: str) -> int:
        return self.branch_a if branch == "A" else self.branch_b


async def _person(
    session: AsyncSession, user: TgUser, *, seen: datetime, unreachable: bool = False
) -> Person:
    person = telegram_person(
        user.id,
        client_language=user.language_code,
        created_at=seen,
        last_seen_at=seen,
        unreachable=unreachable,
    )
    session.add(person)
    await session.flush()
    return person


async def build_world(session: AsyncSession, plan: Plan | None = None) -> World:
    plan = plan or build_plan()
    a = await admin.create_branch(session, name="深圳流动党支部", city="深圳", timezone="Asia/Shanghai")
    b = await admin.create_branch(session, name="东莞流动党支部", city="东莞", timezone="Asia/Shanghai")
    await session.execute(update(Branch).values(created_at=local(2024, 1, 1)))
    t1, _ = await admin.add_township(session, name="青山镇", villages=["东村"])
    t2, _ = await admin.add_township(session, name="绿水镇", villages=["西村"])
    world = World(plan, a.id, b.id, {"T1": t1, "T2": t2})
    for user, role, branch, township in (
        (SECRETARY_A, Role.SECRETARY, a.id, None),
        (COMMITTEE_A, Role.COMMITTEE, a.id, None),
        (SECRETARY_B, Role.SECRETARY, b.id, None),
        (AGENT_1, Role.AGENT, None, t1),
        (AGENT_2, Role.AGENT, None, t2),
    ):
        await admin.grant(
            session,
            user=user.id,
            role=role,
            branch=str(branch) if branch else None,
            township=str(township) if township else None,
        )
    await session.execute(update(RoleGrant).values(granted_at=local(2024, 1, 1)))
    for user in (SECRETARY_A, COMMITTEE_A, SECRETARY_B, AGENT_1, AGENT_2):
        await session.execute(
            update(Person)
            .where(telegram_user(user.id))
            .values(client_language=user.language_code, chat_id=user.id)
        )
    for spec in plan.members:
        person = await _person(session, spec.user, seen=seen_at(spec), unreachable=spec.unreachable)
        member = Member(
            person_id=person.id,
            branch_id=world.branch_id(spec.branch),
            state=spec.state,
            party_status=PartyStatus.PROBATIONARY if spec.joined_party_on else PartyStatus.FULL,
            name=spec.user.first_name if spec.state != ERASED else None,
            township_id=world.townships[spec.township],
            joined_party_on=spec.joined_party_on,
            submitted_at=spec.created or spec.approved,
            decided_at=spec.approved,
            left_at=spec.left,
            created_at=spec.created or spec.approved,
            updated_at=spec.left or spec.approved or spec.created,
        )
        session.add(member)
        await session.flush()
        world.member_ids[(spec.branch, spec.i)] = member.id
    for event in plan.events:
        row = ActivityEvent(
            branch_id=world.branch_id(event.branch),
            month_key=event.month.year * 12 + event.month.month - 1,
            starts_at=event.starts,
            ends_at=event.ends,
            status="cancelled" if event.cancelled else "scheduled",
            revision=0,
            created_at=event.starts - timedelta(days=30),
        )
        session.add(row)
        await session.flush()
        world.event_ids[(event.branch, event.month)] = row.id
    for branch, month, i, answer in plan.rsvps:
        session.add(
            ActivityRsvp(
                event_id=world.event_ids[(branch, month)],
                member_id=world.member_ids[(branch, i)],
                answer=answer,
                reason="加班" if answer == "leave" else None,
                answered_at=local(month.year, month.month, 10),
            )
        )
    for branch, month, i, source in plan.attendance:
        session.add(
            ActivityAttendance(
                event_id=world.event_ids[(branch, month)],
                member_id=world.member_ids[(branch, i)],
                source=source,
                at=local(month.year, month.month, 15, 19, 5),
            )
        )
    for branch, month, i in plan.excuses:
        session.add(
            OrgLifeExcuse(
                event_id=world.event_ids[(branch, month)],
                member_id=world.member_ids[(branch, i)],
                reason="夜班",
                at=local(month.year, month.month, 20),
            )
        )
    for branch, month in plan.dues_months:
        session.add(
            DuesMonth(
                branch_id=world.branch_id(branch), month=month, opened_at=local(month.year, month.month, 1, 9)
            )
        )
    for payment in plan.payments:
        member_id = world.member_ids[(payment.branch, payment.i)]
        report = DuesReport(member_id=member_id, branch_id=world.branch_id(payment.branch), created_at=NOW)
        session.add(report)
        await session.flush()
        session.add(
            DuesPayment(
                member_id=member_id,
                branch_id=world.branch_id(payment.branch),
                month=payment.month,
                report_id=report.id,
                amount_due=payment.amount,
                voluntary_extra=payment.extra,
                place=payment.place,
                paid_on=payment.month + timedelta(days=9),
                status=payment.status,
                reported_at=local(payment.month.year, payment.month.month, 10),
            )
        )
    for branch, i, month, kind in plan.adjustments:
        session.add(
            DuesAdjustment(
                member_id=world.member_ids[(branch, i)],
                month=month,
                kind=kind,
                reduced_amount=Decimal("5.00") if kind == "reduced" else None,
                reason="困难",
            )
        )
    for item in plan.items:
        row = StudyItem(
            branch_id=world.branch_id(item.branch),
            text=f"学习材料{item.key}",
            starts_at=item.starts,
            ends_at=item.ends,
            published_at=item.starts,
        )
        session.add(row)
        await session.flush()
        world.item_ids[item.key] = row.id
    for checkin in plan.checkins:
        session.add(
            StudyCheckin(
                item_id=world.item_ids[checkin.item],
                member_id=world.member_ids[(checkin.branch, checkin.i)],
                at=checkin.at,
                late=checkin.late,
            )
        )
    service_items = {}
    for township in ("T1", "T2"):
        for kind in ("full", "consult"):
            row = ServiceItem(
                township_id=world.townships[township],
                name=f"{'户口迁移' if kind == 'full' else '政策咨询'}",
                kind=kind,
                materials=[],
                promised_days=5,
            )
            session.add(row)
            await session.flush()
            service_items[(township, kind)] = row.id
    for n, request in enumerate(plan.requests, start=1):
        member_id = world.member_ids[(request.branch, request.i)]
        member = await session.get(Member, member_id)
        session.add(
            ServiceRequest(
                item_id=service_items[(request.township, request.kind)],
                township_id=world.townships[request.township],
                branch_id=world.branch_id(request.branch),
                person_id=member.person_id,
                member_id=member_id,
                kind=request.kind,
                state=request.state,
                receipt_no=f"T-{n:04d}" if request.accepted else None,
                submitted_at=request.submitted,
                accepted_at=request.accepted,
                promised_days=request.promised,
                due_on=request.due_on,
                due_at=request.due_at,
                tz="Asia/Shanghai" if request.accepted else None,
                closed_at=request.closed,
            )
        )
    for app in plan.applications:
        person = await _person(session, TgUser(APPLICANT_BASE + app.n, f"申请人{app.n}"), seen=app.submitted)
        session.add(
            JoinApplication(
                person_id=person.id,
                branch_id=world.branch_a,
                township_id=world.townships[app.township],
                name=f"申请人{app.n}",
                phone="+8613800000000",
                birth_date="1995-01-01",
                letter_kind="text",
                letter_text="入党申请书",
                stage=app.stage,
                submitted_at=app.submitted,
                talk_due_on=app.talk_due_on,
                talk_due_at=app.talk_due_at,
                talk_done_at=app.submitted + timedelta(days=10) if app.talked else None,
                stage_changed_at=app.submitted,
            )
        )
    await session.commit()
    return world
