"""Drive the real PTB Application with the fake Bot API, a fake clock and a test database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from app.features import build_features
from bot.clock import FakeClock
from bot.config import Settings
from bot.delivery.sender import OutboxSender
from bot.delivery.telegram import build_sender
from handlers.application import build_application
from handlers.context import DEPS_KEY, BotData
from storage.db import Database
from storage.models import OutboxMessage
from tests import factories
from tests.factories import TgUser
from tests.fakes import Call, FakeBotAPI

ADMIN_CHAT_ID = -100999
TEST_TOKEN = "123456:TEST-token-not-real"


class BotHarness:
    def __init__(self, database_url: str, clock: FakeClock, **settings: Any) -> None:
        self.clock = clock
        self.fake = FakeBotAPI()
        self.settings = Settings(
            bot_token=settings.pop("bot_token", None) or TEST_TOKEN,
            database_url=database_url,
            encryption_key=settings.pop("encryption_key", None) or _test_key(),
            admin_chat_id=ADMIN_CHAT_ID,
            bot_username="branch_test_bot",
            **settings,
        )
        self.db = Database(database_url)
        self.app: Application[Any, Any, Any, Any, Any, Any] = build_application(
            self.settings, self.fake, clock=clock, db=self.db, background=False, features=build_features()
        )

    @property
    def deps(self) -> BotData:
        return self.app.bot_data[DEPS_KEY]

    async def start(self) -> None:
        await self.app.initialize()

    async def stop(self) -> None:
        # Application.shutdown() does not run post_shutdown (only run_polling/run_webhook do),
        # so the engine is disposed here; otherwise aiosqlite threads outlive the event loop.
        await self.app.shutdown()
        await self.db.dispose()

    async def restart(self, *, bot_token: str | None = None) -> BotHarness:
        """A new Application on the same database and clock, as after a process restart (with a new
        bot token when one is given: another bot, to which this one's file ids mean nothing)."""
        await self.stop()
        fresh = BotHarness(
            self.settings.database_url,
            self.clock,
            encryption_key=self.settings.encryption_key,
            bot_token=bot_token or self.settings.token(),
        )
        await fresh.start()
        return fresh

    @asynccontextmanager
    async def session(self):
        async with self.db.session() as session:
            yield session

    # -- feeding updates ----------------------------------------------------------------------
    async def feed(self, data: dict[str, Any]) -> list[Call]:
        """Process one update; return the calls it made."""
        before = len(self.fake.calls)
        update = Update.de_json(data, self.app.bot)
        # Through the update processor, as `Application` does with a fetched update (throttle, order).
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        return self.fake.calls[before:]

    async def send(self, user: TgUser, text: str, **extra: Any) -> list[Call]:
        return await self.feed(factories.message_update(user, text, **extra))

    async def press(self, user: TgUser, data: str, **extra: Any) -> list[Call]:
        return await self.feed(factories.callback_update(user, data, **extra))

    async def share_contact(self, user: TgUser, phone: str, contact_user_id: int | None) -> list[Call]:
        return await self.feed(factories.contact_update(user, phone, contact_user_id=contact_user_id))

    async def transcript(self, user: TgUser, steps: Sequence[tuple[Any, str | Sequence[str]]]) -> list[Call]:
        """Play a dialogue: each step is (what the user does, what the bot's reply must contain).

        The user's part is a text or command, or ("press", label) to tap the button whose label
        contains ``label`` in the last message the bot sent them. The bot's part is a substring, a
        regex written /like this/, or a list of them all to be found in the replies of that step.
        """
        replies: list[Call] = []
        for action, expected in steps:
            if isinstance(action, tuple) and action[0] == "press":
                data = self.fake.last(user.id).button(action[1])
                replies = await self.press(user, data)
            else:
                replies = await self.send(user, action)
            texts = "\n".join(c.text for c in replies if c.method != "answerCallbackQuery")
            for want in [expected] if isinstance(expected, str) else expected:
                if want.startswith("/") and want.endswith("/") and len(want) > 1:
                    assert re.search(want[1:-1], texts), f"after {action!r}: /{want}/ not in {texts!r}"
                else:
                    assert want in texts, f"after {action!r}: {want!r} not in {texts!r}"
        return replies

    # -- the outbox ---------------------------------------------------------------------------
    async def outbox(self, session: AsyncSession | None = None) -> list[OutboxMessage]:
        async with self.db.session() as s:
            return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    _sender: OutboxSender | None = None  # made on the first deliver(), one per Application

    async def deliver(self) -> list[Call]:
        """Drain the outbox through the real delivery sender and return the calls it made.

        The same code as in production (claim, rate budget, error matrix, recording, the hooks
        that add progress edits and reports), kept deterministic: one row at a time in claim order,
        rate waits on virtual time, and the FakeClock deciding which rows are due.
        """
        before = len(self.fake.calls)
        if self._sender is None:
            self._sender = build_sender(self.app.bot, self.db, self.clock, concurrency=1)
        await self._sender.drain()
        return self.fake.calls[before:]


_KEY: str | None = None


def _test_key() -> str:
    global _KEY
    if _KEY is None:
        from cryptography.fernet import Fernet

        _KEY = Fernet.generate_key().decode()
    return _KEY
