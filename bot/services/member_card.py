"""A member's card, for the officers of the member's branch: the record, then dues, this year's activity
days and study (each read through its feature's services), and what an officer can do from there: remind
the member to pay or to declare a base, relay a short message to them, go back to the same roster page.

Every action re-checks the sender against the member's branch (anyone else gets the core's refusal,
audited), is audited itself, and reaches the member through the outbox. Nothing here commits: the core
commits the event once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog import Button, Reply, Screen, denied, stale
from bot.i18n import t
from bot.rules.validate import clean_short_text
from bot.services import activity, audit, dues, study
from bot.services.drafts import clear_draft
from bot.services.identity import Actor, language_of
from bot.services.outbox import notify_person, route_to
from bot.services.registration import (
    Values,
    decision_buttons,
    summary_body,
)
from bot.services.roster import ON_ROSTER, R_CARD, R_LEFT, R_MESSAGE, R_REMIND, RosterQuery
from storage.models import Branch, Member, MemberState, Person, Role

MESSAGE_FLOW = "ros_msg"  # the officer's draft while they type a message to a member
MESSAGE_MAX = 500
Page = tuple[str, int, int, str]  # the roster page a card came from: filter, argument, offset, sort

_PAID = (dues.MonthStatus.CONFIRMED, dues.MonthStatus.REPORTED, dues.MonthStatus.HOME)
_OWED = (dues.MonthStatus.UNPAID, dues.MonthStatus.REJECTED)


# -- what the card shows ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DuesStatus:
    """The member's dues over the months the branch may still collect (the make-up window)."""

    opened: bool  # the branch opened at least one month the member owes dues for
    paid: int  # months paid here or at home (reported ones included)
    reported: int  # of those, reported by the member and not yet confirmed
    exempt: int
    owed: tuple[date, ...]
    owed_amount: Decimal | None  # None when it cannot be known: no base declared
    declaration: dues.DeclarationView | None
    monthly: Decimal | None  # what the current month costs under the declaration

    @property
    def reminder(self) -> str | None:
        """What a reminder would ask: to declare a base (none declared), to pay (months owed), nothing."""
        if self.declaration is None or (self.owed and self.owed_amount is None):
            return "declare"
        return "pay" if self.owed else None


async def dues_status(session: AsyncSession, actor: Actor, member: Member, now: datetime) -> DuesStatus:
    """The member's dues as the dues feature computes them for an officer (`dues.member_for_officer`)."""
    view = await dues.member_for_officer(
        session, member_id=member.id, actor=actor, now=now, action="roster.card"
    )
    lines = view.overview.lines
    owed = [line for line in lines if line.status in _OWED]
    amounts = [line.due.amount if line.due is not None else None for line in owed]
    known = None not in amounts
    return DuesStatus(
        opened=any(line.status not in (dues.MonthStatus.NOT_OPEN, dues.MonthStatus.BEFORE) for line in lines),
        paid=sum(1 for line in lines if line.status in _PAID),
        reported=sum(1 for line in lines if line.status == dues.MonthStatus.REPORTED),
        exempt=sum(1 for line in lines if line.status == dues.MonthStatus.EXEMPT),
        owed=tuple(sorted(line.month for line in owed)),
        owed_amount=sum((a for a in amounts if a is not None), Decimal("0.00")) if known else None,
        declaration=view.overview.declaration,
        monthly=view.overview.current.amount if view.overview.current is not None else None,
    )


def _yuan(language: str, amount: Decimal) -> str:
    return t(language, "dues.yuan", amount=amount)


def dues_lines(language: str, status: DuesStatus) -> list[str]:
    """Months paid and owed (an unknown amount is said so, never totalled as zero), and the base."""
    lines = []
    if not status.opened:
        lines.append(t(language, "card.dues_none"))
    else:
        parts = [t(language, "card.dues_paid", count=status.paid)]
        if status.reported:
            parts[0] += t(language, "card.dues_reported", count=status.reported)
        if status.exempt:
            parts.append(t(language, "card.dues_exempt", count=status.exempt))
        parts.append(t(language, "card.dues_owed", count=len(status.owed)))
        joined = t(language, "card.sep").join(parts)
        lines.append(t(language, "card.dues", window=dues.WINDOW, parts=joined))
        if status.owed:
            months = dues.months_label(language, status.owed)
            if status.owed_amount is None:
                lines.append(t(language, "card.dues_owed_unknown", months=months))
            else:
                lines.append(
                    t(
                        language,
                        "card.dues_owed_amount",
                        months=months,
                        amount=_yuan(language, status.owed_amount),
                    )
                )
    declaration = status.declaration
    if declaration is None:
        lines.append(t(language, "card.dues_no_base"))
    else:
        category = t(language, f"dues.cat.{declaration.category.value}")
        monthly = _yuan(language, status.monthly) if status.monthly is not None else "—"
        if declaration.base is not None:
            base = _yuan(language, declaration.base)
            lines.append(t(language, "card.dues_base", category=category, base=base, amount=monthly))
        else:
            lines.append(t(language, "card.dues_fixed", category=category, amount=monthly))
    return lines


