"""Secretary notices: compose (a draft), choose an audience, preview, send, follow delivery, report.

Every use case here answers one inbound event with a `Reply` and never commits: the conversation
core commits once at the end of the event (a refusal is audited in the same transaction).

Decisions:

* The composition is a form on the step engine (``bot.flows.notices``, flow ``notice``): content →
  audience → (its parameter) → the preview as the form's check; this module answers its questions
  (``branch_to_compose``, ``may_compose``, ``check_content``, ``audience_choices``, ``may_narrow``,
  ``preview``) and sends what it holds.
* 提交 (``confirm_notice``; ``send_notice`` is the same for tools and the benchmark, and commits)
  writes the notice, ALL its outbox rows and the audit entry in one transaction:
  a crash leaves all or none. The rows are written set-based, one ``INSERT ... SELECT`` per
  language (the 收到 button and the header are in the recipient's language, the text is the
  secretary's), never one ORM object per member. Each person gets one copy, on their preferred
  account (``bot.services.outbox.chat_route`` / ``account_route_join``), or on their next
  reachable one when they blocked the bot; a copy the bot finds blocked while sending moves there
  too (``fallback_route``). Members known to have blocked the bot with nowhere else to go
  (``person.unreachable``) get a row that is ``failed``/``unreachable`` at once: they are counted
  in the report as blocked and nothing is sent to them. The report, the 收到 list and its export
  say which channel reached whom when any copy went elsewhere than Telegram. Outbox ``source`` is
  ``notice:<id>``; the UNIQUE (source, chat) key makes a repeated send impossible.
* Progress: one message of the secretary (the preview, turned into "sending…"), edited through
  the outbox (rows of kind ``edit``, see ``bot.delivery.channel``) by ``advance_notices``, a
  delivery hook the sender runs: at most every ``PROGRESS_EVERY`` and only when the counts changed.
  When no row of the notice is pending or sending any more, the hook edits the message one last
  time and enqueues the delivery report to the author (sent, blocked, failed, uncertain, 收到, and
  who was not reached and why), with buttons: the 收到 list, one follow-up, and a resend to those
  not reached.
* The report is kept current (issue 19): a member's 收到 or a resend marks the notice's report as
  out of date (``notice.progress_counts`` NULL); the hook then edits the sent report message through
  the outbox (sources ``notice:<id>:report:<n>``), one edit in flight at a time, so a burst of
  taps becomes a few edits. ``progress_counts`` holds what the report shows (``~`` first while a
  resend is still going out, so the hook keeps watching).
* Resend (one tap): the notice's own rows that failed or are uncertain, of members who have not
  tapped 收到 and can be reached now, go back to ``pending`` and are delivered again by the sender.
  Members who blocked the bot are skipped until they write to the bot again.
* Authorisation is re-checked from the database on every step: the draft's branch must be one the
  actor leads (secretary or committee) now; a notice's report, list, export, follow-up and resend
  only for those who lead its branch; a 收到 only from a person the notice was sent to. Denials
  are audited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, delete, exists, func, insert, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Callbacks, Id, Word
from bot.delivery.channel import EDIT_KEY, PROGRESS_KEY
from bot.dialog import Button, Reply, Screen, already_done, denied, stale
from bot.i18n import LANGUAGES, catalogue, t
from bot.services import audiences, audit
from bot.services.drafts import clear_draft
from bot.services.identity import Actor, language_of
from bot.services.outbox import (
    CHAT_CHANNEL,
    Outgoing,
    account_route_join,
    chat_route,
    enqueue,
    has_address,
    reachable,
    route_to,
)
from storage.dialect import built_once, dialect_insert, insert_ignore
from storage.models import (
    Account,
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
NOT_REACHED_IN_REPORT = 10
BLOCKED_CODES = ("blocked", "forbidden", "kicked", "unreachable")
GONE_CODES = ("deactivated",)
NO_CHAT_CODES = ("chat_not_found", "user_not_found", "peer_id_invalid")

# -- buttons --------------------------------------------------------------------------------------
NTC = Callbacks("ntc")
CALLBACK = NTC.prefix
BRANCH = NTC.action("b", Id)
AUDIENCE = NTC.action("a", Word)
PARAM = NTC.action("p", Word)
# The compose form's own buttons (back:<step>, ed:<step>, ok, x) are declared by its engine
# (`bot.flows.notices`).
ACK = NTC.action("ack", Id)
UNACKED = NTC.action("na", Id)
FOLLOWUP = NTC.action("fu", Id)
RESEND = NTC.action("rs", Id)
EXPORT = NTC.action("ex", Id)


# -- what the steps show ------------------------------------------------------------------------
@dataclass(frozen=True)
class Preview:
    audience_key: str
    param_label: str | None
    count: int
    blocked: int
    text: str  # the message as members will read it (in the secretary's language)
    media_kind: str | None


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


def source_of(notice_id: int) -> str:
    return f"notice:{notice_id}"


def followup_source(notice_id: int) -> str:
    return f"notice:{notice_id}:followup"


def report_source(notice_id: int) -> str:
    return f"notice:{notice_id}:report"


# -- authorisation -------------------------------------------------------------------------------
def _denied(
    session: AsyncSession, actor: Actor, action: str, *, target_id: int | None, branch_id: int | None
) -> Reply:
    """Audit a refusal (it commits with the event) and say so."""
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="notice" if target_id is not None else "branch",
        target_id=target_id,
        result="denied",
        branch_id=branch_id,
    )
    return denied(actor.language)


def may_compose(session: AsyncSession, actor: Actor, branch_id: int | None) -> Reply | None:
    """None when the actor leads ``branch_id`` now; else the refusal, audited."""
    if actor.leads_branch(branch_id):
        return None
    return _denied(session, actor, "notice.compose", target_id=None, branch_id=branch_id)


async def branch_to_compose(session: AsyncSession, actor: Actor) -> int | list[tuple[int, str]] | Reply:
    """/notice: the branch a new notice is for, or the branches to choose from (the actor leads
    several), or the refusal (none)."""
    branches = sorted(actor.secretary_branches)
    if not branches:
        return _denied(session, actor, "notice.compose", target_id=None, branch_id=None)
    if len(branches) == 1:
        return branches[0]
    rows = await session.execute(select(Branch.id, Branch.name).where(Branch.id.in_(branches)))
    return sorted((i, n) for i, n in rows)


async def drop_draft(session: AsyncSession, actor: Actor) -> None:
    """Drop the notice being written (its branch is no longer the actor's)."""
    await clear_draft(session, actor.person_id, FLOW)


def check_content(text: str | None, media_kind: str | None) -> tuple[str, dict[str, Any]] | None:
    """Why a notice's content cannot be sent (a catalogue key and its placeholders), or None."""
    text = (text or "").strip()
    limit = MAX_CAPTION if media_kind else MAX_TEXT
    if not text and not media_kind:
        return "notice.text_needed", {}
    if len(text) > limit:
        return "notice.too_long", {"limit": limit, "length": len(text)}
    return None


async def audience_choices(session: AsyncSession, data: dict[str, Any]) -> list[audiences.Choice]:
    """The values the draft's audience can be narrowed to (the branch's townships, say)."""
    audience = audiences.get(data.get("audience") or "")
    if audience is None or audience.choices is None:
        return []
    return list(await audience.choices(session, int(data["branch_id"])))


async def may_narrow(session: AsyncSession, actor: Actor, data: dict[str, Any], value: str) -> bool:
    """Whether ``value`` is one the draft's audience offers; a forged one is audited as denied."""
    if value in {c.value for c in await audience_choices(session, data)}:
        return True
    _denied(session, actor, "notice.audience", target_id=None, branch_id=data.get("branch_id"))
    return False


def _selection(data: dict[str, Any]):
    audience = audiences.get(data.get("audience") or "")
    if audience is None:
        return None
    return audience.select(int(data["branch_id"]), data.get("param"))


async def preview(session: AsyncSession, data: dict[str, Any], language: str | None) -> Preview:
    """What the notice drafted in ``data`` would be: its audience, how many, the message as read."""
    audience = audiences.get(data["audience"])
    assert audience is not None
    count, blocked = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((reachable(), 0), else_=1)), 0)).where(
                Person.id.in_(_selection(data)), has_address()
            )
        )
    ).one()
    param_label = None
    if audience.choices is not None:
        labels = {c.value: c.label for c in await audience.choices(session, data["branch_id"])}
        param_label = labels.get(data.get("param") or "")
    branch_name = await session.scalar(select(Branch.name).where(Branch.id == data["branch_id"]))
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
        ).where(Person.id.in_(recipients), chat_route(), language == lang)
        if skip_unreachable:
            query = query.where(Person.unreachable.is_(False))
        result = await session.execute(insert(table).from_select(columns, query))
        count = max(result.rowcount or 0, 0)
        # People whose copy goes off Telegram (the web chat, WeChat: their preferred account, or the next
        # reachable one when they blocked the bot or have no chat): the same body, one row each.
        elsewhere = (
            select(
                literal(source),
                literal("notice"),
                Account.channel,
                Account.address,
                Person.id,
                literal(body.id),
                literal(int(Priority.BULK)),
                literal(OutboxStatus.PENDING.value),
                literal(0),
                literal(now, UTCDateTime()),
                null(),
                literal(now, UTCDateTime()),
            )
            .join(Account, account_route_join())
            .where(Person.id.in_(recipients), language == lang)
        )
        other_columns = [c if c != "chat_id" else "channel" for c in columns]
        other_columns.insert(3, "address")
        result = await session.execute(insert(table).from_select(other_columns, elsewhere))
        count += max(result.rowcount or 0, 0)
        if count == 0:
            await session.delete(body)  # nobody reads this language: no body to keep
        inserted += count
    return inserted


