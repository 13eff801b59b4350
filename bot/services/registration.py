"""Reporting in (报到): the report-in form, consent, the secretary's decision and the notices they send.

The form is a draft (flow ``register``) walked step by step, mostly with buttons. Every function takes
plain values, writes through the session it is given (flushing, never committing: the conversation
core commits once per inbound event) and returns a `Reply`: channel-neutral screens (text, buttons, and
whether to ask for the phone contact) that a handler turns into Telegram messages.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog import Button, Reply, Screen, already_done, denied, stale
from bot.i18n import LANGUAGES, t
from bot.rules.dates import PARTY_FOUNDED, parse_date
from bot.rules.errors import DateInputError, PhoneInputError, RuleInputError
from bot.rules.phone import mask_phone, normalize_mobile
from bot.rules.validate import clean_name, clean_short_text
from bot.services import admin, audit
from bot.services.drafts import clear_draft, get_draft, save_draft
from bot.services.identity import Actor, language_of
from bot.services.outbox import notify_person, update_copies
from storage.crypto import keyring
from storage.models import (
    Branch,
    ConsentRecord,
    Draft,
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
    "summary",
)
# What one edit button on the summary changes: a group of consecutive steps.
GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "phone": ("phone",),
    "home": ("township", "village"),
    "status": ("status",),
    "joined": ("year", "month", "day"),
    "card": ("card",),
    "district": ("district",),
    "employer": ("employer",),
}
_GROUP_OF = {step: group for group, steps in GROUPS.items() for step in steps}
# Which step each button of the form belongs to; a button pressed at another step is stale.
_BUTTON_STEPS: dict[str, frozenset[str]] = {
    "go": frozenset({"notice"}),
    "cs": frozenset({"consent"}),
    "tw": frozenset({"township"}),
    "tp": frozenset({"township"}),
    "vb": frozenset({"village"}),
    "vp": frozenset({"village"}),
    "ps": frozenset({"status"}),
    "yr": frozenset({"year"}),
    "yp": frozenset({"year"}),
    "mo": frozenset({"month"}),
    "dy": frozenset({"day"}),
    "ds": frozenset({"district"}),
    "skip": frozenset({"card", "district", "employer"}),
    "tr": frozenset({"employer"}),
    "ed": frozenset({"summary"}),
    "submit": frozenset({"summary"}),
}
TYPED_STEPS = frozenset({"name", "phone", "card", "district", "employer", "year", "month", "day"})
DECISIONS = {"ok": "approve", "no": "reject", "rt": "return"}
TRADES = ("construction", "factory", "delivery", "catering", "housekeeping", "trade", "other")
OPTIONS_PER_PAGE = 8
YEARS_PER_PAGE = 12
NAME_MAX = 40
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


def error_text(language: str, error: RuleInputError) -> str:
    """The catalogue message of a refused input: every rule error key has an entry ``reg.err.<key>``."""
    return t(language, f"reg.err.{error.key}")


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


def display_phone(e164: str | None) -> str:
    """+8613800138000 -> 138 0013 8000 (the way people read their own number)."""
    if not e164:
        return ""
    national = e164[3:] if e164.startswith("+86") else e164
    if len(national) == 11:
        return f"{national[:3]} {national[3:7]} {national[7:]}"
    return national


def _today(branch: Branch | None, now: datetime) -> date:
    return now.astimezone(ZoneInfo(branch.timezone if branch else "Asia/Shanghai")).date()


def is_label(text: str, key: str) -> bool:
    """Whether typed text is the label of a keyboard button (back, cancel) in either language."""
    wanted = " ".join(text.split())
    return any(wanted == t(language, key) for language in LANGUAGES)


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
    session: AsyncSession, language: str, values: Values, *, full_phone: bool = True
) -> str:
    """The fields as lines "label: value", with "not given" for the empty optional ones."""
    unset = t(language, "reg.unset")
    township, village = await place_names(session, values.township_id, values.village_id)
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


# -- screens ----------------------------------------------------------------------------------------
def _back_cancel(language: str) -> tuple[Button, ...]:
    return (
        Button(t(language, "common.back"), data="reg:back"),
        Button(t(language, "common.cancel"), data="reg:cancel"),
    )


def _rows(buttons: list[Button], per_row: int) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def _paged(
    options: list[tuple[int, str]], page: int, pick: str, turn: str, language: str
) -> list[tuple[Button, ...]]:
    pages = max(1, -(-len(options) // OPTIONS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chunk = options[page * OPTIONS_PER_PAGE : (page + 1) * OPTIONS_PER_PAGE]
    rows = _rows([Button(name, data=f"reg:{pick}:{oid}") for oid, name in chunk], 2)
    pager = []
    if page > 0:
        pager.append(Button(t(language, "reg.btn.prev_page"), data=f"reg:{turn}:{page - 1}"))
    if page < pages - 1:
        pager.append(Button(t(language, "reg.btn.next_page"), data=f"reg:{turn}:{page + 1}"))
    if pager:
        rows.append(tuple(pager))
    return rows


async def screen_for(
    session: AsyncSession,
    step: str,
    data: dict[str, Any],
    language: str,
    *,
    error: str | None = None,
    head: str | None = None,
    page: int = 0,
    now: datetime,
) -> Screen:
    """The question of ``step``, after an optional error line (a refused answer) or heading."""
    branch = await session.get(Branch, data.get("branch_id")) if data.get("branch_id") else None
    lead = "".join(f"{line}\n" for line in (head, error) if line)

    def screen(key: str, rows: list[tuple[Button, ...]] | None = None, **params: object) -> Screen:
        return Screen(lead + t(language, key, **params), buttons=(*(rows or ()), _back_cancel(language)))

    if step == "notice":
        return Screen(
            lead
            + t(
                language,
                "reg.notice",
                branch=branch.name if branch else "",
                city=branch.city if branch else "",
                version=NOTICE_VERSION,
            ),
            buttons=(
                (
                    Button(t(language, "reg.btn.continue"), data="reg:go"),
                    Button(t(language, "common.cancel"), data="reg:cancel"),
                ),
                # The application to join is another feature's flow; its handler answers "apply:start".
                (Button(t(language, "reg.btn.not_member"), data="apply:start"),),
            ),
        )
    if step == "consent":
        return Screen(
            lead + t(language, "reg.consent"),
            buttons=(
                (
                    Button(t(language, "reg.btn.agree"), data="reg:cs:y"),
                    Button(t(language, "reg.btn.disagree"), data="reg:cs:n"),
                ),
                _back_cancel(language),
            ),
        )
    if step == "name":
        return screen("reg.ask_name")
    if step == "phone":
        return Screen(
            lead + t(language, "reg.ask_phone"),
            contact=(
                t(language, "reg.btn.share_phone"),
                t(language, "common.back"),
                t(language, "common.cancel"),
            ),
        )
    if step == "township":
        townships = [(tw.id, tw.name) for tw in await session.scalars(select(Township).order_by(Township.id))]
        if not townships:
            return screen("reg.no_townships")
        return screen("reg.ask_township", _paged(townships, page, "tw", "tp", language))
    if step == "village":
        township, _ = await place_names(session, data.get("township_id"), None)
        villages = [
            (v.id, v.name)
            for v in await session.scalars(
                select(VillageBranch)
                .where(VillageBranch.township_id == data.get("township_id"))
                .order_by(VillageBranch.name)
            )
        ]
        return screen("reg.ask_village", _paged(villages, page, "vb", "vp", language), township=township)
    if step == "status":
        return screen(
            "reg.ask_status",
            [
                (
                    Button(t(language, "reg.status.full"), data="reg:ps:full"),
                    Button(t(language, "reg.status.probationary"), data="reg:ps:probationary"),
                )
            ],
        )
    today = _today(branch, now)
    if step == "year":
        newest = today.year - page * YEARS_PER_PAGE
        years = [y for y in range(newest, newest - YEARS_PER_PAGE, -1) if y >= PARTY_FOUNDED.year]
        rows = _rows([Button(str(y), data=f"reg:yr:{y}") for y in years], 4)
        pager = []
        if years and years[-1] > PARTY_FOUNDED.year:
            pager.append(Button(t(language, "reg.btn.earlier"), data=f"reg:yp:{page + 1}"))
        if page > 0:
            pager.append(Button(t(language, "reg.btn.later"), data=f"reg:yp:{page - 1}"))
        if pager:
            rows.append(tuple(pager))
        return screen("reg.ask_year", rows)
    if step == "month":
        year = int(data.get("year") or today.year)
        months = [
            m
            for m in range(1, 13)
            if (PARTY_FOUNDED.year, PARTY_FOUNDED.month) <= (year, m) <= (today.year, today.month)
        ]
        labels = [Button(t(language, "reg.month_label", month=m), data=f"reg:mo:{m}") for m in months]
        return screen("reg.ask_month", _rows(labels, 4), year=year)
    if step == "day":
        year, month = int(data.get("year") or today.year), int(data.get("month") or 1)
        days = []
        for d in range(1, 32):
            try:
                day = date(year, month, d)
            except ValueError:
                break
            if PARTY_FOUNDED <= day <= today:
                days.append(Button(str(d), data=f"reg:dy:{d}"))
        rows = _rows(days, 7)
        if days:  # many remember the month, not the day: record the 1st and say so
            rows.append((Button(t(language, "reg.btn.day_unknown"), data="reg:dy:1"),))
        return screen("reg.ask_day", rows, year=year, month=month)
    if step == "card":
        return screen("reg.ask_card", [(Button(t(language, "common.skip"), data="reg:skip"),)])
    if step == "district":
        # The districts this branch's members gave already, as buttons; typing another is fine too.
        known = await _branch_districts(session, branch.id) if branch else []
        picks = [Button(name, data=f"reg:ds:{i}") for i, name in enumerate(known)]
        return screen(
            "reg.ask_district",
            [*_rows(picks, 3), (Button(t(language, "common.skip"), data="reg:skip"),)],
            city=branch.city if branch else "",
        )
    if step == "employer":
        trades = [Button(t(language, f"reg.trade.{key}"), data=f"reg:tr:{key}") for key in TRADES]
        return screen(
            "reg.ask_employer", [*_rows(trades, 4), (Button(t(language, "common.skip"), data="reg:skip"),)]
        )
    # summary
    body = await summary_body(session, language, Values.of_draft(data))
    edit = [Button(t(language, f"reg.btn.edit_{group}"), data=f"reg:ed:{group}") for group in GROUPS]
    return Screen(
        lead + t(language, "reg.summary", body=body),
        buttons=(
            *_rows(edit, 4),
            (Button(t(language, "reg.btn.submit"), data="reg:submit"),),
            _back_cancel(language),
        ),
    )


# -- moving through the form -----------------------------------------------------------------------
DISTRICT_BUTTONS = 9


async def _branch_districts(session: AsyncSession, branch_id: int) -> list[str]:
    """The city districts members of this branch gave, most common first (names are encrypted, so they
    are read and counted here: a branch has tens of members, a few hundred at most)."""
    counts: dict[str, int] = {}
    for value in await session.scalars(
        select(Member.city_district).where(Member.branch_id == branch_id, Member.city_district.is_not(None))
    ):
        if value:
            counts[value] = counts.get(value, 0) + 1
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:DISTRICT_BUTTONS]


async def _has_villages(session: AsyncSession, township_id: int | None) -> bool:
    if township_id is None:
        return False
    return (
        await session.scalar(
            select(VillageBranch.id).where(VillageBranch.township_id == township_id).limit(1)
        )
    ) is not None


def _complete(data: dict[str, Any]) -> bool:
    return all(data.get(k) for k in ("name", "phone", "township_id", "status", "joined"))


async def _after(session: AsyncSession, step: str, data: dict[str, Any]) -> str:
    """The step that follows ``step``: the next one, or back to the summary when editing one field."""
    if data.get("ret") and step in _GROUP_OF and step == GROUPS[_GROUP_OF[step]][-1]:
        data.pop("ret", None)
        return "summary"
    if step == "consent" and _complete(data):
        return "summary"  # a returned report-in, or a new notice version: nothing to fill in again
    following = STEPS[STEPS.index(step) + 1] if step != "summary" else "summary"
    if following == "village" and not await _has_villages(session, data.get("township_id")):
        data["village_id"] = None
        return await _after(session, "village", data)
    return following


async def _before(session: AsyncSession, step: str, data: dict[str, Any]) -> str:
    if data.get("ret") and step in _GROUP_OF and step == GROUPS[_GROUP_OF[step]][0]:
        data.pop("ret", None)
        return "summary"
    if step == "notice":
        return "notice"
    previous = STEPS[STEPS.index(step) - 1]
    if previous == "village" and not await _has_villages(session, data.get("township_id")):
        return "township"
    return previous


async def _go(
    session: AsyncSession,
    person_id: int,
    data: dict[str, Any],
    left: str,
    step: str,
    language: str,
    now: datetime,
    *,
    note: str | None = None,
    error: str | None = None,
    page: int = 0,
) -> Reply:
    """Save the draft at ``step`` and show its question (closing the phone keyboard when leaving it)."""
    await save_draft(session, person_id, FLOW, step, data)
    await session.flush()
    screens = []
    if left == "phone" and step != "phone":
        screens.append(Screen(note or t(language, "reg.keyboard_closed"), remove_keyboard=True))
    screens.append(await screen_for(session, step, data, language, error=error, page=page, now=now))
    return Reply(screens=tuple(screens))


async def _again(
    session: AsyncSession, draft: Draft, language: str, now: datetime, error: str, page: int = 0
) -> Reply:
    """A refused answer: say why and ask the same question again."""
    screen = await screen_for(
        session, draft.step, dict(draft.data), language, error=error, page=page, now=now
    )
    return Reply(screens=(screen,), edit=False)


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


def _member_block(language: str, member: Member, branch: Branch | None) -> Reply | None:
    """Why this person cannot start a report-in now, if they cannot."""
    name = branch.name if branch else ""
    if member.state == MemberState.APPROVED:
        return Reply.say(t(language, "reg.member_elsewhere", branch=name))
    if member.state == MemberState.LEAVING:
        return Reply.say(t(language, "reg.leaving_first", branch=name))
    if member.state == MemberState.PENDING:
        return Reply.say(t(language, "reg.pending", branch=name))
    return None


async def open_invite(
    session: AsyncSession, *, person_id: int, code: str, language: str, now: datetime
) -> Reply:
    """An invite link was followed: start (or resume) the report-in to that branch."""
    branch = await admin.branch_for_invite(session, code)
    if branch is None:
        return Reply.say(t(language, "reg.bad_invite"))
    member = await member_of(session, person_id)
    if member is not None:
        if member.state == MemberState.APPROVED and member.branch_id == branch.id:
            return Reply.say(t(language, "reg.already_member_here", branch=branch.name))
        block = _member_block(language, member, await session.get(Branch, member.branch_id))
        if block is not None:
            return block
        if member.state == MemberState.RETURNED and member.branch_id == branch.id:
            draft = await get_draft(session, person_id, FLOW)
            if draft is None or draft.data.get("branch_id") != branch.id:
                return await reopen_returned(session, person_id=person_id, language=language, now=now)
    draft = await get_draft(session, person_id, FLOW)
    if draft is not None and draft.data.get("branch_id") == branch.id:
        return await _resume_draft(session, draft, language, now)
    data: dict[str, Any] = {"branch_id": branch.id}
    await save_draft(session, person_id, FLOW, "notice", data)
    audit.record(
        session, actor_person_id=person_id, action="register.start", target_type="branch", target_id=branch.id
    )
    await session.flush()
    return Reply(screens=(await screen_for(session, "notice", data, language, now=now),))


async def _resume_draft(session: AsyncSession, draft: Draft, language: str, now: datetime) -> Reply:
    screen = await screen_for(
        session, draft.step, dict(draft.data), language, head=t(language, "reg.resume"), now=now
    )
    return Reply(screens=(screen,), edit=False)


async def resume(session: AsyncSession, *, person_id: int, language: str, now: datetime) -> Reply | None:
    """A plain /start: the open report-in form, or a returned one to correct; None when there is none."""
    draft = await get_draft(session, person_id, FLOW)
    if draft is not None:
        return await _resume_draft(session, draft, language, now)
    member = await member_of(session, person_id)
    if member is not None and member.state == MemberState.RETURNED:
        return await reopen_returned(session, person_id=person_id, language=language, now=now)
    if member is not None and member.state == MemberState.PENDING:
        branch = await session.get(Branch, member.branch_id)
        since = (member.submitted_at or now).astimezone(
            ZoneInfo(branch.timezone if branch else "Asia/Shanghai")
        )
        return Reply.say(
            t(
                language,
                "reg.pending_since",
                branch=branch.name if branch else "",
                since=since.strftime("%Y-%m-%d %H:%M"),
                name=member.name or "",
            )
        )
    return None


async def reopen_returned(session: AsyncSession, *, person_id: int, language: str, now: datetime) -> Reply:
    """Open the returned report-in as a draft at the summary, with the secretary's request on top."""
    member = await member_of(session, person_id)
    if member is None or member.state != MemberState.RETURNED:
        return already_done(language)
    data = Values.of_member(member).draft_data()
    data.update(branch_id=member.branch_id, member_id=member.id)
    await save_draft(session, person_id, FLOW, "summary", data)
    await session.flush()
    head = t(language, "reg.fix_head", reason=member.decision_reason or "")
    return Reply(
        screens=(await screen_for(session, "summary", data, language, head=head, now=now),), edit=False
    )


