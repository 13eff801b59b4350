"""Agency relay (为民服务全程代理): a township's catalogue, and a member's request through its three steps.

受理 accept: the agent checks the materials and either issues a receipt (回执, 材料接收单) with a number and
a promised deadline (承诺时限), or sends the list of missing materials (补办材料清单).
承办 handle: done by the deadline, or forwarded to the township agency centre (镇代理中心); what cannot be
done at all is refused with a written reason.
回复 reply: the result (text or a file) or the reason goes back to the member. A consultation item
(咨询服务) gets an answer, not a process.

Decisions where the brief left room:
- Time zone: townships have no zone of their own; they all lie in the home district, which the deployment's
  TIMEZONE setting describes (default Asia/Shanghai). Callers pass it as ``tz``; deadlines and months are
  calendar dates there.
- Promised deadline: the local date of acceptance plus the item's promised days (calendar days; 0 means the
  same day). The request is overdue (超期) from the first instant of the following local day (``due_at``).
- Receipt number: ``T<township id>-<year>-<sequence>``, e.g. ``T3-2026-0007``: the sequence restarts each year
  per township and comes from a counter row updated in the accepting transaction (a row lock on PostgreSQL,
  a single writer on SQLite), so numbers are unique, gap-free and short enough to read out on the phone.
- Rates per township and month (办结率, 按时办结率): the cohort is the requests accepted (receipt issued) in
  that month, withdrawn ones left out; completed = those now in state completed; on time = completed no later
  than their promised deadline. Both rates divide by the cohort, so on-time ≤ completion. Consultations are
  answered, not accepted, so they are counted apart.
- The member's host-branch secretary sees requests and their steps, never materials, results or reasons.
- Chasing (催办) and the overdue flags are reminder kinds of the engine: ``bot/scheduling/kinds_relay.py``.
- /deleteme (``erase_person``) keeps the request rows for the township's figures but drops the materials,
  texts and the notices that carried them; an open request becomes withdrawn and the agents are told.

Every step tells the member through the outbox and writes an audit entry (ids only); the caller commits
(the conversation core, once per event). Nothing here commits or rolls back.
Each step has a business key UNIQUE(request, key) in ``relay_event``; the request row is locked
(``FOR UPDATE``) before its state is checked, so a double tap or a race does a step once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.rules.errors import InputError
from bot.rules.validate import clean_short_text
from bot.services import audit
from bot.services.identity import Actor, language_of
from bot.services.outbox import Button, Outgoing, enqueue, notify_person, route_to
from bot.services.registration import display_phone
from storage.dialect import insert_ignore
from storage.models import (
    OPEN_STATES,
    RUNNING_STATES,
    Branch,
    ItemKind,
    Member,
    MemberState,
    OutboxMessage,
    OutboxStatus,
    Person,
    Priority,
    ReceiptCounter,
    RequestAttachment,
    RequestEvent,
    RequestState,
    Role,
    RoleGrant,
    ServiceItem,
    ServiceRequest,
    Township,
)

FLOW_REQUEST = "relay_req"  # a member composing a request, or adding materials to one
FLOW_AGENT = "relay_act"  # an agent typing a missing list, a result, a reason or an answer
FLOW_CATALOGUE = "relay_cat"  # an agent adding a catalogue item

# The personal columns of the relay: /mydata shows them (data_section), /deleteme clears them (erase_person).
PERSONAL_COLUMNS = (
    ServiceRequest.member_id,
    ServiceRequest.missing,
    ServiceRequest.result_text,
    ServiceRequest.reason,
    RequestEvent.note,
    RequestAttachment.text,
    RequestAttachment.file_id,
    RequestAttachment.filename,
)

MAX_PARTS = 10  # materials in one submission round
MAX_TEXT = 1000  # characters of one typed material, result, reason or answer
MAX_ITEM_NAME = 60
MAX_MATERIALS = 15
MAX_MATERIAL_NAME = 60
MAX_PROMISED_DAYS = 365
LIST_LIMIT = 30
RECENT_DAYS = 30  # closed requests stay in the secretary's list this long


class StepConflict(RuntimeError):
    """A step's business key was recorded twice after its changes were made: the event rolls back."""


class RelayError(Exception):
    """A refused relay action; ``key`` is the catalogue message to show."""

    SHARED_KEYS = {
        "not_allowed": "error.not_allowed",
        "stale": "error.stale_button",
        "already_done": "common.already_done",
    }

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def key(self) -> str:
        return self.SHARED_KEYS.get(self.code, f"relay.error.{self.code}")


# -- pure rules --------------------------------------------------------------------------------------------