def _ack_buttons(language: str, notice_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(language, "notice.btn_ack"), data=ACK.data(notice_id)),),)


async def _create_notice(
    session: AsyncSession,
    actor: Actor,
    data: dict[str, Any],
    *,
    progress_chat_id: int | None,
    progress_message_id: int | None,
    now: datetime,
) -> Notice | Reply:
    """Create the notice drafted in ``data``, every outbox row for it and its audit entry, in the
    caller's transaction; a refusal instead when it may not or cannot be sent."""
    refused = may_compose(session, actor, data.get("branch_id"))
    if refused is not None:
        return refused
    recipients = _selection(data)
    if recipients is None:
        return stale(actor.language)
    deliverable = await session.scalar(select(func.count()).where(Person.id.in_(recipients), reachable()))
    if not deliverable:
        return Reply(toast=t(actor.language, "notice.preview_empty"), alert=True)  # nobody would get it
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
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.send",
        target_type="notice",
        target_id=notice.id,
        branch_id=notice.branch_id,
    )
    return notice


async def confirm_notice(
    session: AsyncSession,
    actor: Actor,
    data: dict[str, Any],
    *,
    progress_chat_id: int | None,
    progress_message_id: int | None,
    now: datetime,
) -> Reply:
    """提交 under the preview: send the notice; the pressed preview becomes its progress message."""
    notice = await _create_notice(
        session,
        actor,
        data,
        progress_chat_id=progress_chat_id,
        progress_message_id=progress_message_id,
        now=now,
    )
    if isinstance(notice, Reply):
        return notice
    counts = await notice_counts(session, notice.id)
    return Reply.say(t(actor.language, "notice.progress", id=notice.id, **counts.params()))