async def _cancel(session: AsyncSession, person_id: int, draft: Draft, language: str) -> Reply:
    fixing = bool(draft.data.get("member_id"))
    await clear_draft(session, person_id, FLOW)
    audit.record(
        session,
        actor_person_id=person_id,
        action="register.cancel",
        target_type="person",
        target_id=person_id,
    )
    await session.flush()
    text = t(language, "reg.fix_cancelled" if fixing else "reg.cancelled")
    return Reply.say(text, remove_keyboard=draft.step == "phone")


async def _stale(session: AsyncSession, person_id: int, language: str) -> Reply:
    audit.record(session, actor_person_id=person_id, action="register.button", result="stale")
    await session.flush()
    return stale(language)


def wrong_kind(language: str, step: str) -> str:
    """What to say when the answer is of the wrong kind: a step wants typing, or a button."""
    return t(language, "reg.text_please" if step in TYPED_STEPS else "reg.use_buttons")


def _int(text: str) -> int | None:
    return int(text) if text.isdecimal() and len(text) < 10 else None


async def press(session: AsyncSession, *, person_id: int, language: str, data: str, now: datetime) -> Reply:
    """A button of the form (``reg:<action>[:<arg>]``), re-checked against the sender's draft."""
    _, _, rest = data.partition(":")
    action, _, arg = rest.partition(":")
    if action == "fix":
        return await reopen_returned(session, person_id=person_id, language=language, now=now)
    if action == "again":  # after 不同意: read the notice again, without hunting for the invite link
        branch = await session.get(Branch, _int(arg)) if _int(arg) else None
        if branch is None:
            return await _stale(session, person_id, language)
        return await open_invite(
            session, person_id=person_id, code=branch.invite_code, language=language, now=now
        )
    draft = await get_draft(session, person_id, FLOW)
    if draft is None:
        return await _stale(session, person_id, language)
    step, values = draft.step, dict(draft.data)
    if action == "cancel":
        return await _cancel(session, person_id, draft, language)
    if action == "back":
        return await _go(
            session, person_id, values, step, await _before(session, step, values), language, now
        )
    if step not in _BUTTON_STEPS.get(action, frozenset()):
        return await _stale(session, person_id, language)
    branch = await session.get(Branch, values.get("branch_id"))
    if branch is None:
        return await _cancel(session, person_id, draft, language)
    today = _today(branch, now)

    async def advance(done: str, **kwargs: Any) -> Reply:
        return await _go(
            session, person_id, values, step, await _after(session, done, values), language, now, **kwargs
        )

    if action == "go":
        return await advance("notice")
    if action == "cs":
        if arg not in ("y", "n"):
            return await _stale(session, person_id, language)
        await record_consent(session, person_id, arg == "y", branch.id, now)
        if arg == "n":
            await clear_draft(session, person_id, FLOW)
            await session.flush()
            way_back = (
                (Button(t(language, "reg.btn.read_again"), data=f"reg:again:{branch.id}"),),
                (Button(t(language, "reg.btn.not_member"), data="apply:start"),),
            )
            return Reply.say(t(language, "reg.refused"), buttons=way_back)
        values["consent"] = NOTICE_VERSION
        return await advance("consent")
    if action in ("tp", "vp", "yp"):
        page = _int(arg)
        if page is None:
            return await _stale(session, person_id, language)
        return Reply(screens=(await screen_for(session, step, values, language, page=page, now=now),))
    if action == "tw":
        township = await session.get(Township, _int(arg) or 0)
        if township is None:
            return await _stale(session, person_id, language)
        values["township_id"] = township.id
        values.pop("village_id", None)
        return await advance("township")
    if action == "vb":
        village = await session.get(VillageBranch, _int(arg) or 0)
        if village is None or village.township_id != values.get("township_id"):
            return await _stale(session, person_id, language)
        values["village_id"] = village.id
        return await advance("village")
    if action == "ps":
        if arg not in set(PartyStatus):
            return await _stale(session, person_id, language)
        values["status"] = arg
        try:
            check_joined(arg, Values.of_draft(values).joined, today)
        except JoinedInputError as exc:
            values["ret"] = "summary"
            return await _go(
                session, person_id, values, step, "year", language, now, error=error_text(language, exc)
            )
        return await advance("status")
    if action == "yr":
        year = _int(arg)
        if year is None or not PARTY_FOUNDED.year <= year <= today.year:
            return await _stale(session, person_id, language)
        values["year"] = year
        return await advance("year")
    if action == "mo":
        month, year = _int(arg), int(values.get("year") or 0)
        if month is None or not (PARTY_FOUNDED.year, PARTY_FOUNDED.month) <= (year, month) <= (
            today.year,
            today.month,
        ):
            return await _stale(session, person_id, language)
        values["month"] = month
        return await advance("month")
    if action == "dy":
        try:
            joined = date(int(values.get("year") or 0), int(values.get("month") or 0), _int(arg) or 0)
        except ValueError:
            return await _stale(session, person_id, language)
        if not PARTY_FOUNDED <= joined <= today:
            return await _stale(session, person_id, language)
        return await _set_joined(session, person_id, draft, values, joined, language, now, today)
    if action == "ds":  # a district another member of this branch gave
        known = await _branch_districts(session, branch.id)
        index = _int(arg)
        if index is None or not 0 <= index < len(known):
            return await _stale(session, person_id, language)
        values["district"] = known[index]
        return await advance("district")
    if action == "skip":
        values[step] = None
        return await advance(step)
    if action == "tr":
        if arg not in TRADES:
            return await _stale(session, person_id, language)
        # The ledger is kept in Chinese, so a chosen trade is stored as its Chinese name.
        values["employer"] = t("zh", f"reg.trade.{arg}")
        return await advance("employer")
    if action == "ed":
        if arg not in GROUPS:
            return await _stale(session, person_id, language)
        values["ret"] = "summary"
        return await _go(session, person_id, values, step, GROUPS[arg][0], language, now)
    # submit
    return await submit(session, person_id=person_id, draft=draft, language=language, now=now)


