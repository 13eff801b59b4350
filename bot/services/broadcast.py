"""Secretary notices: compose (a draft), choose an audience, preview, send, follow delivery, report.

Decisions:

* The composition is a draft of flow ``notice`` (``bot.services.drafts``), steps ``text`` →
  ``audience`` → (``param``) → ``preview``; every call returns a ``Step`` for the handler to render,
  so a resumed /notice shows exactly where the secretary left off.
* ``send_notice`` writes the notice, ALL its outbox rows and the audit entry in one transaction:
  a crash leaves all or none. The rows are written set-based, one ``INSERT ... SELECT`` per
  language (the 收到 button and the header are in the recipient's language, the text is the
  secretary's), never one ORM object per member. Members already known to have blocked the bot
  (``person.unreachable``) get a row that is ``failed``/``unreachable`` at once: they are counted
  in the report as blocked and nothing is sent to them. Outbox ``source`` is ``notice:<id>``; the
  UNIQUE (source, chat) key makes a repeated send impossible.
* Progress: one message of the secretary (the preview, turned into "sending…"), edited through
  the outbox (rows of kind ``edit``) by ``advance_notices``, a delivery hook the sender runs: at
  most every ``PROGRESS_EVERY`` and only when the counts changed. When no row of the notice is
  pending or sending any more, the hook edits the message one last time and enqueues the final
  report (sent, blocked, failed, uncertain, acknowledged) to the author, with buttons to list who
  has not acknowledged and to send them one follow-up (only once: ``notice.followup_at``).
* Authorisation is re-checked from the database on every step: the draft's branch must be one the
  actor leads (secretary or committee) now; a notice's report and follow-up only for those who
  lead its branch; a 收到 only from a person the notice was sent to. Denials are audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, insert, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.channel import EDIT_KEY
from bot.i18n import LANGUAGES, t
from bot.services import audiences, audit
from bot.services.drafts import clear_draft, get_draft, save_draft
from bot.services.identity import Actor, language_of
from bot.services.outbox import Button, Outgoing, notify_person
from storage.dialect import insert_ignore
from storage.models import (
    Branch,
    Draft,
    Member,
    Notice,
    NoticeAck,
    OutboxBody,
    OutboxMessage,
    OutboxStatus,
    Person,
    Priority,
    UTCDateTime,
)

FLOW = "notice"
MAX_TEXT = 3000  # Telegram allows 4096 characters; the header needs a little room
MAX_CAPTION = 900  # and 1024 for a photo's or document's caption
PROGRESS_EVERY = timedelta(seconds=5)
UNACKED_SHOWN = 30
BLOCKED_CODES = ("blocked", "deactivated", "kicked", "forbidden", "unreachable")
CALLBACK = "ntc"


class NotAllowed(Exception):
    """The actor may not do this (already audited and committed)."""


class Stale(Exception):
    """The button belongs to a state that has passed."""


class AlreadyDone(Exception):
    """A repeated tap: the thing was done before."""


# -- what the handler renders ------------------------------------------------------------------
@dataclass(frozen=True)
class Preview:
    audience_key: str
    param_label: str | None
    count: int
    blocked: int
    text: str  # the message as members will read it (in the secretary's language)
    media_kind: str | None


@dataclass(frozen=True)
class Step:
    """Where a notice draft stands; ``error`` is a catalogue key for bad input, shown first."""

    step: str  # branch | text | audience | param | preview
    branches: list[tuple[int, str]] = field(default_factory=list)
    audiences: list[audiences.Audience] = field(default_factory=list)
    choices: list[audiences.Choice] = field(default_factory=list)
    preview: Preview | None = None
    error: str | None = None
    error_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Counts:
    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    uncertain: int = 0
    pending: int = 0

    @property
    def done(self) -> bool:
        return self.pending == 0

    def key(self) -> str:
        return f"{self.sent},{self.failed},{self.blocked},{self.uncertain},{self.pending}"

    def params(self) -> dict[str, int]:
        return {
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "blocked": self.blocked,
            "uncertain": self.uncertain,
            "pending": self.pending,
        }


@dataclass(frozen=True)
class SentNotice:
    notice_id: int
    counts: Counts


@dataclass(frozen=True)
class Report:
    notice_id: int
    counts: Counts
    acked: int
    finished: bool
    followed_up: bool


@dataclass(frozen=True)
class Unacked:
    notice_id: int
    total: int
    names: list[str | None]
    followed_up: bool


def source_of(notice_id: int) -> str:
    return f"notice:{notice_id}"


def followup_source(notice_id: int) -> str:
    return f"notice:{notice_id}:followup"


# -- authorisation -------------------------------------------------------------------------------
async def _deny(
    session: AsyncSession, actor: Actor, action: str, *, target_id: int | None, branch_id: int | None
):
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="notice" if target_id is not None else "branch",
        target_id=target_id,
        result="denied",
        branch_id=branch_id,
    )
    await session.commit()
    return NotAllowed(action)


async def _draft_for(session: AsyncSession, actor: Actor) -> Draft:
    """The actor's open notice draft, still for a branch they lead."""
    draft = await get_draft(session, actor.person_id, FLOW)
    if draft is None:
        raise Stale
    branch_id = draft.data.get("branch_id")
    if not actor.leads_branch(branch_id):
        await clear_draft(session, actor.person_id, FLOW)
        raise await _deny(session, actor, "notice.compose", target_id=None, branch_id=branch_id)
    return draft


