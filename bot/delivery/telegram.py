"""The Telegram side of delivery (the only module under bot/ that imports ``telegram``).

* ``BudgetRateLimiter`` is installed on the Application (``ApplicationBuilder().rate_limiter``), so
  every request the handlers make (``reply_text``, ``edit_message_text``) takes a slot from the same
  ``RateBudget`` as the outbox sender, at the highest priority: it goes before every queued bulk
  send, and waits only for its own chat's 1/s (two replies to one person in the same second, or a
  reply right after that person's notice, are what Telegram answers with 429). A 429 anywhere
  pauses the budget for everyone until ``retry_after`` has passed; an interactive request is retried
  (``INTERACTIVE_RETRIES`` times). Requests the sender makes carry ``rate_limit_args=PREACQUIRED``:
  the sender took their slot itself (so it knows when a request may have left), and a 429 on them
  is reported back to the sender rather than retried here. Methods that post nothing to a chat
  (``answerCallbackQuery``, ``getMe``, ``getFile`` ...) are not limited.
* ``TelegramChannel`` sends one outbox payload with the Application's bot and translates PTB's
  exceptions into ``DeliveryError`` kinds: a ``TimedOut`` whose message starts with "Pool timeout"
  never left (httpx ``PoolTimeout``), any other ``TimedOut`` is a read/write timeout (maybe
  delivered). "message is not modified" on an edit counts as done.
* ``TelegramFiles`` sends a photo or file the project keeps (``material:<id>``): by the file id this
  bot already holds for it when there is one, else by uploading the bytes, whose new file id it then
  remembers (``Material.channel_cache``, keyed by the bot's id, so a new token uploads again).
* ``TelegramChannel.limits`` is ``bot.delivery.limits.TELEGRAM``; ``build_delivery`` makes the one
  sender with Telegram's lane and the other configured channels' (``app.runner``).
* ``TelegramDelivery`` is the background component (``handlers.application.component_factories``).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import inspect
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.clock import Clock
from bot.config import Settings
from bot.delivery.channel import EDIT_KEY, is_edit
from bot.delivery.errors import DeliveryError, ErrorKind, slug
from bot.delivery.hooks import default_hooks
from bot.delivery.limits import TELEGRAM, RateBudget, current_slot, timer_for
from bot.delivery.sender import CONCURRENCY, Delivery, Hook, OutboxSender
from bot.services.materials import cached_ref, material_bytes, material_id_of, remember_ref
from storage.db import Database
from storage.models import Material, Priority

logger = logging.getLogger(__name__)

INTERACTIVE_RETRIES = 2
DELIVERY_KEY = "delivery"  # deps.components: the one sender
POOL_SIZE = 256  # PTB's default for the bot's own requests
LIMITED_PREFIXES = ("send", "edit", "copy", "forward")
UNLIMITED = frozenset({"sendChatAction"})  # "typing…" is not a message


class _Preacquired:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PREACQUIRED"


PREACQUIRED = _Preacquired()


def retry_seconds(error: RetryAfter) -> float:
    value: dtm.timedelta = error._retry_after  # the public attribute warns about its future type
    return value.total_seconds()


def _chat_key(chat_id: Any) -> int | str | None:
    if chat_id is None:
        return None
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)


class BudgetRateLimiter(BaseRateLimiter[Any]):
    """PTB's hook into every Bot API request: take a slot of the shared budget first."""

    def __init__(self, budget: RateBudget, *, retries: int = INTERACTIVE_RETRIES) -> None:
        self.budget = budget
        self.retries = retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if not endpoint.startswith(LIMITED_PREFIXES) or endpoint in UNLIMITED:
            return await callback(*args, **kwargs)
        if rate_limit_args is PREACQUIRED:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.budget.pause(retry_seconds(error))
                raise
        chat = _chat_key(data.get("chat_id"))
        for attempt in range(self.retries + 1):
            slot = await self.budget.acquire(Priority.INTERACTIVE, chat, chat_limit=True)
            token = current_slot.set(slot)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.budget.pause(retry_seconds(error))
                if attempt == self.retries:
                    raise
            finally:
                current_slot.reset(token)
                self.budget.release(slot)
        raise AssertionError("unreachable")


def make_rate_limiter(settings: Settings, clock: Clock | None) -> BudgetRateLimiter:
    return BudgetRateLimiter(RateBudget(settings.global_rate, timer_for(clock), TELEGRAM))


class StampingTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, stamping the rate slot of the send in progress once its request has been
    written (httpcore's ``trace`` event), so that the budget counts the window from when the
    request really left (``bot.delivery.limits.Slot``)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        slot = current_slot.get()
        if slot is not None:
            slot.writing()
            chained = request.extensions.get("trace")

            async def trace(name: str, info: dict[str, Any]) -> None:
                if name.endswith("send_request_body.complete"):
                    slot.stamp()
                if chained is not None:
                    result = chained(name, info)
                    if inspect.isawaitable(result):
                        await result

            request.extensions = {**request.extensions, "trace": trace}
        try:
            return await super().handle_async_request(request)
        finally:
            if slot is not None:
                slot.stamp()  # written or failed: either way it is no longer being written


def make_request(pool_size: int = POOL_SIZE) -> HTTPXRequest:
    """PTB's default request for the bot's calls (256 connections, HTTP/1.1, its timeouts), with
    the stamping transport."""
    transport = StampingTransport(
        limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    )
    return HTTPXRequest(connection_pool_size=pool_size, httpx_kwargs={"transport": transport})


def _markup(rows: Sequence[Sequence[dict[str, Any]]] | None) -> InlineKeyboardMarkup | None:
    keyboard = [
        [
            InlineKeyboardButton(b["text"], url=b["url"])
            if b.get("url")
            else InlineKeyboardButton(b["text"], callback_data=b.get("data"))
            for b in row
        ]
        for row in rows or ()
    ]
    keyboard = [row for row in keyboard if row]
    return InlineKeyboardMarkup(keyboard) if keyboard else None


def _forbidden_code(message: str) -> str:
    lowered = message.lower()
    if "blocked" in lowered:
        return "blocked"
    if "deactivated" in lowered:
        return "deactivated"
    if "kicked" in lowered:
        return "kicked"
    return "forbidden"


def cache_key(bot: ExtBot[Any]) -> str:
    """Whose file ids these are: a file id is valid only for the bot that received or sent it. A
    token starts with the bot's id, so this needs no request."""
    return f"telegram:{bot.token.partition(':')[0]}"


def file_id_of(message: Message) -> str | None:
    """The file id Telegram gave the photo or document just sent."""
    if message.photo:
        return message.photo[-1].file_id
    if message.document is not None:
        return message.document.file_id
    return None


class TelegramFiles:
    """Send materials kept by the project to Telegram chats, by this bot's file id once it has one.

    Known file ids are remembered in memory too (a notice's picture to thousands of members reads the
    database once), and the first upload of a material is done once: parallel sends of it wait for
    that upload and then use its file id.
    """

    MEMORY = 2048

    def __init__(self, bot: ExtBot[Any], db: Database) -> None:
        self.bot = bot
        self.db = db
        self._known: OrderedDict[int, str] = OrderedDict()
        self._uploading: dict[int, asyncio.Lock] = {}

    async def send(
        self, chat_id: int | str, kind: str, ref: str, *, filename: str | None = None, **kwargs: Any
    ) -> Message | None:
        """Send a photo or document by its media reference; None when the material is gone (erased)."""
        method = self.bot.send_photo if kind == "photo" else self.bot.send_document
        material_id = material_id_of(ref)
        if material_id is None:  # a file id from before the project kept the bytes
            return await method(chat_id, ref, **kwargs)
        known = self._recall(material_id)
        if known is not None:
            return await method(chat_id, known, **kwargs)
        lock = self._uploading.setdefault(material_id, asyncio.Lock())
        async with lock:
            try:
                known = self._recall(material_id)
                if known is not None:
                    return await method(chat_id, known, **kwargs)
                async with self.db.session() as session:
                    material = await session.get(Material, material_id)
                    if material is None:
                        return None
                    cached = cached_ref(material, cache_key(self.bot))
                    upload = InputFile(material_bytes(material), filename=material.filename or filename)
                if cached is not None:
                    try:
                        message = await method(chat_id, cached, **kwargs)
                        self._keep(material_id, cached)
                        return message
                    except BadRequest as error:
                        if "file" not in error.message.lower():
                            raise
                        # Telegram no longer knows that id: upload the bytes below.
                message = await method(chat_id, upload, **kwargs)
                await self._remember(material_id, file_id_of(message))
                return message
            finally:
                # Sends already waiting hold this lock and find the file id in memory; later ones
                # take that path without a lock.
                self._uploading.pop(material_id, None)

    def _recall(self, material_id: int) -> str | None:
        known = self._known.get(material_id)
        if known is not None:
            self._known.move_to_end(material_id)
        return known

    def _keep(self, material_id: int, file_id: str) -> None:
        self._known[material_id] = file_id
        self._known.move_to_end(material_id)
        while len(self._known) > self.MEMORY:
            self._known.popitem(last=False)

    async def _remember(self, material_id: int, file_id: str | None) -> None:
        if file_id is None:
            return
        self._keep(material_id, file_id)
        try:
            async with self.db.session() as session:
                material = await session.get(Material, material_id)
                if material is not None:
                    remember_ref(material, cache_key(self.bot), file_id)
                    await session.commit()
        except Exception as exc:  # only a cache: the next send uploads again
            logger.warning(
                "could not remember the file id of material %s: %s", material_id, type(exc).__name__
            )


class TelegramChannel:
    """Send one outbox payload through the Application's bot (see ``bot.delivery.channel``)."""

    name = "telegram"
    limits = TELEGRAM

    def __init__(self, bot: ExtBot[Any], files: TelegramFiles | None = None) -> None:
        self.bot = bot
        self.files = files

    async def send(self, chat_id: int, payload: dict[str, Any], *, row: Any = None) -> int | None:
        try:
            return await self._send(chat_id, payload)
        except BadRequest as error:
            if is_edit(payload) and "not modified" in error.message.lower():
                return int(payload[EDIT_KEY])
            raise

    def classify(self, error: Exception) -> DeliveryError:
        """Telegram's error matrix (``bot.delivery.errors``)."""
        if isinstance(error, RetryAfter):
            return DeliveryError(ErrorKind.RATE_LIMITED, "retry_after", retry_after=retry_seconds(error))
        if isinstance(error, Forbidden):
            return DeliveryError(ErrorKind.FORBIDDEN, _forbidden_code(error.message))
        if isinstance(error, ChatMigrated):
            return DeliveryError(ErrorKind.CHAT_MIGRATED, "migrated", new_chat_id=int(error.new_chat_id))
        if isinstance(error, BadRequest):
            return DeliveryError(ErrorKind.BAD_REQUEST, slug(error.message))
        if isinstance(error, TimedOut):
            if error.message.startswith("Pool timeout"):
                return DeliveryError(ErrorKind.NOT_SENT, "pool_timeout")
            return DeliveryError(ErrorKind.MAYBE_SENT, "timeout")
        if isinstance(error, NetworkError):
            return DeliveryError(ErrorKind.NETWORK, "network")
        if isinstance(error, TelegramError):  # InvalidToken, Conflict, 5xx ...: retried with backoff
            return DeliveryError(ErrorKind.NETWORK, slug(error.message))
        return DeliveryError(ErrorKind.INTERNAL, f"internal_{type(error).__name__}")

    async def _send(self, chat_id: int, payload: dict[str, Any]) -> int | None:
        text = payload.get("text") or ""
        markup = _markup(payload.get("buttons"))
        if is_edit(payload):
            edited = await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=int(payload[EDIT_KEY]),
                reply_markup=markup,
                rate_limit_args=PREACQUIRED,
            )
            return edited.message_id if isinstance(edited, Message) else None
        kind, ref = payload.get("media_kind"), payload.get("media_ref")
        message: Message | None = None
        if kind in ("photo", "document") and ref:
            if self.files is not None:
                message = await self.files.send(
                    chat_id,
                    kind,
                    ref,
                    filename=payload.get("filename"),
                    caption=text or None,
                    reply_markup=markup,
                    rate_limit_args=PREACQUIRED,
                )
            elif material_id_of(ref) is None:
                method = self.bot.send_photo if kind == "photo" else self.bot.send_document
                message = await method(
                    chat_id, ref, caption=text or None, reply_markup=markup, rate_limit_args=PREACQUIRED
                )
        if message is None:  # no file, or a material erased since: the text alone
            message = await self.bot.send_message(
                chat_id, text, reply_markup=markup, rate_limit_args=PREACQUIRED
            )
        return message.message_id