async def _set_joined(
    session: AsyncSession,
    person_id: int,
    draft: Draft,
    values: dict[str, Any],
    joined: date,
    language: str,
    now: datetime,
    today: date,
) -> Reply:
    try:
        check_joined(values.get("status"), joined, today)
    except JoinedInputError as exc:
        values.update(year=None, month=None, joined=None)
        return await _go(
            session, person_id, values, draft.step, "year", language, now, error=error_text(language, exc)
        )
    values.update(joined=joined.isoformat(), year=joined.year, month=joined.month)
    return await _go(
        session, person_id, values, draft.step, await _after(session, "day", values), language, now
    )


async def type_text(
    session: AsyncSession, *, person_id: int, draft: Draft, text: str, language: str, now: datetime
) -> Reply:
    """Typed text for the form's current step: validated, stored, and the next question asked."""
    step, values = draft.step, dict(draft.data)
    if is_label(text, "common.cancel"):
        return await _cancel(session, person_id, draft, language)
    if is_label(text, "common.back"):
        return await _go(
            session, person_id, values, step, await _before(session, step, values), language, now
        )
    branch = await session.get(Branch, values.get("branch_id"))
    today = _today(branch, now)
    try:
        if step == "name":
            values["name"] = clean_name(text)
        elif step == "phone":
            values["phone"] = read_phone(text)
            note = t(language, "reg.phone_saved", phone=display_phone(values["phone"]))
            return await _go(
                session,
                person_id,
                values,
                step,
                await _after(session, step, values),
                language,
                now,
                note=note,
            )
        elif step == "card":
            values["card"] = read_card(text)
        elif step == "district":
            values["district"] = clean_short_text(text, DISTRICT_MAX)
        elif step == "employer":
            values["employer"] = clean_short_text(text, EMPLOYER_MAX)
        elif step in ("year", "month", "day"):
            return await _typed_date(session, person_id, draft, values, text, language, now, today)
        else:
            return await _again(session, draft, language, now, wrong_kind(language, step))
    except RuleInputError as exc:
        return await _again(session, draft, language, now, error_text(language, exc))
    return await _go(session, person_id, values, step, await _after(session, step, values), language, now)


