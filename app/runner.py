"""Start the bot: migrate the schema, serve the HTTP host, run the channels, until SIGINT or SIGTERM.

The channels that run follow the settings: Telegram when BOT_TOKEN is set (long polling, or the
webhook), the WeChat official account when WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN are set
(its callback at /wechat), or both. Everything runs in one event loop that this module owns: the
channels, the HTTP host with /healthz and /metrics, the reminder tick and the outbox sender. There is one
sender, with a lane (an adapter and its limits) for each configured channel (``build_delivery``). With
Telegram the PTB Application runs the tick and starts and stops that sender (its background components);
without it this module does both. Only this module installs signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from bot.config import ConfigError, Settings

logger = logging.getLogger(__name__)

TICK_SECONDS = 60
DRAIN_TIMEOUT_S = 3.0


def run(settings: Settings, *, webhook: bool = False) -> None:
    """`branchbot run`: the schema is brought to the latest revision first (under a lock on PostgreSQL)."""
    from app.features import build_features
    from bot.backup import instance_lock
    from bot.services.keys import configure_encryption
    from handlers.application import build_application
    from storage import migrate

    telegram = settings.bot_token is not None
    if not telegram and not settings.wechat_enabled:
        settings.token()  # fail before touching anything: names BOT_TOKEN (the README names WeChat's too)
    if webhook and not telegram:
        raise ConfigError(
            "`branchbot run --webhook` is Telegram's webhook and BOT_TOKEN is not set "
            "(the WeChat callback is served at /wechat without it)"
        )
    if webhook and not (settings.webhook_url and settings.webhook_secret):
        raise ConfigError("WEBHOOK_URL and WEBHOOK_SECRET must be set for `branchbot run --webhook`")
    with instance_lock(settings.database_url):
        asyncio.run(migrate.upgrade(settings.database_url))
        application = build_application(settings, features=build_features()) if telegram else None
        if application is None:
            configure_encryption(settings)
        channels = [name for name, on in (("telegram", telegram), ("wechat", settings.wechat_enabled)) if on]
        mode = ("webhook" if webhook else "long polling") if telegram else "callback only"
        logger.info("bot starting: %s (%s)", ", ".join(channels), mode)
        asyncio.run(serve(application, settings, webhook=webhook))


@dataclass
class Parts:
    """What the channels share: the settings, the database, the clock, the conversation core."""

    settings: Settings
    db: Any
    clock: Any
    conversation: Any
    wechat: Any = None  # the WeChat channel when it runs
    wechat_api: Any = None
    wechat_outbox: Any = None  # the sender's WeChat adapter (in the window, or as templates)
    delivery: Any = None  # the one outbox sender, a lane per configured channel
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def build_parts(application: Any, settings: Settings) -> Parts:
    """The Telegram application's parts, or (WeChat only) parts of their own; the WeChat channel on them."""
    if application is not None:
        from handlers.context import DEPS_KEY

        deps = application.bot_data[DEPS_KEY]
        parts = Parts(settings, deps.db, deps.clock, deps.conversation)
    else:
        from app.features import build_features
        from bot.clock import SystemClock
        from bot.conversation import Conversation
        from storage.db import Database

        db, clock = Database(settings.database_url), SystemClock()
        parts = Parts(
            settings, db, clock, Conversation(build_features(), db=db, clock=clock, settings=settings)
        )
    if settings.wechat_enabled:
        from wechat.api import WeChatApi
        from wechat.channel import WeChatChannel

        parts.wechat_api = WeChatApi(settings, parts.db, parts.clock)
        from wechat.delivery import WeChatOutbox

        parts.wechat_outbox = WeChatOutbox(parts.db, parts.clock, parts.wechat_api, settings)
        parts.wechat = WeChatChannel(
            parts.conversation,
            parts.db,
            parts.clock,
            parts.wechat_api,
            event_hooks={"templatesendjobfinish": job_finished(parts.db)},
        )
    parts.delivery = build_delivery(application, parts)
    return parts


def build_delivery(application: Any, parts: Parts) -> Any:
    """The one sender, with the adapters of the channels that run: Telegram's (sharing the bot's rate
    budget with its replies) and WeChat's. With Telegram it is handed to the Application, whose
    background component starts and stops it (after the bot is initialised, before it shuts down)."""
    others = [parts.wechat_outbox] if parts.wechat_outbox is not None else []
    if application is not None:
        from bot.delivery.telegram import DELIVERY_KEY
        from bot.delivery.telegram import build_delivery as with_telegram
        from handlers.context import DEPS_KEY

        deps = application.bot_data[DEPS_KEY]
        delivery = with_telegram(application.bot, parts.db, parts.clock, others)
        deps.components[DELIVERY_KEY] = delivery
        return delivery
    if not others:
        return None
    from bot.delivery.hooks import default_hooks
    from bot.delivery.sender import Delivery

    return Delivery(parts.db, parts.clock, others, hooks=default_hooks())


