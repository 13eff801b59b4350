"""Party dues use cases: declarations, the months due and paid, reported and confirmed payments.

The rule itself (categories, brackets, rounding) lives in `bot.rules.dues`; this module applies it to
the database: which category and base are in force for a month, which months a branch has opened,
which are paid (here or at home), reduced or waived, and who must be told. Reminders and escalations
are reminder kinds of the engine, in `bot.scheduling.kinds_dues`.

Decisions where the rule is silent (see also the issue note):
- The host branch collects from the month the member was approved there (or, for a probationary member
  admitted later, the month of admission); earlier months belong to the home branch.
- A month counts as settled once it is reported paid (here or at home) or waived; a rejected report
  makes it unpaid again. Money paid at home is listed in the ledger but never in the host's totals.
- A self-employed member types either the previous quarter's monthly average or the three monthly
  incomes (then the average is taken, rounded half up to the fen).
- A first declaration applies from the member's first month here; a later one from the month the member
  says the new pay was received (last month, this month or next month).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Callbacks, Field, Int, Word
from bot.i18n import t
from bot.rules.dates import month_add, months_between, parse_date
from bot.rules.dues import (
    FARMER_MIN,
    FEN,
    JIAO,
    MAKEUP_MONTHS_MAX,
    WAGE_CATEGORIES,
    DuesCategory,
    DuesResult,
    compute_monthly_dues,
    parse_money,
    self_employed_base,
)
from bot.rules.errors import DuesInputError
from bot.rules.validate import clean_name, clean_short_text
from bot.services import audiences, audit
from bot.services.identity import Actor, language_of
from bot.services.outbox import Button, Outgoing, enqueue, route_to
from storage.dialect import insert_ignore
from storage.models import (
    Branch,
    Member,
    MemberState,
    OutboxMessage,
    OutboxStatus,
    Person,
    Priority,
    Role,
    RoleGrant,
    UTCDateTime,
)
from storage.models.dues import (
    AdjustmentKind,
    DeclarationReview,
    DuesAdjustment,
    DuesDeclaration,
    DuesMonth,
    DuesPayment,
    DuesReport,
    DuesSettings,
    PaymentPlace,
    PaymentStatus,
    Rounding,
)

# The current month and the six before it: what a member may still make up, and what the bot shows.
WINDOW = MAKEUP_MONTHS_MAX + 1
REMINDER_TIME = time(9, 0)
DEFAULT_REMINDER_DAY = 10
OFFICER_ROLES = (Role.SECRETARY, Role.COMMITTEE)
SETTLED_STATUSES = (PaymentStatus.REPORTED, PaymentStatus.CONFIRMED)
REASON_MAX = 200
# A decision to waive or reduce may be taken for the coming quarter too.
ADJUST_AHEAD = 3


# -- the feature's button data, declared once (builders, parsers and the router's prefixes) ---------
# A month travels as its code, 202603; an id too large for the database decodes as a stale button.
# The dues, member and branch tables have 32-bit ids on PostgreSQL (INTEGER), so the bound is 2**31-1:
# the codec's 64-bit `Id` would let 2**40 through to the driver, which refuses it with a DBAPIError.
Id = Field("id", 1, 2**31 - 1)
Month = Int(200001, 220012)
MEMBER_BUTTONS = Callbacks("dues")
M_HOME = MEMBER_BUTTONS.action("home")
M_NEW = MEMBER_BUTTONS.action("new")
M_CATEGORY = MEMBER_BUTTONS.action("cat", Word)
M_EFFECTIVE = MEMBER_BUTTONS.action("eff", Month)
M_PAY = MEMBER_BUTTONS.action("pay")
M_MONTH = MEMBER_BUTTONS.action("m", Month)
M_QUARTER = MEMBER_BUTTONS.action("q")
M_NEXT = MEMBER_BUTTONS.action("next")
M_DATE = MEMBER_BUTTONS.action("d", Int(0, 1))
M_PLACE = MEMBER_BUTTONS.action("pl", Word)
M_PAYER = MEMBER_BUTTONS.action("by", Word)
M_EXTRA = MEMBER_BUTTONS.action("x")
M_SUBMIT = MEMBER_BUTTONS.action("ok")
M_BACK = MEMBER_BUTTONS.action("back", Word)  # the step the back button was shown on
M_CANCEL = MEMBER_BUTTONS.action("no")

ADMIN_BUTTONS = Callbacks("dsa")
A_BRANCH = ADMIN_BUTTONS.action("b", Id)
A_OPEN = ADMIN_BUTTONS.action("open", Id, Month)
A_PENDING = ADMIN_BUTTONS.action("pend", Id)
A_CONFIRM = ADMIN_BUTTONS.action("cf", Id)
A_REJECT = ADMIN_BUTTONS.action("rj", Id)
A_ARREARS = ADMIN_BUTTONS.action("arr", Id)
A_EXPORT_PICK = ADMIN_BUTTONS.action("exp", Id)
A_EXPORT = ADMIN_BUTTONS.action("xl", Id, Month)
A_MEMBERS = ADMIN_BUTTONS.action("mem", Id, Word)
A_RECORD = ADMIN_BUTTONS.action("rec", Id)
A_RECORD_MONTH = ADMIN_BUTTONS.action("rm", Id, Month)
A_RECORD_SAVE = ADMIN_BUTTONS.action("rok", Id)
A_ADJUST = ADMIN_BUTTONS.action("adj", Id)
A_ADJUST_MONTH = ADMIN_BUTTONS.action("am", Id, Month)
A_ADJUST_KIND = ADMIN_BUTTONS.action("ak", Id, Month, Word)
A_CATEGORY = ADMIN_BUTTONS.action("cat", Id)
A_REVIEW_CONFIRM = ADMIN_BUTTONS.action("cc", Id)
A_OVERRIDE = ADMIN_BUTTONS.action("co", Id)
A_OVERRIDE_CATEGORY = ADMIN_BUTTONS.action("oc", Id, Word)
A_SETTINGS = ADMIN_BUTTONS.action("set", Id)
A_ROUNDING = ADMIN_BUTTONS.action("rnd", Id, Word)
A_QUARTERLY = ADMIN_BUTTONS.action("qtr", Id, Int(0, 1))
A_DAY = ADMIN_BUTTONS.action("day", Id)
A_FARMER = ADMIN_BUTTONS.action("frm", Id)
A_NAG = ADMIN_BUTTONS.action("nag", Id)  # remind the members who never declared a base
A_CANCEL = ADMIN_BUTTONS.action("no")


def month_of_code(value: int) -> date | None:
    """The month a decoded `Month` field names (None for 202613 and the like)."""
    return parse_month_code(str(value))


class DuesRefused(Exception):
    """A request the service turns down with a catalogue message (`key`, `params`) for the user."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class DuesNotAllowed(Exception):
    """The actor may not act on this branch or member; the denial is already audited."""


class DuesStale(Exception):
    """A button names something that no longer exists."""


# --- months ---------------------------------------------------------------------------------------


def first_of(year: int, month: int) -> date:
    return date(year, month, 1)