def receipt_number(township_id: int, year: int, sequence: int) -> str:
    """The human-friendly receipt number, e.g. T3-2026-0007."""
    return f"T{township_id}-{year}-{sequence:04d}"


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant after ``day`` in ``tz``, as aware UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def promised_deadline(accepted_at: datetime, promised_days: int, tz: ZoneInfo) -> tuple[date, datetime]:
    """(the last local day to finish, the instant the request becomes overdue)."""
    if promised_days < 0:
        raise ValueError("promised days cannot be negative")
    due_on = accepted_at.astimezone(tz).date() + timedelta(days=promised_days)
    return due_on, end_of_day(due_on, tz)


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month in ``tz`` as a half-open UTC interval."""
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def percent(part: int, whole: int) -> Decimal | None:
    """A share in percent with one decimal, rounded half up; None when there is nothing to divide."""
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def is_overdue(state: str, due_at: datetime | None, now: datetime) -> bool:
    return state in RUNNING_STATES and due_at is not None and now >= due_at


def clean_text(text: str | None, max_len: int = MAX_TEXT, *, code: str = "text") -> str:
    """Typed free text, trimmed, or RelayError(``<code>_empty`` / ``<code>_too_long`` / ``<code>_bad``)."""
    try:
        return clean_short_text(text or "", max_len, multiline=True)
    except InputError as exc:
        suffix = {"empty": "empty", "too_long": "too_long"}.get(exc.code, "bad")
        raise RelayError(f"{code}_{suffix}", limit=max_len) from None


def parse_list(text: str, *, max_items: int = MAX_MATERIALS, max_len: int = MAX_MATERIAL_NAME) -> list[str]:
    """A list typed one item per line (or separated by 、，;): materials, missing materials."""
    raw = (text or "").replace("\r", "\n")
    for separator in ("、", "，", "；", ";", ","):
        raw = raw.replace(separator, "\n")
    items: list[str] = []
    for line in raw.split("\n"):
        line = line.strip().lstrip("-•·*0123456789.)） ").strip()
        if not line:
            continue
        try:
            item = clean_short_text(line, max_len)
        except InputError:
            raise RelayError("list_item_bad", limit=max_len) from None
        if item not in items:
            items.append(item)
    if not items:
        raise RelayError("list_empty")
    if len(items) > max_items:
        raise RelayError("list_too_long", limit=max_items)
    return items


def parse_days(text: str) -> int:
    cleaned = "".join((text or "").split()).removesuffix("天").removesuffix("days").removesuffix("day")
    digits = cleaned.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not digits.isascii() or not digits.isdigit() or not 0 <= int(digits) <= MAX_PROMISED_DAYS:
        raise RelayError("bad_days", limit=MAX_PROMISED_DAYS)
    return int(digits)


def clean_item_name(text: str) -> str:
    try:
        return clean_short_text(text or "", MAX_ITEM_NAME)
    except InputError:
        raise RelayError("bad_item_name", limit=MAX_ITEM_NAME) from None


# -- plain values ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One material or result: typed text, a photo or a document (by its channel file id)."""

    kind: str  # text | photo | document
    text: str | None = None
    file_id: str | None = None
    filename: str | None = None
    mime: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        return cls(**{k: data.get(k) for k in ("kind", "text", "file_id", "filename", "mime")})

    @classmethod
    def typed(cls, text: str | None) -> Part:
        return cls("text", text=clean_text(text))

    @classmethod
    def photo(cls, file_id: str) -> Part:
        return cls("photo", file_id=file_id[:255])

    @classmethod
    def document(cls, file_id: str, filename: str | None, mime: str | None) -> Part:
        return cls(
            "document",
            file_id=file_id[:255],
            filename=(filename or "")[:120] or None,
            mime=(mime or "")[:100],
        )


@dataclass(frozen=True)
class ItemView:
    id: int
    township_id: int
    name: str
    kind: str
    materials: list[str]
    promised_days: int
    active: bool


@dataclass(frozen=True)
class RequestView:
    id: int
    item_name: str
    kind: str
    state: str
    township_id: int
    township_name: str
    branch_id: int
    receipt_no: str | None
    submitted_at: datetime
    accepted_at: datetime | None
    due_on: date | None
    closed_at: datetime | None
    overdue: bool
    round: int
    missing: list[str] = field(default_factory=list)
    result_text: str | None = None
    reason: str | None = None
    member_name: str | None = None
    member_phone: str | None = None
    branch_name: str | None = None


@dataclass(frozen=True)
class EventView:
    at: datetime
    key: str
    state: str
    note: str | None


@dataclass(frozen=True)
class MonthStats:
    township_id: int
    township_name: str
    accepted: int
    completed: int
    on_time: int
    answered: int
    overdue_open: int

    @property
    def completion_rate(self) -> Decimal | None:
        return percent(self.completed, self.accepted)

    @property
    def on_time_rate(self) -> Decimal | None:
        return percent(self.on_time, self.accepted)


def _item_view(item: ServiceItem) -> ItemView:
    return ItemView(
        item.id,
        item.township_id,
        item.name,
        item.kind,
        [str(m) for m in item.materials or []],
        item.promised_days,
        item.active,
    )


# -- loading and checking ----------------------------------------------------------------------------------


async def _deny(session: AsyncSession, actor: Actor, action: str, request_id: int | None) -> RelayError:
    """Audit a refused attempt (forged or stale callback, wrong township); called before anything is
    written, so the event's one commit keeps the audit entry and nothing else."""
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="relay_request",
        target_id=request_id,
        result="denied",
    )
    return RelayError("not_allowed")


async def approved_member(session: AsyncSession, actor: Actor) -> Member:
    member = await session.scalar(select(Member).where(Member.person_id == actor.person_id))
    if member is None or member.state != MemberState.APPROVED:
        raise RelayError("not_member")
    if member.township_id is None:
        raise RelayError("no_township")
    return member


