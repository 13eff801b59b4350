"""Per-application dependencies and the custom callback context of the Telegram adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram.ext import CallbackContext, ExtBot

from bot.clock import Clock
from bot.config import Settings
from bot.conversation import Conversation
from bot.i18n import Catalogue, catalogue
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
    """The callback context, with the application's dependencies at hand."""

    @property
    def deps(self) -> BotData:
        return self.application.bot_data[DEPS_KEY]  # type: ignore[no-any-return]