def month_of(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def add_months(month: date, delta: int) -> date:
    return first_of(*month_add(month.year, month.month, delta))


def months_apart(a: date, b: date) -> int:
    """Whole months from `a` to `b` (positive when `b` is later)."""
    return months_between((a.year, a.month), (b.year, b.month))


def month_code(month: date) -> str:
    """Compact form for callback data: 202603."""
    return f"{month.year:04d}{month.month:02d}"


def parse_month_code(code: str) -> date | None:
    if len(code) != 6 or not code.isdecimal():
        return None
    year, month = int(code[:4]), int(code[4:])
    if not 1 <= month <= 12 or not 2000 <= year <= 2200:
        return None
    return first_of(year, month)


def period_of(month: date) -> str:
    """The period key of reminder occurrences: 2026-03."""
    return f"{month.year:04d}-{month.month:02d}"


def month_from_period(period: str) -> date | None:
    return parse_month_code(period[:7].replace("-", ""))


def branch_zone(branch: Branch) -> ZoneInfo:
    return ZoneInfo(branch.timezone)


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def quarter_of(month: date) -> list[date]:
    first = first_of(month.year, 3 * ((month.month - 1) // 3) + 1)
    return [add_months(first, i) for i in range(3)]


def month_label(language: str, month: date) -> str:
    return t(language, "dues.month", year=month.year, mon=t(language, f"dues.mon.{month.month}"))


def months_label(language: str, months: Iterable[date]) -> str:
    return t(language, "dues.list_sep").join(month_label(language, m) for m in sorted(months))


def rate_label(rate: Decimal | None) -> str:
    if rate is None:
        return ""
    percent = (rate * 100).normalize()
    return f"{percent:f}%"


# --- plain views -----------------------------------------------------------------------------------


def needs_base(category: DuesCategory | str) -> bool:
    category = DuesCategory(category)
    return category in WAGE_CATEGORIES or category is DuesCategory.RETIRED


@dataclass(frozen=True)
class BranchDuesSettings:
    branch_id: int
    farmer_amount: Decimal = FARMER_MIN
    rounding: str = Rounding.FEN
    quarterly_allowed: bool = False
    reminder_day: int = DEFAULT_REMINDER_DAY

    @property
    def rounding_unit(self) -> Decimal:
        return JIAO if self.rounding == Rounding.JIAO else FEN


@dataclass(frozen=True)
class DeclarationView:
    id: int
    member_id: int
    effective_month: date
    category: DuesCategory
    base: Decimal | None
    declared_category: DuesCategory | None
    declared_base: Decimal | None
    review: str


class MonthStatus(StrEnum):
    CONFIRMED = "confirmed"  # paid here, receipt confirmed by the secretary
    REPORTED = "reported"  # paid here, the secretary has not confirmed yet
    HOME = "home"  # paid at the home branch
    EXEMPT = "exempt"  # waived by branch decision
    REJECTED = "rejected"  # reported, but the secretary found no payment: unpaid
    UNPAID = "unpaid"
    NOT_OPEN = "not_open"  # the branch has not opened the month: nothing is asked yet
    BEFORE = "before"  # before the member's first month here


@dataclass(frozen=True)
class MonthLine:
    month: date
    status: MonthStatus
    due: DuesResult | None
    paid: Decimal | None
    reduced: bool = False


@dataclass(frozen=True)
class Overview:
    member_id: int
    branch_id: int
    today: date
    month: date
    settings: BranchDuesSettings
    declaration: DeclarationView | None
    current: DuesResult | None
    lines: list[MonthLine]
    reportable: list[date]
    quarter: list[date]
    # What each month the member may report now costs (None without a declaration).
    amounts: dict[date, Decimal | None]


@dataclass(frozen=True)
class ReportOutcome:
    report_id: int
    member_id: int
    months: list[date]
    total: Decimal
    extra: Decimal
    place: str


@dataclass(frozen=True)
class DecisionOutcome:
    changed: bool
    confirmed: bool
    member_name: str
    months: list[date]
    total: Decimal


@dataclass(frozen=True)
class ArrearsRow:
    member_id: int
    name: str
    months: list[date]
    run: int
    amount: Decimal | None


@dataclass(frozen=True)
class PendingReport:
    report_id: int
    member_name: str
    months: list[date]
    total: Decimal
    place: str
    paid_on: date
    paid_by: str | None


@dataclass(frozen=True)
class AdminSummary:
    branch_id: int
    branch_name: str
    month: date
    opened: bool
    pending: int
    in_arrears: int
    settings: BranchDuesSettings
    # Members in arrears who never declared a category and base: what they owe is unknown, never zero.
    undeclared_in_arrears: int = 0
    # Members on the roster who never declared (the one-tap reminder goes to them).
    undeclared: int = 0


@dataclass(frozen=True)
class _Paid:
    """What a member's own screens read of a payment row (`DuesPayment` has the same attributes)."""

    month: date
    status: str
    place: str
    amount_due: Decimal
    voluntary_extra: Decimal


@dataclass(frozen=True)
class _Adjusted:
    """What a member's own screens read of a reduction or waiver (as `DuesAdjustment`)."""

    month: date
    kind: str
    reduced_amount: Decimal | None


@dataclass
class _MemberDues:
    """One member's dues state, loaded once and queried in memory (a branch has at most ~50 members).

    Loaded for a branch (`load_branch_states`) it holds the ORM rows, which the writers change; loaded
    for the member's own screens (`_own_view`) it holds plain values and no `member` row."""

    member_id: int
    settings: BranchDuesSettings
    today: date
    start: date
    opened: set[date]
    member: Member | None = None  # the ORM row, loaded for a branch (not in a member's own view)
    declarations: list[DuesDeclaration | DeclarationView] = field(default_factory=list)
    payments: dict[date, DuesPayment | _Paid] = field(default_factory=dict)
    adjustments: dict[date, DuesAdjustment | _Adjusted] = field(default_factory=dict)

    @property
    def current(self) -> date:
        return month_of(self.today)

    def declaration_for(self, month: date) -> DuesDeclaration | None:
        in_force = [d for d in self.declarations if d.effective_month <= month]
        if in_force:
            return in_force[-1]
        # A declaration made later still says what the member earned before it (a first declaration is
        # back-dated to the first month, so this only happens after the secretary moved it).
        return self.declarations[0] if self.declarations else None

    def due(self, month: date) -> DuesResult | None:
        declaration = self.declaration_for(month)
        if declaration is None:
            return None
        adjustment = self.adjustments.get(month)
        exempt = adjustment is not None and adjustment.kind == AdjustmentKind.EXEMPT
        reduced = (
            adjustment.reduced_amount
            if adjustment is not None and adjustment.kind == AdjustmentKind.REDUCED
            else None
        )
        kwargs: dict[str, Any] = {
            "farmer_amount": self.settings.farmer_amount,
            "rounding_unit": self.settings.rounding_unit,
        }
        try:
            return compute_monthly_dues(
                declaration.category, declaration.base, reduced_amount=reduced, exempt=exempt, **kwargs
            )
        except DuesInputError:
            # A reduction decided before a lower base was declared: the lower standard amount applies.
            return compute_monthly_dues(declaration.category, declaration.base, **kwargs)

    def settled(self, month: date) -> bool:
        payment = self.payments.get(month)
        if payment is not None and payment.status in SETTLED_STATUSES:
            return True
        adjustment = self.adjustments.get(month)
        return adjustment is not None and adjustment.kind == AdjustmentKind.EXEMPT

    def status(self, month: date) -> MonthStatus:
        payment = self.payments.get(month)
        if payment is not None and payment.status in SETTLED_STATUSES:
            if payment.place == PaymentPlace.HOME:
                return MonthStatus.HOME
            return MonthStatus(payment.status)
        adjustment = self.adjustments.get(month)
        if adjustment is not None and adjustment.kind == AdjustmentKind.EXEMPT:
            return MonthStatus.EXEMPT
        if month < self.start:
            return MonthStatus.BEFORE
        if month not in self.opened:
            return MonthStatus.NOT_OPEN
        if payment is not None and payment.status == PaymentStatus.REJECTED:
            return MonthStatus.REJECTED
        return MonthStatus.UNPAID

    def is_due(self, month: date) -> bool:
        """Opened, on or after the first month here, not in the future, unsettled."""
        return self.start <= month <= self.current and month in self.opened and not self.settled(month)

    def makeup_ok(self, month: date) -> bool:
        return 0 <= months_apart(month, self.current) <= MAKEUP_MONTHS_MAX

    def reportable(self) -> list[date]:
        """Months the member may report now: due and within the make-up window."""
        return [m for m in self.window() if self.is_due(m) and self.makeup_ok(m)]

    def quarter(self) -> list[date]:
        """The current quarter's unsettled months, future ones included, when the branch allows it."""
        if not self.settings.quarterly_allowed:
            return []
        return [
            m
            for m in quarter_of(self.current)
            if m >= self.start
            and not self.settled(m)
            and (m > self.current or m in self.opened)
            and self.makeup_ok(min(m, self.current))
        ]

    def window(self) -> list[date]:
        return [add_months(self.current, -i) for i in range(WINDOW - 1, -1, -1)]

    def unpaid(self) -> list[date]:
        return [m for m in self.window() if self.is_due(m)]

    def run(self) -> int:
        """Consecutive unpaid opened months ending with the current one (the six-month rule's count)."""
        count = 0
        month = self.current
        while self.is_due(month):
            count += 1
            month = add_months(month, -1)
        return count

    def line(self, month: date) -> MonthLine:
        payment = self.payments.get(month)
        paid = None
        if payment is not None and payment.status in SETTLED_STATUSES:
            paid = payment.amount_due + payment.voluntary_extra
        adjustment = self.adjustments.get(month)
        reduced = adjustment is not None and adjustment.kind == AdjustmentKind.REDUCED
        return MonthLine(month, self.status(month), self.due(month), paid, reduced)


# --- loading ---------------------------------------------------------------------------------------


def start_month(member: Member, tz: ZoneInfo) -> date:
    """The first month the host branch collects from this member."""
    return _start_month(member.decided_at or member.created_at, member.joined_party_on, tz)


def _start_month(since: datetime, joined_party_on: date | None, tz: ZoneInfo) -> date:
    start = month_of(since.astimezone(tz).date())
    if joined_party_on is not None:
        start = max(start, month_of(joined_party_on))
    return start


async def get_settings(session: AsyncSession, branch_id: int) -> BranchDuesSettings:
    row = await session.get(DuesSettings, branch_id)
    if row is None:
        return BranchDuesSettings(branch_id)
    return BranchDuesSettings(
        branch_id=branch_id,
        farmer_amount=row.farmer_amount,
        rounding=row.rounding,
        quarterly_allowed=row.quarterly_allowed,
        reminder_day=row.reminder_day,
    )


async def load_branch_states(
    session: AsyncSession,
    branch: Branch,
    now: datetime,
    member_ids: Sequence[int] | None = None,
    since: date | None = None,
) -> dict[int, _MemberDues]:
    """Dues state of the branch's approved members (or only `member_ids`), in six queries."""
    query = select(Member).where(Member.branch_id == branch.id)
    if member_ids is None:
        query = query.where(Member.state == MemberState.APPROVED)
    else:
        query = query.where(Member.id.in_(member_ids))
    members = list(await session.scalars(query.order_by(Member.id)))
    return await _states_of(session, branch, now, members, since)


async def _states_of(
    session: AsyncSession, branch: Branch, now: datetime, members: list[Member], since: date | None = None
) -> dict[int, _MemberDues]:
    """The dues state of `members` (of `branch`, loaded already): the settings, opened months,
    declarations, payments and reductions in five queries."""
    if not members:
        return {}
    tz = branch_zone(branch)
    today = local_today(now, tz)
    settings = await get_settings(session, branch.id)
    # Months before the window matter to nobody but the ledger of that month, which passes `since`.
    window_start = add_months(month_of(today), -WINDOW)
    since = window_start if since is None else min(since, window_start)
    ids = [m.id for m in members]
    opened = set(
        await session.scalars(
            select(DuesMonth.month).where(DuesMonth.branch_id == branch.id, DuesMonth.month >= since)
        )
    )
    states = {
        m.id: _MemberDues(
            member_id=m.id,
            member=m,
            settings=settings,
            today=today,
            start=start_month(m, tz),
            opened=opened,
        )
        for m in members
    }
    for declaration in await session.scalars(
        select(DuesDeclaration)
        .where(DuesDeclaration.member_id.in_(ids))
        .order_by(DuesDeclaration.effective_month)
    ):
        states[declaration.member_id].declarations.append(declaration)
    for payment in await session.scalars(
        select(DuesPayment).where(DuesPayment.member_id.in_(ids), DuesPayment.month >= since)
    ):
        states[payment.member_id].payments[payment.month] = payment
    for adjustment in await session.scalars(
        select(DuesAdjustment).where(DuesAdjustment.member_id.in_(ids), DuesAdjustment.month >= since)
    ):
        states[adjustment.member_id].adjustments[adjustment.month] = adjustment
    return states


async def _member_state(session: AsyncSession, member_id: int, now: datetime) -> tuple[Branch, _MemberDues]:
    member = await session.get(Member, member_id)
    if member is None:
        raise DuesStale()
    branch = await session.get(Branch, member.branch_id)
    assert branch is not None
    states = await _states_of(session, branch, now, [member])
    return branch, states[member_id]


async def _own_state(
    session: AsyncSession, member_id: int | None, now: datetime
) -> tuple[Branch, _MemberDues]:
    """The acting member's own state; only members on the roster pay dues through the bot."""
    if member_id is None:
        raise DuesRefused("dues.not_member")
    member = await session.get(Member, member_id)
    if member is None or member.state != MemberState.APPROVED:
        raise DuesRefused("dues.not_member")
    return await _member_state(session, member_id, now)


# A member's own screens read plain columns on the session's connection (no ORM rows, no decryption of
# the member's personal fields), in one prebuilt statement of two parts: this one finds the member on the
# roster with the dates the host branch collects from, the branch's zone and its settings (None:
# the defaults).
_OWN_MEMBER = (
    select(
        Member.branch_id,
        Member.decided_at,
        Member.created_at,
        Member.joined_party_on,
        Branch.timezone,
        DuesSettings.branch_id,
        DuesSettings.farmer_amount,
        DuesSettings.rounding,
        DuesSettings.quarterly_allowed,
        DuesSettings.reminder_day,
    )
    .join(Branch, Branch.id == Member.branch_id)
    .outerjoin(DuesSettings, DuesSettings.branch_id == Member.branch_id)
    .where(Member.id == bindparam("member"), Member.state == MemberState.APPROVED)
)


def _rows_of(kind: str, *columns: Any) -> Select[Any]:
    """One source of `_OWN_ROWS`: its kind, then up to seven columns (missing ones are NULL)."""
    padded = [*columns, *[null()] * (7 - len(columns))]
    return select(literal_column(f"'{kind}'").label("kind"), *padded)


# ... and this one the rest, each row tagged with its kind: the branch's opened months, the member's
# declarations (all of them), payments and reductions since `since`. The first source types the columns.
_OWN_ROWS = union_all(
    _rows_of(
        "d",
        DuesDeclaration.effective_month,
        DuesDeclaration.category,
        DuesDeclaration.declared_category,
        DuesDeclaration.review,
        DuesDeclaration.base,
        DuesDeclaration.declared_base,
        DuesDeclaration.id,
    ).where(DuesDeclaration.member_id == bindparam("member")),
    _rows_of(
        "p",
        DuesPayment.month,
        DuesPayment.status,
        DuesPayment.place,
        null(),
        DuesPayment.amount_due,
        DuesPayment.voluntary_extra,
    ).where(DuesPayment.member_id == bindparam("member"), DuesPayment.month >= bindparam("since")),
    _rows_of(
        "a", DuesAdjustment.month, DuesAdjustment.kind, null(), null(), DuesAdjustment.reduced_amount
    ).where(DuesAdjustment.member_id == bindparam("member"), DuesAdjustment.month >= bindparam("since")),
    _rows_of("m", DuesMonth.month).where(
        DuesMonth.branch_id
        == select(Member.branch_id).where(Member.id == bindparam("member")).scalar_subquery(),
        DuesMonth.month >= bindparam("since"),
    ),
).subquery("own_rows")
# Both in one statement: the member's row beside each of those rows (LEFT JOIN ON true: a member with
# none still gives one row, its own columns NULL). ``since`` is a day before the UTC month's start of the
# window, wide enough for any zone; the exact window (the branch's local month) is applied after.
_OWN_MEMBER_ROW = _OWN_MEMBER.subquery("own_member")
_OWN = select(*_OWN_MEMBER_ROW.c, *_OWN_ROWS.c).select_from(_OWN_MEMBER_ROW.outerjoin(_OWN_ROWS, true()))


async def _own_view(session: AsyncSession, member_id: int | None, now: datetime) -> tuple[int, _MemberDues]:
    """The acting member's own state for reading, (branch id, state): the same values `_own_state`
    gives, in one statement (on the connection: what the session has not flushed is not seen; the
    member's screens write nothing before they read). Only members on the roster pay dues through the bot."""
    if member_id is None:
        raise DuesRefused("dues.not_member")
    connection = await session.connection()
    wide = add_months(month_of((now - timedelta(days=1)).date()), -WINDOW)
    rows = (await connection.execute(_OWN, {"member": member_id, "since": wide})).all()
    if not rows:
        raise DuesRefused("dues.not_member")
    branch_id, decided_at, created_at, joined_party_on, timezone, configured, *values = rows[0][:10]
    settings = (
        BranchDuesSettings(branch_id, *values) if configured is not None else BranchDuesSettings(branch_id)
    )
    tz = ZoneInfo(timezone)
    today = local_today(now, tz)
    start = _start_month(decided_at or created_at, joined_party_on, tz)
    state = _MemberDues(member_id=member_id, settings=settings, today=today, start=start, opened=set())
    # Months before the window matter to nobody here (as in `load_branch_states`).
    since = add_months(month_of(today), -WINDOW)
    for kind, month, word, word2, word3, money, money2, row_id in (row[10:] for row in rows):
        if kind is None or (kind != "d" and month < since):
            continue
        if kind == "d":
            state.declarations.append(
                DeclarationView(
                    id=row_id,
                    member_id=member_id,
                    effective_month=month,
                    category=DuesCategory(word),
                    base=money,
                    declared_category=DuesCategory(word2) if word2 else None,
                    declared_base=money2,
                    review=word3,
                )
            )
        elif kind == "p":
            state.payments[month] = _Paid(month, word, word2, money, money2)
        elif kind == "a":
            state.adjustments[month] = _Adjusted(month, word, money)
        else:
            state.opened.add(month)
    state.declarations.sort(key=lambda d: d.effective_month)
    return branch_id, state


def _view(declaration: DuesDeclaration | DeclarationView | None) -> DeclarationView | None:
    if declaration is None or isinstance(declaration, DeclarationView):
        return declaration
    return DeclarationView(
        id=declaration.id,
        member_id=declaration.member_id,
        effective_month=declaration.effective_month,
        category=DuesCategory(declaration.category),
        base=declaration.base,
        declared_category=DuesCategory(declaration.declared_category)
        if declaration.declared_category
        else None,
        declared_base=declaration.declared_base,
        review=declaration.review,
    )


def member_name(member: Member) -> str:
    return member.name or f"#{member.id}"


# --- authorisation and notifications ---------------------------------------------------------------


async def require_officer(session: AsyncSession, actor: Actor, branch_id: int, action: str) -> None:
    """Only the branch's secretary or committee may act on it; anyone else is denied and audited."""
    if actor.leads_branch(branch_id):
        return
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="branch",
        target_id=branch_id,
        result="denied",
        branch_id=branch_id,
    )
    raise DuesNotAllowed()


async def officers(session: AsyncSession, branch_id: int) -> list[Person]:
    """The people who lead the branch: its secretary and committee members."""
    person_ids = select(RoleGrant.person_id).where(
        RoleGrant.branch_id == branch_id, RoleGrant.role.in_([r.value for r in OFFICER_ROLES])
    )
    return list(await session.scalars(select(Person).where(Person.id.in_(person_ids)).order_by(Person.id)))


Localised = Callable[[str], object]


async def _notify(
    session: AsyncSession,
    person: Person,
    *,
    source: str,
    key: str,
    now: datetime,
    buttons: Callable[[str], tuple[tuple[Button, ...], ...]] | None = None,
    **params: object,
) -> bool:
    """Enqueue catalogue entry `key` in the person's language; callable params are rendered per language."""
    route = await route_to(session, person)
    if route is None:
        return False
    language = language_of(person)
    values = {name: value(language) if callable(value) else value for name, value in params.items()}
    message = Outgoing(text=t(language, key, **values), buttons=buttons(language) if buttons else ())
    return await enqueue(
        session,
        source=source,
        **route,
        person_id=person.id,
        message=message,
        priority=Priority.NOTIFICATION,
        not_before=now,
    )


async def _notify_member(
    session: AsyncSession, member: Member, *, source: str, key: str, now: datetime, **params: object
) -> None:
    person = await session.get(Person, member.person_id)
    if person is not None:
        await _notify(session, person, source=source, key=key, now=now, **params)


def _stamp(now: datetime) -> str:
    return str(int(now.timestamp()))


# --- member: declaration ---------------------------------------------------------------------------

_INCOME_SPLIT = re.compile(r"[\s,，、;；/|+]+")
_ZERO = re.compile(r"0+(?:\.0+)?", re.ASCII)


def _parse_income(text: str) -> Decimal:
    """One month's income of a self-employed member: like a base, but a month at a loss may be 0."""
    if _ZERO.fullmatch(unicodedata.normalize("NFKC", text).strip()):
        return Decimal("0.00")
    try:
        return parse_money(text)
    except DuesInputError as error:
        # Zero was handled above, so "not positive" here means a negative figure.
        if error.code == "not_positive":
            raise DuesInputError("negative_income") from None
        raise


def parse_base(category: DuesCategory | str, text: str) -> Decimal:
    """A typed base for `category`; the self-employed may type the three monthly incomes instead."""
    category = DuesCategory(category)
    if category is not DuesCategory.SELF_EMPLOYED:
        return parse_money(text)
    try:
        return parse_money(text)
    except DuesInputError as single_error:
        cleaned = unicodedata.normalize("NFKC", text if isinstance(text, str) else "").strip()
        parts = [p for p in _INCOME_SPLIT.split(cleaned) if p]
        if len(parts) <= 1 or len(cleaned) > 80:
            raise single_error from None
        if len(parts) != 3:
            raise DuesInputError("need_three_months") from None
        base = self_employed_base([_parse_income(p) for p in parts])
        if base <= 0:
            raise DuesInputError("not_positive") from None
        return base


def compute_for(
    settings: BranchDuesSettings, category: DuesCategory | str, base: Decimal | None
) -> DuesResult:
    return compute_monthly_dues(
        DuesCategory(category),
        base if needs_base(category) else None,
        farmer_amount=settings.farmer_amount,
        rounding_unit=settings.rounding_unit,
    )


@dataclass(frozen=True)
class DeclarationOutcome:
    declaration: DeclarationView
    result: DuesResult
    first: bool


# Asked at each screen of the declaration form that has 返回 or not by it: a plain prebuilt select.
_HAS_DECLARATION = select(DuesDeclaration.id).where(DuesDeclaration.member_id == bindparam("member")).limit(1)


async def has_declaration(session: AsyncSession, member_id: int) -> bool:
    connection = await session.connection()
    found = (await connection.execute(_HAS_DECLARATION, {"member": member_id})).first()
    return found is not None


def effective_choices(today: date) -> list[date]:
    """When a new base may start: the month the new pay was received, last, this or next month."""
    current = month_of(today)
    return [add_months(current, -1), current, add_months(current, 1)]


async def declare(
    session: AsyncSession,
    *,
    member_id: int | None,
    actor_person_id: int,
    category: DuesCategory | str,
    base: Decimal | None,
    effective: date | None,
    now: datetime,
) -> DeclarationOutcome:
    """Record the member's own declaration; the secretary is asked to confirm it."""
    branch, state = await _own_state(session, member_id, now)
    category = DuesCategory(category)
    if needs_base(category) and base is None:
        raise DuesInputError("base_required")
    base = base if needs_base(category) else None
    result = compute_for(state.settings, category, base)
    first = not state.declarations
    if first:
        month = state.start
    elif effective is not None and effective in effective_choices(state.today):
        month = effective
    else:
        raise DuesRefused("dues.bad_effective")
    declaration = await session.scalar(
        select(DuesDeclaration).where(
            DuesDeclaration.member_id == state.member_id, DuesDeclaration.effective_month == month
        )
    )
    if declaration is None:
        declaration = DuesDeclaration(member_id=state.member_id, effective_month=month)
        session.add(declaration)
    declaration.category = category
    declaration.base = base
    declaration.declared_category = category
    declaration.declared_base = base
    declaration.declared_at = now
    declaration.declared_by_person_id = actor_person_id
    declaration.review = DeclarationReview.PENDING
    declaration.reviewed_at = None
    declaration.reviewed_by_person_id = None
    await session.flush()
    audit.record(
        session,
        actor_person_id=actor_person_id,
        action="dues.declare",
        target_type="member",
        target_id=state.member_id,
        branch_id=branch.id,
    )
    name = member_name(state.member)
    member_key = state.member_id
    for officer in await officers(session, branch.id):
        await _notify(
            session,
            officer,
            now=now,
            source=f"dues:decl:{declaration.id}:{_stamp(now)}",
            key="dues.notify.declared",
            buttons=lambda lang: (
                (
                    Button(t(lang, "dues.btn.confirm"), data=A_REVIEW_CONFIRM.data(member_key)),
                    Button(t(lang, "dues.btn.override"), data=A_OVERRIDE.data(member_key)),
                ),
            ),
            name=name,
            category=lambda lang: t(lang, f"dues.cat.{category.value}"),
            base=_base_text_fn(base),
            amount=result.amount,
        )
    view = _view(declaration)
    assert view is not None
    return DeclarationOutcome(view, result, first)


def _base_text_fn(base: Decimal | None) -> Localised:
    return lambda lang: t(lang, "dues.base_none") if base is None else t(lang, "dues.yuan", amount=base)


# --- member: overview and reports -------------------------------------------------------------------


def _overview(branch_id: int, state: _MemberDues) -> Overview:
    declaration = state.declaration_for(state.current)
    reportable, quarter = state.reportable(), state.quarter()
    amounts = {}
    for month in sorted(set(reportable) | set(quarter)):
        due = state.due(month)
        amounts[month] = due.amount if due is not None else None
    return Overview(
        member_id=state.member_id,
        branch_id=branch_id,
        today=state.today,
        month=state.current,
        settings=state.settings,
        declaration=_view(declaration),
        current=state.due(state.current),
        lines=[state.line(m) for m in reversed(state.window()) if m >= state.start],
        reportable=reportable,
        quarter=quarter,
        amounts=amounts,
    )


async def member_overview(session: AsyncSession, member_id: int | None, now: datetime) -> Overview:
    """What the member owes and why, and the state of the current month and the six before it."""
    return _overview(*await _own_view(session, member_id, now))


def _check_months(state: _MemberDues, months: Sequence[date]) -> list[date]:
    chosen = sorted(set(months))
    if not chosen:
        raise DuesRefused("dues.pick_month")
    allowed = set(state.reportable()) | set(state.quarter())
    if any(m not in allowed for m in chosen):
        # Someone else (the secretary) settled a month meanwhile, or the button is old.
        raise DuesRefused("dues.months_changed")
    if any(state.due(m) is None for m in chosen):
        raise DuesRefused("dues.declare_first")
    return chosen


def earliest_paid_on(today: date) -> date:
    """A payment date older than the make-up window cannot belong to a month still open to report."""
    return add_months(month_of(today), -MAKEUP_MONTHS_MAX - 1)


# What a member may type at the date step besides a date: the words on the buttons, and the day before.
_DAYS_AGO = {
    "今天": 0,
    "今日": 0,
    "today": 0,
    "昨天": 1,
    "昨日": 1,
    "yesterday": 1,
    "前天": 2,
}


def parse_paid_on(text: str, today: date) -> date:
    """A typed payment date: 2026-03-05, 3月5日 and the like, or 今天 / 昨天 / 前天 (today, yesterday)."""
    cleaned = unicodedata.normalize("NFKC", text if isinstance(text, str) else "").strip().lower()
    days = _DAYS_AGO.get(cleaned.rstrip("。.!！"))
    if days is not None:
        return today - timedelta(days=days)
    return parse_date(text, today, earliest=earliest_paid_on(today))


async def _write_payments(
    session: AsyncSession,
    state: _MemberDues,
    *,
    branch_id: int,
    actor_person_id: int,
    months: list[date],
    paid_on: date,
    place: PaymentPlace,
    paid_by: str | None,
    extra: Decimal,
    status: PaymentStatus,
    now: datetime,
) -> ReportOutcome:
    try:
        # A savepoint: if someone settled one of these months in the same instant, UNIQUE(member,
        # month) keeps it single and only this write is undone, not the rest of the event.
        async with session.begin_nested():
            return await _write_rows(
                session,
                state,
                branch_id=branch_id,
                actor_person_id=actor_person_id,
                months=months,
                paid_on=paid_on,
                place=place,
                paid_by=paid_by,
                extra=extra,
                status=status,
                now=now,
            )
    except IntegrityError:
        for month in months:
            state.payments.pop(month, None)
        raise DuesRefused("dues.months_changed") from None


async def _write_rows(
    session: AsyncSession,
    state: _MemberDues,
    *,
    branch_id: int,
    actor_person_id: int,
    months: list[date],
    paid_on: date,
    place: PaymentPlace,
    paid_by: str | None,
    extra: Decimal,
    status: PaymentStatus,
    now: datetime,
) -> ReportOutcome:
    report = DuesReport(
        member_id=state.member_id, branch_id=branch_id, created_at=now, created_by_person_id=actor_person_id
    )
    session.add(report)
    await session.flush()
    total = Decimal("0.00")
    for index, month in enumerate(months):
        due = state.due(month)
        assert due is not None
        month_extra = extra if index == len(months) - 1 else Decimal("0.00")
        payment = state.payments.get(month)
        if payment is None:
            payment = DuesPayment(member_id=state.member_id, month=month)
            session.add(payment)
            state.payments[month] = payment
        # A rejected month reported again takes the new report's details; UNIQUE(member, month) holds.
        payment.branch_id = branch_id
        payment.report_id = report.id
        payment.amount_due = due.amount
        payment.voluntary_extra = month_extra
        payment.place = place
        payment.paid_on = paid_on
        payment.paid_by = paid_by
        payment.status = status
        payment.reported_at = now
        payment.reported_by_person_id = actor_person_id
        confirmed = status == PaymentStatus.CONFIRMED
        payment.decided_at = now if confirmed else None
        payment.decided_by_person_id = actor_person_id if confirmed else None
        total += due.amount + month_extra
    await session.flush()
    return ReportOutcome(report.id, state.member_id, months, total, extra, place)


async def report_payment(
    session: AsyncSession,
    *,
    member_id: int | None,
    actor_person_id: int,
    months: Sequence[date],
    paid_on: date,
    place: PaymentPlace | str,
    paid_by: str | None,
    extra: Decimal,
    now: datetime,
) -> ReportOutcome:
    """The member reports months paid (here or at home); the secretary is asked to confirm receipt."""
    branch, state = await _own_state(session, member_id, now)
    chosen = _check_months(state, months)
    if paid_on > state.today:
        raise DuesRefused("dues.date.in_future")
    if paid_on < earliest_paid_on(state.today):
        raise DuesRefused("dues.date.too_old")
    place = PaymentPlace(place)
    payer = clean_name(paid_by) if paid_by else None
    if not extra.is_finite() or extra < 0:
        raise DuesInputError("negative_extra")
    outcome = await _write_payments(
        session,
        state,
        branch_id=branch.id,
        actor_person_id=actor_person_id,
        months=chosen,
        paid_on=paid_on,
        place=place,
        paid_by=payer,
        extra=extra.quantize(FEN),
        status=PaymentStatus.REPORTED,
        now=now,
    )
    audit.record(
        session,
        actor_person_id=actor_person_id,
        action="dues.report",
        target_type="dues_report",
        target_id=outcome.report_id,
        branch_id=branch.id,
    )
    name = member_name(state.member)
    report_id = outcome.report_id
    for officer in await officers(session, branch.id):
        await _notify(
            session,
            officer,
            now=now,
            source=f"dues:report:{report_id}",
            key="dues.notify.reported",
            buttons=lambda lang: (
                (
                    Button(t(lang, "dues.btn.confirm"), data=A_CONFIRM.data(report_id)),
                    Button(t(lang, "dues.btn.reject"), data=A_REJECT.data(report_id)),
                ),
            ),
            name=name,
            months=lambda lang: months_label(lang, chosen),
            total=outcome.total,
            place=lambda lang: t(lang, f"dues.place.{place.value}"),
            paid_on=paid_on.isoformat(),
            payer=lambda lang: t(lang, "dues.payer_line", payer=payer) if payer else "",
        )
    return outcome


# --- secretary -------------------------------------------------------------------------------------


async def get_branch(session: AsyncSession, branch_id: int) -> Branch:
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise DuesStale()
    return branch


async def officer_branches(session: AsyncSession, actor: Actor) -> list[tuple[int, str]]:
    """The branches this person leads, (id, name), for /duesadmin to pick from."""
    ids = sorted(actor.secretary_branches)
    if not ids:
        return []
    rows = await session.execute(select(Branch.id, Branch.name).where(Branch.id.in_(ids)).order_by(Branch.id))
    return [(branch_id, name) for branch_id, name in rows]


async def deny(session: AsyncSession, actor: Actor, action: str) -> None:
    """Audit a refused attempt that names no branch (a member trying an officer's command)."""
    audit.record(session, actor_person_id=actor.person_id, action=action, result="denied")


async def admin_summary(
    session: AsyncSession, *, branch_id: int, actor: Actor, now: datetime
) -> AdminSummary:
    await require_officer(session, actor, branch_id, "dues.admin")
    branch = await get_branch(session, branch_id)
    current = month_of(local_today(now, branch_zone(branch)))
    opened = await session.scalar(
        select(DuesMonth.id).where(DuesMonth.branch_id == branch_id, DuesMonth.month == current)
    )
    pending = await session.scalar(
        select(func.count(func.distinct(DuesPayment.report_id))).where(
            DuesPayment.branch_id == branch_id, DuesPayment.status == PaymentStatus.REPORTED
        )
    )
    states = await load_branch_states(session, branch, now)
    in_arrears = sum(1 for s in states.values() if s.unpaid())
    undeclared = [s for s in states.values() if not s.declarations]
    return AdminSummary(
        undeclared_in_arrears=sum(1 for s in undeclared if s.unpaid()),
        undeclared=len(undeclared),
        branch_id=branch_id,
        branch_name=branch.name,
        month=current,
        opened=opened is not None,
        pending=pending or 0,
        in_arrears=in_arrears,
        settings=await get_settings(session, branch_id),
    )


async def open_month(
    session: AsyncSession, *, branch_id: int, month: date, actor: Actor, now: datetime
) -> bool:
    """Open a month for collection (reminders for it start only now); False if it was open already."""
    await require_officer(session, actor, branch_id, "dues.open_month")
    branch = await get_branch(session, branch_id)
    current = month_of(local_today(now, branch_zone(branch)))
    if not 0 <= months_apart(month, current) <= MAKEUP_MONTHS_MAX:
        raise DuesRefused("dues.admin.month_out_of_range")
    inserted = await insert_ignore(
        session,
        DuesMonth,
        {"branch_id": branch_id, "month": month, "opened_at": now, "opened_by_person_id": actor.person_id},
        ["branch_id", "month"],
    )
    if inserted:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="dues.open_month",
            target_type="branch",
            target_id=branch_id,
            branch_id=branch_id,
        )
    return bool(inserted)


async def decide_report(
    session: AsyncSession, *, report_id: int, actor: Actor, confirm: bool, now: datetime
) -> DecisionOutcome:
    """Confirm receipt of (or reject) the months of one report; a second tap changes nothing."""
    report = await session.get(DuesReport, report_id)
    if report is None:
        raise DuesStale()
    await require_officer(session, actor, report.branch_id, "dues.confirm" if confirm else "dues.reject")
    member = await session.get(Member, report.member_id)
    assert member is not None
    rows = list(
        await session.scalars(
            select(DuesPayment)
            .where(DuesPayment.report_id == report_id, DuesPayment.status == PaymentStatus.REPORTED)
            .order_by(DuesPayment.month)
        )
    )
    months = [r.month for r in rows]
    total = sum((r.amount_due + r.voluntary_extra for r in rows), Decimal("0.00"))
    if not rows:
        return DecisionOutcome(False, confirm, member_name(member), [], Decimal("0.00"))
    for row in rows:
        row.status = PaymentStatus.CONFIRMED if confirm else PaymentStatus.REJECTED
        row.decided_at = now
        row.decided_by_person_id = actor.person_id
    decision = "confirmed" if confirm else "rejected"
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=f"dues.{decision}",
        target_type="dues_report",
        target_id=report_id,
        branch_id=report.branch_id,
    )
    await _notify_member(
        session,
        member,
        now=now,
        source=f"dues:report:{report_id}:{decision}",
        key=f"dues.notify.{decision}",
        months=lambda lang: months_label(lang, months),
        total=total,
    )
    return DecisionOutcome(True, confirm, member_name(member), months, total)