async def _typed_date(
    session: AsyncSession,
    person_id: int,
    draft: Draft,
    values: dict[str, Any],
    text: str,
    language: str,
    now: datetime,
    today: date,
) -> Reply:
    """A full date at any of the three date steps; a bare year, month or day at its own step."""
    step = draft.step
    number = _int(unicodedata.normalize("NFKC", text).strip().rstrip("年月日号"))
    if number is None or number > 9999:
        try:
            joined = parse_date(text, today)
        except DateInputError as exc:
            return await _again(session, draft, language, now, error_text(language, exc))
        return await _set_joined(session, person_id, draft, values, joined, language, now, today)
    year, month = int(values.get("year") or 0), int(values.get("month") or 0)
    if step == "year":
        if not PARTY_FOUNDED.year <= number <= today.year:
            code = "in_future" if number > today.year else "too_old" if number >= 1000 else "bad_format"
            return await _again(session, draft, language, now, error_text(language, DateInputError(code)))
        values["year"] = number
    elif step == "month":
        if not 1 <= number <= 12:
            return await _again(
                session, draft, language, now, error_text(language, DateInputError("bad_month"))
            )
        if not (PARTY_FOUNDED.year, PARTY_FOUNDED.month) <= (year, number) <= (today.year, today.month):
            code = "in_future" if (year, number) > (today.year, today.month) else "too_old"
            return await _again(session, draft, language, now, error_text(language, DateInputError(code)))
        values["month"] = number
    else:
        try:
            joined = date(year, month, number)
        except ValueError:
            return await _again(
                session, draft, language, now, error_text(language, DateInputError("no_such_day"))
            )
        if not PARTY_FOUNDED <= joined <= today:
            code = "in_future" if joined > today else "too_old"
            return await _again(session, draft, language, now, error_text(language, DateInputError(code)))
        return await _set_joined(session, person_id, draft, values, joined, language, now, today)
    return await _go(session, person_id, values, step, await _after(session, step, values), language, now)


