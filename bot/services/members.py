"""Member self-service: see and update one's record, report leaving the city, get or erase one's data."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog import Screen
from bot.i18n import catalogue, t
from bot.rules.validate import clean_short_text
from bot.services import audit
from bot.services.drafts import clear_draft, get_draft
from bot.services.identity import Actor, language_of
from bot.services.outbox import Button, notify_person
from bot.services.registration import (
    DISTRICT_MAX,
    EMPLOYER_MAX,
    FLOW,
    TRADES,
    Reply,
    Values,
    already_done,
    denied,
    display_phone,
    member_of,
    officers_of,
    read_phone,
    stale,
    summary_body,
    tell_home_township,
)
from bot.services.roster import R_LEFT
from storage.crypto import keyring
from storage.models import (
    Account,
    AuditEntry,
    Branch,
    ConsentRecord,
    Draft,
    Material,
    Member,
    MemberState,
    OutboxMessage,
    OutboxStatus,
    Person,
    RoleGrant,
    Township,
    VillageBranch,
    WebMessage,
)

EDIT_FLOW = "me_edit"
EDITABLE = ("phone", "district", "employer")
ON_ROSTER = (MemberState.APPROVED, MemberState.LEAVING)
# States in which a person has nothing on the roster to show (a new report-in may start).
NOT_REGISTERED = (MemberState.REJECTED, MemberState.LEFT, MemberState.ERASED)

# Other features hold personal data too: each plugs in a /mydata section, async (session, person_id)
# -> (section name, JSON-able value), and an eraser, async (session, person_id) -> None, through its
# `Feature`; the composition root passes them here.
# What this feature keeps about a person (its /mydata shows it, /deleteme erases it).
PERSONAL_COLUMNS = (
    Member.name,
    Member.phone,
    Member.activity_card_no,
    Member.city_district,
    Member.employer,
    Member.decision_reason,
    Draft.data,
    OutboxMessage.__table__.c.payload,
    Material.filename,
    Material.content,
    WebMessage.body,
)

DataSection = Callable[[AsyncSession, int], Awaitable[tuple[str, Any]]]
Eraser = Callable[[AsyncSession, int], Awaitable[None]]


# -- /me --------------------------------------------------------------------------------------------
# /me: the shown fields of the member with their branch's, township's and village's names in one select,
# built once and read as plain values (the member object would decrypt the fields /me does not show too).
_PROFILE = (
    select(
        Member.state,
        Member.name,
        Member.phone,
        Member.township_id,
        Member.village_branch_id,
        Member.party_status,
        Member.joined_party_on,
        Member.activity_card_no,
        Member.city_district,
        Member.employer,
        Branch.id,
        Branch.name,
        Township.name,
        VillageBranch.name,
    )
    .select_from(Member)
    .outerjoin(Branch, Branch.id == Member.branch_id)
    .outerjoin(Township, Township.id == Member.township_id)
    .outerjoin(VillageBranch, VillageBranch.id == Member.village_branch_id)
    .where(Member.person_id == bindparam("person"))
)


async def profile(session: AsyncSession, *, person_id: int, language: str) -> Reply:
    """The member's own record, with buttons for what they may change themselves."""
    await session.flush()  # the select below runs on the connection: a change made before it is written
    connection = await session.connection()
    row = (await connection.execute(_PROFILE, {"person": person_id})).first()
    if row is None or row[0] in NOT_REGISTERED:
        draft = await get_draft(session, person_id, FLOW)
        return Reply.say(t(language, "me.draft_open" if draft else "me.not_registered"))
    state, name, phone, township_id, village_id, status, joined, card, district, employer = row[:10]
    branch_id, branch_name, township, village = row[10:]
    values = Values(
        name=name,
        phone=phone,
        township_id=township_id,
        village_id=village_id,
        status=status,
        joined=joined,
        card=card,
        district=district,
        employer=employer,
    )
    body = await summary_body(session, language, values, places=(township or "", village or ""))
    text = t(
        language,
        "me.profile",
        branch=branch_name if branch_id is not None else "",
        state=t(language, f"roster.state.{state}"),
        body=body,
    )
    buttons: tuple[tuple[Button, ...], ...] = ()
    if state in ON_ROSTER:
        buttons = (tuple(Button(t(language, f"me.btn.edit_{f}"), data=f"self:ed:{f}") for f in EDITABLE),)
    elif state == MemberState.RETURNED:
        buttons = ((Button(t(language, "reg.btn.fix"), data="reg:fix"),),)
    return Reply(screens=(Screen(text, buttons=buttons),), edit=False)