def job_finished(db: Any) -> Any:
    """The TEMPLATESENDJOBFINISH event: WeChat's delivery report of one template message."""
    from wechat.delivery import record_job_finish

    async def hook(message: Any) -> None:
        async with db.session() as session:
            await record_job_finish(
                session, str(message.source or ""), int(message.id or 0), str(message.status or "")
            )
            await session.commit()

    return hook


def channel_states(
    application: Any, parts: Parts | None = None, *, webhook: bool, host: Any = None
) -> dict[str, str]:
    """What /healthz reports per channel: up, down (started but not receiving) or off (not configured)."""
    if application is None:
        telegram = "off"
    else:
        updater = application.updater
        receiving = webhook or (updater is not None and updater.running)
        telegram = "up" if application.running and receiving else "down"
    wechat = "off"
    if parts is not None and parts.wechat is not None:
        wechat = "up" if host is None or host.running else "down"
        if wechat == "up" and parts.wechat_outbox is not None:
            wechat = parts.wechat_outbox.state()
    return {"telegram": telegram, "wechat": wechat}


def http_routes(application: Any, parts: Parts, *, webhook: bool, host: Any = None) -> list[Any]:
    """Every route the host serves in `branchbot run`: health and metrics, the Telegram webhook in that
    mode, and the WeChat callback when WeChat runs."""
    from bot.http.ops import OpsEndpoints

    settings = parts.settings
    ops = OpsEndpoints(
        parts.db,
        settings,
        parts.clock,
        lambda: channel_states(application, parts, webhook=webhook, host=host),
    )
    routes = ops.routes()
    if webhook:
        from handlers.webhook import webhook_routes

        assert settings.webhook_url and settings.webhook_secret
        routes += webhook_routes(
            application, settings.webhook_secret.get_secret_value(), webhook_path(settings)
        )
    if parts.wechat is not None:
        from wechat.callback import wechat_routes
        from wechat.pages import MessagePages

        routes += wechat_routes(parts.wechat, settings)
        routes += MessagePages(parts.conversation, parts.db, parts.clock).routes()
    return routes


def webhook_path(settings: Settings) -> str:
    return urlparse(settings.webhook_url or "").path or "/telegram"


async def tick_forever(parts: Parts) -> None:
    """The reminder tick once a minute, when no Telegram application runs it (WeChat only)."""
    from app.features import reminder_kinds
    from bot.scheduling.component import ReminderTick

    ticker = ReminderTick(parts, kinds=reminder_kinds())
    await asyncio.sleep(1)
    while True:
        try:
            await ticker.run_once()
        except Exception:
            logger.exception("reminder tick failed")
        await asyncio.sleep(TICK_SECONDS)


async def serve(application: Any, settings: Settings, *, webhook: bool) -> None:
    from bot.http.host import HttpHost

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    parts = build_parts(application, settings)
    host = HttpHost(settings)
    host.add_routes(http_routes(application, parts, webhook=webhook, host=host))
    try:
        if application is not None:
            await _start_telegram(application, settings, host, webhook=webhook)
        else:
            await _start_host(host)
            parts.tasks.append(asyncio.create_task(tick_forever(parts), name="reminder-tick"))
        if application is None and parts.delivery is not None:
            await parts.delivery.start()  # with Telegram, the Application's component started it
        if parts.wechat is not None:
            logger.info("WeChat callback at /wechat on port %s", host.port)
        await stop.wait()
        logger.info("stopping")
    finally:
        for task in parts.tasks:
            task.cancel()
        for task in parts.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if application is not None:
            await _stop_telegram(application, host)  # stops the sender too (a background component)
        else:
            await host.stop()
            if parts.delivery is not None:
                await parts.delivery.stop()
        if parts.wechat is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parts.wechat.drain(), DRAIN_TIMEOUT_S)
            await parts.wechat_api.aclose()
        if application is None:
            await parts.db.dispose()


async def _start_host(host: Any) -> None:
    try:
        await host.start()
    except OSError as exc:
        raise ConfigError(f"{exc.strerror or exc} (set HTTP_LISTEN / HTTP_PORT)") from None


async def _start_telegram(application: Any, settings: Settings, host: Any, *, webhook: bool) -> None:
    from telegram import Update

    # Outside run_polling/run_webhook PTB does not call the post_* hooks: call them, so the
    # background components (outbox sender, reminder tick) start and stop here.
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    await _start_host(host)
    if webhook:
        await application.bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            allowed_updates=Update.ALL_TYPES,
        )
        logger.info("webhook at %s on port %s", webhook_path(settings), host.port)
    else:
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)


async def _stop_telegram(application: Any, host: Any) -> None:
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    await host.stop()
    if application.running:
        await application.stop()
    if application.post_stop:
        await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)