async def share_contact(
    session: AsyncSession,
    *,
    person_id: int,
    draft: Draft,
    phone: str,
    is_own: bool,
    language: str,
    now: datetime,
) -> Reply:
    """A shared contact: at the phone step, one's own number is taken; anyone else's is refused."""
    if draft.step != "phone":
        return await _again(session, draft, language, now, wrong_kind(language, draft.step))
    values = dict(draft.data)
    try:
        values["phone"] = read_contact(phone, is_own)
    except RuleInputError as exc:
        return await _again(session, draft, language, now, error_text(language, exc))
    note = t(language, "reg.phone_saved", phone=display_phone(values["phone"]))
    return await _go(
        session, person_id, values, "phone", await _after(session, "phone", values), language, now, note=note
    )


async def other_input(session: AsyncSession, *, draft: Draft, language: str, now: datetime) -> Reply:
    """A photo, file or anything else where the form wants text or a button."""
    return await _again(session, draft, language, now, wrong_kind(language, draft.step))


async def _problem(session: AsyncSession, values: dict[str, Any], today: date) -> tuple[str, str] | None:
    """The first step still missing or inconsistent, with the message to show there."""
    for step, key in (
        ("name", "name"),
        ("phone", "phone"),
        ("township", "township_id"),
        ("status", "status"),
    ):
        if not values.get(key):
            return step, "reg.missing"
    if values.get("village_id") is None and await _has_villages(session, values.get("township_id")):
        return "village", "reg.missing"
    if not values.get("joined"):
        return "year", "reg.missing"
    try:
        check_joined(values.get("status"), date.fromisoformat(values["joined"]), today)
    except JoinedInputError as exc:
        return "year", f"reg.err.{exc.key}"
    return None