# A change of one field is a one-question form of the step engine (bot/flows/members.py); what may be
# changed, how a typed value is read and what saving does are here.
async def edit_target(session: AsyncSession, *, person_id: int, field: str, language: str) -> Member | Reply:
    """The sender's own record when they may change ``field`` of it; else stale or the refusal."""
    if field not in EDITABLE:
        return stale(language)
    member = await member_of(session, person_id)
    if member is None or member.state not in ON_ROSTER:
        return denied(language)
    return member


def read_field(field: str, text: str) -> str:
    """A typed value for ``field``; RuleInputError when it does not fit."""
    if field == "phone":
        return read_phone(text)
    return clean_short_text(text, DISTRICT_MAX if field == "district" else EMPLOYER_MAX)


def trade_value(key: str) -> str | None:
    """The employer kept for a trade button (its Chinese name), None for no such trade."""
    return t("zh", f"reg.trade.{key}") if key in TRADES else None


async def save_field(
    session: AsyncSession,
    *,
    person_id: int,
    member_id: Any,
    field: str,
    value: str | None,
    language: str,
    now: datetime,
) -> Reply:
    """Store the new value, tell the officers of a phone change, and show the record again."""
    member = await member_of(session, person_id)
    if member is None or member.state not in ON_ROSTER or member.id != member_id:
        return Reply.say(t(language, "me.not_registered"), remove_keyboard=field == "phone")
    if field == "phone":
        if value is None:
            raise ValueError("a phone cannot be cleared")
        changed = value != member.phone
        member.phone, member.phone_index = value, keyring().blind_index(value)
        if changed:
            branch = await session.get(Branch, member.branch_id)
            stamp = int(now.timestamp())
            for officer in await officers_of(session, member.branch_id):
                await notify_person(
                    session,
                    officer,
                    not_before=now,
                    source=f"member:{member.id}:phone:{stamp}",
                    key="me.notify_phone_changed",
                    name=member.name or "",
                    phone=display_phone(value),
                    branch=branch.name if branch else "",
                )
    elif field == "district":
        member.city_district = value
    else:
        member.employer = value
    member.updated_at = now
    audit.record(
        session,
        actor_person_id=person_id,
        action=f"member.update.{field}",
        target_type="member",
        target_id=member.id,
        branch_id=member.branch_id,
    )
    await session.flush()
    shown = await profile(session, person_id=person_id, language=language)
    saved = Screen(t(language, "me.saved"), remove_keyboard=field == "phone")
    return Reply(screens=(saved, *shown.screens), edit=False)


async def cancel_edit(session: AsyncSession, *, person_id: int, language: str) -> Reply:
    """取消 under /leave or /deleteme (and under a change prompt sent before the step engine)."""
    draft = await get_draft(session, person_id, EDIT_FLOW)
    await clear_draft(session, person_id, EDIT_FLOW)
    await session.flush()
    phone = draft is not None and draft.step == "phone"
    return Reply.say(t(language, "common.cancelled"), remove_keyboard=phone)


# -- /leave -----------------------------------------------------------------------------------------
async def ask_leave(session: AsyncSession, *, person_id: int, language: str) -> Reply:
    member = await member_of(session, person_id)
    if member is None or member.state not in ON_ROSTER:
        return Reply.say(t(language, "me.not_member"))
    branch = await session.get(Branch, member.branch_id)
    if member.state == MemberState.LEAVING:
        return Reply.say(t(language, "me.leave_pending", branch=branch.name))
    buttons = (
        (
            Button(t(language, "me.btn.leave"), data="self:lv"),
            Button(t(language, "common.cancel"), data="self:x"),
        ),
    )
    return Reply.say(t(language, "me.leave_confirm", branch=branch.name, city=branch.city), buttons=buttons)