@dataclass(frozen=True)
class SentNotice:
    notice_id: int
    counts: Counts


async def send_notice(
    session: AsyncSession,
    actor: Actor,
    *,
    text: str,
    audience: str = "all",
    param: str | None = None,
    progress_chat_id: int | None,
    progress_message_id: int | None,
    now: datetime,
) -> SentNotice:
    """For tools and benchmarks, not for events: send a text notice to the actor's only (or first)
    branch, as 提交 under its preview would, and commit."""
    branches = sorted(actor.secretary_branches)
    if not branches:
        raise PermissionError("the actor leads no branch")
    data = {"branch_id": branches[0], "text": text, "audience": audience, "param": param}
    notice = await _create_notice(
        session,
        actor,
        data,
        progress_chat_id=progress_chat_id,
        progress_message_id=progress_message_id,
        now=now,
    )
    if isinstance(notice, Reply):
        await session.rollback()
        raise PermissionError(notice.toast or "the notice cannot be sent")
    counts = await notice_counts(session, notice.id)
    await session.commit()
    return SentNotice(notice.id, counts)


# -- delivery progress and the live report ---------------------------------------------------------
async def notice_counts(session: AsyncSession, notice_id: int) -> Counts:
    blocked = OutboxMessage.last_error.in_(BLOCKED_CODES + GONE_CODES)
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
    session: AsyncSession,
    *,
    source: str,
    chat_id: int | None,
    message_id: int,
    text: str,
    now: datetime,
    buttons: tuple[tuple[Button, ...], ...] = (),
    channel: str = "telegram",
    address: str | None = None,
    progress: bool = False,
) -> bool:
    """An outbox row that edits an earlier message (see ``bot.delivery.channel``), in a Telegram chat
    or at another channel's address. A ``progress`` edit is dropped where the channel cannot edit."""
    payload = Outgoing(text=text, buttons=buttons).to_payload()
    payload[EDIT_KEY] = message_id
    if progress:
        payload[PROGRESS_KEY] = True
    inserted = await insert_ignore(
        session,
        OutboxMessage,
        {
            "source": source[:80],
            "kind": "edit",
            "chat_id": chat_id,
            "channel": channel if chat_id is None else "telegram",
            "address": address if chat_id is None else None,
            "person_id": None,
            "payload": payload,
            "priority": int(Priority.NOTIFICATION),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
        ["source", "chat_id"] if chat_id is not None else ["source", "channel", "address"],
    )
    return inserted == 1


def reason_key(status: str, code: str | None) -> str:
    """The catalogue key saying why one recipient was not reached (or not yet)."""
    if status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
        return "notice.reason.pending"
    if status == OutboxStatus.UNCERTAIN:
        return "notice.reason.uncertain"
    if code in BLOCKED_CODES:
        return "notice.reason.blocked"
    if code in GONE_CODES:
        return "notice.reason.deactivated"
    if code in NO_CHAT_CODES:
        return "notice.reason.no_chat"
    return "notice.reason.failed"


def _not_reached_rows(notice: Notice):
    """(name, status, code, person) of each recipient the notice has not (surely) reached."""
    return (
        select(Member.name, OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.person_id)
        .outerjoin(
            Member,
            (Member.person_id == OutboxMessage.person_id) & (Member.branch_id == notice.branch_id),
        )
        .where(
            OutboxMessage.source == source_of(notice.id),
            OutboxMessage.status != OutboxStatus.SENT,
        )
        .order_by(OutboxMessage.status, Member.id, OutboxMessage.id)
    )


def _name_with_reason(language: str, name: str | None, status: str, code: str | None) -> str:
    return t(
        language,
        "notice.name_reason",
        name=name or t(language, "notice.unnamed"),
        reason=t(language, reason_key(status, code)),
    )


def _resendable(notice_id: int):
    """The notice's rows that may go out again: failed or uncertain, to a member who has not tapped
    收到 and can be reached now (a member who blocked the bot can once they write to it again)."""
    return (
        OutboxMessage.source == source_of(notice_id),
        OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.UNCERTAIN]),
        OutboxMessage.person_id.in_(select(Person.id).where(reachable())),
        ~exists().where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == OutboxMessage.person_id),
    )