async def pending_reports(session: AsyncSession, *, branch_id: int, actor: Actor) -> list[PendingReport]:
    await require_officer(session, actor, branch_id, "dues.pending")
    rows = list(
        await session.scalars(
            select(DuesPayment)
            .where(DuesPayment.branch_id == branch_id, DuesPayment.status == PaymentStatus.REPORTED)
            .order_by(DuesPayment.report_id, DuesPayment.month)
        )
    )
    grouped: dict[int, list[DuesPayment]] = {}
    for row in rows:
        grouped.setdefault(row.report_id, []).append(row)
    members = {
        m.id: m
        for m in await session.scalars(select(Member).where(Member.id.in_({r.member_id for r in rows})))
    }
    return [
        PendingReport(
            report_id=report_id,
            member_name=member_name(members[group[0].member_id]),
            months=[r.month for r in group],
            total=sum((r.amount_due + r.voluntary_extra for r in group), Decimal("0.00")),
            place=group[0].place,
            paid_on=group[0].paid_on,
            paid_by=group[0].paid_by,
        )
        for report_id, group in grouped.items()
    ]


async def branch_members(session: AsyncSession, *, branch_id: int, actor: Actor) -> list[tuple[int, str]]:
    """The branch's members on the roster, for the secretary to pick one."""
    await require_officer(session, actor, branch_id, "dues.members")
    members = await session.scalars(
        select(Member)
        .where(Member.branch_id == branch_id, Member.state == MemberState.APPROVED)
        .order_by(Member.id)
    )
    return [(m.id, member_name(m)) for m in members]