# -- composing -----------------------------------------------------------------------------------
async def start_notice(session: AsyncSession, actor: Actor) -> Step:
    """/notice: resume an open draft, or start one (asking for the branch if the actor leads several)."""
    branches = sorted(actor.secretary_branches)
    if not branches:
        raise await _deny(session, actor, "notice.compose", target_id=None, branch_id=None)
    draft = await get_draft(session, actor.person_id, FLOW)
    if draft is not None and actor.leads_branch(draft.data.get("branch_id")):
        step = await _step_of(session, draft)
        await session.commit()
        return step
    if len(branches) > 1:
        rows = await session.execute(select(Branch.id, Branch.name).where(Branch.id.in_(branches)))
        await session.commit()
        return Step("branch", branches=sorted((i, n) for i, n in rows))
    await save_draft(session, actor.person_id, FLOW, "text", {"branch_id": branches[0]})
    await session.commit()
    return Step("text")


async def choose_branch(session: AsyncSession, actor: Actor, branch_id: int) -> Step:
    if not actor.leads_branch(branch_id):
        raise await _deny(session, actor, "notice.compose", target_id=None, branch_id=branch_id)
    await save_draft(session, actor.person_id, FLOW, "text", {"branch_id": branch_id})
    await session.commit()
    return Step("text")


async def set_content(
    session: AsyncSession,
    actor: Actor,
    *,
    text: str | None,
    media_kind: str | None = None,
    media_ref: str | None = None,
    filename: str | None = None,
) -> Step:
    """The notice's text, or a photo or document with an optional caption."""
    draft = await _draft_for(session, actor)
    if draft.step != "text":
        step = await _step_of(session, draft)
        await session.commit()
        return Step(step.step, **_step_fields(step), error="notice.use_buttons")
    text = (text or "").strip()
    limit = MAX_CAPTION if media_kind else MAX_TEXT
    if not text and not media_kind:
        await session.commit()
        return Step("text", error="notice.text_needed")
    if len(text) > limit:
        await session.commit()
        return Step("text", error="notice.too_long", error_params={"limit": limit, "length": len(text)})
    data = dict(draft.data)
    data.update(text=text, media_kind=media_kind, media_ref=media_ref, filename=filename)
    draft = await save_draft(session, actor.person_id, FLOW, "audience", data)
    step = await _step_of(session, draft)
    await session.commit()
    return step


async def choose_audience(session: AsyncSession, actor: Actor, name: str) -> Step:
    draft = await _draft_for(session, actor)
    audience = audiences.get(name)
    if draft.step not in ("audience", "param", "preview") or audience is None:
        raise Stale
    data = dict(draft.data)
    data.update(audience=name, param=None)
    step = "param" if audience.needs_param else "preview"
    draft = await save_draft(session, actor.person_id, FLOW, step, data)
    result = await _step_of(session, draft)
    await session.commit()
    return result


