"""Per-application dependencies, the custom callback context and the one-session-per-update decorator."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.clock import Clock
from bot.config import Settings
from bot.conversation import Conversation
from bot.i18n import Catalogue, catalogue
from bot.logging import set_person
from bot.services.identity import Actor, load_actor, touch_person
from storage.db import Database

DEPS_KEY = "deps"


@dataclass
class BotData:
    """What every callback may need, created once in `build_application`."""

    settings: Settings
    db: Database
    clock: Clock
    catalogue: Catalogue = field(default_factory=catalogue)
    components: dict[str, Any] = field(default_factory=dict)
    conversation: Conversation | None = None  # the core every channel talks to


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The callback context, with the session and actor that `with_session` opens for the callback."""

    __slots__ = ("_actor", "_session")

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self._session: AsyncSession | None = None
        self._actor: Actor | None = None

    @property
    def deps(self) -> BotData:
        return self.application.bot_data[DEPS_KEY]  # type: ignore[no-any-return]

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("no session: decorate the callback with @with_session")
        return self._session

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            raise RuntimeError("no actor: decorate the callback with @with_session")
        return self._actor

    def text(self, key: str, /, **params: object) -> str:
        """A catalogue text in the acting user's language."""
        language = self._actor.language if self._actor else None
        return self.deps.catalogue.text(language, key, **params)


Callback = Callable[[Update, BotContext], Awaitable[Any]]
F = TypeVar("F", bound=Callback)


def with_session(func: F) -> F:
    """Open one AsyncSession for the callback, record the sender as a person and load their roles.

    The callback commits its own work (through a service) before replying; anything left
    uncommitted when it returns is rolled back.
    """

    @functools.wraps(func)
    async def wrapper(update: Update, context: BotContext) -> Any:
        deps = context.deps
        async with deps.db.session() as session:
            context._session = session
            try:
                user = update.effective_user
                if user is not None and not user.is_bot:
                    chat = update.effective_chat
                    person = await touch_person(
                        session,
                        telegram_user_id=user.id,
                        chat_id=chat.id if chat is not None and chat.type == "private" else None,
                        client_language=user.language_code,
                        now=deps.clock.now(),
                    )
                    context._actor = await load_actor(session, person)
                    set_person(person.id)
                    await session.commit()
                return await func(update, context)
            finally:
                context._session = None

    return wrapper  # type: ignore[return-value]
