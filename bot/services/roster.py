"""The roster (台账) for a branch's officers: a paged, filtered, sorted list and the ledger sheet.

A member's card, opened from a page, lives in `bot.services.member_card`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ID_MAX, Callbacks, Id, Int, Word
from bot.dialog import Button, Reply, denied, stale
from bot.i18n import t
from bot.rules.errors import PhoneInputError
from bot.rules.phone import mask_phone, normalize_mobile
from bot.services import audit
from bot.services.export import Sheet
from bot.services.identity import Actor
from bot.services.registration import display_phone, status_label
from storage.crypto import keyring
from storage.models import Branch, Member, MemberState, PartyStatus, Person, Township, VillageBranch

PAGE_SIZE = 10
OFFSET_MAX = 1_000_000
# i: in the order they reported in; n: by name, in Unicode code-point order (names are encrypted, so they
# are sorted here, not in SQL; pinyin order is not attempted); t: by home township, then village, then name.
SORTS = ("i", "n", "t")
SILENT_CHOICES = (30, 60, 90, 180)
ON_ROSTER = (MemberState.APPROVED, MemberState.LEAVING)
# filter -> the catalogue key of its name in the page heading
FILTERS: dict[str, str] = {
    "all": "roster.filter.all",
    "full": "roster.filter.full",
    "prob": "roster.filter.prob",
    "pending": "roster.filter.pending",
    "unreach": "roster.filter.unreach",
    "silent": "roster.filter.silent",
    "tw": "roster.filter.tw",
    "left": "roster.filter.left",
    "phone": "roster.filter.phone",
}
PICKERS = ("twp", "silp")  # not filters: the screens that choose a township or a number of days
# Words a secretary may type after /members, in either language.
_ARG_WORDS = {
    "pending": "pending",
    "待审": "pending",
    "待审核": "pending",
    "unreachable": "unreach",
    "失联": "unreach",
    "full": "full",
    "正式": "full",
    "probationary": "prob",
    "预备": "prob",
    "left": "left",
    "已离开": "left",
    "silent": "silent",
    "久未联系": "silent",
    "沉默": "silent",
}

# -- the roster's buttons, declared once ---------------------------------------------------------------
# Every button of a page or a card carries the page it belongs to (filter, its argument, offset, sort), so
# a card's 返回 and its actions come back to the same page in the same order.
ROS = Callbacks("ros")
_PAGE = (Word, Int(0, ID_MAX), Int(0, OFFSET_MAX), Word)  # filter, argument, offset, sort
R_BRANCH = ROS.action("b", Id)  # an officer of several branches picked one
R_PAGE = ROS.action("p", Id, *_PAGE)  # branch, page
R_CARD = ROS.action("v", Id, *_PAGE)  # member, the page to come back to
R_REMIND = ROS.action("rm", Id, *_PAGE)  # remind the member to pay dues or to declare a base
R_MESSAGE = ROS.action("msg", Id, *_PAGE)  # type a message to relay to the member
R_LEFT = ROS.action("lv", Id, Int(0, ID_MAX))  # member, revision: confirm that they left the city


@dataclass(frozen=True)
class RosterQuery:
    """Which members to list: a branch, a filter (with its argument), the page's offset and the order."""

    branch_id: int
    kind: str = "all"
    arg: int = 0
    offset: int = 0
    sort: str = "i"

    @property
    def page(self) -> tuple[str, int, int, str]:
        """The fields a button carries to come back to this page."""
        return (self.kind, self.arg, min(self.offset, OFFSET_MAX), self.sort)

    def data(self, **changes: Any) -> str:
        q = replace(self, **changes)
        return R_PAGE.data(q.branch_id, *q.page)

    @classmethod
    def of(cls, branch_id: int, kind: str, arg: int, offset: int, sort: str) -> RosterQuery | None:
        """The query a button names, or None when its filter or order is none of ours (stale)."""
        if kind not in (*FILTERS, *PICKERS) or sort not in SORTS:
            return None
        return cls(branch_id, kind, arg, offset, sort)