async def report_leaving(session: AsyncSession, *, person_id: int, language: str, now: datetime) -> Reply:
    """The member confirms leaving the city: the officers are asked to confirm it."""
    member = await member_of(session, person_id)
    if member is None or member.state != MemberState.APPROVED:
        return already_done(language)
    result = await session.execute(
        update(Member)
        .where(Member.id == member.id, Member.state == MemberState.APPROVED)
        .values(state=MemberState.LEAVING, leaving_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return already_done(language)
    await session.refresh(member)
    branch = await session.get(Branch, member.branch_id)
    for officer in await officers_of(session, member.branch_id):
        officer_language = language_of(officer)
        confirm = (
            (
                Button(
                    t(officer_language, "me.btn.confirm_left"), data=R_LEFT.data(member.id, member.revision)
                ),
            ),
        )
        await notify_person(
            session,
            officer,
            not_before=now,
            source=f"member:{member.id}:leaving:{member.revision}",
            key="me.notify_leaving",
            buttons=confirm,
            name=member.name or "",
            branch=branch.name,
        )
    audit.record(
        session,
        actor_person_id=person_id,
        action="member.leaving",
        target_type="member",
        target_id=member.id,
        branch_id=member.branch_id,
    )
    await session.flush()
    return Reply.say(t(language, "me.leave_reported", branch=branch.name))


async def confirm_left(
    session: AsyncSession, *, actor: Actor, member_id: int, revision: int, language: str, now: datetime
) -> Reply:
    """An officer confirms that a member left: the member and the home township are told."""
    member = await session.get(Member, member_id)
    if member is None or not actor.leads_branch(member.branch_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="member.left",
            target_type="member",
            target_id=member_id,
            result="denied",
            branch_id=member.branch_id if member else None,
        )
        await session.flush()
        return denied(language)
    result = await session.execute(
        update(Member)
        .where(Member.id == member.id, Member.state == MemberState.LEAVING, Member.revision == revision)
        .values(state=MemberState.LEFT, left_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return already_done(language)
    await session.refresh(member)
    branch = await session.get(Branch, member.branch_id)
    person = await session.get(Person, member.person_id)
    if person is not None:
        await notify_person(
            session,
            person,
            not_before=now,
            source=f"member:{member.id}:left:{revision}",
            key="me.you_left",
            branch=branch.name,
        )
    await tell_home_township(
        session, member, branch, "me.agent_left", f"member:{member.id}:moved:{revision}", now
    )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="member.left",
        target_type="member",
        target_id=member.id,
        branch_id=member.branch_id,
    )
    await session.flush()
    return Reply.say(t(language, "me.left_confirmed", name=member.name or ""))


# -- /mydata ----------------------------------------------------------------------------------------
def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def my_data(
    session: AsyncSession, *, person_id: int, language: str, sections: Sequence[DataSection] = ()
) -> Reply:
    """Everything held about the person, as one JSON file."""
    person = await session.get(Person, person_id)
    member = await member_of(session, person_id)
    document: dict[str, Any] = {
        "person": {
            "accounts": [
                {"channel": channel, "id": external_id, "preferred": preferred}
                for channel, external_id, preferred in await session.execute(
                    select(Account.channel, Account.external_id, Account.preferred)
                    .where(Account.person_id == person_id)
                    .order_by(Account.id)
                )
            ],
            "language": person.language,
            "created_at": _iso(person.created_at),
            "last_seen_at": _iso(person.last_seen_at),
        }
    }
    if member is not None:
        branch = await session.get(Branch, member.branch_id)
        values = Values.of_member(member)
        document["member"] = {
            "branch": branch.name if branch else None,
            "state": member.state,
            "name": values.name,
            "phone": values.phone,
            "home_township_id": values.township_id,
            "village_branch_id": values.village_id,
            "party_status": values.status,
            "joined_party_on": _iso(values.joined),
            "activity_card_no": values.card,
            "city_district": values.district,
            "employer": values.employer,
            "submitted_at": _iso(member.submitted_at),
            "decided_at": _iso(member.decided_at),
            "decision_reason": member.decision_reason,
            "leaving_at": _iso(member.leaving_at),
            "left_at": _iso(member.left_at),
        }
    document["consents"] = [
        {
            "purpose": c.purpose,
            "notice_version": c.notice_version,
            "granted": c.granted,
            "at": _iso(c.decided_at),
        }
        for c in await session.scalars(select(ConsentRecord).where(ConsentRecord.person_id == person_id))
    ]
    document["drafts"] = [
        {"flow": d.flow, "step": d.step, "data": d.data, "updated_at": _iso(d.updated_at)}
        for d in await session.scalars(select(Draft).where(Draft.person_id == person_id))
    ]
    document["messages_to_you"] = [
        {"at": _iso(m.created_at), "status": m.status, "text": (m.payload or {}).get("text", "")}
        for m in await session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == person_id).order_by(OutboxMessage.id)
        )
    ]
    document["files"] = [
        {
            "kind": m.kind,
            "filename": m.filename,
            "size": m.size,
            "sent_by_you": m.uploaded,
            "at": _iso(m.created_at),
        }
        for m in await session.scalars(
            select(Material).where(Material.person_id == person_id).order_by(Material.id)
        )
    ]
    document["web_chat_messages"] = len(
        list(
            await session.scalars(
                select(WebMessage.id)
                .join(Account, Account.id == WebMessage.account_id)
                .where(Account.person_id == person_id)
            )
        )
    )
    about = [AuditEntry.actor_person_id == person_id]
    about.append((AuditEntry.target_type == "person") & (AuditEntry.target_id == person_id))
    if member is not None:
        about.append((AuditEntry.target_type == "member") & (AuditEntry.target_id == member.id))
    document["activity_log"] = [
        {"at": _iso(a.at), "action": a.action, "result": a.result}
        for a in await session.scalars(select(AuditEntry).where(or_(*about)).order_by(AuditEntry.id))
    ]
    for section in sections:
        name, value = await section(session, person_id)
        document[name] = value
    content = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    summary = await _readable_summary(session, document, member, language)
    return Reply(
        screens=(
            Screen(summary),
            Screen(t(language, "me.mydata_caption"), document=("mydata.json", content)),
        ),
        edit=False,
    )


async def _readable_summary(
    session: AsyncSession, document: dict[str, Any], member: Member | None, language: str
) -> str:
    """What a person can read on a phone: their record in words, then how much each part holds."""
    lines = [t(language, "me.mydata_head")]
    if member is not None and member.state != MemberState.ERASED:
        branch = await session.get(Branch, member.branch_id)
        lines.append(await summary_body(session, language, Values.of_member(member)))
        lines.append(t(language, "me.mydata_branch", branch=branch.name if branch else ""))
    counts = {
        "consents": len(document.get("consents", [])),
        "drafts": len(document.get("drafts", [])),
        "messages_to_you": len(document.get("messages_to_you", [])),
        "activity_log": len(document.get("activity_log", [])),
    }
    for name, value in document.items():
        if name in ("person", "member", *counts):
            continue
        if isinstance(value, list | dict):
            counts[name] = len(value)
        else:
            counts[name] = (
                value if isinstance(value, int) and not isinstance(value, bool) else int(value is not None)
            )
    for name, count in counts.items():
        if count:
            lines.append(t(language, "me.mydata_count", part=_part_label(language, name), count=count))
    lines.append(t(language, "me.mydata_erase"))
    return "\n".join(lines)


def _part_label(language: str, name: str) -> str:
    key = f"mydata.part.{name}"
    return t(language, key) if catalogue().has(key) else name


# -- /deleteme --------------------------------------------------------------------------------------
async def _has_data(session: AsyncSession, person_id: int, sections: Sequence[DataSection] = ()) -> bool:
    member = await member_of(session, person_id)
    if member is not None and member.state != MemberState.ERASED:
        return True
    for model in (Draft, ConsentRecord):
        if await session.scalar(select(model.id).where(model.person_id == person_id).limit(1)) is not None:
            return True
    # What other features hold (an application to join from someone who is not a member, ...).
    for section in sections:
        _, value = await section(session, person_id)
        if _holds_anything(value):
            return True
    return False


def _holds_anything(value: Any) -> bool:
    """A section holds data when any of its leaves does: ``{"answers": [], "checkins": []}`` holds none."""
    if isinstance(value, dict):
        return any(_holds_anything(v) for v in value.values())
    if isinstance(value, list | tuple):
        return (
            any(_holds_anything(v) for v in value)
            if value and all(isinstance(v, dict | list) for v in value)
            else bool(value)
        )
    return value not in (None, "", 0, False)


async def ask_erase(
    session: AsyncSession, *, person_id: int, language: str, sections: Sequence[DataSection] = ()
) -> Reply:
    if await session.scalar(select(RoleGrant.id).where(RoleGrant.person_id == person_id).limit(1)):
        return Reply.say(t(language, "me.erase_officer"))
    if not await _has_data(session, person_id, sections):
        return Reply.say(t(language, "me.nothing_to_erase"))
    buttons = (
        (
            Button(t(language, "me.btn.erase"), data="self:del"),
            Button(t(language, "common.cancel"), data="self:x"),
        ),
    )
    return Reply.say(t(language, "me.erase_confirm"), buttons=buttons)


async def erase(
    session: AsyncSession,
    *,
    person_id: int,
    language: str,
    now: datetime,
    erasers: Sequence[Eraser] = (),
    sections: Sequence[DataSection] = (),
) -> Reply:
    """Erase the person's data and unlink their Telegram account from what stays.

    Kept, without anything that names them: the member row (branch, home township, full or
    probationary, dates of report-in) so the ledgers' counts stay true, consent records and the audit
    log (ids only). The person row loses its accounts and chat: a later message starts a new, empty person.
    """
    if await session.scalar(select(RoleGrant.id).where(RoleGrant.person_id == person_id).limit(1)):
        return Reply.say(t(language, "me.erase_officer"))
    if not await _has_data(session, person_id, sections):
        return Reply.say(t(language, "me.nothing_to_erase"))
    person = await session.get(Person, person_id)
    member = await member_of(session, person_id)
    blank = {"text": ""}
    if member is not None and member.state != MemberState.ERASED:
        if member.state in (*ON_ROSTER, MemberState.PENDING):
            for officer in await officers_of(session, member.branch_id):
                await notify_person(
                    session,
                    officer,
                    not_before=now,
                    source=f"member:{member.id}:erased",
                    key="me.notify_erased",
                    number=member.id,
                )
        # Messages still waiting that are about them (a report-in to review, "X reported in") go too.
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.source.like(f"member:{member.id}:%"),
                OutboxMessage.source != f"member:{member.id}:erased",
                OutboxMessage.status == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.CANCELLED, payload=blank)
            .execution_options(synchronize_session=False)
        )
        for column in (
            "name",
            "phone",
            "phone_index",
            "activity_card_no",
            "city_district",
            "employer",
            "decision_reason",
            "village_branch_id",
            "joined_party_on",
            "left_home_on",
            "last_active_at",
        ):
            setattr(member, column, None)
        member.state = MemberState.ERASED
        member.updated_at = now
    await session.execute(delete(Draft).where(Draft.person_id == person_id))
    for eraser in erasers:
        await eraser(session, person_id)
    to_them = [OutboxMessage.person_id == person_id]
    if person.chat_id is not None:
        to_them.append(OutboxMessage.chat_id == person.chat_id)
    await session.execute(
        update(OutboxMessage)
        .where(or_(*to_them), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED, payload=blank)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxMessage)
        .where(or_(*to_them), OutboxMessage.status != OutboxStatus.SENDING)
        .values(payload=blank)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Material).where(Material.person_id == person_id))
    await session.execute(delete(Account).where(Account.person_id == person_id))  # and their web messages
    person.chat_id = None
    person.language = person.client_language = None
    person.last_seen_at = None
    audit.record(
        session,
        actor_person_id=person_id,
        action="person.erase",
        target_type="person",
        target_id=person_id,
        branch_id=member.branch_id if member else None,
    )
    await session.flush()
    return Reply.say(t(language, "me.erased"))
