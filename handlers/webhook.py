"""The webhook endpoint: Telegram's secret header checked in constant time, plus /healthz."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import tornado.web
from telegram import Update
from telegram.ext import Application

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1_000_000


class UpdateEndpoint(tornado.web.RequestHandler):
    def initialize(self, bot_app: Application[Any, Any, Any, Any, Any, Any], secret: str) -> None:
        self.application_ = bot_app
        self.secret = secret.encode()

    async def post(self) -> None:
        given = (self.request.headers.get(SECRET_HEADER) or "").encode()
        # compare_digest takes the same time wherever the strings differ, so the secret cannot be probed.
        if not given or not hmac.compare_digest(given, self.secret):
            self.set_status(403)
            return
        if len(self.request.body) > MAX_BODY_BYTES:
            self.set_status(413)
            return
        try:
            data = json.loads(self.request.body)
            update = Update.de_json(data, self.application_.bot)
        except (ValueError, TypeError, KeyError):
            self.set_status(400)
            return
        if update is None:
            self.set_status(400)
            return
        await self.application_.update_queue.put(update)
        self.set_status(200)

    def check_xsrf_cookie(self) -> None:  # Telegram posts without cookies
        return None


class HealthEndpoint(tornado.web.RequestHandler):
    def initialize(self, bot_app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.application_ = bot_app

    def get(self) -> None:
        running = self.application_.running
        self.set_status(200 if running else 503)
        self.write({"status": "ok" if running else "starting"})


def make_web_app(
    application: Application[Any, Any, Any, Any, Any, Any], secret: str, path: str
) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (path, UpdateEndpoint, {"bot_app": application, "secret": secret}),
            ("/healthz", HealthEndpoint, {"bot_app": application}),
        ]
    )
