"""Build the PTB Application: dependencies, handlers, background components, start and stop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot.clock import Clock, SystemClock
from bot.commands import commands_for
from bot.config import Settings
from bot.conversation import Conversation, Feature
from bot.delivery.telegram import make_rate_limiter, make_request
from bot.i18n import catalogue
from bot.services.keys import configure_encryption
from handlers.context import DEPS_KEY, BotContext, BotData
from handlers.observe import ObservedApplication
from handlers.registry import register_handlers
from handlers.updates import PerChatUpdateProcessor, Throttle
from storage import crypto
from storage.db import Database

logger = logging.getLogger(__name__)


class Component(Protocol):
    """A background part of the bot (the outbox sender, the reminder tick) started after initialize."""

    async def start(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None: ...

    async def stop(self) -> None: ...


def component_factories(features: Sequence[Feature]) -> list[Any]:
    """Background components, in start order: the tick runs the given features' reminder kinds."""
    from bot.delivery.telegram import TelegramDelivery  # the outbox sender
    from bot.scheduling.component import ReminderTick  # the one-minute reminder tick (a JobQueue job)
    from bot.scheduling.kinds import collect  # every feature's reminder kinds, from the features passed in

    kinds = collect(features)
    return [partial(ReminderTick, kinds=kinds), TelegramDelivery]


def build_application(
    settings: Settings,
    request: BaseRequest | None = None,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    background: bool = True,
    features: Sequence[Feature],
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot, ready to initialize, running the composition root's `features` (`app.features`): tests
    pass a fake `request`, a fake clock and background=False."""
    if crypto._keyring is None:
        configure_encryption(settings)
    clock = clock or SystemClock()
    builder = (
        ApplicationBuilder()
        .application_class(ObservedApplication)
        .token(settings.token())
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_base_url.replace("/bot", "/file/bot"))
        .context_types(ContextTypes(context=BotContext))
        .defaults(Defaults(tzinfo=settings.tz))
        # Different people in parallel, one person in order, floods dropped on arrival (handlers.updates).
        .concurrent_updates(PerChatUpdateProcessor(Throttle(clock.now), catalogue()))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        # Replies and the outbox sender share one rate budget; replies go first (bot.delivery).
        .rate_limiter(make_rate_limiter(settings, clock))
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:  # the rate budget counts each send from when its request really left (bot.delivery.limits)
        builder = builder.request(make_request())
    application = builder.build()
    deps = BotData(settings=settings, db=db or Database(settings.database_url), clock=clock)
    deps.conversation = Conversation(
        features, db=deps.db, clock=deps.clock, settings=settings, texts=deps.catalogue
    )
    deps.components["background"] = background
    application.bot_data[DEPS_KEY] = deps
    register_handlers(application)
    return application


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps: BotData = application.bot_data[DEPS_KEY]
    await _publish_command_menu(application)
    if not deps.components.get("background"):
        return
    started = []
    for factory in component_factories(deps.conversation.features):
        component = factory(deps)
        await component.start(application)
        started.append(component)
    deps.components["started"] = started


async def _publish_command_menu(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The menu shows what everyone may use; /help lists more for members and officers."""
    cat = catalogue()
    try:
        for language, code in (("zh", None), ("en", "en")):
            commands = [
                BotCommand(c.name, cat.text(language, c.description_key))
                for c in commands_for({"everyone", "nonmember"})
            ]
            await application.bot.set_my_commands(commands, language_code=code)
    except TelegramError:
        logger.warning("could not publish the command menu; continuing")


async def _post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps: BotData = application.bot_data[DEPS_KEY]
    for component in reversed(deps.components.get("started", [])):
        await component.stop()
    deps.components["started"] = []


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps: BotData = application.bot_data[DEPS_KEY]
    await deps.db.dispose()
