"""Start the bot: migrate the schema, serve the HTTP host, poll or take webhooks, until SIGINT or SIGTERM.

Both modes run in one event loop that this module owns: the PTB Application (and its background
components: the outbox sender, the reminder tick), and the HTTP host with /healthz and /metrics, plus
the Telegram webhook route in webhook mode. Only this module installs signal handlers.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any
from urllib.parse import urlparse

from bot.config import ConfigError, Settings

logger = logging.getLogger(__name__)


def run(settings: Settings, *, webhook: bool = False) -> None:
    """`branchbot run`: the schema is brought to the latest revision first (under a lock on PostgreSQL)."""
    from bot.backup import instance_lock
    from handlers.application import build_application
    from storage import migrate

    settings.token()  # fail before touching anything when the token is missing
    if webhook and not (settings.webhook_url and settings.webhook_secret):
        raise ConfigError("WEBHOOK_URL and WEBHOOK_SECRET must be set for `branchbot run --webhook`")
    with instance_lock(settings.database_url):
        asyncio.run(migrate.upgrade(settings.database_url))
        application = build_application(settings)
        logger.info("bot starting (%s)", "webhook" if webhook else "long polling")
        asyncio.run(serve(application, settings, webhook=webhook))


def channel_states(application: Any, *, webhook: bool) -> dict[str, str]:
    """What /healthz reports per channel: up, down (started but not receiving) or off (not configured)."""
    updater = application.updater
    receiving = webhook or (updater is not None and updater.running)
    return {"telegram": "up" if application.running and receiving else "down", "wechat": "off"}


def http_routes(application: Any, settings: Settings, *, webhook: bool) -> list[Any]:
    """Every route the host serves in `branchbot run`: health and metrics, and the webhook in that mode."""
    from bot.http.ops import OpsEndpoints
    from handlers.context import DEPS_KEY
    from handlers.webhook import webhook_routes

    deps = application.bot_data[DEPS_KEY]
    ops = OpsEndpoints(deps.db, settings, deps.clock, lambda: channel_states(application, webhook=webhook))
    routes = ops.routes()
    if webhook:
        assert settings.webhook_url and settings.webhook_secret
        routes += webhook_routes(
            application, settings.webhook_secret.get_secret_value(), webhook_path(settings)
        )
    return routes


def webhook_path(settings: Settings) -> str:
    return urlparse(settings.webhook_url or "").path or "/telegram"


async def serve(application: Any, settings: Settings, *, webhook: bool) -> None:
    from telegram import Update

    from bot.http.host import HttpHost

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    host = HttpHost(settings)
    host.add_routes(http_routes(application, settings, webhook=webhook))
    # Outside run_polling/run_webhook PTB does not call the post_* hooks: call them, so the
    # background components (outbox sender, reminder tick) start and stop here.
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        try:
            await host.start()
        except OSError as exc:
            raise ConfigError(f"{exc.strerror or exc} (set HTTP_LISTEN / HTTP_PORT)") from None
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
        await stop.wait()
        logger.info("stopping")
    finally:
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