def parse_args(args: list[str]) -> tuple[str, int, str | None]:
    """``/members pending`` / ``silent 45`` / a phone number -> (filter, argument, phone in E.164)."""
    if not args:
        return "all", 0, None
    word = args[0].lower()
    if word in _ARG_WORDS:
        kind = _ARG_WORDS[word]
        if kind == "silent":
            days = args[1] if len(args) > 1 else ""
            return kind, int(days) if days.isdecimal() and 0 < int(days) < 10_000 else SILENT_CHOICES[0], None
        return kind, 0, None
    try:
        return "phone", 0, normalize_mobile(" ".join(args))
    except PhoneInputError:
        return "bad", 0, None


def _filtered(query: Select[Any], q: RosterQuery, now: datetime, phone: str | None = None) -> Select[Any]:
    query = query.where(Member.branch_id == q.branch_id)
    if q.kind == "pending":
        return query.where(Member.state == MemberState.PENDING)
    if q.kind == "left":
        return query.where(Member.state == MemberState.LEFT)
    if q.kind == "phone":
        # The blind index under every key, so a look-up works in the middle of a key rotation.
        indexes = keyring().blind_indexes(phone) if phone else []
        return query.where(Member.phone_index.in_(indexes), Member.state != MemberState.ERASED)
    query = query.where(Member.state.in_(ON_ROSTER))
    if q.kind == "full":
        return query.where(Member.party_status == PartyStatus.FULL)
    if q.kind == "prob":
        return query.where(Member.party_status == PartyStatus.PROBATIONARY)
    if q.kind == "tw":
        return query.where(Member.township_id == q.arg)
    if q.kind == "unreach":
        return query.where(Person.unreachable.is_(True))
    if q.kind == "silent":
        since = now - timedelta(days=max(q.arg, 1))
        return query.where((Person.last_seen_at < since) | Person.last_seen_at.is_(None))
    return query


def deny(session: AsyncSession, actor: Actor, action: str, branch_id: int | None, language: str) -> Reply:
    """The core's refusal, audited (the entry commits with the event)."""
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="branch",
        target_id=branch_id,
        result="denied",
        branch_id=branch_id,
    )
    return denied(language)


async def choose_branch(session: AsyncSession, actor: Actor, prefix: str, language: str) -> Reply | int:
    """The one branch the officer leads, or a screen to pick one (``prefix`` + branch id)."""
    branches = sorted(actor.secretary_branches)
    if len(branches) == 1:
        return branches[0]
    rows = await session.scalars(select(Branch).where(Branch.id.in_(branches)).order_by(Branch.id))
    buttons = tuple((Button(b.name, data=f"{prefix}{b.id}"),) for b in rows)
    return Reply.say(t(language, "roster.choose_branch"), buttons=buttons)


async def open_roster(
    session: AsyncSession, *, actor: Actor, args: list[str], language: str, now: datetime
) -> Reply:
    """/members [filter]: the first page of the branch's roster."""
    if not actor.secretary_branches:
        return deny(session, actor, "roster.list", None, language)
    kind, arg, phone = parse_args(args)
    if kind == "bad":
        return Reply.say(t(language, "roster.bad_args"))
    chosen = await choose_branch(session, actor, "ros:b:", language)
    if isinstance(chosen, Reply):
        return chosen
    return await page(
        session, actor=actor, query=RosterQuery(chosen, kind, arg), language=language, now=now, phone=phone
    )


def _filter_rows(q: RosterQuery, language: str) -> list[tuple[Button, ...]]:
    def button(kind: str) -> Button:
        label = t(language, f"roster.btn.{kind}")
        return Button(label, data=q.data(kind=kind, arg=0, offset=0))

    return [
        tuple(button(k) for k in ("all", "full", "prob", "pending")),
        tuple(button(k) for k in ("unreach", "silp", "twp", "left")),
    ]


def _in_order(rows: Sequence[Any], sort: str) -> list[Any]:
    """(id, name, township, village) rows in the chosen order, by code point; a missing value sorts last."""

    def text(value: str | None) -> str:
        return value if value else "\U0010ffff"

    if sort == "n":
        return sorted(rows, key=lambda r: (text(r[1]), r[0]))
    return sorted(rows, key=lambda r: (text(r[2]), text(r[3]), text(r[1]), r[0]))