async def _load_request(
    session: AsyncSession, request_id: int, *, lock: bool = False
) -> ServiceRequest | None:
    query = select(ServiceRequest).where(ServiceRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def _agent_request(
    session: AsyncSession, actor: Actor, request_id: int, action: str, *, lock: bool = True
) -> ServiceRequest:
    """The request, if the actor is an agent of its township; otherwise denied and audited."""
    request = await _load_request(session, request_id, lock=lock)
    if request is None or not actor.agent_of(request.township_id):
        raise await _deny(session, actor, action, request_id)
    return request


async def _own_request(
    session: AsyncSession, actor: Actor, request_id: int, action: str, *, lock: bool = True
) -> ServiceRequest:
    request = await _load_request(session, request_id, lock=lock)
    if request is None or request.person_id != actor.person_id:
        raise await _deny(session, actor, action, request_id)
    return request


def _expect(request: ServiceRequest, allowed: Iterable[str], done: Iterable[str] = ()) -> None:
    """Raise already_done when the step has happened, stale when the request moved elsewhere."""
    if request.state in set(allowed):
        return
    raise RelayError("already_done" if request.state in set(done) else "stale")


async def _event(
    session: AsyncSession,
    request: ServiceRequest,
    key: str,
    actor_person_id: int | None,
    now: datetime,
    note: str | None = None,
) -> None:
    """Record the step under its business key; a second identical step is refused (already done)."""
    inserted = await insert_ignore(
        session,
        RequestEvent,
        {
            "request_id": request.id,
            "key": key,
            "state": request.state,
            "actor_person_id": actor_person_id,
            "at": now,
            "note": note,
        },
        ["request_id", "key"],
    )
    if not inserted:
        # Unreachable in a normal race (the row is locked and its state checked first): the step's
        # changes are already made, so the whole event must roll back, not commit them.
        raise StepConflict(f"request {request.id}: step {key} recorded twice")


def _audit(session: AsyncSession, actor_person_id: int | None, action: str, request: ServiceRequest) -> None:
    audit.record(
        session,
        actor_person_id=actor_person_id,
        action=action,
        target_type="relay_request",
        target_id=request.id,
        branch_id=request.branch_id,
    )


async def _people_with_role(
    session: AsyncSession,
    role: Role | tuple[Role, ...],
    *,
    township_id: int | None = None,
    branch_id: int | None = None,
) -> list[Person]:
    roles = (role,) if isinstance(role, Role) else role
    query = select(Person).join(RoleGrant, RoleGrant.person_id == Person.id).where(RoleGrant.role.in_(roles))
    if township_id is not None:
        query = query.where(RoleGrant.township_id == township_id)
    if branch_id is not None:
        query = query.where(RoleGrant.branch_id == branch_id)
    return list((await session.scalars(query.order_by(Person.id))).unique())


async def agents_of(session: AsyncSession, township_id: int) -> list[Person]:
    return await _people_with_role(session, Role.AGENT, township_id=township_id)


async def secretaries_of(session: AsyncSession, branch_id: int) -> list[Person]:
    return await _people_with_role(session, (Role.SECRETARY, Role.COMMITTEE), branch_id=branch_id)


async def _view(
    session: AsyncSession, request: ServiceRequest, now: datetime, *, personal: bool
) -> RequestView:
    item = await session.get(ServiceItem, request.item_id)
    township = await session.get(Township, request.township_id)
    branch = await session.get(Branch, request.branch_id)
    member = await session.get(Member, request.member_id) if personal and request.member_id else None
    return RequestView(
        id=request.id,
        item_name=item.name if item else "?",
        kind=request.kind,
        state=request.state,
        township_id=request.township_id,
        township_name=township.name if township else "?",
        branch_id=request.branch_id,
        receipt_no=request.receipt_no,
        submitted_at=request.submitted_at,
        accepted_at=request.accepted_at,
        due_on=request.due_on,
        closed_at=request.closed_at,
        overdue=is_overdue(request.state, request.due_at, now),
        round=request.round,
        missing=list(request.missing or []),
        result_text=request.result_text,
        reason=request.reason,
        member_name=member.name if member else None,
        member_phone=member.phone if member else None,
        branch_name=branch.name if branch else None,
    )


# -- telling people ----------------------------------------------------------------------------------------


def agent_buttons(request: ServiceRequest | RequestView, language: str) -> tuple[tuple[Button, ...], ...]:
    """The next steps open to the agent, as buttons in the agent's language."""

    def b(label: str, action: str) -> Button:
        return Button(t(language, f"btn.relay.{label}"), data=f"rl:{action}:{request.id}")

    state, kind = request.state, request.kind
    if state == RequestState.SUBMITTED and kind == ItemKind.CONSULT:
        return ((b("answer", "ans"), b("refuse", "ref")),)
    if state == RequestState.SUBMITTED:
        return ((b("accept", "acc"), b("missing", "miss")), (b("refuse", "ref"),))
    if state == RequestState.MISSING:
        return ((b("refuse", "ref"),),)
    if state == RequestState.ACCEPTED:
        return ((b("complete", "done"), b("forward", "fwd")), (b("refuse", "ref"),))
    if state == RequestState.FORWARDED:
        return ((b("complete", "done"), b("refuse", "ref")),)
    return ()


def member_buttons(request: ServiceRequest | RequestView, language: str) -> tuple[tuple[Button, ...], ...]:
    if request.state not in OPEN_STATES:
        return ()
    return (
        (
            Button(t(language, "btn.relay.add"), data=f"rl:add:{request.id}"),
            Button(t(language, "btn.relay.withdraw"), data=f"rl:wd:{request.id}"),
        ),
    )


def part_message(part: Part | RequestAttachment, caption: str) -> Outgoing:
    """A material as an outgoing message: its text, or the file with a caption."""
    text = f"{caption}\n{part.text}" if part.text else caption
    if part.kind == "text":
        return Outgoing(text=text)
    return Outgoing(text=text, media_kind=part.kind, media_ref=part.file_id, filename=part.filename)


async def _send_parts(
    session: AsyncSession,
    person: Person,
    request_id: int,
    source: str,
    attachments: Sequence[RequestAttachment],
    caption_key: str,
    now: datetime,
) -> None:
    route = await route_to(session, person)
    if route is None:
        return
    language = language_of(person)
    for index, attachment in enumerate(attachments, start=1):
        caption = t(language, caption_key, id=request_id, n=index, total=len(attachments))
        await enqueue(
            session,
            source=f"{source}:f{attachment.id}",
            **route,
            person_id=person.id,
            message=part_message(attachment, caption),
            not_before=now,
        )


async def _tell_agents(
    session: AsyncSession,
    request: ServiceRequest,
    source: str,
    key: str,
    now: datetime,
    attachments: Sequence[RequestAttachment] = (),
    *,
    with_buttons: bool = True,
    **params: object,
) -> int:
    """Tell every agent of the request's township, with the materials that came with this step."""
    view = await _view(session, request, now, personal=True)
    agents = await agents_of(session, request.township_id)
    for agent in agents:
        language = language_of(agent)
        await notify_person(
            session,
            agent,
            source=f"{source}:a",
            key=key,
            buttons=agent_buttons(request, language) if with_buttons else (),
            id=request.id,
            item=view.item_name,
            kind_label=t(language, f"relay.kind.{request.kind}"),
            name=view.member_name or "—",
            phone=display_phone(view.member_phone) or "—",
            branch=view.branch_name or "—",
            count=len(attachments),
            not_before=now,
            **params,
        )
        await _send_parts(session, agent, request.id, source, attachments, "relay.material_caption", now)
    return len(agents)


async def _tell_member(
    session: AsyncSession,
    request: ServiceRequest,
    source: str,
    key: str,
    now: datetime,
    *,
    with_buttons: bool = False,
    **params: object,
) -> None:
    await _tell_branch(session, request, source, now)
    person = await session.get(Person, request.person_id)
    if person is None:
        return
    item = await session.get(ServiceItem, request.item_id)
    language = language_of(person)
    await notify_person(
        session,
        person,
        source=f"{source}:m",
        key=key,
        buttons=member_buttons(request, language) if with_buttons else (),
        priority=Priority.NOTIFICATION,
        not_before=now,
        id=request.id,
        item=item.name if item else "?",
        **params,
    )


async def _tell_branch(session: AsyncSession, request: ServiceRequest, source: str, now: datetime) -> None:
    """One status line to the member's host-branch secretaries: the step, never what was sent or said."""
    secretaries = await secretaries_of(session, request.branch_id)
    if not secretaries:
        return
    item = await session.get(ServiceItem, request.item_id)
    township = await session.get(Township, request.township_id)
    member = await session.get(Member, request.member_id) if request.member_id else None
    for secretary in secretaries:
        language = language_of(secretary)
        deadline = (
            t(language, "relay.receipt_line", receipt=request.receipt_no, due=request.due_on.isoformat())
            if request.receipt_no and request.due_on and request.state in RUNNING_STATES
            else ""
        )
        await notify_person(
            session,
            secretary,
            source=f"{source}:s",
            key="relay.branch.step",
            not_before=now,
            id=request.id,
            name=(member.name if member else None) or "—",
            item=item.name if item else "?",
            township=township.name if township else "?",
            state=t(language, f"relay.state.{request.state}"),
            deadline=deadline,
        )


async def _store_parts(
    session: AsyncSession, request: ServiceRequest, parts: Sequence[Part], role: str, now: datetime
) -> list[RequestAttachment]:
    rows = [
        RequestAttachment(
            request_id=request.id,
            role=role,
            round=request.round,
            kind=part.kind,
            file_id=part.file_id,
            filename=part.filename,
            mime=part.mime,
            text=part.text,
            added_at=now,
        )
        for part in parts
    ]
    session.add_all(rows)
    await session.flush()
    return rows


# -- the catalogue -----------------------------------------------------------------------------------------


async def add_item(
    session: AsyncSession,
    *,
    township_id: int,
    name: str,
    kind: str,
    materials: Sequence[str],
    promised_days: int,
    actor_person_id: int | None,
) -> ItemView:
    """Add an item to a township's catalogue (the CLI and the agent's form both come here)."""
    name = clean_item_name(name)
    if kind not in set(ItemKind):
        raise RelayError("bad_kind")
    cleaned = parse_list("\n".join(materials)) if materials else []
    if not 0 <= promised_days <= MAX_PROMISED_DAYS:
        raise RelayError("bad_days", limit=MAX_PROMISED_DAYS)
    if await session.get(Township, township_id) is None:
        raise RelayError("no_such_township")
    exists = await session.scalar(
        select(ServiceItem.id).where(ServiceItem.township_id == township_id, ServiceItem.name == name)
    )
    if exists is not None:
        raise RelayError("item_exists", name=name)
    item = ServiceItem(
        township_id=township_id,
        name=name,
        kind=kind,
        materials=cleaned,
        promised_days=promised_days,
        active=True,
    )
    session.add(item)
    await session.flush()
    audit.record(
        session,
        actor_person_id=actor_person_id,
        action="relay.item.add",
        target_type="relay_item",
        target_id=item.id,
    )
    return _item_view(item)


async def list_items(session: AsyncSession, township_id: int, *, active_only: bool = True) -> list[ItemView]:
    query = select(ServiceItem).where(ServiceItem.township_id == township_id)
    if active_only:
        query = query.where(ServiceItem.active.is_(True))
    return [_item_view(i) for i in await session.scalars(query.order_by(ServiceItem.id))]


async def agent_catalogue(session: AsyncSession, actor: Actor) -> list[tuple[int, str, list[ItemView]]]:
    """Each township the agent serves, with all its items (inactive ones too)."""
    result = []
    for township_id in sorted(actor.agent_townships):
        township = await session.get(Township, township_id)
        if township is not None:
            result.append(
                (township.id, township.name, await list_items(session, township.id, active_only=False))
            )
    return result


async def set_item_active(session: AsyncSession, actor: Actor, item_id: int, active: bool) -> ItemView:
    item = await session.get(ServiceItem, item_id)
    if item is None or not actor.agent_of(item.township_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="relay.item.toggle",
            target_type="relay_item",
            target_id=item_id,
            result="denied",
        )
        raise RelayError("not_allowed")
    if item.active == active:
        raise RelayError("already_done")
    item.active = active
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="relay.item.on" if active else "relay.item.off",
        target_type="relay_item",
        target_id=item.id,
    )
    return _item_view(item)


