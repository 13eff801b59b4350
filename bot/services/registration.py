"""Reporting in (报到): the rules of the report-in form, consent, submitting it, the secretary's decision
and the notices they send.

The form itself (its questions, 返回, 取消, 修改, stale buttons) is data run by the step engine in
`bot.flows.registration`; what is business stays here: reading and checking answers (phones, a shared
contact, card numbers, a joining date that fits the membership), the look-ups the questions offer,
consent records, creating the pending member and asking the branch's officers, their decisions and
telling the home township. Every function writes through the session it is given (flushing, never
committing: the conversation core commits once per inbound event).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog import Button, Reply, already_done, denied, stale
from bot.i18n import t
from bot.rules.dates import PARTY_FOUNDED, parse_date
from bot.rules.errors import DateInputError, PhoneInputError, RuleInputError
from bot.rules.phone import mask_phone, normalize_mobile
from bot.rules.validate import clean_short_text
from bot.services import audit
from bot.services.identity import Actor, language_of
from bot.services.outbox import notify_person, update_copies
from storage.crypto import keyring
from storage.models import (
    Branch,
    ConsentRecord,
    Member,
    MemberState,
    PartyStatus,
    Person,
    Role,
    RoleGrant,
    Township,
    VillageBranch,
)

logger = logging.getLogger(__name__)


FLOW = "register"
REASON_FLOW = "reg_reason"
# Bump when the notice text (reg.notice / reg.consent) changes: people are asked to agree again.
NOTICE_VERSION = "2026-03"
CONSENT_PURPOSE = "report_in"

# The form's questions (bot.flows.registration runs them on the step engine), the confirmation last.
STEPS = (
    "notice",
    "consent",
    "name",
    "phone",
    "township",
    "village",
    "status",
    "year",
    "month",
    "day",
    "card",
    "district",
    "employer",
    "confirm",
)
DECISIONS = {"ok": "approve", "no": "reject", "rt": "return"}
TRADES = ("construction", "factory", "delivery", "catering", "housekeeping", "trade", "other")
CARD_MAX = 32
DISTRICT_MAX = 40
EMPLOYER_MAX = 60
REASON_MAX = 200
_CARD_SHAPE = re.compile(r"[A-Za-z0-9-]{4,32}", re.ASCII)


# -- what the handlers send: the core vocabulary (re-exported for callers of this module) ---------


class ContactNotYours(RuleInputError):
    """A shared contact that is not the sender's own."""

    DOMAIN = "contact"
    CODES = frozenset({"not_yours"})


class CardInputError(RuleInputError):
    DOMAIN = "card"
    CODES = frozenset({"bad_shape"})


class JoinedInputError(RuleInputError):
    """The joining date does not fit the stated membership (probation lasts one year, two at most)."""

    DOMAIN = "joined"
    CODES = frozenset({"probationary_too_old", "full_too_recent"})


# -- rules of the form (pure) ---------------------------------------------------------------------
def read_phone(text: str) -> str:
    """A typed mobile number in E.164, or PhoneInputError."""
    return normalize_mobile(text)


def read_contact(phone: str, is_own: bool) -> str:
    """The phone of a shared contact, accepted only when the channel vouches it is the sender's own."""
    if not is_own:
        raise ContactNotYours("not_yours")
    raw = (phone or "").strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    # Telegram gives one's own number in international form, often without the "+" ("8613800138000").
    if not raw.startswith("+") and digits:
        try:
            return normalize_mobile("+" + digits)
        except PhoneInputError as exc:
            if exc.code == "not_cn":
                raise  # a real number of another country
    return normalize_mobile(raw)


def read_card(text: str) -> str:
    """An activity card number (流动党员活动证): letters, digits and dashes, 4-32 of them."""
    cleaned = unicodedata.normalize("NFKC", clean_short_text(text, CARD_MAX)).replace(" ", "")
    if not _CARD_SHAPE.fullmatch(cleaned):
        raise CardInputError("bad_shape")
    return cleaned.upper()


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def check_joined(status: str | None, joined: date | None, today: date) -> None:
    """Probation lasts one year and may be extended once by a year (党章 art. 7)."""
    if status is None or joined is None:
        return
    if status == PartyStatus.PROBATIONARY and joined < years_before(today, 2):
        raise JoinedInputError("probationary_too_old")
    if status == PartyStatus.FULL and joined > years_before(today, 1):
        raise JoinedInputError("full_too_recent")