async def submit(
    session: AsyncSession, *, person_id: int, draft: Draft, language: str, now: datetime
) -> Reply:
    """Submit the form: the member row becomes pending and every officer of the branch is asked to decide."""
    values = dict(draft.data)
    branch = await session.get(Branch, values.get("branch_id"))
    if branch is None:
        return await _cancel(session, person_id, draft, language)
    problem = await _problem(session, values, _today(branch, now))
    if problem is not None:
        step, key = problem
        values["ret"] = "summary"
        return await _go(session, person_id, values, "summary", step, language, now, error=t(language, key))
    if not await has_consent(session, person_id):
        values.pop("consent", None)
        return await _go(session, person_id, values, "summary", "notice", language, now)
    member = await member_of(session, person_id)
    if member is not None:
        block = _member_block(language, member, await session.get(Branch, member.branch_id))
        if block is not None:
            await clear_draft(session, person_id, FLOW)
            await session.flush()
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
    await clear_draft(session, person_id, FLOW)
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
def parse_decision(data: str) -> tuple[str, int, int] | None:
    """``reg:ok|no|rt:<member id>:<revision>`` -> (decision, member id, revision)."""
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != "reg" or parts[1] not in DECISIONS:
        return None
    member_id, revision = _int(parts[2]), _int(parts[3])
    if member_id is None or revision is None:
        return None
    return DECISIONS[parts[1]], member_id, revision


