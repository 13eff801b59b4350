"""Enqueue outgoing messages in the caller's transaction; the delivery sender drains them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.channel import EDIT_KEY
from bot.dialog import Button
from bot.i18n import t
from bot.services.identity import language_of
from storage.dialect import insert_ignore
from storage.models import Account, OutboxMessage, OutboxStatus, Person, Priority, utcnow


@dataclass(frozen=True)
class Outgoing:
    """What to send, independent of Telegram: text, button rows, and an optional photo or document."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    media_kind: str | None = None  # "photo" | "document"
    media_ref: str | None = None  # a channel file id
    filename: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": self.text}
        if self.buttons:
            payload["buttons"] = [[asdict(b) for b in row] for row in self.buttons]
        if self.media_kind:
            payload["media_kind"] = self.media_kind
            payload["media_ref"] = self.media_ref
            if self.filename:
                payload["filename"] = self.filename
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Outgoing:
        return cls(
            text=payload["text"],
            buttons=tuple(tuple(Button(**b) for b in row) for row in payload.get("buttons", [])),
            media_kind=payload.get("media_kind"),
            media_ref=payload.get("media_ref"),
            filename=payload.get("filename"),
        )


# The channel whose people are written to at ``Person.chat_id`` (``OutboxMessage.chat_id``); every other
# channel addresses people by their account's text address.
CHAT_CHANNEL = "telegram"


def has_address() -> Any:
    """SQL: the person can be written to somewhere: a Telegram chat, or an account on another channel."""
    return or_(
        Person.chat_id.is_not(None),
        exists().where(
            Account.person_id == Person.id, Account.channel != CHAT_CHANNEL, Account.address.is_not(None)
        ),
    )


def reachable() -> Any:
    """SQL: the person can be reached now: a Telegram chat that did not block the bot, or a reachable
    account on another channel."""
    return or_(
        and_(Person.chat_id.is_not(None), Person.unreachable.is_(False)),
        exists().where(*_reachable_elsewhere(Person.id)),
    )


def _reachable_elsewhere(person_id: Any) -> tuple[Any, ...]:
    return (
        Account.person_id == person_id,
        Account.channel != CHAT_CHANNEL,
        Account.unreachable.is_(False),
        Account.address.is_not(None),
    )


def _account_instead_of_chat() -> tuple[Any, ...]:
    """An account off Telegram that takes the person's messages rather than their Telegram chat: it is
    reachable, and it is the preferred one, or Telegram cannot take them (no chat, or blocked)."""
    return (
        *_reachable_elsewhere(Person.id),
        or_(Account.preferred.is_(True), Person.chat_id.is_(None), Person.unreachable.is_(True)),
    )


def chat_route() -> Any:
    """SQL: the person's one copy goes to their Telegram chat (set-based fan-outs; callers still decide
    what to do with people who blocked the bot and have nowhere else)."""
    return and_(Person.chat_id.is_not(None), ~exists().where(*_account_instead_of_chat()))


def account_route_join() -> Any:
    """The join condition to the one account off Telegram that a person's copy goes to (set-based
    fan-outs): the preferred account, else the first reachable one when Telegram cannot take it."""
    first = (
        select(Account.id)
        .where(*_account_instead_of_chat())
        .order_by(Account.preferred.desc(), Account.id)
        .limit(1)
        .correlate(Person)
        .scalar_subquery()
    )
    return Account.id == first


async def route_to(session: AsyncSession, person: Person) -> dict[str, Any] | None:
    """Where a message to this person goes, as ``enqueue`` keywords: their preferred account; else,
    when that cannot be reached, the next one that can; None when they have no address anywhere."""
    chat_ok = person.chat_id is not None and not person.unreachable
    account = await reachable_account(session, person.id)
    if account is not None and (account.preferred or not chat_ok):
        return {"channel": account.channel, "address": account.address}
    if person.chat_id is not None:
        return {"chat_id": person.chat_id}
    return None


async def reachable_account(session: AsyncSession, person_id: int) -> Account | None:
    """The person's account off Telegram that messages go to: the preferred reachable one first."""
    return await session.scalar(
        select(Account)
        .where(*_reachable_elsewhere(person_id))
        .order_by(Account.preferred.desc(), Account.id)
        .limit(1)
    )