async def choose_param(session: AsyncSession, actor: Actor, value: str) -> Step:
    draft = await _draft_for(session, actor)
    audience = audiences.get(draft.data.get("audience") or "")
    if draft.step != "param" or audience is None or audience.choices is None:
        raise Stale
    offered = {c.value for c in await audience.choices(session, draft.data["branch_id"])}
    if value not in offered:
        raise await _deny(
            session, actor, "notice.audience", target_id=None, branch_id=draft.data["branch_id"]
        )
    data = dict(draft.data)
    data["param"] = value
    draft = await save_draft(session, actor.person_id, FLOW, "preview", data)
    result = await _step_of(session, draft)
    await session.commit()
    return result


async def back_to_audience(session: AsyncSession, actor: Actor) -> Step:
    draft = await _draft_for(session, actor)
    if draft.step not in ("param", "preview"):
        raise Stale
    draft = await save_draft(session, actor.person_id, FLOW, "audience", dict(draft.data))
    result = await _step_of(session, draft)
    await session.commit()
    return result


async def cancel_notice(session: AsyncSession, actor: Actor) -> bool:
    """Drop the draft; False when there was none (a repeated tap)."""
    draft = await get_draft(session, actor.person_id, FLOW)
    if draft is None:
        return False
    await clear_draft(session, actor.person_id, FLOW)
    await session.commit()
    return True


def _step_fields(step: Step) -> dict[str, Any]:
    return {
        "branches": step.branches,
        "audiences": step.audiences,
        "choices": step.choices,
        "preview": step.preview,
    }


async def _step_of(session: AsyncSession, draft: Draft) -> Step:
    data = draft.data
    if draft.step == "text":
        return Step("text")
    if draft.step == "audience":
        return Step("audience", audiences=audiences.all_audiences())
    audience = audiences.get(data.get("audience") or "")
    if audience is None:
        return Step("audience", audiences=audiences.all_audiences())
    if draft.step == "param":
        assert audience.choices is not None
        return Step("param", choices=await audience.choices(session, data["branch_id"]))
    return Step("preview", preview=await _preview(session, draft))


def _selection(data: dict[str, Any]):
    audience = audiences.get(data.get("audience") or "")
    if audience is None:
        raise Stale
    return audience.select(int(data["branch_id"]), data.get("param"))


async def _preview(session: AsyncSession, draft: Draft) -> Preview:
    data = draft.data
    audience = audiences.get(data["audience"])
    assert audience is not None
    count, blocked = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((Person.unreachable, 1), else_=0)), 0)).where(
                Person.id.in_(_selection(data)), Person.chat_id.is_not(None)
            )
        )
    ).one()
    param_label = None
    if audience.choices is not None:
        labels = {c.value: c.label for c in await audience.choices(session, data["branch_id"])}
        param_label = labels.get(data.get("param") or "")
    branch_name = await session.scalar(select(Branch.name).where(Branch.id == data["branch_id"]))
    person = await session.get(Person, draft.person_id)
    language = language_of(person) if person else None
    return Preview(
        audience_key=audience.label_key,
        param_label=param_label,
        count=int(count),
        blocked=int(blocked),
        text=t(language, "notice.message", branch=branch_name or "", text=data.get("text") or ""),
        media_kind=data.get("media_kind"),
    )


# -- sending -------------------------------------------------------------------------------------
def _language_expr():
    """SQL for ``bot.i18n.resolve_language``: the person's choice, else an English client, else Chinese."""
    client = func.lower(func.coalesce(Person.client_language, ""))
    return case(
        (Person.language.in_(LANGUAGES), Person.language),
        (client.like("en%"), "en"),
        else_="zh",
    )