YEARS_PER_PAGE = 12


def _number(text: str) -> int | None:
    """A bare number typed for a year, month or day ("2015", "７月", "1日"), or None."""
    bare = unicodedata.normalize("NFKC", text).strip().rstrip("年月日号")
    return int(bare) if bare.isdecimal() and len(bare) < 10 else None


def read_joined(text: str, part: str, year: int | None, month: int | None, today: date) -> int | date:
    """A typed joining date at the year, month or day question: a whole date at any of them, or a bare
    year, month or day at its own; DateInputError when it is no date, or before 1921-07-01 or after today."""
    number = _number(text)
    if number is None or number > 9999:
        return parse_date(text, today)
    if part == "year":
        if not PARTY_FOUNDED.year <= number <= today.year:
            code = "in_future" if number > today.year else "too_old" if number >= 1000 else "bad_format"
            raise DateInputError(code)
        return number
    if part == "month":
        if not 1 <= number <= 12:
            raise DateInputError("bad_month")
        picked, last = (year or 0, number), (today.year, today.month)
        if not (PARTY_FOUNDED.year, PARTY_FOUNDED.month) <= picked <= last:
            raise DateInputError("in_future" if picked > last else "too_old")
        return number
    try:
        joined = date(year or 0, month or 0, number)
    except ValueError:
        raise DateInputError("no_such_day") from None
    if not PARTY_FOUNDED <= joined <= today:
        raise DateInputError("in_future" if joined > today else "too_old")
    return joined


def joining_years(today: date, page: int) -> tuple[list[int], bool]:
    """One page of years to pick from, newest first, and whether earlier ones follow."""
    newest = today.year - page * YEARS_PER_PAGE
    years = [y for y in range(newest, newest - YEARS_PER_PAGE, -1) if y >= PARTY_FOUNDED.year]
    return years, bool(years) and years[-1] > PARTY_FOUNDED.year


def joining_months(year: int, today: date) -> list[int]:
    first, last = (PARTY_FOUNDED.year, PARTY_FOUNDED.month), (today.year, today.month)
    return [m for m in range(1, 13) if first <= (year, m) <= last]


def joining_days(year: int, month: int, today: date) -> list[int]:
    days = []
    for d in range(1, 32):
        try:
            day = date(year, month, d)
        except ValueError:
            break
        if PARTY_FOUNDED <= day <= today:
            days.append(d)
    return days


def display_phone(e164: str | None) -> str:
    """+8613800138000 -> 138 0013 8000 (the way people read their own number)."""
    if not e164:
        return ""
    national = e164[3:] if e164.startswith("+86") else e164
    if len(national) == 11:
        return f"{national[:3]} {national[3:7]} {national[7:]}"
    return national


def branch_today(branch: Branch | None, now: datetime) -> date:
    """The date in the branch's time zone."""
    return now.astimezone(ZoneInfo(branch.timezone if branch else "Asia/Shanghai")).date()


# -- loading ----------------------------------------------------------------------------------------
async def member_of(session: AsyncSession, person_id: int) -> Member | None:
    return await session.scalar(select(Member).where(Member.person_id == person_id))


async def officers_of(session: AsyncSession, branch_id: int) -> list[Person]:
    """The secretary and committee members of a branch, each once."""
    return list(
        await session.scalars(
            select(Person)
            .where(
                Person.id.in_(
                    select(RoleGrant.person_id).where(
                        RoleGrant.branch_id == branch_id,
                        RoleGrant.role.in_([Role.SECRETARY, Role.COMMITTEE]),
                    )
                )
            )
            .order_by(Person.id)
        )
    )


async def agents_of(session: AsyncSession, township_id: int | None) -> list[Person]:
    if township_id is None:
        return []
    return list(
        await session.scalars(
            select(Person)
            .where(
                Person.id.in_(
                    select(RoleGrant.person_id).where(
                        RoleGrant.township_id == township_id, RoleGrant.role == Role.AGENT
                    )
                )
            )
            .order_by(Person.id)
        )
    )