async def _resendable_count(session: AsyncSession, notice_id: int) -> int:
    return int(await session.scalar(select(func.count(OutboxMessage.id)).where(*_resendable(notice_id))) or 0)


async def _report(session: AsyncSession, notice: Notice, language: str) -> tuple[str, str, Any]:
    """The delivery report's text, its buttons and the state key it shows."""
    counts = await notice_counts(session, notice.id)
    acked = await _acked(session, notice.id)
    lines = [t(language, "notice.report", id=notice.id, acked=acked, **counts.params())]
    channels = await _reached_by_channel(session, notice.id)
    if set(channels) - {CHAT_CHANNEL}:
        lines.append(_channels_line(language, channels))
    if counts.pending:
        lines.append(t(language, "notice.report_resending", pending=counts.pending))
    missing = list(await session.execute(_not_reached_rows(notice).limit(NOT_REACHED_IN_REPORT + 1)))
    if missing:
        names = [_name_with_reason(language, *row[:3]) for row in missing[:NOT_REACHED_IN_REPORT]]
        not_reached = counts.total - counts.sent
        if not_reached > len(names):
            names.append(t(language, "notice.unacked_more", more=not_reached - len(names)))
        separator = t(language, "notice.name_separator")
        lines.append(t(language, "notice.not_reached", count=not_reached, names=separator.join(names)))
    resendable = await _resendable_count(session, notice.id) if counts.done else 0
    buttons = report_buttons(language, notice.id, resendable)
    return "\n".join(lines), f"{counts.key()},{acked}", buttons


async def _reached_by_channel(session: AsyncSession, notice_id: int) -> dict[str, int]:
    """How many people each channel reached (a copy moved off a blocked chat counts where it arrived)."""
    rows = await session.execute(
        select(OutboxMessage.channel, func.count())
        .where(OutboxMessage.source == source_of(notice_id), OutboxMessage.status == OutboxStatus.SENT)
        .group_by(OutboxMessage.channel)
    )
    return {str(channel): int(count) for channel, count in rows}


def channel_name(language: str, channel: str | None) -> str:
    key = f"channel.{channel}"
    return t(language, key) if catalogue().has(key) else str(channel or "")


def _channels_line(language: str, channels: dict[str, int]) -> str:
    order = sorted(channels, key=lambda c: (c != CHAT_CHANNEL, c))
    parts = [
        t(language, "notice.channel_count", channel=channel_name(language, c), count=channels[c])
        for c in order
    ]
    return t(language, "notice.report_channels", channels=t(language, "notice.name_separator").join(parts))


def _reached_name(language: str, name: str | None, channel: str | None) -> str:
    """A reached member's name, with the channel when it is not Telegram (most are on Telegram)."""
    shown = name or t(language, "notice.unnamed")
    if channel in (None, CHAT_CHANNEL):
        return shown
    return t(language, "notice.name_channel", name=shown, channel=channel_name(language, channel))