async def _fan_out(
    session: AsyncSession,
    *,
    source: str,
    recipients,
    message_for: Any,
    now: datetime,
    skip_unreachable: bool,
) -> int:
    """One INSERT ... SELECT per language: an outbox row for each recipient person with a chat.

    The text is stored once per language in ``outbox_body``; every row points at it."""
    table = OutboxMessage.__table__
    columns = [
        "source",
        "kind",
        "chat_id",
        "person_id",
        "body_id",
        "priority",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
    ]
    language = _language_expr()
    inserted = 0
    for lang in LANGUAGES:
        body = OutboxBody(payload=message_for(lang).to_payload(), created_at=now)
        session.add(body)
        await session.flush()
        query = select(
            literal(source),
            literal("notice"),
            Person.chat_id,
            Person.id,
            literal(body.id),
            literal(int(Priority.BULK)),
            case(
                (Person.unreachable, literal(OutboxStatus.FAILED.value)),
                else_=literal(OutboxStatus.PENDING.value),
            ),
            literal(0),
            literal(now, UTCDateTime()),
            case((Person.unreachable, literal("unreachable")), else_=null()),
            literal(now, UTCDateTime()),
        ).where(Person.id.in_(recipients), Person.chat_id.is_not(None), language == lang)
        if skip_unreachable:
            query = query.where(Person.unreachable.is_(False))
        result = await session.execute(insert(table).from_select(columns, query))
        count = max(result.rowcount or 0, 0)
        if count == 0:
            await session.delete(body)  # nobody reads this language: no body to keep
        inserted += count
    return inserted


def _ack_buttons(language: str, notice_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(language, "notice.btn_ack"), data=f"{CALLBACK}:ack:{notice_id}"),),)


async def send_notice(
    session: AsyncSession,
    actor: Actor,
    *,
    progress_chat_id: int | None,
    progress_message_id: int | None,
    now: datetime,
) -> SentNotice:
    """Create the notice and every outbox row for it, with its audit entry, in one transaction."""
    draft = await get_draft(session, actor.person_id, FLOW)
    if draft is None:
        raise AlreadyDone
    draft = await _draft_for(session, actor)
    if draft.step != "preview":
        raise Stale
    data = draft.data
    recipients = _selection(data)
    deliverable = await session.scalar(
        select(func.count()).where(
            Person.id.in_(recipients), Person.chat_id.is_not(None), Person.unreachable.is_(False)
        )
    )
    if not deliverable:
        raise Stale  # the preview offered no confirm button: nobody would get it
    branch_name = await session.scalar(select(Branch.name).where(Branch.id == data["branch_id"])) or ""
    notice = Notice(
        branch_id=data["branch_id"],
        author_person_id=actor.person_id,
        audience=data["audience"],
        audience_param=data.get("param"),
        text=data.get("text") or None,
        media_kind=data.get("media_kind"),
        media_ref=data.get("media_ref"),
        progress_chat_id=progress_chat_id,
        progress_message_id=progress_message_id,
        progress_seq=0,
        created_at=now,
    )
    session.add(notice)
    await session.flush()

    def message_for(language: str) -> Outgoing:
        return Outgoing(
            text=t(language, "notice.message", branch=branch_name, text=data.get("text") or ""),
            buttons=_ack_buttons(language, notice.id),
            media_kind=data.get("media_kind"),
            media_ref=data.get("media_ref"),
            filename=data.get("filename"),
        )

    notice.recipients = await _fan_out(
        session,
        source=source_of(notice.id),
        recipients=recipients,
        message_for=message_for,
        now=now,
        skip_unreachable=False,
    )
    await clear_draft(session, actor.person_id, FLOW)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.send",
        target_type="notice",
        target_id=notice.id,
        branch_id=notice.branch_id,
    )
    counts = await notice_counts(session, notice.id)
    await session.commit()
    return SentNotice(notice.id, counts)


