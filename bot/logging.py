"""Logging set-up: text or one JSON object a line, the token redacted, chatty HTTP loggers quietened.

While an inbound update is handled, every log line carries its update id, the acting person's id (an
internal number, never a name) and the channel; the line that closes the update adds its duration.
Log messages never contain names, phones or texts; in JSON the exception's message is left out too
(only its type and stack), because a library may quote a value it choked on.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Settings

CONTEXT_FIELDS = ("update_id", "person_id", "channel")
EXTRA_FIELDS = ("duration_ms", "result")


@dataclass
class LogContext:
    channel: str
    update_id: int | None = None
    person_id: int | None = None
    failed: bool = False


_current: ContextVar[LogContext | None] = ContextVar("branchbot_log_context", default=None)


@contextmanager
def update_context(channel: str, update_id: int | None) -> Iterator[LogContext]:
    """Tag every log line written while one inbound update is handled."""
    context = LogContext(channel=channel, update_id=update_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def set_person(person_id: int | None) -> None:
    """The acting person is known (after the session has found or created them)."""
    context = _current.get()
    if context is not None:
        context.person_id = person_id


def mark_failed() -> None:
    context = _current.get()
    if context is not None:
        context.failed = True


class AddContext(logging.Filter):
    """Copy the current update's ids onto the record (JSON shows them as fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None:
            for name in CONTEXT_FIELDS:
                if not hasattr(record, name):
                    setattr(record, name, getattr(context, name))
        return True


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


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, and the update's fields when there are any."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in (*CONTEXT_FIELDS, *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            entry["exc_type"] = exc_type.__name__
            entry["stack"] = "".join(traceback.format_tb(tb))
        line = json.dumps(entry, ensure_ascii=False, default=str)
        if self.token and self.token in line:
            line = line.replace(self.token, "<token>")
        return line


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(token))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    handler.addFilter(AddContext())
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
    # uvicorn's access log would repeat query strings; errors still come through.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # At DEBUG, PTB logs whole requests and updates (names, phones, texts): never below INFO.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
