"""The Telegram webhook route on the HTTP host: secret header compared in constant time, bodies checked."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.http.host import read_body

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes; Telegram never sends more than this.
MAX_BODY_BYTES = 1_000_000


def parse_update(body: bytes, bot: Any) -> Update | None:
    """An Update, or None for anything that is not one (bad JSON, not an object, too deep, wrong shape)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return Update.de_json(data, bot)
    except (RecursionError, Exception):
        return None


def webhook_routes(
    application: Application[Any, Any, Any, Any, Any, Any], secret: str, path: str
) -> list[Route]:
    expected = secret.encode()

    async def receive_update(request: Request) -> Response:
        given = (request.headers.get(SECRET_HEADER) or "").encode()
        # compare_digest takes the same time wherever the strings differ, so the secret cannot be probed.
        if not given or not hmac.compare_digest(given, expected):
            return PlainTextResponse("forbidden", status_code=403)
        body = await read_body(request, MAX_BODY_BYTES)
        update = parse_update(body, application.bot)
        if update is None:
            return PlainTextResponse("not an update", status_code=400)
        await application.update_queue.put(update)
        return PlainTextResponse("ok")

    return [Route(path, receive_update, methods=["POST"])]
