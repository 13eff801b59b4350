"""The web chat channel: a thin adapter of the conversation core, like the Telegram one.

A person on the page is an account of channel ``web`` (the page names it: ``as``). What they type or
tap becomes an `Inbound`; the core's `Reply` is kept as web messages (`WebMessage` rows) that the page
polls: buttons stay buttons, an "update the previous screen" reply becomes an edited message,
documents and charts become materials the page links to or shows. Messages the bot starts (approvals,
reminders, notices) come through the outbox: the sender's web lane (`WebOutbox`, or `deliver_outbox`
at once) turns the pending ``web`` rows into web messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.conversation import Conversation, Sender
from bot.delivery.channel import EDIT_KEY
from bot.delivery.errors import DeliveryError, ErrorKind
from bot.delivery.limits import ChannelLimits
from bot.dialog import Button, Inbound, Media, Reply, Screen
from bot.services.materials import (  # noqa: F401 (UPLOAD_MAX_BYTES: the web routes import it from here)
    UPLOAD_MAX_BYTES,
    material_bytes,
    sniff,
    store_material,
)
from storage.db import Database
from storage.models import Account, Material, WebMessage

logger = logging.getLogger(__name__)

CHANNEL = "web"
TEXT_MAX = 4000


@dataclass(frozen=True)
class Outcome:
    """What the page needs to know right after an action (new messages come through polling)."""

    toast: str | None = None
    handled: bool = True


def parse_text(text: str) -> Inbound:
    """What a person typed: a command (/help, /start j_code) or plain text."""
    text = text[:TEXT_MAX]
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        head, *args = stripped.split()
        return Inbound(command=head[1:].partition("@")[0].lower(), args=tuple(args))
    return Inbound(text=text)


class WebChannel:
    """Talks to the core for people on the page, and keeps what the bot shows them."""

    def __init__(self, conversation: Conversation, db: Database, clock: Clock) -> None:
        self.conversation = conversation
        self.db = db
        self.clock = clock

    def sender(self, who: str, language: str | None = None) -> Sender:
        return Sender(CHANNEL, who, who, language)

    async def send_text(self, who: str, text: str, language: str | None = None) -> Outcome:
        return await self._handle(who, parse_text(text), language, pressed=None)

    async def press(
        self, who: str, message_id: int | None, data: str, language: str | None = None
    ) -> Outcome:
        return await self._handle(who, Inbound(data=data[:64]), language, pressed=message_id)

    async def upload(
        self, who: str, filename: str | None, content: bytes, language: str | None = None
    ) -> Outcome:
        """A photo or file the person sends: kept (encrypted) as a material, handed to the core by ref."""
        kind, mime = sniff(content, filename)
        async with self.db.session() as session:
            account = await self._account(session, who)
            person_id = account.person_id if account is not None else None
            material = await store_material(
                session, person_id, kind, filename, mime, content, uploaded=True, now=self.clock.now()
            )
            await session.commit()
        media = Media(kind, f"material:{material.id}", filename, mime, len(content))
        return await self._handle(who, Inbound(media=media), language, pressed=None)

    async def _handle(self, who: str, inbound: Inbound, language: str | None, pressed: int | None) -> Outcome:
        reply = await self.conversation.handle(self.sender(who, language), inbound)
        if reply is None:
            return Outcome(handled=False)
        async with self.db.session() as session:
            account = await self._account(session, who)
            await self.show(session, account, reply, pressed=pressed)
            await session.commit()
        return Outcome(toast=reply.toast)

    async def _account(self, session: AsyncSession, who: str) -> Account | None:
        return await session.scalar(
            select(Account).where(Account.channel == CHANNEL, Account.external_id == who)
        )

    async def show(
        self, session: AsyncSession, account: Account | None, reply: Reply, *, pressed: int | None
    ) -> None:
        """Keep the reply's screens as web messages: an edit of the pressed message, or new ones."""
        if account is None:
            return
        screens = reply.screens
        if not screens and reply.toast and pressed is None:
            screens = (Screen(reply.toast),)  # a typed command has no tap to answer: say it instead
        if pressed is not None and reply.edit and len(screens) == 1 and _editable(screens[0]):
            original = await session.get(WebMessage, pressed)
            if original is not None and original.account_id == account.id:
                target = original.replaces or original.id
                session.add(
                    WebMessage(
                        account_id=account.id,
                        replaces=target,
                        body=_body(screens[0], None),
                        created_at=self.clock.now(),
                    )
                )
                await session.flush()
                return
        for screen in screens:
            media = None
            ref = screen.media.ref if screen.media is not None else ""
            if ref.startswith("material:") and ref[len("material:") :].isdecimal():
                # A file someone sent on the web (a request's material, a letter): shown by its material.
                media = await self._share(session, int(ref[len("material:") :]), account.person_id)
            elif screen.media is not None:
                media = None  # another channel's file id: this channel cannot show it
            if screen.document is not None or screen.photo is not None:
                if screen.document is not None:
                    filename, content, kind = screen.document[0], screen.document[1], "document"
                else:
                    filename, content, kind = "chart.png", screen.photo, "photo"
                _, mime = sniff(content, filename)
                material = await store_material(
                    session,
                    account.person_id,
                    kind,
                    filename,
                    mime,
                    content,
                    uploaded=False,
                    now=self.clock.now(),
                )
                media = {"kind": kind, "material_id": material.id, "filename": filename}
            session.add(
                WebMessage(account_id=account.id, body=_body(screen, media), created_at=self.clock.now())
            )
        await session.flush()

    async def _share(self, session: AsyncSession, material_id: int, person_id: int) -> dict[str, Any] | None:
        """A copy of a kept file for the person it is shown to (only they may open their copy)."""
        kept = await session.get(Material, material_id)
        if kept is None:
            return None
        copy = await store_material(
            session,
            person_id,
            kept.kind,
            kept.filename,
            kept.mime_type or "application/octet-stream",
            material_bytes(kept),
            uploaded=False,
            now=self.clock.now(),
        )
        return {"kind": kept.kind, "material_id": copy.id, "filename": kept.filename}

    async def messages(self, who: str, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        """The bot's messages to this person after row ``after``, in order (edits come again, edited)."""
        async with self.db.session() as session:
            account = await self._account(session, who)
            if account is None:
                return []
            rows = await session.scalars(
                select(WebMessage)
                .where(WebMessage.account_id == account.id, WebMessage.id > after)
                .order_by(WebMessage.id)
                .limit(limit)
            )
            return [_item(row, who) for row in rows]

    async def material(self, who: str, material_id: int) -> Material | None:
        """A material this person may open: one they sent or one the bot showed them."""
        async with self.db.session() as session:
            account = await self._account(session, who)
            material = await session.get(Material, material_id)
            if account is None or material is None or material.person_id != account.person_id:
                return None
            return material

    async def deliver_outbox(self, limit: int = 500) -> int:
        """Turn the due outbox rows of the web channel into web messages (they arrive when the page
        polls), with the delivery hooks (a notice's progress and report follow what was delivered);
        returns how many were delivered. ``branchbot demo`` and the tests; in a running bot the
        sender's web lane does it."""
        from bot.delivery.hooks import default_hooks
        from bot.delivery.sender import Delivery

        delivery = Delivery(self.db, self.clock, [WebOutbox(self)], hooks=default_hooks())
        delivery.lane(CHANNEL)._batch = limit
        return await delivery.drain()


WEB_LIMITS = ChannelLimits(rate=500.0, chat_gap=0.0, group_limit=None, can_edit=True)


class WebOutbox:
    """The web chat's outbox adapter (``bot.delivery.channel``): a row becomes a web message of the
    account whose id is the row's address; an edit is a new version of the message it names."""

    name = CHANNEL
    limits = WEB_LIMITS  # writes to our own database: the rate only keeps a notice from hogging it
    concurrency = 4

    def __init__(self, channel: WebChannel) -> None:
        self.channel = channel

    async def send(self, address: str, payload: dict[str, Any], *, row: Any = None) -> int | None:
        web, now = self.channel, self.channel.clock.now()
        async with web.db.session() as session:
            account = await web._account(session, address)
            if account is None:
                raise DeliveryError(ErrorKind.BAD_REQUEST, "no_account")
            buttons = tuple(tuple(Button(**b) for b in line) for line in payload.get("buttons", []))
            edit_of = payload.get(EDIT_KEY)
            target = None
            if edit_of is not None:
                original = await session.get(WebMessage, int(edit_of))
                if original is not None and original.account_id == account.id:
                    target = original.replaces or original.id
            media = None
            ref = str(payload.get("media_ref") or "")
            if ref.startswith("material:") and ref[len("material:") :].isdecimal():
                media = await web._share(session, int(ref[len("material:") :]), account.person_id)
            body = _body(Screen(payload.get("text", ""), buttons=buttons), media)
            message = WebMessage(account_id=account.id, replaces=target, body=body, created_at=now)
            session.add(message)
            await session.commit()
            # A new message's id is what later edits name; an edit keeps naming the first one.
            return message.id if edit_of is None else None

    def classify(self, error: Exception) -> DeliveryError:
        if isinstance(error, OperationalError):  # the transaction was rolled back: nothing was shown
            return DeliveryError(ErrorKind.NOT_SENT, "database")
        return DeliveryError(ErrorKind.INTERNAL, f"internal_{type(error).__name__}")


def _editable(screen: Screen) -> bool:
    return (
        screen.contact is None and screen.document is None and screen.photo is None and screen.media is None
    )


def _body(screen: Screen, media: dict[str, Any] | None) -> dict[str, Any]:
    rows: list[list[dict[str, Any]]] = [
        [{"text": b.text, "data": b.data, "url": b.url} for b in row] for row in screen.buttons
    ]
    if screen.contact is not None:
        # A phone keyboard: the web cannot vouch for a number, so the person types it; back and cancel
        # are "reply" buttons whose label is sent as text, as a Telegram reply keyboard does.
        _share, back, cancel = screen.contact
        rows.append([{"text": back, "data": None, "url": None}, {"text": cancel, "data": None, "url": None}])
    return {"text": screen.text, "buttons": rows, "media": media}


def _item(row: WebMessage, who: str) -> dict[str, Any]:
    body = row.body or {}
    media = body.get("media")
    shown = None
    if media:
        shown = {
            "kind": media["kind"],
            "url": f"/api/files/{media['material_id']}?as={who}",
            "filename": media.get("filename") or "",
        }
    return {
        "message_id": row.replaces or row.id,
        "seq": row.id,
        "text": body.get("text", ""),
        "buttons": body.get("buttons", []),
        "media": shown,
        "edited": row.replaces is not None,
    }