@dataclass(frozen=True)
class MemberDuesView:
    member_id: int
    branch_id: int
    name: str
    overview: Overview
    adjustable: list[date]


async def member_for_officer(
    session: AsyncSession, *, member_id: int, actor: Actor, now: datetime, action: str = "dues.member"
) -> MemberDuesView:
    """A member's dues as the secretary sees them; only for the secretary of the member's branch."""
    member = await session.get(Member, member_id)
    if member is None:
        raise DuesStale()
    await require_officer(session, actor, member.branch_id, action)
    branch, state = await _member_state(session, member_id, now)
    return MemberDuesView(
        member_id=member_id,
        branch_id=branch.id,
        name=member_name(member),
        overview=_overview(branch.id, state),
        adjustable=_adjustable(state),
    )


async def record_in_person(
    session: AsyncSession, *, member_id: int, months: Sequence[date], actor: Actor, now: datetime
) -> ReportOutcome:
    """The secretary records dues handed over in person: confirmed at once, paid here today."""
    member = await session.get(Member, member_id)
    if member is None:
        raise DuesStale()
    await require_officer(session, actor, member.branch_id, "dues.record")
    branch, state = await _member_state(session, member_id, now)
    if member.state != MemberState.APPROVED:
        raise DuesStale()
    chosen = _check_months(state, months)
    outcome = await _write_payments(
        session,
        state,
        branch_id=branch.id,
        actor_person_id=actor.person_id,
        months=chosen,
        paid_on=state.today,
        place=PaymentPlace.HOST,
        paid_by=None,
        extra=Decimal("0.00"),
        status=PaymentStatus.CONFIRMED,
        now=now,
    )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="dues.record",
        target_type="dues_report",
        target_id=outcome.report_id,
        branch_id=branch.id,
    )
    await _notify_member(
        session,
        member,
        now=now,
        source=f"dues:report:{outcome.report_id}:recorded",
        key="dues.notify.recorded",
        months=lambda lang: months_label(lang, chosen),
        total=outcome.total,
    )
    return outcome


