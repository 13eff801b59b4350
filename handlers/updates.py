"""How updates are processed: different people in parallel, one person in order, floods dropped on arrival.

PTB hands every update to the Application's update processor as soon as it is fetched. This one
* runs updates of different chats concurrently (at most ``max_concurrent_updates`` in flight), so a
  reply that waits for one chat's 1/s limit, or a slow export, never holds up another person;
* runs the updates of one chat strictly in arrival order (a lock per chat; asyncio's locks wake their
  waiters first come, first served);
* throttles a person by *arrival* time, before any database work: past ``THROTTLE_MAX`` updates in
  ``THROTTLE_WINDOW`` it answers "too fast" once and drops that person's updates until the window has
  passed; everyone else is unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

from bot.i18n import Catalogue, resolve_language

logger = logging.getLogger(__name__)

# A person on a cheap phone may tap a few times quickly; a script floods. 20 in 10 s separates them.
THROTTLE_MAX = 20
THROTTLE_WINDOW = timedelta(seconds=10)
MAX_IN_FLIGHT = 64


class Throttle:
    """A sliding window of arrival times per person, kept in memory (per instance, which is enough)."""

    def __init__(
        self, now: Callable[[], datetime], limit: int = THROTTLE_MAX, window: timedelta = THROTTLE_WINDOW
    ):
        self.now = now
        self.limit = limit
        self.window = window
        self._seen: dict[int, deque[datetime]] = {}
        self._warned: set[int] = set()

    def arrive(self, user_id: int) -> str:
        """Count one arrival: "ok", "warn" (the first one over the limit) or "drop"."""
        now = self.now()
        seen = self._seen.setdefault(user_id, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        if not seen:
            self._warned.discard(user_id)
        seen.append(now)
        if len(self._seen) > 10_000:  # forget people who went quiet, so memory stays bounded
            for key in [k for k, v in self._seen.items() if now - v[-1] > self.window]:
                del self._seen[key]
                self._warned.discard(key)
        if len(seen) <= self.limit:
            return "ok"
        if user_id in self._warned:
            return "drop"
        self._warned.add(user_id)
        return "warn"


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat, with the arrival throttle in front."""

    def __init__(self, throttle: Throttle, texts: Catalogue, max_concurrent_updates: int = MAX_IN_FLIGHT):
        super().__init__(max_concurrent_updates)
        self.throttle = throttle
        self.texts = texts
        self._locks: dict[int, list[Any]] = {}  # chat id -> [lock, number of updates holding or waiting]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        user = update.effective_user
        if user is not None and not user.is_bot:
            verdict = self.throttle.arrive(user.id)
            if verdict != "ok":
                coroutine.close()  # type: ignore[attr-defined]
                await self._refuse(update, warn=verdict == "warn")
                return
        chat = update.effective_chat
        key = chat.id if chat is not None else (user.id if user is not None else None)
        if key is None:
            await coroutine
            return
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                await coroutine
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    async def _refuse(self, update: Update, *, warn: bool) -> None:
        """Stop the spinner of a throttled press; say "too fast" once per window."""
        try:
            if update.callback_query is not None:
                await update.callback_query.answer()
            chat = update.effective_chat
            if warn and chat is not None:
                user = update.effective_user
                language = resolve_language(None, user.language_code if user else None)
                await update.get_bot().send_message(chat.id, self.texts.text(language, "error.slow_down"))
        except TelegramError:
            logger.warning("could not answer a throttled update %s", update.update_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