@dataclass
class Values:
    """The report-in fields, from a draft or from a member row."""

    name: str | None = None
    phone: str | None = None
    township_id: int | None = None
    village_id: int | None = None
    status: str | None = None
    joined: date | None = None
    card: str | None = None
    district: str | None = None
    employer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_draft(cls, data: dict[str, Any]) -> Values:
        joined = data.get("joined")
        return cls(
            name=data.get("name"),
            phone=data.get("phone"),
            township_id=data.get("township_id"),
            village_id=data.get("village_id"),
            status=data.get("status"),
            joined=date.fromisoformat(joined) if joined else None,
            card=data.get("card"),
            district=data.get("district"),
            employer=data.get("employer"),
        )

    @classmethod
    def of_member(cls, member: Member) -> Values:
        return cls(
            name=member.name,
            phone=member.phone,
            township_id=member.township_id,
            village_id=member.village_branch_id,
            status=member.party_status,
            joined=member.joined_party_on,
            card=member.activity_card_no,
            district=member.city_district,
            employer=member.employer,
        )

    def draft_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phone": self.phone,
            "township_id": self.township_id,
            "village_id": self.village_id,
            "status": self.status,
            "joined": self.joined.isoformat() if self.joined else None,
            "year": self.joined.year if self.joined else None,
            "month": self.joined.month if self.joined else None,
            "card": self.card,
            "district": self.district,
            "employer": self.employer,
        }


async def place_names(
    session: AsyncSession, township_id: int | None, village_id: int | None
) -> tuple[str, str]:
    township = await session.get(Township, township_id) if township_id else None
    village = await session.get(VillageBranch, village_id) if village_id else None
    return (township.name if township else ""), (village.name if village else "")


def status_label(language: str, status: str | None) -> str:
    return t(language, f"reg.status.{status}") if status in set(PartyStatus) else ""


async def summary_body(
    session: AsyncSession,
    language: str,
    values: Values,
    *,
    full_phone: bool = True,
    places: tuple[str, str] | None = None,
) -> str:
    """The fields as lines "label: value", with "not given" for the empty optional ones. ``places``: the
    township's and village's names ("" for none) when the caller read them with the values."""
    unset = t(language, "reg.unset")
    if places is None:
        places = await place_names(session, values.township_id, values.village_id)
    township, village = places
    phone = (display_phone(values.phone) if full_phone else mask_phone(values.phone)) if values.phone else ""
    rows = [
        ("name", values.name),
        ("phone", phone),
        ("home", " ".join(p for p in (township, village) if p)),
        ("status", status_label(language, values.status)),
        ("joined", values.joined.isoformat() if values.joined else ""),
        ("card", values.card),
        ("district", values.district),
        ("employer", values.employer),
    ]
    return "\n".join(f"{t(language, f'reg.field.{key}')}：{value or unset}" for key, value in rows)


# -- what the form looks up ---------------------------------------------------------------------------
DISTRICT_BUTTONS = 9


async def townships(session: AsyncSession) -> list[tuple[int, str]]:
    return [(tw.id, tw.name) for tw in await session.scalars(select(Township).order_by(Township.id))]


async def villages(session: AsyncSession, township_id: int | None) -> list[tuple[int, str]]:
    if township_id is None:
        return []
    rows = await session.scalars(
        select(VillageBranch).where(VillageBranch.township_id == township_id).order_by(VillageBranch.name)
    )
    return [(v.id, v.name) for v in rows]


async def branch_districts(session: AsyncSession, branch_id: int | None) -> list[str]:
    """The city districts members of this branch gave, most common first (names are encrypted, so they
    are read and counted here: a branch has tens of members, a few hundred at most)."""
    if branch_id is None:
        return []
    counts: dict[str, int] = {}
    for value in await session.scalars(
        select(Member.city_district).where(Member.branch_id == branch_id, Member.city_district.is_not(None))
    ):
        if value:
            counts[value] = counts.get(value, 0) + 1
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:DISTRICT_BUTTONS]


async def has_villages(session: AsyncSession, township_id: int | None) -> bool:
    if township_id is None:
        return False
    found = await session.scalar(
        select(VillageBranch.id).where(VillageBranch.township_id == township_id).limit(1)
    )
    return found is not None


def complete(data: dict[str, Any]) -> bool:
    """Whether every required answer is there (a returned report-in, or one agreed to again)."""
    return all(data.get(k) for k in ("name", "phone", "township_id", "status", "joined"))


def trade_name(key: str) -> str:
    """The ledger is kept in Chinese, so a chosen trade is stored as its Chinese name."""
    return t("zh", f"reg.trade.{key}")