def _adjustable(state: _MemberDues) -> list[date]:
    """Months a decision to reduce or waive may cover: the make-up window and the coming quarter."""
    first = max(state.start, add_months(state.current, -MAKEUP_MONTHS_MAX))
    months = []
    month = first
    while month <= add_months(state.current, ADJUST_AHEAD - 1):
        payment = state.payments.get(month)
        if payment is None or payment.status == PaymentStatus.REJECTED:
            months.append(month)
        month = add_months(month, 1)
    return months


def _check_reduction(state: _MemberDues, month: date, amount: Decimal | None) -> None:
    declaration = state.declaration_for(month)
    if declaration is None:
        raise DuesRefused("dues.admin.no_declaration")
    if amount is None:
        raise DuesInputError("base_required")
    compute_monthly_dues(
        DuesCategory(declaration.category),
        declaration.base,
        farmer_amount=state.settings.farmer_amount,
        rounding_unit=state.settings.rounding_unit,
        reduced_amount=amount,
    )


async def check_reduction(
    session: AsyncSession, *, member_id: int, month: date, amount: Decimal, actor: Actor, now: datetime
) -> None:
    """Refuse a reduced amount above the month's standard amount before the reason is asked."""
    member = await session.get(Member, member_id)
    if member is None:
        raise DuesStale()
    await require_officer(session, actor, member.branch_id, "dues.adjust")
    _, state = await _member_state(session, member_id, now)
    _check_reduction(state, month, amount)