async def _checked_member(
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


async def decide(session: AsyncSession, *, actor: Actor, data: str, language: str, now: datetime) -> Reply:
    """Approve at once, or ask the officer for the reason of a rejection or a return."""
    parsed = parse_decision(data)
    if parsed is None:
        audit.record(session, actor_person_id=actor.person_id, action="member.decide", result="stale")
        await session.flush()
        return stale(language)
    decision, member_id, revision = parsed
    member = await _checked_member(session, actor, member_id, revision, language, decision)
    if isinstance(member, Reply):
        return member
    if decision == "approve":
        return await _decide(session, actor, member, revision, decision, None, language, now)
    await save_draft(
        session, actor.person_id, REASON_FLOW, decision, {"member_id": member.id, "revision": revision}
    )
    await session.flush()
    key = "reg.ask_reject_reason" if decision == "reject" else "reg.ask_return_reason"
    cancel = ((Button(t(language, "common.cancel"), data="reg:rc"),),)
    return Reply(screens=(Screen(t(language, key, name=member.name or ""), buttons=cancel),), edit=False)


async def reason_text(
    session: AsyncSession, *, actor: Actor, draft: Draft, text: str, language: str, now: datetime
) -> Reply:
    """The officer's reason for a rejection or a return: record the decision and tell the member."""
    member_id, revision = draft.data.get("member_id"), draft.data.get("revision")
    if is_label(text, "common.cancel"):
        return await cancel_reason(session, actor=actor, language=language)
    try:
        reason = clean_short_text(text, REASON_MAX, multiline=True)
    except RuleInputError as exc:
        cancel = ((Button(t(language, "common.cancel"), data="reg:rc"),),)
        key = "reg.ask_reject_reason" if draft.step == "reject" else "reg.ask_return_reason"
        member = await session.get(Member, member_id)
        name = member.name if member and actor.leads_branch(member.branch_id) else ""
        return Reply.say(error_text(language, exc) + "\n" + t(language, key, name=name or ""), buttons=cancel)
    await clear_draft(session, actor.person_id, REASON_FLOW)
    await session.flush()
    member = await _checked_member(
        session, actor, int(member_id or 0), int(revision or 0), language, draft.step
    )
    if isinstance(member, Reply):
        return Reply.say(member.toast or "")
    return await _decide(session, actor, member, int(revision or 0), draft.step, reason, language, now)


async def cancel_reason(session: AsyncSession, *, actor: Actor, language: str) -> Reply:
    draft = await get_draft(session, actor.person_id, REASON_FLOW)
    if draft is None:
        return already_done(language)
    await clear_draft(session, actor.person_id, REASON_FLOW)
    await session.flush()
    return Reply.say(t(language, "reg.reason_cancelled"))


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
    on = _today(branch, now).isoformat()
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