# -- delivery progress ---------------------------------------------------------------------------
async def notice_counts(session: AsyncSession, notice_id: int) -> Counts:
    blocked = OutboxMessage.last_error.in_(BLOCKED_CODES)
    rows = await session.execute(
        select(OutboxMessage.status, blocked, func.count())
        .where(OutboxMessage.source == source_of(notice_id))
        .group_by(OutboxMessage.status, blocked)
    )
    tally = {"sent": 0, "failed": 0, "blocked": 0, "uncertain": 0, "pending": 0}
    total = 0
    for status, is_blocked, count in rows:
        total += count
        if status == OutboxStatus.SENT:
            tally["sent"] += count
        elif status == OutboxStatus.UNCERTAIN:
            tally["uncertain"] += count
        elif status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
            tally["pending"] += count
        elif status == OutboxStatus.FAILED and is_blocked:
            tally["blocked"] += count
        else:
            tally["failed"] += count
    return Counts(total=total, **tally)


async def _enqueue_edit(
    session: AsyncSession, *, source: str, chat_id: int, message_id: int, text: str, now: datetime
) -> bool:
    """An outbox row that edits an earlier message (see ``bot.delivery.channel``)."""
    inserted = await insert_ignore(
        session,
        OutboxMessage,
        {
            "source": source[:80],
            "kind": "edit",
            "chat_id": chat_id,
            "person_id": None,
            "payload": {"text": text, EDIT_KEY: message_id},
            "priority": int(Priority.NOTIFICATION),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
        ["source", "chat_id"],
    )
    return inserted == 1


async def advance_notices(session: AsyncSession, now: datetime) -> int:
    """Delivery hook: throttled progress edits, then the final edit and report of each open notice."""
    notices = list(
        await session.scalars(
            select(Notice).where(Notice.finished_at.is_(None)).order_by(Notice.id).limit(50)
        )
    )
    added = 0
    for notice in notices:
        counts = await notice_counts(session, notice.id)
        author = await session.get(Person, notice.author_person_id) if notice.author_person_id else None
        language = language_of(author) if author else None
        can_edit = notice.progress_chat_id is not None and notice.progress_message_id is not None
        if counts.done:
            notice.finished_at = now
            notice.progress_counts = counts.key()
            if can_edit:
                added += await _enqueue_edit(
                    session,
                    source=f"{source_of(notice.id)}:progress:final",
                    chat_id=notice.progress_chat_id,  # type: ignore[arg-type]
                    message_id=notice.progress_message_id,  # type: ignore[arg-type]
                    text=t(language, "notice.progress_done", id=notice.id, **counts.params()),
                    now=now,
                )
            if author is not None:
                added += await notify_person(
                    session,
                    author,
                    source=f"{source_of(notice.id)}:report",
                    key="notice.report",
                    buttons=report_buttons(language or "zh", notice.id),
                    not_before=now,
                    id=notice.id,
                    acked=await _acked(session, notice.id),
                    **counts.params(),
                )
            continue
        due = notice.progress_edited_at is None or now - notice.progress_edited_at >= PROGRESS_EVERY
        if can_edit and due and counts.key() != notice.progress_counts:
            notice.progress_seq += 1
            notice.progress_counts = counts.key()
            notice.progress_edited_at = now
            added += await _enqueue_edit(
                session,
                source=f"{source_of(notice.id)}:progress:{notice.progress_seq}",
                chat_id=notice.progress_chat_id,  # type: ignore[arg-type]
                message_id=notice.progress_message_id,  # type: ignore[arg-type]
                text=t(language, "notice.progress", id=notice.id, **counts.params()),
                now=now,
            )
    return added


def report_buttons(language: str, notice_id: int) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(t(language, "notice.btn_unacked"), data=f"{CALLBACK}:na:{notice_id}"),
            Button(t(language, "notice.btn_followup"), data=f"{CALLBACK}:fu:{notice_id}"),
        ),
    )


async def _acked(session: AsyncSession, notice_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(NoticeAck).where(NoticeAck.notice_id == notice_id)
        )
        or 0
    )