def report_buttons(language: str, notice_id: int, resendable: int = 0) -> tuple[tuple[Button, ...], ...]:
    rows: list[tuple[Button, ...]] = [
        (
            Button(t(language, "notice.btn_unacked"), data=UNACKED.data(notice_id)),
            Button(t(language, "notice.btn_followup"), data=FOLLOWUP.data(notice_id)),
        )
    ]
    if resendable:
        rows.append(
            (Button(t(language, "notice.btn_resend", count=resendable), data=RESEND.data(notice_id)),)
        )
    return tuple(rows)


async def _finish(
    session: AsyncSession, notice: Notice, author: Person | None, counts: Counts, now: datetime
) -> int:
    """The last progress edit and the delivery report of a notice whose rows are all settled."""
    language = language_of(author) if author else None
    added = 0
    notice.finished_at = now
    if notice.progress_chat_id is not None and notice.progress_message_id is not None:
        added += await _enqueue_edit(
            session,
            source=f"{source_of(notice.id)}:progress:final",
            chat_id=notice.progress_chat_id,
            message_id=notice.progress_message_id,
            text=t(language, "notice.progress_done", id=notice.id, **counts.params()),
            now=now,
            progress=True,
        )
    text, key, buttons = await _report(session, notice, language or "zh")
    notice.progress_counts = key
    route = await route_to(session, author) if author is not None else None
    if route is not None:
        added += await enqueue(
            session,
            source=report_source(notice.id),
            **route,
            person_id=author.id,
            message=Outgoing(text=text, buttons=buttons),
            not_before=now,
        )
    return added


async def _refresh_report(session: AsyncSession, notice: Notice, now: datetime) -> int:
    """Edit the sent report into what it should show now (one edit in flight at a time)."""
    author = await session.get(Person, notice.author_person_id) if notice.author_person_id else None
    row = None
    if author is not None:
        row = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.source == report_source(notice.id), OutboxMessage.person_id == author.id
            )
        )
    language = language_of(author) if author else "zh"
    text, key, buttons = await _report(session, notice, language)
    watching = "~" if key.split(",")[4] != "0" else ""  # a resend still going out: keep watching
    if row is None or row.status != OutboxStatus.SENT or row.message_id is None:
        if row is not None and row.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
            return 0  # not sent yet: look again once it is
        notice.progress_counts = watching + key  # no report to edit (no chat, or it failed)
        return 0
    if notice.progress_seq:
        in_flight = await session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.source == f"{report_source(notice.id)}:{notice.progress_seq}",
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
            )
        )
        if in_flight is not None:
            return 0  # the previous edit is still on its way: the next one carries the latest
    recent = notice.progress_edited_at is not None and now - notice.progress_edited_at < PROGRESS_EVERY
    if watching and recent:
        return 0  # a resend going out: its progress at most every few seconds, like the first send
    shown = (notice.progress_counts or "").lstrip("~")
    added = 0
    if key != shown:
        notice.progress_seq += 1
        notice.progress_edited_at = now
        added = await _enqueue_edit(
            session,
            source=f"{report_source(notice.id)}:{notice.progress_seq}",
            chat_id=row.chat_id,
            channel=row.channel,
            address=row.address,
            message_id=row.message_id,
            text=text,
            buttons=buttons,
            now=now,
        )
    notice.progress_counts = watching + key
    return added


async def advance_notices(session: AsyncSession, now: datetime) -> int:
    """Delivery hook: throttled progress edits, the final edit and report of each notice whose rows
    are settled, and edits that keep sent reports current (收到 taps, resends)."""
    notices = list(
        await session.scalars(
            select(Notice)
            .where(Notice.finished_at.is_(None))
            .order_by(Notice.id)
            .limit(50)
            .with_for_update(skip_locked=True)
        )
    )
    added = 0
    for notice in notices:
        counts = await notice_counts(session, notice.id)
        author = await session.get(Person, notice.author_person_id) if notice.author_person_id else None
        if counts.done:
            added += await _finish(session, notice, author, counts, now)
            continue
        language = language_of(author) if author else None
        can_edit = notice.progress_chat_id is not None and notice.progress_message_id is not None
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
                progress=True,
            )
    # Reports out of date: locked while refreshed, so a 收到 tapped meanwhile marks it again after.
    stale_reports = list(
        await session.scalars(
            select(Notice)
            .where(
                Notice.finished_at.is_not(None),
                or_(Notice.progress_counts.is_(None), Notice.progress_counts.like("~%")),
            )
            .order_by(Notice.id)
            .limit(50)
            .with_for_update(skip_locked=True)
        )
    )
    for notice in stale_reports:
        added += await _refresh_report(session, notice, now)
    return added