async def begin_item_form(session: AsyncSession, actor: Actor, township_id: int) -> None:
    """Check the agent may open the "new catalogue item" form for this township (one they serve)."""
    if not actor.agent_of(township_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="relay.item.add",
            target_type="township",
            target_id=township_id,
            result="denied",
        )
        raise RelayError("not_allowed")


async def agent_add_item(
    session: AsyncSession,
    actor: Actor,
    *,
    township_id: int,
    name: str,
    kind: str,
    materials: Sequence[str],
    promised_days: int,
) -> ItemView:
    """The agent's form submitted: add the item, to a township the agent still serves."""
    await begin_item_form(session, actor, township_id)
    return await add_item(
        session,
        township_id=township_id,
        name=name,
        kind=kind,
        materials=materials,
        promised_days=promised_days,
        actor_person_id=actor.person_id,
    )


# -- the member's side -------------------------------------------------------------------------------------


async def member_catalogue(session: AsyncSession, actor: Actor) -> tuple[str, list[ItemView]]:
    """The member's home township name and the items it offers."""
    member = await approved_member(session, actor)
    township = await session.get(Township, member.township_id)
    return (township.name if township else "?"), await list_items(session, member.township_id)


async def begin_request(session: AsyncSession, actor: Actor, item_id: int) -> ItemView:
    """An item of the member's home township that a request form may be opened for."""
    member = await approved_member(session, actor)
    item = await session.get(ServiceItem, item_id)
    if item is None or item.township_id != member.township_id:
        raise await _deny(session, actor, "relay.begin", None)
    if not item.active:
        raise RelayError("stale")
    return _item_view(item)