async def adjust_month(
    session: AsyncSession,
    *,
    member_id: int,
    month: date,
    kind: AdjustmentKind | str,
    reduced_amount: Decimal | None,
    reason: str,
    actor: Actor,
    now: datetime,
) -> DuesResult | None:
    """Record the branch's decision to reduce (少交) or waive (免交) one month, with its reason."""
    member = await session.get(Member, member_id)
    if member is None:
        raise DuesStale()
    await require_officer(session, actor, member.branch_id, "dues.adjust")
    branch, state = await _member_state(session, member_id, now)
    kind = AdjustmentKind(kind)
    if month not in _adjustable(state):
        raise DuesRefused("dues.months_changed")
    reason_text = clean_short_text(reason, REASON_MAX, multiline=True)
    if kind is AdjustmentKind.REDUCED:
        _check_reduction(state, month, reduced_amount)
    else:
        reduced_amount = None
    adjustment = state.adjustments.get(month)
    if adjustment is None:
        adjustment = DuesAdjustment(member_id=member_id, month=month)
        session.add(adjustment)
        state.adjustments[month] = adjustment
    adjustment.kind = kind
    adjustment.reduced_amount = reduced_amount
    adjustment.reason = reason_text
    adjustment.decided_at = now
    adjustment.decided_by_person_id = actor.person_id
    await session.flush()
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=f"dues.{kind.value}",
        target_type="member",
        target_id=member_id,
        branch_id=branch.id,
    )
    await _notify_member(
        session,
        member,
        now=now,
        source=f"dues:adj:{adjustment.id}:{_stamp(now)}",
        key=f"dues.notify.{kind.value}",
        month=lambda lang: month_label(lang, month),
        amount=reduced_amount if reduced_amount is not None else "",
    )
    return state.due(month)