# A 收到 is the hottest path after a notice (hundreds of members tap within a minute): its statements are
# built once and run on the session's connection, with no ORM objects.
# The notice's report marked out of date (the hook edits it), once the notice has finished going out.
_MARK_REPORT_STALE = (
    update(Notice)
    .where(Notice.id == bindparam("notice"), Notice.finished_at.is_not(None))
    .values(progress_counts=None)
)
# Whether the person was sent the notice or its follow-up (only they may tap 收到), with the notice's
# branch for the audit entry of a refusal.
_RECEIVED = select(
    exists().where(
        OutboxMessage.source.in_([bindparam("source"), bindparam("followup")]),
        OutboxMessage.person_id == bindparam("person"),
    ),
    select(Notice.branch_id).where(Notice.id == bindparam("notice")).scalar_subquery(),
)


def _build_ack(dialect: str) -> Any:
    row = select(
        bindparam("notice", type_=NoticeAck.notice_id.type),
        bindparam("person", type_=NoticeAck.person_id.type),
        bindparam("at", type_=NoticeAck.at.type),
    ).where(_RECEIVED.selected_columns[0])
    insert = dialect_insert(dialect, NoticeAck).on_conflict_do_nothing(
        index_elements=["notice_id", "person_id"]
    )
    return insert.from_select(["notice_id", "person_id", "at"], row)


# The 收到 row, written only for a person the notice (or its follow-up) was sent to and only once:
# one INSERT ... SELECT ... WHERE EXISTS ... ON CONFLICT DO NOTHING.
_ack_statement = built_once(_build_ack)


def _build_ack_at_once() -> Any:
    """PostgreSQL: the whole 收到 in one statement. The row's INSERT and the report's "out of date" mark
    run as data-modifying CTEs (the mark only when a row went in); the select answers (rows inserted,
    whether the person was a recipient, the notice's branch). One round trip for a first tap and for a
    repeated one."""
    acked = _build_ack("postgresql").returning(NoticeAck.person_id).cte("acked")
    stale = _MARK_REPORT_STALE.where(exists(select(acked.c.person_id))).returning(Notice.id).cte("stale")
    inserted = select(func.count()).select_from(acked).scalar_subquery()
    return select(inserted, *_RECEIVED.selected_columns).add_cte(acked).add_cte(stale)


_ACK_AT_ONCE = _build_ack_at_once()


async def _mark_report_stale(session: AsyncSession, notice_id: int) -> None:
    connection = await session.connection()
    await connection.execute(_MARK_REPORT_STALE, {"notice": notice_id})


async def _acked(session: AsyncSession, notice_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(NoticeAck).where(NoticeAck.notice_id == notice_id)
        )
        or 0
    )


# -- acknowledgements, the 收到 list, follow-up, resend, export ---------------------------------------
async def acknowledge(session: AsyncSession, actor: Actor, notice_id: int, now: datetime) -> Reply:
    """A member's 收到: thanks the first time, already done on a repeated tap; only for recipients.
    On PostgreSQL one statement; on SQLite (no data-modifying CTEs) a first tap is two statements (the
    row, the report marked out of date), a repeated one two (the INSERT that does nothing, then whether
    the person was a recipient at all)."""
    connection = await session.connection()
    sources = {"source": source_of(notice_id), "followup": followup_source(notice_id)}
    params = {"notice": notice_id, "person": actor.person_id, **sources}
    if connection.dialect.name == "postgresql":
        acked, received, notice_branch = (await connection.execute(_ACK_AT_ONCE, {**params, "at": now})).one()
    else:
        inserted = await connection.execute(_ack_statement(session), {**params, "at": now})
        acked = (inserted.rowcount or 0) == 1
        if acked:
            await _mark_report_stale(session, notice_id)
        else:
            received, notice_branch = (await connection.execute(_RECEIVED, params)).one()
    if acked:
        return Reply(toast=t(actor.language, "notice.ack_thanks"))
    if not received:
        return _denied(session, actor, "notice.ack", target_id=notice_id, branch_id=notice_branch)
    return already_done(actor.language)


async def _led_notice(session: AsyncSession, actor: Actor, notice_id: int, action: str) -> Notice | Reply:
    notice = await session.get(Notice, notice_id)
    if notice is None or not actor.leads_branch(notice.branch_id):
        branch_id = notice.branch_id if notice else None
        return _denied(session, actor, action, target_id=notice_id, branch_id=branch_id)
    return notice


def _unacked_people(notice_id: int):
    """Person ids the notice reached (or may have: uncertain) who have not tapped 收到."""
    return select(OutboxMessage.person_id).where(
        OutboxMessage.source == source_of(notice_id),
        OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.UNCERTAIN]),
        OutboxMessage.person_id.is_not(None),
        ~exists().where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == OutboxMessage.person_id),
    )


