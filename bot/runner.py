"""Start the bot: migrate the schema, then long polling or a webhook server, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from urllib.parse import urlparse

from bot.config import ConfigError, Settings

logger = logging.getLogger(__name__)


def run(settings: Settings, *, webhook: bool = False) -> None:
    """`branchbot run`: the schema is brought to the latest revision first (under a lock on PostgreSQL)."""
    from telegram import Update

    from handlers.application import build_application
    from storage import migrate

    settings.token()  # fail before touching anything when the token is missing
    if webhook and not (settings.webhook_url and settings.webhook_secret):
        raise ConfigError("WEBHOOK_URL and WEBHOOK_SECRET must be set for `branchbot run --webhook`")
    asyncio.run(migrate.upgrade(settings.database_url))
    application = build_application(settings)
    logger.info("bot starting (%s)", "webhook" if webhook else "long polling")
    if webhook:
        asyncio.run(serve_webhook(application, settings))
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


async def serve_webhook(application, settings: Settings) -> None:
    import tornado.httpserver
    from telegram import Update

    from handlers.webhook import make_web_app

    assert settings.webhook_url and settings.webhook_secret
    secret = settings.webhook_secret.get_secret_value()
    path = urlparse(settings.webhook_url).path or "/telegram"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # Outside run_polling/run_webhook PTB does not call the post_* hooks: call them, so the
    # background components (outbox sender, reminder tick) start and stop in webhook mode too.
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    server = tornado.httpserver.HTTPServer(make_web_app(application, secret, path))
    server.listen(settings.webhook_port, address=settings.webhook_listen)
    await application.bot.set_webhook(
        settings.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES
    )
    logger.info("webhook listening on %s:%s%s", settings.webhook_listen, settings.webhook_port, path)
    try:
        await stop.wait()
    finally:
        server.stop()
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