async def begin_add_materials(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> RequestView:
    """One of the member's own open requests, that a form adding materials may be opened for."""
    request = await _own_request(session, actor, request_id, "relay.add", lock=False)
    if request.state not in OPEN_STATES:
        raise RelayError("stale")
    return await _view(session, request, now, personal=False)


def add_part(data: dict[str, Any], part: Part) -> int:
    """Keep one material in a form's answers; return how many it holds."""
    parts = list(data.get("parts", []))
    if len(parts) >= MAX_PARTS:
        raise RelayError("too_many_parts", limit=MAX_PARTS)
    parts.append(part.to_dict())
    data["parts"] = parts
    return len(parts)


@dataclass(frozen=True)
class Submitted:
    view: RequestView
    added: int  # materials received in this step
    new_request: bool


async def submit_form(session: AsyncSession, actor: Actor, data: dict[str, Any], now: datetime) -> Submitted:
    """Submit a form's answers: a new request, or the materials added to an existing one."""
    parts = [Part.from_dict(p) for p in data.get("parts", [])]
    if "request_id" in data:
        view = await _add_materials(session, actor, int(data["request_id"]), parts, now)
        return Submitted(view, len(parts), False)
    if "item_id" not in data:
        raise RelayError("stale")
    view = await _submit(session, actor, int(data["item_id"]), parts, now)
    return Submitted(view, len(parts), True)


async def submit_request(
    session: AsyncSession, actor: Actor, item_id: int, parts: Sequence[Part], now: datetime
) -> RequestView:
    """Submit a new request directly (the form's submit does the same)."""
    view = await _submit(session, actor, item_id, parts, now)
    return view


async def _submit(
    session: AsyncSession, actor: Actor, item_id: int, parts: Sequence[Part], now: datetime
) -> RequestView:
    member = await approved_member(session, actor)
    item = await session.get(ServiceItem, item_id)
    if item is None or item.township_id != member.township_id:
        raise await _deny(session, actor, "relay.submit", None)
    if not item.active:
        raise RelayError("stale")
    # A consultation is a question: an empty one asks for the question, never for materials.
    if item.kind == ItemKind.CONSULT and not any(p.kind == "text" for p in parts):
        raise RelayError("question_required")
    if not parts:
        raise RelayError("nothing_to_submit")
    if len(parts) > MAX_PARTS:
        raise RelayError("too_many_parts", limit=MAX_PARTS)
    request = ServiceRequest(
        item_id=item.id,
        township_id=member.township_id,
        branch_id=member.branch_id,
        person_id=actor.person_id,
        member_id=member.id,
        kind=item.kind,
        state=RequestState.SUBMITTED,
        round=1,
        submitted_at=now,
        updated_at=now,
    )
    session.add(request)
    await session.flush()
    attachments = await _store_parts(session, request, parts, "material", now)
    await _event(session, request, "submit", actor.person_id, now)
    _audit(session, actor.person_id, "relay.submit", request)
    await _tell_agents(session, request, f"relay:{request.id}:submit", "relay.agent.new", now, attachments)
    await _tell_branch(session, request, f"relay:{request.id}:submit", now)
    return await _view(session, request, now, personal=False)


async def _add_materials(
    session: AsyncSession, actor: Actor, request_id: int, parts: Sequence[Part], now: datetime
) -> RequestView:
    request = await _own_request(session, actor, request_id, "relay.add")
    if request.state not in OPEN_STATES:
        raise RelayError("stale")
    if not parts:
        raise RelayError("nothing_to_submit")
    if request.state == RequestState.MISSING:
        # The materials asked for have come: a new round goes back to the agent for acceptance.
        request.round += 1
        request.state = RequestState.SUBMITTED
        request.updated_at = now
        await session.flush()
        attachments = await _store_parts(session, request, parts, "material", now)
        key = f"resubmit:{request.round}"
        await _event(session, request, key, actor.person_id, now)
        _audit(session, actor.person_id, "relay.resubmit", request)
        await _tell_agents(
            session, request, f"relay:{request.id}:{key}", "relay.agent.resubmitted", now, attachments
        )
        await _tell_branch(session, request, f"relay:{request.id}:{key}", now)
    else:
        attachments = await _store_parts(session, request, parts, "material", now)
        key = f"add:{attachments[0].id}"
        await _event(session, request, key, actor.person_id, now)
        _audit(session, actor.person_id, "relay.add", request)
        await _tell_agents(
            session,
            request,
            f"relay:{request.id}:{key}",
            "relay.agent.added",
            now,
            attachments,
            with_buttons=False,
        )
    return await _view(session, request, now, personal=False)


async def withdraw(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> RequestView:
    request = await _own_request(session, actor, request_id, "relay.withdraw")
    _expect(request, OPEN_STATES, done={RequestState.WITHDRAWN})
    request.state = RequestState.WITHDRAWN
    request.closed_at = now
    request.updated_at = now
    await _event(session, request, "withdraw", actor.person_id, now)
    _audit(session, actor.person_id, "relay.withdraw", request)
    await _tell_agents(
        session, request, f"relay:{request.id}:withdraw", "relay.agent.withdrawn", now, with_buttons=False
    )
    await _tell_branch(session, request, f"relay:{request.id}:withdraw", now)
    return await _view(session, request, now, personal=False)


async def my_requests(session: AsyncSession, actor: Actor, now: datetime) -> list[RequestView]:
    rows = await session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.person_id == actor.person_id)
        .order_by(ServiceRequest.id.desc())
        .limit(LIST_LIMIT)
    )
    return [await _view(session, r, now, personal=False) for r in rows]


