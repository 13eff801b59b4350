"""Logging set-up: one format, the token redacted, chatty HTTP loggers quietened."""

from __future__ import annotations

import logging

from bot.config import Settings


class RedactToken(logging.Filter):
    """Replace the bot token wherever a library puts it in a log line (URLs especially)."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            message = record.getMessage()
            if self.token in message:
                record.msg = message.replace(self.token, "<token>")
                record.args = None
        return True


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(
        settings.log_level.upper() if settings.log_level.upper() in logging._nameToLevel else "INFO"
    )
    # httpx logs every request URL at INFO, and a Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # At DEBUG, PTB logs whole requests and updates (names, phones, texts): never below INFO.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