async def review_declaration(
    session: AsyncSession,
    *,
    member_id: int,
    actor: Actor,
    now: datetime,
    category: DuesCategory | str | None = None,
    base: Decimal | None = None,
) -> tuple[bool, DeclarationView, DuesResult]:
    """Confirm the member's declaration (no `category`) or override it; (changed, declaration, amount)."""
    member = await session.get(Member, member_id)
    if member is None:
        raise DuesStale()
    await require_officer(session, actor, member.branch_id, "dues.review")
    branch, state = await _member_state(session, member_id, now)
    declaration = state.declaration_for(state.current)
    if category is None:
        if declaration is None:
            raise DuesRefused("dues.admin.no_declaration")
        if declaration.review != DeclarationReview.PENDING:
            view = _view(declaration)
            assert view is not None
            return False, view, compute_for(state.settings, declaration.category, declaration.base)
        declaration.review = DeclarationReview.CONFIRMED
        action, key = "dues.declaration_confirm", "dues.notify.decl_confirmed"
    else:
        category = DuesCategory(category)
        if needs_base(category) and base is None:
            raise DuesInputError("base_required")
        compute_for(state.settings, category, base)
        if declaration is None:
            declaration = DuesDeclaration(member_id=member_id, effective_month=state.start, declared_at=now)
            session.add(declaration)
        declaration.category = category
        declaration.base = base if needs_base(category) else None
        declaration.review = DeclarationReview.OVERRIDDEN
        action, key = "dues.declaration_override", "dues.notify.decl_overridden"
    declaration.reviewed_at = now
    declaration.reviewed_by_person_id = actor.person_id
    await session.flush()
    result = compute_for(state.settings, declaration.category, declaration.base)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="member",
        target_id=member_id,
        branch_id=branch.id,
    )
    chosen = DuesCategory(declaration.category)
    await _notify_member(
        session,
        member,
        now=now,
        source=f"dues:decl:{declaration.id}:{action}:{_stamp(now)}",
        key=key,
        category=lambda lang: t(lang, f"dues.cat.{chosen.value}"),
        amount=result.amount,
    )
    view = _view(declaration)
    assert view is not None
    return True, view, result


async def arrears(session: AsyncSession, *, branch_id: int, actor: Actor, now: datetime) -> list[ArrearsRow]:
    """Members with unpaid opened months in the make-up window, the longest run first."""
    await require_officer(session, actor, branch_id, "dues.arrears")
    branch = await get_branch(session, branch_id)
    rows = []
    for state in (await load_branch_states(session, branch, now)).values():
        unpaid = state.unpaid()
        if not unpaid:
            continue
        dues = [state.due(m) for m in unpaid]
        amount = None if any(d is None for d in dues) else sum((d.amount for d in dues if d), Decimal("0.00"))
        rows.append(ArrearsRow(state.member_id, member_name(state.member), unpaid, state.run(), amount))
    rows.sort(key=lambda r: (-r.run, -len(r.months), r.member_id))
    return rows


async def opened_months(session: AsyncSession, *, branch_id: int, actor: Actor, limit: int = 6) -> list[date]:
    """The branch's latest opened months, newest first (for the ledger export)."""
    await require_officer(session, actor, branch_id, "dues.months")
    return list(
        await session.scalars(
            select(DuesMonth.month)
            .where(DuesMonth.branch_id == branch_id)
            .order_by(DuesMonth.month.desc())
            .limit(limit)
        )
    )


async def remind_undeclared(session: AsyncSession, *, branch_id: int, actor: Actor, now: datetime) -> int:
    """One tap of the secretary: ask every member who never declared a category and base to do it (at
    most once a day each); how many were asked now."""
    await require_officer(session, actor, branch_id, "dues.remind_declare")
    branch = await get_branch(session, branch_id)
    day = local_today(now, branch_zone(branch)).isoformat()
    asked = 0
    for state in (await load_branch_states(session, branch, now)).values():
        if state.declarations:
            continue
        person = await session.get(Person, state.member.person_id)
        if person is None:
            continue
        asked += await _notify(
            session,
            person,
            now=now,
            source=f"dues:askdecl:{state.member_id}:{day}",
            key="dues.notify.declare_please",
            buttons=lambda lang: ((Button(t(lang, "dues.btn.declare"), data=M_NEW.data()),),),
        )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="dues.remind_declare",
        target_type="branch",
        target_id=branch_id,
        branch_id=branch_id,
    )
    return asked


# --- branch settings -------------------------------------------------------------------------------


async def branch_settings(session: AsyncSession, *, branch_id: int, actor: Actor) -> BranchDuesSettings:
    """The branch's dues settings, for its officers."""
    await require_officer(session, actor, branch_id, "dues.settings")
    await get_branch(session, branch_id)
    return await get_settings(session, branch_id)


def parse_reminder_day(text: str) -> int:
    cleaned = unicodedata.normalize("NFKC", text if isinstance(text, str) else "").strip().rstrip("日号")
    if not cleaned.isdecimal() or not 1 <= int(cleaned) <= 31:
        raise DuesRefused("dues.admin.bad_day")
    return int(cleaned)


def parse_farmer_amount(text: str) -> Decimal:
    amount = parse_money(text)
    compute_monthly_dues(DuesCategory.FARMER, None, farmer_amount=amount)
    return amount


async def update_settings(
    session: AsyncSession,
    *,
    branch_id: int,
    actor: Actor,
    now: datetime,
    rounding: Rounding | str | None = None,
    quarterly_allowed: bool | None = None,
    reminder_day: int | None = None,
    farmer_amount: Decimal | None = None,
) -> BranchDuesSettings:
    """Change the branch's choices within the rule; unnamed settings keep their value."""
    await require_officer(session, actor, branch_id, "dues.settings")
    # Everything is checked before anything is written: a refusal leaves the settings as they were.
    if reminder_day is not None and not 1 <= reminder_day <= 31:
        raise DuesRefused("dues.admin.bad_day")
    if farmer_amount is not None:
        compute_monthly_dues(DuesCategory.FARMER, None, farmer_amount=farmer_amount)
    row = await session.get(DuesSettings, branch_id)
    if row is None:
        defaults = BranchDuesSettings(branch_id)
        row = DuesSettings(
            branch_id=branch_id,
            farmer_amount=defaults.farmer_amount,
            rounding=defaults.rounding,
            quarterly_allowed=defaults.quarterly_allowed,
            reminder_day=defaults.reminder_day,
        )
        session.add(row)
    if rounding is not None:
        row.rounding = Rounding(rounding)
    if quarterly_allowed is not None:
        row.quarterly_allowed = quarterly_allowed
    if reminder_day is not None:
        row.reminder_day = reminder_day
    if farmer_amount is not None:
        row.farmer_amount = farmer_amount.quantize(FEN)
    row.updated_at = now
    row.updated_by_person_id = actor.person_id
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="dues.settings",
        target_type="branch",
        target_id=branch_id,
        branch_id=branch_id,
    )
    await session.flush()
    return await get_settings(session, branch_id)