def activity_line(language: str, year: activity.YearAttendance) -> str:
    if not year.held:
        return t(language, "card.activity_none", year=year.year)
    return t(
        language,
        "card.activity",
        year=year.year,
        held=year.held,
        attended=year.attended,
        excused=year.excused,
        absent=year.absent,
    )


def study_line(language: str, progress: study.StudyProgress) -> str:
    if not progress.published and not progress.open:
        return t(language, "card.study_none", year=progress.year)
    line = t(
        language, "card.study", year=progress.year, published=progress.published, done=progress.checked_in
    )
    if progress.open:
        line += t(language, "card.study_open", count=progress.open)
    return line


# -- who may open a card and act on it ------------------------------------------------------------------
async def _led_member(
    session: AsyncSession, actor: Actor, member_id: int, action: str, language: str
) -> Member | Reply:
    """The member, when the sender leads the member's branch; else the core's refusal, audited."""
    member = await session.get(Member, member_id)
    if member is None or not actor.leads_branch(member.branch_id) or member.state == MemberState.ERASED:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action=action,
            target_type="member",
            target_id=member_id,
            result="denied",
            branch_id=member.branch_id if member else None,
        )
        return denied(language)
    return member


def _record(session: AsyncSession, actor: Actor, member: Member, action: str, result: str = "ok") -> None:
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="member",
        target_id=member.id,
        result=result,
        branch_id=member.branch_id,
    )


# -- the card ---------------------------------------------------------------------------------------------
async def card(
    session: AsyncSession,
    *,
    actor: Actor,
    member_id: int,
    page: Page,
    language: str,
    now: datetime,
    note: str | None = None,
    edit: bool = True,
) -> Reply:
    """One member's record for an officer of their branch, with their dues, activity days and study, the
    actions that fit their state, and 返回 to the page it was opened from."""
    found = await _led_member(session, actor, member_id, "roster.card", language)
    if isinstance(found, Reply):
        return found
    member = found
    back = RosterQuery.of(member.branch_id, *page)
    if back is None:
        return stale(language)
    await clear_draft(session, actor.person_id, MESSAGE_FLOW)  # a message being typed is dropped
    person = await session.get(Person, member.person_id)
    branch = await session.get(Branch, member.branch_id)
    tz = ZoneInfo(branch.timezone)
    seen = person.last_seen_at.astimezone(tz).strftime("%Y-%m-%d") if person and person.last_seen_at else "—"
    text = t(
        language,
        "roster.card",
        state=t(language, f"roster.state.{member.state}"),
        body=await summary_body(session, language, Values.of_member(member)),
        seen=seen,
        reachable=t(language, "roster.unreachable" if person and person.unreachable else "roster.reachable"),
    )
    buttons: list[tuple[Button, ...]] = []
    if member.state in ON_ROSTER:
        owes = await dues_status(session, actor, member, now)
        status = [
            *dues_lines(language, owes),
            activity_line(language, await activity.member_year(session, member, now)),
            study_line(language, await study.member_progress(session, member, now)),
        ]
        text = "\n".join([text, "", *status])
        actions = []
        if member.state == MemberState.APPROVED and owes.reminder is not None:
            label = t(language, f"card.btn.remind_{owes.reminder}")
            actions.append(Button(label, data=R_REMIND.data(member.id, *back.page)))
        actions.append(Button(t(language, "card.btn.message"), data=R_MESSAGE.data(member.id, *back.page)))
        buttons.append(tuple(actions))
    if member.state == MemberState.PENDING:
        buttons += list(decision_buttons(language, member))
    if member.state == MemberState.LEAVING:
        buttons.append(
            (Button(t(language, "me.btn.confirm_left"), data=R_LEFT.data(member.id, member.revision)),)
        )
    buttons.append((Button(t(language, "card.btn.back"), data=back.data()),))
    if note:
        text = f"{note}\n\n{text}"
    return Reply(screens=(Screen(text, buttons=tuple(buttons)),), edit=edit)