async def record_consent(
    session: AsyncSession, person_id: int, granted: bool, branch_id: int | None, now: datetime
) -> None:
    record = await session.scalar(
        select(ConsentRecord).where(
            ConsentRecord.person_id == person_id,
            ConsentRecord.purpose == CONSENT_PURPOSE,
            ConsentRecord.notice_version == NOTICE_VERSION,
        )
    )
    if record is None:
        record = ConsentRecord(
            person_id=person_id, purpose=CONSENT_PURPOSE, notice_version=NOTICE_VERSION, branch_id=branch_id
        )
        session.add(record)
    record.granted = granted
    record.decided_at = now
    audit.record(
        session,
        actor_person_id=person_id,
        action="consent.given" if granted else "consent.refused",
        target_type="person",
        target_id=person_id,
        branch_id=branch_id,
    )


async def has_consent(session: AsyncSession, person_id: int) -> bool:
    return bool(
        await session.scalar(
            select(ConsentRecord.granted).where(
                ConsentRecord.person_id == person_id,
                ConsentRecord.purpose == CONSENT_PURPOSE,
                ConsentRecord.notice_version == NOTICE_VERSION,
            )
        )
    )


def member_block(language: str, member: Member, branch: Branch | None) -> Reply | None:
    """Why this person cannot start a report-in now, if they cannot."""
    name = branch.name if branch else ""
    if member.state == MemberState.APPROVED:
        return Reply.say(t(language, "reg.member_elsewhere", branch=name))
    if member.state == MemberState.LEAVING:
        return Reply.say(t(language, "reg.leaving_first", branch=name))
    if member.state == MemberState.PENDING:
        return Reply.say(t(language, "reg.pending", branch=name))
    return None


def record_start(session: AsyncSession, person_id: int, branch_id: int) -> None:
    audit.record(
        session, actor_person_id=person_id, action="register.start", target_type="branch", target_id=branch_id
    )


async def record_stale(session: AsyncSession, person_id: int, language: str) -> Reply:
    """A press of ``reg:`` data that is no button of ours (an old keyboard, forged): audited as stale."""
    audit.record(session, actor_person_id=person_id, action="register.button", result="stale")
    await session.flush()
    return stale(language)


async def returned_answers(session: AsyncSession, person_id: int) -> tuple[dict[str, Any], str] | None:
    """A returned report-in as the form's answers, with the secretary's reason; None when none is."""
    member = await member_of(session, person_id)
    if member is None or member.state != MemberState.RETURNED:
        return None
    data = Values.of_member(member).draft_data()
    data.update(branch_id=member.branch_id, member_id=member.id)
    if await has_consent(session, person_id):
        data["consent"] = NOTICE_VERSION
    return data, member.decision_reason or ""


# /start while the report-in waits: the member's state, time and name with their branch in one select,
# built once and read as plain values (not the member object with every personal column decrypted).
_PENDING = (
    select(Member.state, Member.submitted_at, Member.name, Branch.id, Branch.name, Branch.timezone)
    .select_from(Member)
    .outerjoin(Branch, Branch.id == Member.branch_id)
    .where(Member.person_id == bindparam("person"))
)


async def pending_since(session: AsyncSession, person_id: int, language: str, now: datetime) -> Reply | None:
    """What /start says while the report-in waits for the secretary."""
    connection = await session.connection()
    row = (await connection.execute(_PENDING, {"person": person_id})).first()
    if row is None or row[0] != MemberState.PENDING:
        return None
    _, submitted_at, name, branch_id, branch_name, timezone = row
    since = (submitted_at or now).astimezone(ZoneInfo(timezone if branch_id is not None else "Asia/Shanghai"))
    return Reply.say(
        t(
            language,
            "reg.pending_since",
            branch=branch_name if branch_id is not None else "",
            since=since.strftime("%Y-%m-%d %H:%M"),
            name=name or "",
        )
    )