# --- audiences -------------------------------------------------------------------------------------


def month_end_utc(month: date, tz: ZoneInfo) -> datetime:
    """The instant the month ends in the branch's zone, in UTC."""
    return datetime.combine(add_months(month, 1), time(0, 0), tzinfo=tz).astimezone(UTC)


def _unpaid_audience_value(month: date, tz: ZoneInfo) -> str:
    # The month and its end in the branch's zone travel together, so the selection needs no time zone
    # look-up; only values offered by `_unpaid_months` are accepted, so the pair cannot be forged.
    return f"{month_code(month)}:{int(month_end_utc(month, tz).timestamp())}"


def dues_unpaid_select(branch_id: int, param: str | None) -> Select[Any]:
    """Broadcast audience: people of the branch who owe `param`'s month (opened, started, unsettled)."""
    code, _, cutoff = (param or "").partition(":")
    month = parse_month_code(code)
    if month is None or not cutoff.isdecimal():
        return audiences.roster(branch_id).where(false())
    month_end = datetime.fromtimestamp(int(cutoff), UTC)
    opened = exists().where(DuesMonth.branch_id == branch_id, DuesMonth.month == month)
    started = and_(
        func.coalesce(Member.decided_at, Member.created_at) < literal(month_end, UTCDateTime()),
        or_(Member.joined_party_on.is_(None), Member.joined_party_on < add_months(month, 1)),
    )
    paid = exists().where(
        DuesPayment.member_id == Member.id,
        DuesPayment.month == month,
        DuesPayment.status.in_([s.value for s in SETTLED_STATUSES]),
    )
    waived = exists().where(
        DuesAdjustment.member_id == Member.id,
        DuesAdjustment.month == month,
        DuesAdjustment.kind == AdjustmentKind.EXEMPT.value,
    )
    return audiences.roster(branch_id).where(opened, started, ~paid, ~waived)


async def _unpaid_months(session: AsyncSession, branch_id: int) -> list[audiences.Choice]:
    branch = await get_branch(session, branch_id)
    tz = branch_zone(branch)
    months = await session.scalars(
        select(DuesMonth.month)
        .where(DuesMonth.branch_id == branch_id)
        .order_by(DuesMonth.month.desc())
        .limit(WINDOW)
    )
    return [audiences.Choice(_unpaid_audience_value(m, tz), period_of(m)) for m in months]


audiences.register(
    audiences.Audience("dues_unpaid", "audience.dues_unpaid", dues_unpaid_select, _unpaid_months)
)


async def unpaid_person_ids(session: AsyncSession, *, branch_id: int, month: date) -> list[int]:
    """The person ids the "dues unpaid for month X" audience selects (a month not opened selects none)."""
    branch = await get_branch(session, branch_id)
    value = _unpaid_audience_value(month, branch_zone(branch))
    return sorted(await session.scalars(dues_unpaid_select(branch_id, value)))


def reminder_moment(month: date, day: int, tz: ZoneInfo) -> datetime:
    """The reminder time of a month: its reminder day (clamped to the month's end) at 09:00 local."""
    last = (add_months(month, 1) - timedelta(days=1)).day
    local = datetime.combine(date(month.year, month.month, min(day, last)), REMINDER_TIME, tzinfo=tz)
    return local


# --- privacy: /mydata and /deleteme ----------------------------------------------------------------

# The columns of this feature that hold what a member declared or what was written about them: the
# member's income base and category, who paid on their behalf (代交), and why a month was reduced or
# waived. `data_section` exports them and `erase_person` erases them.
PERSONAL_COLUMNS = (
    DuesDeclaration.category,
    DuesDeclaration.base,
    DuesDeclaration.declared_category,
    DuesDeclaration.declared_base,
    DuesPayment.paid_by,
    DuesAdjustment.reason,
)


async def _member_ids(session: AsyncSession, person_id: int) -> list[int]:
    return list(await session.scalars(select(Member.id).where(Member.person_id == person_id)))


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


async def data_section(session: AsyncSession, person_id: int) -> tuple[str, Any]:
    """Everything the dues feature holds about a person, for /mydata."""
    ids = await _member_ids(session, person_id)
    if not ids:
        return "party_dues", {"declarations": [], "payments": [], "adjustments": []}
    declarations = await session.scalars(
        select(DuesDeclaration)
        .where(DuesDeclaration.member_id.in_(ids))
        .order_by(DuesDeclaration.effective_month, DuesDeclaration.id)
    )
    payments = await session.scalars(
        select(DuesPayment).where(DuesPayment.member_id.in_(ids)).order_by(DuesPayment.month)
    )
    adjustments = await session.scalars(
        select(DuesAdjustment).where(DuesAdjustment.member_id.in_(ids)).order_by(DuesAdjustment.month)
    )
    return "party_dues", {
        "declarations": [
            {
                "from_month": period_of(d.effective_month),
                "category": d.category,
                "base": _money_text(d.base),
                "declared_category": d.declared_category,
                "declared_base": _money_text(d.declared_base),
                "declared_at": _iso(d.declared_at),
                "review": d.review,
            }
            for d in declarations
        ],
        "payments": [
            {
                "month": period_of(p.month),
                "amount_due": _money_text(p.amount_due),
                "voluntary_extra": _money_text(p.voluntary_extra),
                "place": p.place,
                "paid_on": _iso(p.paid_on),
                "paid_by": p.paid_by,
                "status": p.status,
                "reported_at": _iso(p.reported_at),
                "decided_at": _iso(p.decided_at),
            }
            for p in payments
        ],
        "adjustments": [
            {
                "month": period_of(a.month),
                "kind": a.kind,
                "reduced_amount": _money_text(a.reduced_amount),
                "reason": a.reason,
                "decided_at": _iso(a.decided_at),
            }
            for a in adjustments
        ],
    }


async def erase_person(session: AsyncSession, person_id: int) -> None:
    """/deleteme: the declarations (income base, category) go, and so do payer names and the reasons of
    reductions and waivers. The money stays (amount due, paid, reduced, which months), so the ledgers
    of past months remain true; the member row no longer names anyone. Messages to the officers about
    the member's declarations and reports are cancelled or blanked."""
    ids = await _member_ids(session, person_id)
    if not ids:
        return
    declaration_ids = list(
        await session.scalars(select(DuesDeclaration.id).where(DuesDeclaration.member_id.in_(ids)))
    )
    report_ids = list(await session.scalars(select(DuesReport.id).where(DuesReport.member_id.in_(ids))))
    await session.execute(
        delete(DuesDeclaration)
        .where(DuesDeclaration.member_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(DuesPayment)
        .where(DuesPayment.member_id.in_(ids))
        .values(paid_by=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(DuesAdjustment)
        .where(DuesAdjustment.member_id.in_(ids))
        .values(reason=None)
        .execution_options(synchronize_session=False)
    )
    sources = [OutboxMessage.source.like(f"dues:askdecl:{member_id}:%") for member_id in ids]
    sources += [OutboxMessage.source.like(f"dues:decl:{d}:%") for d in declaration_ids]
    sources += [OutboxMessage.source == f"dues:report:{r}" for r in report_ids]
    sources += [OutboxMessage.source.like(f"dues:report:{r}:%") for r in report_ids]
    for chunk in range(0, len(sources), 200):
        about = or_(*sources[chunk : chunk + 200])
        await session.execute(
            update(OutboxMessage)
            .where(about, OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(OutboxMessage)
            .where(about, OutboxMessage.status != OutboxStatus.SENDING)
            .values(payload={"text": ""})
            .execution_options(synchronize_session=False)
        )