async def unacknowledged(session: AsyncSession, actor: Actor, notice_id: int) -> Reply:
    """The 收到 list: who has not tapped 收到, those reached by name, those not reached with the reason."""
    notice = await _led_notice(session, actor, notice_id, "notice.unacked")
    if isinstance(notice, Reply):
        return notice
    language = actor.language
    not_acked = ~exists().where(
        NoticeAck.notice_id == notice_id, NoticeAck.person_id == OutboxMessage.person_id
    )
    reached = (
        select(Member.name, OutboxMessage.channel)
        .join(OutboxMessage, OutboxMessage.person_id == Member.person_id)
        .where(
            OutboxMessage.source == source_of(notice_id),
            OutboxMessage.status == OutboxStatus.SENT,
            Member.branch_id == notice.branch_id,
            not_acked,
        )
    )
    reached_total = int(await session.scalar(select(func.count()).select_from(reached.subquery())) or 0)
    reached_names = list(await session.execute(reached.order_by(Member.id).limit(UNACKED_SHOWN)))
    missing = list(await session.execute(_not_reached_rows(notice).where(not_acked).limit(UNACKED_SHOWN + 1)))
    missing_total = int(
        await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.source == source_of(notice_id),
                OutboxMessage.status != OutboxStatus.SENT,
                not_acked,
            )
        )
        or 0
    )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.unacked",
        target_type="notice",
        target_id=notice_id,
        branch_id=notice.branch_id,
    )
    total = reached_total + missing_total
    export_row = (Button(t(language, "notice.btn_export"), data=EXPORT.data(notice_id)),)
    if total == 0:
        return Reply(
            screens=(Screen(t(language, "notice.unacked_none", id=notice_id), buttons=(export_row,)),),
            edit=False,
        )
    separator = t(language, "notice.name_separator")
    lines = [t(language, "notice.unacked", id=notice_id, total=total)]
    if reached_names:
        names = [_reached_name(language, name, channel) for name, channel in reached_names]
        if reached_total > len(names):
            names.append(t(language, "notice.unacked_more", more=reached_total - len(names)))
        lines.append(t(language, "notice.unacked_reached", count=reached_total, names=separator.join(names)))
    if missing:
        names = [_name_with_reason(language, *row[:3]) for row in missing[:UNACKED_SHOWN]]
        if missing_total > len(names):
            names.append(t(language, "notice.unacked_more", more=missing_total - len(names)))
        lines.append(t(language, "notice.not_reached", count=missing_total, names=separator.join(names)))
    rows: list[tuple[Button, ...]] = []
    if notice.followup_at is None and reached_total:
        rows.append((Button(t(language, "notice.btn_followup"), data=FOLLOWUP.data(notice_id)),))
    resendable = await _resendable_count(session, notice_id) if notice.finished_at is not None else 0
    if resendable:
        rows.append(
            (Button(t(language, "notice.btn_resend", count=resendable), data=RESEND.data(notice_id)),)
        )
    rows.append(export_row)
    return Reply(screens=(Screen("\n".join(lines), buttons=tuple(rows)),), edit=False)


