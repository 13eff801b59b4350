"""The official account's inbound side: a thin adapter of the conversation core, like the Telegram one.

A message or event WeChat posts (parsed by wechatpy) becomes a `Sender` ("wechat", openid) and an
`Inbound`; the core's `Reply` becomes texts with numbered choices (`wechat.render`), and the choices
of the last screen are remembered so that a reply "1" is that button's press.

    text "1" (a current choice)       -> that button's data (a press)
    text "/help", "/start j_x" ...    -> a command
    other text                        -> text for the open form
    image                             -> fetched (media/get) into a material: Inbound(media="material:<id>")
    voice, video, location, link ...  -> Inbound() (the core answers with a pointer)
    subscribe / SCAN with a scene     -> /start j_<scene> (an invite QR code: 报到 to that branch)
    subscribe without a scene         -> /start
    menu CLICK                        -> the key's command (报到/我的 is /me for a member, else /start)
    unsubscribe                       -> the account is unreachable (no reply can reach them)

Redeliveries: WeChat retries a callback it got no answer to; each message is recorded by the core's
redelivery record (``handled_update``) under a negative id derived from its MsgId (events: sender,
CreateTime and event), so a retry does nothing again, in the same transaction as the work it guards.
Every message from a person moves their account's ``last_inbound_at`` (the 48-hour window of
customer-service messages).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, update

from bot.clock import Clock
from bot.conversation import Conversation, Sender
from bot.dialog import Inbound, Media, Reply
from bot.i18n import t
from storage.db import Database
from storage.dialect import insert_ignore
from storage.models import Account, HandledUpdate, Member, MemberState
from web.channel import parse_text, sniff, store_material
from wechat.api import WeChatApi, WeChatApiError
from wechat.render import TEXT_CHOICE, choice_number, recall, remember, render, split_text

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
INVITE_PREFIX = "j_"  # /start j_<code>: the invite deep link of bot.flows.start
SCENE_PREFIX = "qrscene_"
START_OR_ME = "START_OR_ME"
# The custom menu's CLICK keys and the commands they run (`branchbot wechat menu` makes the menu).
MENU_COMMANDS = {START_OR_ME: "start", "DUES": "dues", "ACTIVITY": "activity", "SERVICES": "services"}
MENU_LABELS = {
    START_OR_ME: "text.menu.start",
    "DUES": "text.menu.dues",
    "ACTIVITY": "text.menu.activity",
    "SERVICES": "text.menu.services",
}
# Events that are not a person's input: a periodic location report, a link opened from the menu.
IGNORED_EVENTS = frozenset({"location", "view", "masssendjobfinish", "view_miniprogram"})

EventHook = Callable[[Any], Awaitable[None]]


def menu(language: str = "zh") -> dict[str, Any]:
    """The custom menu (报到/我的, 党费, 活动, 办事), each a CLICK with its key."""
    return {
        "button": [
            {"type": "click", "name": t(language, MENU_LABELS[key]), "key": key} for key in MENU_COMMANDS
        ]
    }


def event_id_of(key: str) -> int:
    """A negative 63-bit id for the core's redelivery record (Telegram's update ids are positive)."""
    digest = hashlib.sha256(f"wechat:{key}".encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


def dedupe_key(message: Any) -> str:
    """MsgId for messages; sender, CreateTime and event for events (they have no MsgId)."""
    if getattr(message, "type", "") != "event" and message.id:
        return f"msg:{message.id}"
    return f"event:{message.source}:{message.time}:{getattr(message, 'event', '')}"


@dataclass
class Received:
    """What the channel makes of one callback: the texts to answer with (already numbered and split)."""

    texts: list[str] = field(default_factory=list)
    openid: str = ""


class WeChatChannel:
    """Talks to the core for people on the official account; sends what does not fit the passive answer."""

    def __init__(
        self,
        conversation: Conversation,
        db: Database,
        clock: Clock,
        api: WeChatApi,
        *,
        event_hooks: dict[str, EventHook] | None = None,
    ) -> None:
        self.conversation = conversation
        self.db = db
        self.clock = clock
        self.api = api
        # Events another part handles (wx-out: "templatesendjobfinish" -> the delivery report).
        self.event_hooks: dict[str, EventHook] = dict(event_hooks or {})
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per openid: the lock, how many use it
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- one inbound message ----------------------------------------------------------------------------
    async def receive(self, message: Any) -> Received | None:
        """Handle one parsed message or event; None when it was seen before or needs no answer."""
        openid = str(message.source or "")
        if not openid:
            return None
        event_id = event_id_of(dedupe_key(message))
        lock, users = self._locks.get(openid) or (asyncio.Lock(), 0)
        self._locks[openid] = (lock, users + 1)
        try:
            async with lock:  # one person's messages in order (WeChat may post the next one meanwhile)
                return await self._receive(message, openid, event_id)
        finally:
            lock, users = self._locks[openid]
            if users <= 1:
                del self._locks[openid]
            else:
                self._locks[openid] = (lock, users - 1)

    async def _receive(self, message: Any, openid: str, event_id: int) -> Received | None:
        if await self._seen(event_id):
            logger.info("wechat event %s already handled, skipped", event_id)
            return None
        kind = getattr(message, "type", "unknown")
        event = str(getattr(message, "event", "") or "").lower() if kind == "event" else ""
        if event in self.event_hooks:
            if await self._mark(event_id):
                await self.event_hooks[event](message)
            return None
        if event == "unsubscribe":
            await self._unsubscribed(openid, event_id)
            return None
        if kind == "event" and event in IGNORED_EVENTS:
            return None
        inbound = await self._inbound(message, kind, event, openid)
        if inbound is None:
            await self._mark(event_id)
            return None
        reply = await self.conversation.handle(
            Sender(CHANNEL, openid, openid, None), inbound, event_id=event_id
        )
        if reply is None:
            return None
        return Received(await self._show(openid, reply), openid)

    async def _inbound(self, message: Any, kind: str, event: str, openid: str) -> Inbound | None:
        if kind == "text":
            return await self._text(openid, str(message.content or ""))
        if kind == "image":
            return await self._image(openid, str(getattr(message, "media_id", "") or ""))
        if kind == "event":
            if event in ("subscribe_scan", "scan"):
                scene = str(message.scene_id or "").removeprefix(SCENE_PREFIX)
                return Inbound(command="start", args=(INVITE_PREFIX + scene,) if scene else ())
            if event == "subscribe":
                key = str(getattr(message, "key", "") or "")
                if key.startswith(SCENE_PREFIX):  # a scene wechatpy did not split off
                    return Inbound(command="start", args=(INVITE_PREFIX + key[len(SCENE_PREFIX) :],))
                return Inbound(command="start")
            if event == "click":
                return await self._click(openid, str(message.key or ""))
            return None  # other events (card, scan-code ...) are nobody's input here
        return Inbound()  # voice, video, location, link ...: the core answers with a pointer

    async def _text(self, openid: str, content: str) -> Inbound:
        number = choice_number(content)
        if number is not None:
            async with self.db.session() as session:
                account = await self._account(session, openid)
                chosen = await recall(session, account.id, number) if account is not None else None
            if chosen is not None:
                if chosen.startswith(TEXT_CHOICE):
                    return Inbound(text=chosen[len(TEXT_CHOICE) :])
                return Inbound(data=chosen[:64])
            # No such choice: the number goes to the core as text (an open form may want it; with none
            # open the core answers with its pointer to /help).
        normalized = unicodedata.normalize("NFKC", content).strip()
        if normalized.startswith("/"):
            return parse_text(normalized)
        return parse_text(content)

    async def _click(self, openid: str, key: str) -> Inbound:
        command = MENU_COMMANDS.get(key)
        if command is None:
            return Inbound(command="help")
        if key == START_OR_ME:
            async with self.db.session() as session:
                state = await session.scalar(
                    select(Member.state)
                    .join(Account, Account.person_id == Member.person_id)
                    .where(Account.channel == CHANNEL, Account.external_id == openid)
                )
            command = "me" if state == MemberState.APPROVED else "start"
        return Inbound(command=command)

    async def _image(self, openid: str, media_id: str) -> Inbound:
        """The picture kept as a material of the sender (WeChat keeps it only three days)."""
        if not media_id:
            return Inbound()
        try:
            content, content_type = await self.api.get_media(media_id)
        except (WeChatApiError, httpx.HTTPError) as exc:
            logger.warning("wechat media could not be fetched: %s", _reason(exc))
            return Inbound()
        kind, mime = sniff(content, None)
        if kind != "photo" and content_type and content_type.startswith("image/"):
            kind, mime = "photo", content_type.split(";")[0]
        filename = f"wechat-{media_id[:12]}.{mime.rsplit('/', 1)[-1]}"
        async with self.db.session() as session:
            account = await self._account(session, openid)
            material = await store_material(
                session,
                account.person_id if account is not None else None,
                kind,
                filename,
                mime,
                content,
                uploaded=True,
                now=self.clock.now(),
            )
            await session.commit()
        return Inbound(media=Media(kind, f"material:{material.id}", filename, mime, len(content)))

    # -- the answer ---------------------------------------------------------------------------------------
    async def _show(self, openid: str, reply: Reply) -> list[str]:
        """The reply's screens as texts; the choices of this reply remembered; the window moved on."""
        now = self.clock.now()
        async with self.db.session() as session:
            account = await self._account(session, openid)
            if account is None:  # the core always makes the account; only a concurrent /deleteme removes it
                return []
            language = await self._language(session, account.person_id)
            texts: list[str] = []
            choices: list[str | None] = []
            for screen in reply.screens:
                text, more = render(screen, language=language, start=len(choices) + 1)
                choices.extend(more)
                attachment = _attachment_name(screen)
                if attachment is not None:
                    text = f"{text}\n\n{t(language, 'text.file_elsewhere', name=attachment)}".strip()
                texts.extend(split_text(text))
            if reply.screens:
                await remember(session, account.id, choices, now)
            elif reply.toast:
                texts.append(reply.toast)  # a typed answer has no tap to show a toast on: say it instead
            account.last_inbound_at = now
            await session.commit()
        return [text for text in texts if text]

    async def _language(self, session: Any, person_id: int) -> str:
        from bot.i18n import resolve_language
        from storage.models import Person

        person = await session.get(Person, person_id)
        return resolve_language(
            person.language if person else None, person.client_language if person else None
        )

    # -- sending after the answer -------------------------------------------------------------------------
    def later(self, openid: str, work: Awaitable[Received | None] | Iterable[str]) -> None:
        """Send texts (or the texts of work still running) as customer-service messages, in a task the
        channel keeps until `drain()`."""

        async def run() -> None:
            texts = work
            if isinstance(work, Awaitable):
                try:
                    received = await work
                except Exception:
                    logger.exception("wechat message failed")
                    received = Received([t(None, "error.try_again")], openid)
                texts = received.texts if received is not None else []
            await self.send_texts(openid, list(texts))  # type: ignore[arg-type]

        task = asyncio.create_task(run(), name="wechat-send")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_texts(self, openid: str, texts: list[str]) -> None:
        """Customer-service messages, in order; stops at the first refusal (the rest would fail alike)."""
        for text in texts:
            try:
                await self.api.send_text(openid, text)
            except WeChatApiError as exc:
                logger.warning("wechat reply not sent: %s", _reason(exc))
                if exc.kind == "unreachable":
                    await self._set_unreachable(openid)
                return
            except httpx.HTTPError as exc:  # may have arrived: do not send it again
                logger.warning("wechat reply uncertain: %s", _reason(exc))
                return

    async def drain(self) -> None:
        """Wait for the sends started after answers (tests; a stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- bookkeeping ------------------------------------------------------------------------------------
    async def _account(self, session: Any, openid: str) -> Account | None:
        return await session.scalar(
            select(Account).where(Account.channel == CHANNEL, Account.external_id == openid)
        )

    async def _seen(self, event_id: int) -> bool:
        async with self.db.session() as session:
            return await session.get(HandledUpdate, event_id) is not None

    async def _mark(self, event_id: int) -> bool:
        """Record an event handled outside the core; False when another worker recorded it first."""
        async with self.db.session() as session:
            first = await insert_ignore(
                session, HandledUpdate, {"update_id": event_id, "handled_at": self.clock.now()}, ["update_id"]
            )
            await session.commit()
        return bool(first)

    async def _unsubscribed(self, openid: str, event_id: int) -> None:
        if await self._mark(event_id):
            await self._set_unreachable(openid)

    async def _set_unreachable(self, openid: str) -> None:
        """They unfollowed: nothing reaches them here until they follow (write) again."""
        async with self.db.session() as session:
            await session.execute(
                update(Account)
                .where(Account.channel == CHANNEL, Account.external_id == openid)
                .values(unreachable=True)
            )
            await session.commit()


def _attachment_name(screen: Any) -> str | None:
    if screen.document is not None:
        return screen.document[0]
    if screen.photo is not None:
        return "chart.png"
    if screen.media is not None:
        return screen.media.filename or screen.media.kind
    return None


def _reason(exc: Exception) -> str:
    """What went wrong, without the request (its URL carries the access token)."""
    if isinstance(exc, WeChatApiError):
        return f"errcode {exc.errcode}"
    return type(exc).__name__