class NotReady(Exception):
    """The report-in cannot be submitted as it is: what to fix (a catalogue key, and the key naming the
    field when one is missing)."""

    def __init__(self, key: str, field: str | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.field = field


async def problem(session: AsyncSession, values: dict[str, Any], today: date) -> NotReady | None:
    """The first answer still missing or inconsistent."""
    for key, field_key in (
        ("name", "name"),
        ("phone", "phone"),
        ("township_id", "home"),
        ("status", "status"),
    ):
        if not values.get(key):
            return NotReady("reg.missing", f"reg.field.{field_key}")
    if values.get("village_id") is None and await has_villages(session, values.get("township_id")):
        return NotReady("reg.missing", "reg.field.home")
    if not values.get("joined"):
        return NotReady("reg.missing", "reg.field.joined")
    try:
        check_joined(values.get("status"), date.fromisoformat(values["joined"]), today)
    except JoinedInputError as exc:
        return NotReady(f"reg.err.{exc.key}")
    if values.get("consent") != NOTICE_VERSION:
        return NotReady("reg.consent_needed")
    return None


async def submit(
    session: AsyncSession, *, person_id: int, data: dict[str, Any], language: str, now: datetime
) -> Reply:
    """Submit the confirmed answers: the member row becomes pending and every officer of the branch is
    asked to decide. `NotReady` when an answer is missing or does not fit, or consent is not on record."""
    values = dict(data)
    branch = await session.get(Branch, values.get("branch_id"))
    if branch is None:
        return Reply.say(t(language, "reg.bad_invite"))
    refused = await problem(session, values, branch_today(branch, now))
    if refused is not None:
        raise refused
    if not await has_consent(session, person_id):
        raise NotReady("reg.consent_needed")
    member = await member_of(session, person_id)
    if member is not None:
        block = member_block(language, member, await session.get(Branch, member.branch_id))
        if block is not None:
            return block
    else:
        member = Member(person_id=person_id, branch_id=branch.id, revision=0, created_at=now)
        session.add(member)
    v = Values.of_draft(values)
    member.branch_id = branch.id
    member.name, member.phone = v.name, v.phone
    member.phone_index = keyring().blind_index(v.phone) if v.phone else None
    member.township_id, member.village_branch_id = v.township_id, v.village_id
    member.party_status, member.joined_party_on = v.status, v.joined
    member.activity_card_no, member.city_district, member.employer = v.card, v.district, v.employer
    member.state = MemberState.PENDING
    member.revision = (member.revision or 0) + 1
    member.submitted_at, member.updated_at = now, now
    member.decided_at = member.decided_by_person_id = member.decision_reason = None
    member.leaving_at = member.left_at = None
    await session.flush()
    audit.record(
        session,
        actor_person_id=person_id,
        action="member.submit",
        target_type="member",
        target_id=member.id,
        branch_id=branch.id,
    )
    officers = await officers_of(session, branch.id)
    for officer in officers:
        officer_language = language_of(officer)
        await notify_person(
            session,
            officer,
            not_before=now,
            source=f"member:{member.id}:submitted:{member.revision}",
            key="reg.notify_officer",
            buttons=decision_buttons(officer_language, member),
            branch=branch.name,
            summary=await summary_body(session, officer_language, v),
        )
    if not officers:
        logger.warning("branch %s has no secretary to review member %s", branch.id, member.id)
    await session.flush()
    return Reply.say(t(language, "reg.submitted", branch=branch.name))


def decision_buttons(language: str, member: Member) -> tuple[tuple[Button, ...], ...]:
    suffix = f"{member.id}:{member.revision}"
    return (
        (
            Button(t(language, "reg.btn.approve"), data=f"reg:ok:{suffix}"),
            Button(t(language, "reg.btn.reject"), data=f"reg:no:{suffix}"),
            Button(t(language, "reg.btn.return"), data=f"reg:rt:{suffix}"),
        ),
    )


# -- the secretary's decision ------------------------------------------------------------------------
async def checked_member(
    session: AsyncSession, actor: Actor, member_id: int, revision: int, language: str, action: str
) -> Member | Reply:
    """The pending member behind a decision button, or the refusal to show."""
    member = await session.get(Member, member_id)
    if member is None or not actor.leads_branch(member.branch_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action=f"member.{action}",
            target_type="member",
            target_id=member_id,
            result="denied",
            branch_id=member.branch_id if member else None,
        )
        await session.flush()
        return denied(language)
    if member.state != MemberState.PENDING or member.revision != revision:
        return already_done(language)
    return member


def read_reason(text: str) -> str:
    """A typed reason for a rejection or a return; RuleInputError when empty or too long."""
    return clean_short_text(text, REASON_MAX, multiline=True)


async def reason_name(session: AsyncSession, actor: Actor, member_id: Any) -> str:
    """The name the reason's question names: the member's, when the sender leads their branch."""
    member = await session.get(Member, member_id) if isinstance(member_id, int) else None
    return (member.name or "") if member and actor.leads_branch(member.branch_id) else ""


async def decide(
    session: AsyncSession,
    *,
    actor: Actor,
    decision: str,
    member_id: int,
    revision: int,
    language: str,
    now: datetime,
    reason: str | None = None,
) -> Reply:
    """Record an officer's decision (a rejection or a return with the reason they typed) and tell the
    member; re-checked against the member's pending revision, so of two officers exactly one decides."""
    if decision != "approve" and reason is None:
        raise ValueError(f"a {decision} needs a reason")
    member = await checked_member(session, actor, member_id, revision, language, decision)
    if isinstance(member, Reply):
        # a typed reason cannot be answered with a toast: the refusal is said
        return member if reason is None else Reply.say(member.toast or "")
    return await _decide(session, actor, member, revision, decision, reason, language, now)


async def _decide(
    session: AsyncSession,
    actor: Actor,
    member: Member,
    revision: int,
    decision: str,
    reason: str | None,
    language: str,
    now: datetime,
) -> Reply:
    state = {
        "approve": MemberState.APPROVED,
        "reject": MemberState.REJECTED,
        "return": MemberState.RETURNED,
    }[decision]
    # A conditional update: of two officers tapping at once, exactly one decides.
    result = await session.execute(
        update(Member)
        .where(Member.id == member.id, Member.state == MemberState.PENDING, Member.revision == revision)
        .values(
            state=state,
            decided_at=now,
            decided_by_person_id=actor.person_id,
            decision_reason=reason,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return already_done(language)  # the update changed nothing, so there is nothing to undo
    await session.refresh(member)
    branch = await session.get(Branch, member.branch_id)
    person = await session.get(Person, member.person_id)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=f"member.{decision}",
        target_type="member",
        target_id=member.id,
        branch_id=member.branch_id,
    )
    source = f"member:{member.id}:{decision}:{revision}"
    if person is not None:
        if decision == "approve":
            await notify_person(
                session, person, not_before=now, source=source, key="reg.you_approved", branch=branch.name
            )
        elif decision == "reject":
            await notify_person(
                session,
                person,
                not_before=now,
                source=source,
                key="reg.you_rejected",
                branch=branch.name,
                reason=reason,
            )
        else:
            fix = ((Button(t(language_of(person), "reg.btn.fix"), data="reg:fix"),),)
            await notify_person(
                session,
                person,
                not_before=now,
                source=source,
                key="reg.you_returned",
                buttons=fix,
                branch=branch.name,
                reason=reason,
            )
    if decision == "approve":
        await tell_home_township(
            session, member, branch, "reg.agent_reported", f"member:{member.id}:reported:{revision}", now
        )
    # The other officers' copies of the request lose their buttons and say who decided what.
    decider = await member_of(session, actor.person_id)
    await update_copies(
        session,
        source=f"member:{member.id}:submitted:{revision}",
        new_source=f"member:{member.id}:decided:{revision}",
        skip_person_id=actor.person_id,
        now=now,
        text_for=lambda officer: t(
            language_of(officer),
            "reg.decided_by_other",
            name=member.name or "",
            who=(
                decider.name
                if decider is not None and decider.name
                else t(language_of(officer), "reg.another_officer")
            ),
            decision=t(language_of(officer), f"reg.decision.{decision}"),
        ),
    )
    await session.flush()
    key = {
        "approve": "reg.decided_approved",
        "reject": "reg.decided_rejected",
        "return": "reg.decided_returned",
    }
    return Reply.say(t(language, key[decision], name=member.name or "", reason=reason or ""))


async def tell_home_township(
    session: AsyncSession, member: Member, branch: Branch, key: str, source: str, now: datetime
) -> int:
    """Tell every agent of the member's home township (who needs the name: that is the relay's point)."""
    township, village = await place_names(session, member.township_id, member.village_branch_id)
    on = branch_today(branch, now).isoformat()
    told = 0
    for agent in await agents_of(session, member.township_id):
        told += await notify_person(
            session,
            agent,
            not_before=now,
            source=source,
            key=key,
            name=member.name or "",
            village=village or township,
            status=status_label(language_of(agent), member.party_status),
            branch=branch.name,
            city=branch.city,
            date=on,
        )
    return told