async def send_followup(session: AsyncSession, actor: Actor, notice_id: int, now: datetime) -> Reply:
    """One reminder to everyone the notice reached who has not acknowledged it; only once."""
    notice = await _led_notice(session, actor, notice_id, "notice.followup")
    if isinstance(notice, Reply):
        return notice
    language = actor.language
    if notice.followup_at is not None:
        return Reply(toast=t(language, "notice.followup_already"), alert=True)
    if notice.finished_at is None:
        return Reply(toast=t(language, "notice.still_sending"), alert=True)
    branch_name = await session.scalar(select(Branch.name).where(Branch.id == notice.branch_id)) or ""
    text = notice.text or ""

    def message_for(lang: str) -> Outgoing:
        return Outgoing(
            text=t(lang, "notice.followup", branch=branch_name, text=text),
            buttons=_ack_buttons(lang, notice.id),
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
    return Reply(
        screens=(Screen(t(language, "notice.followup_sent", count=notice.followup_count)),), edit=False
    )


async def resend(session: AsyncSession, actor: Actor, notice_id: int, now: datetime) -> Reply:
    """Send the notice again, in one tap, to every recipient it did not reach who can be reached now."""
    notice = await _led_notice(session, actor, notice_id, "notice.resend")
    if isinstance(notice, Reply):
        return notice
    language = actor.language
    if notice.finished_at is None:
        return Reply(toast=t(language, "notice.still_sending"), alert=True)
    result = await session.execute(
        update(OutboxMessage)
        .where(*_resendable(notice_id))
        .values(
            status=OutboxStatus.PENDING,
            attempts=0,
            last_error=None,
            next_attempt_at=now,
            claimed_by=None,
            claimed_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    count = max(result.rowcount or 0, 0)
    if count == 0:
        return already_done(language)
    await _mark_report_stale(session, notice_id)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.resend",
        target_type="notice",
        target_id=notice.id,
        branch_id=notice.branch_id,
    )
    return Reply(screens=(Screen(t(language, "notice.resent", id=notice_id, count=count)),), edit=False)


async def export_receipts(session: AsyncSession, actor: Actor, notice_id: int, now: datetime) -> Reply:
    """The 收到 list as a workbook: every recipient, delivered or why not, and when they tapped 收到."""
    from bot.services.export import Sheet, write_workbook

    notice = await _led_notice(session, actor, notice_id, "notice.export")
    if isinstance(notice, Reply):
        return notice
    language = actor.language
    branch = await session.get(Branch, notice.branch_id)
    tz = ZoneInfo(branch.timezone) if branch is not None else ZoneInfo("Asia/Shanghai")
    rows = await session.execute(
        select(
            Member.name, OutboxMessage.status, OutboxMessage.last_error, NoticeAck.at, OutboxMessage.channel
        )
        .select_from(OutboxMessage)
        .outerjoin(
            Member,
            (Member.person_id == OutboxMessage.person_id) & (Member.branch_id == notice.branch_id),
        )
        .outerjoin(
            NoticeAck,
            (NoticeAck.notice_id == notice_id) & (NoticeAck.person_id == OutboxMessage.person_id),
        )
        .where(OutboxMessage.source == source_of(notice_id))
        .order_by(Member.id, OutboxMessage.id)
    )
    yes, no = t(language, "notice.sheet.yes"), t(language, "notice.sheet.no")
    data = []
    for name, status, code, at, channel in rows:
        delivered = status == OutboxStatus.SENT
        data.append(
            [
                name or t(language, "notice.unnamed"),
                yes if delivered else no,
                "" if delivered else t(language, reason_key(status, code)),
                yes if at is not None else no,
                at.astimezone(tz).replace(tzinfo=None) if at is not None else None,
                channel_name(language, channel) if delivered else "",
            ]
        )
    sheet = Sheet(
        title=t(language, "notice.sheet.title", id=notice_id),
        headers=[
            t(language, f"notice.sheet.col.{c}")
            for c in ("name", "delivered", "reason", "ack", "at", "channel")
        ],
        rows=data,
    )
    content = await asyncio.to_thread(write_workbook, [sheet])
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="notice.export",
        target_type="notice",
        target_id=notice_id,
        branch_id=notice.branch_id,
    )
    stamp = now.astimezone(tz).strftime("%Y%m%d")
    filename = t(language, "notice.sheet.file", id=notice_id, date=stamp)
    caption = t(language, "notice.sheet.caption", id=notice_id, total=len(data))
    return Reply(screens=(Screen(caption, document=(filename, content)),), edit=False)


# -- /mydata and /deleteme ----------------------------------------------------------------------------
async def data_section(session: AsyncSession, person_id: int) -> tuple[str, Any]:
    """The notices the person wrote (their text) and the notices they tapped 收到 on."""
    written = [
        {
            "id": notice_id,
            "branch_id": branch_id,
            "created_at": created_at.isoformat(),
            "text": text,
            "media": {"kind": media_kind, "file_id": media_ref} if media_kind else None,
        }
        for notice_id, branch_id, created_at, text, media_kind, media_ref in await session.execute(
            select(
                Notice.id,
                Notice.branch_id,
                Notice.created_at,
                Notice.text,
                Notice.media_kind,
                Notice.media_ref,
            )
            .where(Notice.author_person_id == person_id)
            .order_by(Notice.id)
        )
    ]
    acknowledged = [
        {"notice_id": notice_id, "at": at.isoformat()}
        for notice_id, at in await session.execute(
            select(NoticeAck.notice_id, NoticeAck.at)
            .where(NoticeAck.person_id == person_id)
            .order_by(NoticeAck.id)
        )
    ]
    if not written and not acknowledged:
        return "notices", None
    return "notices", {"written": written, "acknowledged": acknowledged}


async def erase_person(session: AsyncSession, person_id: int) -> None:
    """/deleteme: the person's 收到 taps go; the notices they wrote keep their counts, lose text and file."""
    await session.execute(delete(NoticeAck).where(NoticeAck.person_id == person_id))
    await session.execute(
        update(Notice)
        .where(Notice.author_person_id == person_id)
        .values(text=None, media_ref=None, author_person_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Draft).where(Draft.person_id == person_id, Draft.flow == FLOW))


PERSONAL_COLUMNS = (Notice.text, Notice.media_ref, NoticeAck.person_id, NoticeAck.at)