async def page(
    session: AsyncSession,
    *,
    actor: Actor,
    query: RosterQuery,
    language: str,
    now: datetime,
    phone: str | None = None,
) -> Reply:
    """One page of the roster: at most PAGE_SIZE members. In report-in order the page is read with
    LIMIT/OFFSET; by name or place, the branch's keys (a branch holds tens of members, a few hundred at
    most) are read and ordered here, since names are encrypted, then the page's rows are read."""
    if not actor.leads_branch(query.branch_id):
        return deny(session, actor, "roster.list", query.branch_id, language)
    branch = await session.get(Branch, query.branch_id)
    if query.kind == "twp":
        return await _township_picker(session, query, branch, language)
    if query.kind == "silp":
        rows = [
            tuple(
                Button(t(language, "roster.days", days=d), data=query.data(kind="silent", arg=d))
                for d in SILENT_CHOICES
            )
        ]
        rows.append((Button(t(language, "common.back"), data=query.data(kind="all")),))
        return Reply.say(t(language, "roster.choose_days"), buttons=tuple(rows))
    if query.kind == "phone" and phone is None:
        return stale(language)  # a phone search is typed, never carried in a button
    base = select(Member.id).join(Person, Person.id == Member.person_id)
    total = await session.scalar(
        select(func.count()).select_from(_filtered(base, query, now, phone).subquery())
    )
    offset = min(query.offset, max(total - 1, 0) // PAGE_SIZE * PAGE_SIZE)
    with_place = (
        select(Member.id)
        .join(Person, Person.id == Member.person_id)
        .outerjoin(Township, Township.id == Member.township_id)
        .outerjoin(VillageBranch, VillageBranch.id == Member.village_branch_id)
    )
    ordered: list[int] | None = None
    if query.sort in ("n", "t"):
        keys = (
            await session.execute(
                _filtered(
                    with_place.with_only_columns(Member.id, Member.name, Township.name, VillageBranch.name),
                    query,
                    now,
                    phone,
                )
            )
        ).all()
        ordered = [row[0] for row in _in_order(keys, query.sort)][offset : offset + PAGE_SIZE]
    listed = _filtered(
        with_place.with_only_columns(
            Member.id,
            Member.name,
            Member.phone,
            Member.party_status,
            Member.state,
            Township.name,
            VillageBranch.name,
        ),
        query,
        now,
        phone,
    )
    if ordered is not None:
        found = {row[0]: row for row in (await session.execute(listed.where(Member.id.in_(ordered)))).all()}
        rows = [found[i] for i in ordered if i in found]
    else:
        rows = (await session.execute(listed.order_by(Member.id).limit(PAGE_SIZE).offset(offset))).all()
    label = t(language, FILTERS[query.kind], days=query.arg, township=await _township_name(session, query))
    lines = [t(language, "roster.head", branch=branch.name, filter=label, total=total)]
    # Where a card comes back to: this page (a phone search is typed, so its cards come back to the list).
    here = replace(query, offset=offset)
    if query.kind == "phone":
        here = RosterQuery(query.branch_id, sort=query.sort)
    numbers = []
    for i, (member_id, name, phone_value, status, state, township, village) in enumerate(
        rows, start=offset + 1
    ):
        extra = "" if state == MemberState.APPROVED else f" [{t(language, f'roster.state.{state}')}]"
        place = "".join(p for p in (township, village) if p)
        lines.append(
            f"{i}. {name or ''} {mask_phone(phone_value) if phone_value else ''} {place} "
            f"{status_label(language, status)}{extra}".rstrip()
        )
        numbers.append(Button(str(i), data=R_CARD.data(member_id, *here.page)))
    if not rows:
        lines.append(t(language, "roster.empty"))
    buttons = [tuple(numbers[i : i + 5]) for i in range(0, len(numbers), 5)]
    pager = []
    if offset > 0:
        pager.append(
            Button(t(language, "reg.btn.prev_page"), data=query.data(offset=max(offset - PAGE_SIZE, 0)))
        )
    if offset + PAGE_SIZE < total:
        pager.append(Button(t(language, "reg.btn.next_page"), data=query.data(offset=offset + PAGE_SIZE)))
    if pager:
        buttons.append(tuple(pager))
    buttons += _filter_rows(here, language)
    buttons.append(
        tuple(
            Button(
                ("· " if key == query.sort else "") + t(language, f"roster.sort.{key}"),
                data=here.data(sort=key, offset=0),
            )
            for key in SORTS
        )
    )
    return Reply.say("\n".join(lines), buttons=tuple(buttons))


async def _township_name(session: AsyncSession, query: RosterQuery) -> str:
    if query.kind != "tw":
        return ""
    township = await session.get(Township, query.arg)
    return township.name if township else ""


async def _township_picker(session: AsyncSession, query: RosterQuery, branch: Branch, language: str) -> Reply:
    """The home townships that have members on this branch's roster."""
    townships = (
        await session.execute(
            select(Township.id, Township.name)
            .where(
                Township.id.in_(
                    select(Member.township_id).where(
                        Member.branch_id == query.branch_id, Member.state.in_(ON_ROSTER)
                    )
                )
            )
            .order_by(Township.name)
        )
    ).all()
    buttons = [(Button(name, data=query.data(kind="tw", arg=tid, offset=0)),) for tid, name in townships[:30]]
    buttons.append((Button(t(language, "common.back"), data=query.data(kind="all", arg=0, offset=0)),))
    text = t(language, "roster.choose_township" if townships else "roster.empty")
    return Reply.say(text, buttons=tuple(buttons))


# -- the ledger sheet of /export ---------------------------------------------------------------------
ROSTER_COLUMNS = (
    "no",
    "name",
    "phone",
    "township",
    "village",
    "status",
    "joined",
    "card",
    "district",
    "employer",
    "state",
    "submitted",
    "decided",
    "last_seen",
)


async def roster_sheet(session: AsyncSession, branch_id: int, language: str) -> Sheet:
    """Everyone who reported in to the branch (erased records left out), in report-in order."""
    branch = await session.get(Branch, branch_id)
    tz = ZoneInfo(branch.timezone)

    def local(value: datetime | None) -> datetime | None:
        return value.astimezone(tz).replace(tzinfo=None, microsecond=0) if value else None

    result = await session.execute(
        select(Member, Township.name, VillageBranch.name, Person.last_seen_at)
        .join(Person, Person.id == Member.person_id)
        .outerjoin(Township, Township.id == Member.township_id)
        .outerjoin(VillageBranch, VillageBranch.id == Member.village_branch_id)
        .where(Member.branch_id == branch_id, Member.state != MemberState.ERASED)
        .order_by(Member.id)
    )
    rows = []
    counts = {PartyStatus.FULL: 0, PartyStatus.PROBATIONARY: 0}
    on_roster = 0
    for number, (member, township, village, seen) in enumerate(result.all(), start=1):
        if member.state in ON_ROSTER:
            on_roster += 1
            if member.party_status in counts:
                counts[member.party_status] += 1
        rows.append(
            [
                number,
                member.name,
                display_phone(member.phone),
                township,
                village,
                status_label(language, member.party_status),
                member.joined_party_on,
                member.activity_card_no,
                member.city_district,
                member.employer,
                t(language, f"roster.state.{member.state}"),
                local(member.submitted_at),
                local(member.decided_at),
                local(seen),
            ]
        )
    totals = [
        t(language, "export.total"),
        t(
            language,
            "export.roster_totals",
            count=on_roster,
            full=counts[PartyStatus.FULL],
            probationary=counts[PartyStatus.PROBATIONARY],
        ),
    ]
    return Sheet(
        title=t(language, "export.roster_title"),
        headers=[t(language, f"export.col.{c}") for c in ROSTER_COLUMNS],
        rows=rows,
        totals=totals,
    )