async def _events(session: AsyncSession, request_id: int) -> list[EventView]:
    rows = await session.scalars(
        select(RequestEvent)
        .where(RequestEvent.request_id == request_id)
        .order_by(RequestEvent.at, RequestEvent.id)
    )
    return [EventView(e.at, e.key, e.state, e.note) for e in rows]


async def my_request(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> tuple[RequestView, list[EventView]]:
    """One of the member's own requests with its history."""
    request = await _own_request(session, actor, request_id, "relay.view", lock=False)
    return await _view(session, request, now, personal=False), await _events(session, request.id)


# -- the agent's side --------------------------------------------------------------------------------------


async def inbox(session: AsyncSession, actor: Actor, now: datetime) -> list[RequestView]:
    """Open requests of the agent's townships, oldest first."""
    if not actor.agent_townships:
        raise RelayError("not_allowed")
    rows = await session.scalars(
        select(ServiceRequest)
        .where(
            ServiceRequest.township_id.in_(actor.agent_townships),
            ServiceRequest.state.in_([str(s) for s in OPEN_STATES]),
        )
        .order_by(ServiceRequest.id)
        .limit(LIST_LIMIT)
    )
    return [await _view(session, r, now, personal=True) for r in rows]


async def agent_request(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> tuple[RequestView, list[EventView], list[RequestAttachment]]:
    """A request of the agent's township with its history and every material and result."""
    request = await _agent_request(session, actor, request_id, "relay.view", lock=False)
    attachments = list(
        await session.scalars(
            select(RequestAttachment)
            .where(RequestAttachment.request_id == request.id)
            .order_by(RequestAttachment.id)
        )
    )
    return await _view(session, request, now, personal=True), await _events(session, request.id), attachments


async def accept(
    session: AsyncSession, actor: Actor, request_id: int, tz: ZoneInfo, now: datetime
) -> RequestView:
    """受理: issue the receipt with its number and promised deadline."""
    request = await _agent_request(session, actor, request_id, "relay.accept")
    if request.kind != ItemKind.FULL:
        raise RelayError("stale")
    _expect(request, {RequestState.SUBMITTED}, done=RUNNING_STATES | {RequestState.COMPLETED})
    item = await session.get(ServiceItem, request.item_id)
    due_on, due_at = promised_deadline(now, item.promised_days if item else 0, tz)
    local_year = now.astimezone(tz).year
    request.receipt_no = await _next_receipt_no(session, request.township_id, local_year)
    request.state = RequestState.ACCEPTED
    request.accepted_at = now
    request.promised_days = item.promised_days if item else 0
    request.due_on = due_on
    request.due_at = due_at
    request.tz = tz.key
    request.handled_by_person_id = actor.person_id
    request.missing = None
    request.updated_at = now
    await _event(session, request, "accept", actor.person_id, now, note=request.receipt_no)
    _audit(session, actor.person_id, "relay.accept", request)
    count = await session.scalar(
        select(func.count())
        .select_from(RequestAttachment)
        .where(RequestAttachment.request_id == request.id, RequestAttachment.role == "material")
    )
    await _tell_member(
        session,
        request,
        f"relay:{request.id}:accept",
        "relay.member.receipt",
        now,
        receipt=request.receipt_no,
        accepted=now.astimezone(tz).date().isoformat(),
        due=due_on.isoformat(),
        count=count or 0,
    )
    return await _view(session, request, now, personal=True)


async def _next_receipt_no(session: AsyncSession, township_id: int, year: int) -> str:
    await insert_ignore(
        session,
        ReceiptCounter,
        {"township_id": township_id, "year": year, "last": 0},
        ["township_id", "year"],
    )
    # The UPDATE takes the row lock first, so two agents accepting at once get consecutive numbers.
    await session.execute(
        update(ReceiptCounter)
        .where(ReceiptCounter.township_id == township_id, ReceiptCounter.year == year)
        .values(last=ReceiptCounter.last + 1)
    )
    last = await session.scalar(
        select(ReceiptCounter.last).where(
            ReceiptCounter.township_id == township_id, ReceiptCounter.year == year
        )
    )
    return receipt_number(township_id, year, int(last or 0))


async def ask_missing(
    session: AsyncSession, actor: Actor, request_id: int, items: Sequence[str], now: datetime
) -> RequestView:
    """补办材料清单: send the member the list of what is missing."""
    request = await _agent_request(session, actor, request_id, "relay.missing")
    if request.kind != ItemKind.FULL:
        raise RelayError("stale")
    _expect(request, {RequestState.SUBMITTED}, done={RequestState.MISSING})
    cleaned = parse_list("\n".join(items))
    request.state = RequestState.MISSING
    request.missing = cleaned
    request.updated_at = now
    key = f"missing:{request.round}"
    listing = "\n".join(f"{n}. {m}" for n, m in enumerate(cleaned, start=1))
    await _event(session, request, key, actor.person_id, now, note=listing)
    _audit(session, actor.person_id, "relay.missing", request)
    await _tell_member(
        session,
        request,
        f"relay:{request.id}:{key}",
        "relay.member.missing",
        now,
        with_buttons=True,
        items=listing,
    )
    return await _view(session, request, now, personal=True)


async def forward(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> RequestView:
    """Hand the file to the township agency centre (镇代理中心); the deadline keeps running."""
    request = await _agent_request(session, actor, request_id, "relay.forward")
    _expect(request, {RequestState.ACCEPTED}, done={RequestState.FORWARDED})
    request.state = RequestState.FORWARDED
    request.updated_at = now
    await _event(session, request, "forward", actor.person_id, now)
    _audit(session, actor.person_id, "relay.forward", request)
    await _tell_member(
        session,
        request,
        f"relay:{request.id}:forward",
        "relay.member.forwarded",
        now,
        receipt=request.receipt_no,
    )
    return await _view(session, request, now, personal=True)


async def _close_with_reply(
    session: AsyncSession,
    actor: Actor,
    request: ServiceRequest,
    *,
    state: RequestState,
    event_key: str,
    text: str | None,
    file: Part | None,
    member_key: str,
    now: datetime,
) -> RequestView:
    request.state = state
    request.closed_at = now
    request.updated_at = now
    if state == RequestState.REFUSED:
        request.reason = text
    else:
        request.result_text = text
    await _event(session, request, event_key, actor.person_id, now)
    _audit(session, actor.person_id, f"relay.{event_key}", request)
    source = f"relay:{request.id}:{event_key}"
    await _tell_member(
        session, request, source, member_key, now, text=text or "", receipt=request.receipt_no or "—"
    )
    if file is not None:
        stored = await _store_parts(session, request, [file], "result", now)
        person = await session.get(Person, request.person_id)
        if person is not None:
            await _send_parts(session, person, request.id, source, stored, "relay.result_caption", now)
    return await _view(session, request, now, personal=True)


def _reply_parts(text: str | None, file: Part | None, code: str) -> tuple[str | None, Part | None]:
    cleaned = clean_text(text, code=code) if text is not None and text.strip() else None
    if cleaned is None and file is None:
        raise RelayError(f"{code}_empty")
    if file is not None and file.kind not in ("photo", "document"):
        raise RelayError(f"{code}_empty")
    return cleaned, file


async def complete(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    now: datetime,
    *,
    text: str | None = None,
    file: Part | None = None,
) -> RequestView:
    """办结: the result (text, a file or both) goes back to the member."""
    request = await _agent_request(session, actor, request_id, "relay.complete")
    if request.kind != ItemKind.FULL:
        raise RelayError("stale")
    _expect(request, RUNNING_STATES, done={RequestState.COMPLETED})
    text, file = _reply_parts(text, file, "result")
    return await _close_with_reply(
        session,
        actor,
        request,
        state=RequestState.COMPLETED,
        event_key="complete",
        text=text,
        file=file,
        member_key="relay.member.completed",
        now=now,
    )


async def refuse(
    session: AsyncSession, actor: Actor, request_id: int, reason: str | None, now: datetime
) -> RequestView:
    """不予办理: only with a written reason, which the member receives."""
    request = await _agent_request(session, actor, request_id, "relay.refuse")
    _expect(request, OPEN_STATES, done={RequestState.REFUSED})
    if reason is None or not reason.strip():
        raise RelayError("reason_empty")
    cleaned = clean_text(reason, code="reason")
    return await _close_with_reply(
        session,
        actor,
        request,
        state=RequestState.REFUSED,
        event_key="refuse",
        text=cleaned,
        file=None,
        member_key="relay.member.refused",
        now=now,
    )


async def answer(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    now: datetime,
    *,
    text: str | None = None,
    file: Part | None = None,
) -> RequestView:
    """A consultation is answered: the reply is the whole service."""
    request = await _agent_request(session, actor, request_id, "relay.answer")
    if request.kind != ItemKind.CONSULT:
        raise RelayError("stale")
    _expect(request, {RequestState.SUBMITTED}, done={RequestState.ANSWERED})
    text, file = _reply_parts(text, file, "answer")
    return await _close_with_reply(
        session,
        actor,
        request,
        state=RequestState.ANSWERED,
        event_key="answer",
        text=text,
        file=file,
        member_key="relay.member.answered",
        now=now,
    )


# action -> (states it may start from, the state once done, audit action)
_ACTION_STATES: dict[str, tuple[set[str], str, str]] = {
    "missing": ({RequestState.SUBMITTED}, RequestState.MISSING, "relay.missing"),
    "complete": (set(RUNNING_STATES), RequestState.COMPLETED, "relay.complete"),
    "refuse": (set(OPEN_STATES), RequestState.REFUSED, "relay.refuse"),
    "answer": ({RequestState.SUBMITTED}, RequestState.ANSWERED, "relay.answer"),
}
_ACTION_KINDS = {"missing": ItemKind.FULL, "complete": ItemKind.FULL, "answer": ItemKind.CONSULT}


async def begin_agent_input(
    session: AsyncSession, actor: Actor, request_id: int, action: str, now: datetime
) -> RequestView:
    """Check the agent may take this step now (the flow then opens the form where they type its text)."""
    if action not in _ACTION_STATES:
        raise RelayError("stale")
    states, done, audit_action = _ACTION_STATES[action]
    request = await _agent_request(session, actor, request_id, audit_action, lock=False)
    if action in _ACTION_KINDS and request.kind != _ACTION_KINDS[action]:
        raise RelayError("stale")
    _expect(request, states, done={done})
    return await _view(session, request, now, personal=True)


async def agent_input(
    session: AsyncSession,
    actor: Actor,
    action: str,
    request_id: int,
    now: datetime,
    *,
    text: str | None = None,
    file: Part | None = None,
) -> RequestView:
    """Finish the step the agent's form is for (missing, complete, refuse, answer) with what they typed
    or sent."""
    if action == "missing":
        if text is None:
            raise RelayError("list_empty")
        return await ask_missing(session, actor, request_id, parse_list(text), now)
    if action == "refuse":
        if text is None:
            raise RelayError("reason_empty")
        return await refuse(session, actor, request_id, text, now)
    if action == "complete":
        return await complete(session, actor, request_id, now, text=text, file=file)
    if action == "answer":
        return await answer(session, actor, request_id, now, text=text, file=file)
    raise RelayError("stale")


# -- the secretary's side and the figures ------------------------------------------------------------------


async def branch_requests(session: AsyncSession, actor: Actor, now: datetime) -> list[RequestView]:
    """Requests of the members of the branches the actor leads: open ones, and those closed lately."""
    branches = actor.secretary_branches
    if not branches:
        raise RelayError("not_allowed")
    recent = now - timedelta(days=RECENT_DAYS)
    rows = await session.scalars(
        select(ServiceRequest)
        .where(
            ServiceRequest.branch_id.in_(branches),
            (ServiceRequest.state.in_([str(s) for s in OPEN_STATES])) | (ServiceRequest.closed_at >= recent),
        )
        .order_by(ServiceRequest.id.desc())
        .limit(LIST_LIMIT)
    )
    views = []
    for request in rows:
        view = await _view(session, request, now, personal=True)
        # The secretary follows the steps; the contents stay between the member and the township.
        views.append(replace(view, missing=[], result_text=None, reason=None, member_phone=None))
    return views


async def month_stats(
    session: AsyncSession,
    year: int,
    month: int,
    tz: ZoneInfo,
    now: datetime,
    *,
    township_ids: Iterable[int] | None = None,
    branch_ids: Iterable[int] | None = None,
) -> list[MonthStats]:
    """办结率 and 按时办结率 per township for one calendar month (see the module docstring)."""
    start, end = month_bounds(year, month, tz)
    filters = []
    if township_ids is not None:
        filters.append(ServiceRequest.township_id.in_(list(township_ids)))
    if branch_ids is not None:
        filters.append(ServiceRequest.branch_id.in_(list(branch_ids)))
    cohort = and_(
        ServiceRequest.accepted_at >= start,
        ServiceRequest.accepted_at < end,
        ServiceRequest.state != RequestState.WITHDRAWN,
    )
    completed = and_(cohort, ServiceRequest.state == RequestState.COMPLETED)
    on_time = and_(completed, ServiceRequest.closed_at < ServiceRequest.due_at)
    answered = and_(
        ServiceRequest.state == RequestState.ANSWERED,
        ServiceRequest.closed_at >= start,
        ServiceRequest.closed_at < end,
    )
    overdue_open = and_(
        cohort, ServiceRequest.state.in_([str(s) for s in RUNNING_STATES]), ServiceRequest.due_at <= now
    )

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    in_month = or_(
        and_(ServiceRequest.accepted_at >= start, ServiceRequest.accepted_at < end),
        and_(ServiceRequest.closed_at >= start, ServiceRequest.closed_at < end),
    )
    rows = await session.execute(
        select(
            Township.id,
            Township.name,
            count_if(cohort),
            count_if(completed),
            count_if(on_time),
            count_if(answered),
            count_if(overdue_open),
        )
        .join(ServiceRequest, ServiceRequest.township_id == Township.id)
        .where(in_month, *filters)
        .group_by(Township.id, Township.name)
        .order_by(Township.id)
    )
    result = [
        MonthStats(tid, name, int(a), int(c), int(o), int(q), int(d)) for tid, name, a, c, o, q, d in rows
    ]
    return [s for s in result if s.accepted or s.answered]


# -- the person's own data (/mydata) and erasure (/deleteme) -------------------------------------------------


async def data_section(session: AsyncSession, person_id: int) -> tuple[str, Any]:
    """Everything the relay holds about a person, for /mydata (file ids stand for the files)."""
    result = []
    for request in await session.scalars(
        select(ServiceRequest).where(ServiceRequest.person_id == person_id).order_by(ServiceRequest.id)
    ):
        item = await session.get(ServiceItem, request.item_id)
        attachments = await session.scalars(
            select(RequestAttachment)
            .where(RequestAttachment.request_id == request.id)
            .order_by(RequestAttachment.id)
        )
        events = await _events(session, request.id)
        result.append(
            {
                "id": request.id,
                "item": item.name if item else None,
                "state": request.state,
                "receipt_no": request.receipt_no,
                "submitted_at": request.submitted_at.isoformat(),
                "due_on": request.due_on.isoformat() if request.due_on else None,
                "closed_at": request.closed_at.isoformat() if request.closed_at else None,
                "missing": request.missing,
                "result": request.result_text,
                "reason": request.reason,
                "materials": [
                    {
                        "role": a.role,
                        "kind": a.kind,
                        "text": a.text,
                        "file_name": a.filename,
                        "file_id": a.file_id,
                    }
                    for a in attachments
                ],
                "steps": [{"at": e.at.isoformat(), "step": e.key, "note": e.note} for e in events],
            }
        )
    return "service_requests", result


async def erase_person(session: AsyncSession, person_id: int) -> None:
    """/deleteme: drop the materials and texts of the person's requests and the messages about them.

    The request rows stay, without anything that names the person or what they sent, so the township's
    completion figures remain true; an open request is closed as withdrawn.
    """
    now = datetime.now(UTC)
    requests = list(
        await session.scalars(select(ServiceRequest).where(ServiceRequest.person_id == person_id))
    )
    for request in requests:
        was_open = request.state in OPEN_STATES
        if was_open:
            request.state = RequestState.WITHDRAWN
            request.closed_at = now
        request.missing = None
        request.result_text = None
        request.reason = None
        request.member_id = None
        request.updated_at = now
        await session.execute(delete(RequestAttachment).where(RequestAttachment.request_id == request.id))
        await session.execute(
            update(RequestEvent).where(RequestEvent.request_id == request.id).values(note=None)
        )
        # Notices to the agents named the person and carried the materials: cancel or blank them.
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.source.like(f"relay:{request.id}:%"),
                OutboxMessage.status == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.source.like(f"relay:{request.id}:%"),
                OutboxMessage.status != OutboxStatus.SENDING,
            )
            .values(payload={"text": ""})
            .execution_options(synchronize_session=False)
        )
        if was_open:
            item = await session.get(ServiceItem, request.item_id)
            for agent in await agents_of(session, request.township_id):
                await notify_person(
                    session,
                    agent,
                    source=f"relay:{request.id}:erased:a",
                    key="relay.agent.erased",
                    not_before=now,
                    id=request.id,
                    item=item.name if item else "?",
                )
    await session.flush()


async def rates_for(
    session: AsyncSession, actor: Actor, year: int, month: int, tz: ZoneInfo, now: datetime
) -> list[tuple[str, list[MonthStats]]]:
    """The month's figures the actor may see: ("township", ...) for an agent's townships (all branches),
    ("branch", ...) for a secretary's branches' members (all townships)."""
    scopes: list[tuple[str, list[MonthStats]]] = []
    if actor.agent_townships:
        scopes.append(
            ("township", await month_stats(session, year, month, tz, now, township_ids=actor.agent_townships))
        )
    if actor.secretary_branches:
        scopes.append(
            ("branch", await month_stats(session, year, month, tz, now, branch_ids=actor.secretary_branches))
        )
    if not scopes:
        raise RelayError("not_allowed")
    return scopes