def budget_of(bot: ExtBot[Any]) -> RateBudget:
    limiter = bot.rate_limiter
    if not isinstance(limiter, BudgetRateLimiter):
        raise RuntimeError("the Application was built without the delivery rate limiter")
    return limiter.budget


def build_sender(
    bot: ExtBot[Any],
    db: Database,
    clock: Clock,
    *,
    concurrency: int = CONCURRENCY,
    hooks: Sequence[Hook] | None = None,
) -> OutboxSender:
    """Telegram's lane alone: sends with ``bot`` and shares its rate budget (tests and tools)."""
    return OutboxSender(
        db,
        clock,
        telegram_adapter(bot, db),
        budget_of(bot),
        concurrency=concurrency,
        hooks=default_hooks() if hooks is None else hooks,
    )


def telegram_adapter(bot: ExtBot[Any], db: Database) -> TelegramChannel:
    return TelegramChannel(bot, TelegramFiles(bot, db))


def build_delivery(
    bot: ExtBot[Any],
    db: Database,
    clock: Clock,
    others: Sequence[Any] = (),
    *,
    hooks: Sequence[Hook] | None = None,
) -> Delivery:
    """The one sender: Telegram's lane (sharing the bot's budget with the interactive replies) and a
    lane for each other channel's adapter in ``others``."""
    return Delivery(
        db,
        clock,
        [telegram_adapter(bot, db), *others],
        budgets={TelegramChannel.name: budget_of(bot)},
        hooks=default_hooks() if hooks is None else hooks,
    )


class TelegramDelivery:
    """The background component: the sender, started in post_init and stopped in post_stop. The
    composition root may have built it already with other channels' lanes (``DELIVERY_KEY``);
    otherwise it has Telegram's lane alone."""

    def __init__(self, deps: Any) -> None:
        self.deps = deps
        self.delivery: Delivery | None = None

    async def start(self, application: Any) -> None:
        delivery = self.deps.components.get(DELIVERY_KEY)
        if delivery is None:
            delivery = self.deps.components[DELIVERY_KEY] = build_delivery(
                application.bot, self.deps.db, self.deps.clock
            )
        self.delivery = delivery
        self.deps.components["sender"] = delivery.lane(TelegramChannel.name)
        await delivery.start()

    async def stop(self) -> None:
        if self.delivery is not None:
            await self.delivery.stop()