# -- acknowledgements, reports, follow-up ---------------------------------------------------------
async def acknowledge(session: AsyncSession, actor: Actor, notice_id: int, now: datetime) -> bool:
    """A member's 收到: True the first time, False on a repeated tap; only for recipients."""
    received = await session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.source.in_([source_of(notice_id), followup_source(notice_id)]),
            OutboxMessage.person_id == actor.person_id,
        )
        .limit(1)
    )
    if received is None:
        notice_branch = await session.scalar(select(Notice.branch_id).where(Notice.id == notice_id))
        raise await _deny(session, actor, "notice.ack", target_id=notice_id, branch_id=notice_branch)
    inserted = await insert_ignore(
        session,
        NoticeAck,
        {"notice_id": notice_id, "person_id": actor.person_id, "at": now},
        ["notice_id", "person_id"],
    )
    await session.commit()
    return inserted == 1


async def _led_notice(session: AsyncSession, actor: Actor, notice_id: int, action: str) -> Notice:
    notice = await session.get(Notice, notice_id)
    if notice is None or not actor.leads_branch(notice.branch_id):
        raise await _deny(
            session, actor, action, target_id=notice_id, branch_id=notice.branch_id if notice else None
        )
    return notice


async def report(session: AsyncSession, actor: Actor, notice_id: int) -> Report:
    notice = await _led_notice(session, actor, notice_id, "notice.report")
    counts = await notice_counts(session, notice_id)
    acked = await _acked(session, notice_id)
    await session.commit()
    return Report(notice_id, counts, acked, notice.finished_at is not None, notice.followup_at is not None)


def _unacked_people(notice_id: int):
    """Person ids the notice reached (or may have: uncertain) who have not tapped 收到."""
    return select(OutboxMessage.person_id).where(
        OutboxMessage.source == source_of(notice_id),
        OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.UNCERTAIN]),
        OutboxMessage.person_id.is_not(None),
        ~exists().where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == OutboxMessage.person_id),
    )


async def unacknowledged(session: AsyncSession, actor: Actor, notice_id: int) -> Unacked:
    notice = await _led_notice(session, actor, notice_id, "notice.unacked")
    people = _unacked_people(notice_id)
    total = int(await session.scalar(select(func.count()).select_from(people.subquery())) or 0)
    names = list(
        await session.scalars(
            select(Member.name).where(Member.person_id.in_(people)).order_by(Member.id).limit(UNACKED_SHOWN)
        )
    )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.unacked",
        target_type="notice",
        target_id=notice_id,
        branch_id=notice.branch_id,
    )
    await session.commit()
    return Unacked(notice_id, total, names, notice.followup_at is not None)


async def send_followup(session: AsyncSession, actor: Actor, notice_id: int, now: datetime) -> int:
    """One reminder to everyone the notice reached who has not acknowledged it; only once."""
    notice = await _led_notice(session, actor, notice_id, "notice.followup")
    if notice.followup_at is not None:
        raise AlreadyDone
    if notice.finished_at is None:
        raise Stale
    branch_name = await session.scalar(select(Branch.name).where(Branch.id == notice.branch_id)) or ""
    text = notice.text or ""

    def message_for(language: str) -> Outgoing:
        return Outgoing(
            text=t(language, "notice.followup", branch=branch_name, text=text),
            buttons=_ack_buttons(language, notice.id),
            media_kind=notice.media_kind,
            media_ref=notice.media_ref,
        )

    notice.followup_count = await _fan_out(
        session,
        source=followup_source(notice.id),
        recipients=_unacked_people(notice.id),
        message_for=message_for,
        now=now,
        skip_unreachable=True,
    )
    notice.followup_at = now
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.followup",
        target_type="notice",
        target_id=notice.id,
        branch_id=notice.branch_id,
    )
    await session.commit()
    return notice.followup_count


__all__ = [
    "AlreadyDone",
    "Counts",
    "NotAllowed",
    "Preview",
    "Report",
    "SentNotice",
    "Stale",
    "Step",
    "Unacked",
    "acknowledge",
    "advance_notices",
    "back_to_audience",
    "cancel_notice",
    "choose_audience",
    "choose_branch",
    "choose_param",
    "notice_counts",
    "report",
    "send_followup",
    "send_notice",
    "set_content",
    "start_notice",
    "unacknowledged",
]