# -- remind to pay or to declare ----------------------------------------------------------------------------
async def remind(
    session: AsyncSession, *, actor: Actor, member_id: int, page: Page, language: str, now: datetime
) -> Reply:
    """Ask the member, through the outbox, to pay the months they owe, or to declare a base when they never
    did; at most one reminder of each kind a day (a second tap says so). The card comes back with a note."""
    found = await _led_member(session, actor, member_id, "roster.remind", language)
    if isinstance(found, Reply):
        return found
    member = found
    if RosterQuery.of(member.branch_id, *page) is None or member.state != MemberState.APPROVED:
        return stale(language)
    kwargs = {"actor": actor, "member_id": member.id, "page": page, "language": language, "now": now}
    name = member.name or ""
    owes = await dues_status(session, actor, member, now)
    kind = owes.reminder
    if kind is None:
        return await card(session, **kwargs, note=t(language, "card.remind_nothing", name=name))
    person = await session.get(Person, member.person_id)
    if person is None or await route_to(session, person) is None:
        _record(session, actor, member, f"roster.remind_{kind}", "unreachable")
        return await card(session, **kwargs, note=t(language, "card.unreachable", name=name))
    branch = await session.get(Branch, member.branch_id)
    day = now.astimezone(ZoneInfo(branch.timezone)).date().isoformat()
    theirs = language_of(person)
    if kind == "pay":
        params: dict[str, object] = {
            "months": dues.months_label(theirs, owes.owed),
            "amount": _yuan(theirs, owes.owed_amount or Decimal("0.00")),
        }
        button = Button(t(theirs, "dues.btn.pay"), data=dues.M_PAY.data())
    else:
        params = {}
        button = Button(t(theirs, "card.btn.go_declare"), data=dues.M_NEW.data())
    sent = await notify_person(
        session,
        person,
        source=f"member:{member.id}:remind:{kind}:{day}",
        key=f"card.notify.{kind}",
        buttons=((button,),),
        not_before=now,
        branch=branch.name,
        **params,
    )
    if not sent:
        _record(session, actor, member, f"roster.remind_{kind}", "already")
        return Reply(toast=t(language, "card.reminded_already", name=name))
    _record(session, actor, member, f"roster.remind_{kind}")
    return await card(session, **kwargs, note=t(language, f"card.reminded_{kind}", name=name))


# -- relay a message --------------------------------------------------------------------------------------
# The officer's message is a one-question form of the step engine (bot/flows/members.py): the services
# here say who may write to whom, read the typed text and send it.
async def message_target(
    session: AsyncSession, *, actor: Actor, member_id: int, page: Page, language: str
) -> Member | Reply:
    """The member an officer may write to from this card; else the refusal (audited) or stale."""
    found = await _led_member(session, actor, member_id, "roster.message", language)
    if isinstance(found, Reply):
        return found
    if RosterQuery.of(found.branch_id, *page) is None or found.state not in ON_ROSTER:
        return stale(language)
    return found


def read_message(text: str) -> str:
    """The typed message, cleaned; RuleInputError when it is empty or too long."""
    return clean_short_text(text, MESSAGE_MAX, multiline=True)


def message_page(data: dict) -> tuple[int, Page] | None:
    """The member and the roster page a message form was opened from (None: not a form of this shape)."""
    member_id, page = data.get("member_id"), data.get("page")
    if not isinstance(member_id, int) or not isinstance(page, list) or len(page) != 4:
        return None
    kind, arg, offset, sort = page
    if not (
        isinstance(kind, str) and isinstance(arg, int) and isinstance(offset, int) and isinstance(sort, str)
    ):
        return None
    return member_id, (kind, arg, offset, sort)


async def send_message(
    session: AsyncSession, *, actor: Actor, data: dict, body: str, language: str, now: datetime
) -> Reply:
    """What the officer typed: relayed to the member (their branch and the officer's role named), audited."""
    found_page = message_page(data)
    if found_page is None:
        return stale(language)
    member_id, page = found_page
    found = await _led_member(session, actor, member_id, "roster.message", language)
    if isinstance(found, Reply) or found.state not in ON_ROSTER:
        return found if isinstance(found, Reply) else stale(language)
    member = found
    name = member.name or ""
    roster_page = RosterQuery.of(member.branch_id, *page) or RosterQuery(member.branch_id)
    back = (
        (
            Button(t(language, "card.btn.to_card"), data=R_CARD.data(member.id, *roster_page.page)),
            Button(t(language, "card.btn.back"), data=roster_page.data()),
        ),
    )
    person = await session.get(Person, member.person_id)
    if person is None or await route_to(session, person) is None:
        _record(session, actor, member, "roster.message", "unreachable")
        return Reply.say(t(language, "card.unreachable", name=name), buttons=back)
    branch = await session.get(Branch, member.branch_id)
    role = Role.SECRETARY if (Role.SECRETARY, member.branch_id, None) in actor.grants else Role.COMMITTEE
    theirs = language_of(person)
    stamp = int(now.timestamp() * 1000)
    await notify_person(
        session,
        person,
        source=f"member:{member.id}:msg:{actor.person_id}:{stamp}",
        key="card.notify.message",
        not_before=now,
        branch=branch.name,
        role=t(theirs, f"card.role.{role.value}"),
        text=body,
    )
    _record(session, actor, member, "roster.message")
    return Reply.say(t(language, "card.message_sent", name=name), buttons=back)