async def fallback_route(
    session: AsyncSession,
    *,
    person_id: int,
    source: str,
    failed_channel: str,
    failed_address: str | None,
) -> dict[str, Any] | None:
    """A message could not reach the person where it went (blocked or deactivated on Telegram,
    unsubscribed on WeChat, a closed window): mark that account unreachable, and return where the
    message goes instead, as outbox columns: the person's next reachable account (preferred first)
    that has no copy of ``source`` yet. None when there is no such account."""
    person = await session.get(Person, person_id)
    if person is None:
        return None
    failed = [Account.person_id == person_id, Account.channel == failed_channel]
    if failed_channel == CHAT_CHANNEL:
        person.unreachable = True
    else:
        failed.append(Account.address == failed_address)
    await session.execute(
        update(Account).where(*failed).values(unreachable=True).execution_options(synchronize_session=False)
    )
    candidates = await session.scalars(
        select(Account)
        .where(Account.person_id == person_id, Account.unreachable.is_(False), Account.address.is_not(None))
        .order_by(Account.preferred.desc(), Account.id)
    )
    for account in candidates:
        if account.channel == failed_channel and (
            failed_channel == CHAT_CHANNEL or account.address == failed_address
        ):
            continue
        if account.channel == CHAT_CHANNEL:
            if person.chat_id is None or person.unreachable:
                continue
            route = {"chat_id": person.chat_id, "channel": CHAT_CHANNEL, "address": None}
            there = OutboxMessage.chat_id == person.chat_id
        else:
            route = {"chat_id": None, "channel": account.channel, "address": account.address}
            there = and_(OutboxMessage.channel == account.channel, OutboxMessage.address == account.address)
        copy = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.source == source[:80], there)
        )
        if copy is None:
            return route
    return None


@dataclass
class Enqueued:
    inserted: int = 0
    skipped: list[int] = field(default_factory=list)


async def enqueue(
    session: AsyncSession,
    *,
    source: str,
    chat_id: int | None = None,
    message: Outgoing,
    kind: str = "notification",
    priority: int = Priority.NOTIFICATION,
    person_id: int | None = None,
    not_before: datetime | None = None,
    channel: str = "telegram",
    address: str | None = None,
) -> bool:
    """Add one outgoing message; False when (source, chat) was already enqueued.

    Telegram rows name a ``chat_id``; other channels a text ``address`` (a web id, an openid).
    """
    if (chat_id is None) == (address is None):
        raise ValueError("enqueue takes a Telegram chat_id or another channel's address")
    inserted = await insert_ignore(
        session,
        OutboxMessage,
        {
            "source": source[:80],
            "kind": kind,
            "chat_id": chat_id,
            "channel": channel if address is not None else "telegram",
            "address": address,
            "person_id": person_id,
            "payload": message.to_payload(),
            "priority": int(priority),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": not_before or utcnow(),
            "created_at": utcnow(),
        },
        ["source", "chat_id"] if address is None else ["source", "channel", "address"],
    )
    return inserted == 1


async def notify_person(
    session: AsyncSession,
    person: Person,
    *,
    source: str,
    key: str,
    buttons: tuple[tuple[Button, ...], ...] = (),
    kind: str = "notification",
    priority: int = Priority.NOTIFICATION,
    not_before: datetime | None = None,
    **params: object,
) -> bool:
    """Render catalogue entry ``key`` in the person's language and enqueue it to where they are reached
    (``route_to``: their preferred account, or the next reachable one)."""
    route = await route_to(session, person)
    if route is None:
        return False
    text = t(language_of(person), key, **params)
    return await enqueue(
        session,
        source=source,
        **route,
        person_id=person.id,
        message=Outgoing(text=text, buttons=buttons),
        kind=kind,
        priority=priority,
        not_before=not_before,
    )


async def update_copies(
    session: AsyncSession,
    *,
    source: str,
    new_source: str,
    text_for: Callable[[Person], str],
    now: datetime,
    skip_person_id: int | None = None,
) -> int:
    """Bring every copy of one message (``source``: the same notification to several people) up to date:
    a copy still waiting is cancelled, a sent one is edited into ``text_for(person)`` without buttons.
    ``skip_person_id``'s copy is left alone (their own tap updates it). Returns the edits enqueued."""
    rows = list(
        await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.source == source[:80],
                OutboxMessage.person_id.is_not(None),
                OutboxMessage.person_id != (skip_person_id or 0),
            )
        )
    )
    edits = 0
    for row in rows:
        if row.status == OutboxStatus.PENDING:
            row.status = OutboxStatus.CANCELLED
            continue
        if row.status != OutboxStatus.SENT or row.message_id is None:
            continue
        person = await session.get(Person, row.person_id)
        if person is None:
            continue
        route: dict[str, Any] = (
            {"chat_id": row.chat_id}
            if row.chat_id is not None
            else {"channel": row.channel, "address": row.address}
        )
        payload = Outgoing(text=text_for(person)).to_payload() | {EDIT_KEY: row.message_id}
        inserted = await insert_ignore(
            session,
            OutboxMessage,
            {
                "source": new_source[:80],
                "kind": row.kind,
                "chat_id": route.get("chat_id"),
                "channel": route.get("channel", "telegram"),
                "address": route.get("address"),
                "person_id": person.id,
                "payload": payload,
                "priority": int(Priority.NOTIFICATION),
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
            ["source", "chat_id"] if row.chat_id is not None else ["source", "channel", "address"],
        )
        edits += inserted
    return edits
