"""GET /healthz and GET /metrics: the operator's two windows into a running bot (interfaces.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import health, metrics
from bot.scheduling.engine import QuietHours

logger = logging.getLogger(__name__)

ChannelStates = Callable[[], dict[str, str]]


class OpsEndpoints:
    """Both routes read the same figures; /metrics refreshes the outbox gauges before it renders."""

    def __init__(self, db: Any, settings: Any, clock: Any, channels: ChannelStates) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.channels = channels
        self.since: datetime = clock.now()

    async def check(self) -> health.Health:
        return await health.check(
            self.db,
            self.clock.now(),
            quiet=QuietHours.from_settings(self.settings),
            timezone=self.settings.timezone,
            since=self.since,
            channels=self.channels(),
        )

    async def healthz(self, request: Request) -> Response:
        try:
            result = await self.check()
        except Exception as exc:  # the database is unreachable: that is the answer, not a 500
            logger.warning("health check could not read the database: %s", type(exc).__name__)
            body = {
                "status": "degraded",
                "outbox_pending": None,
                "outbox_oldest_pending_s": None,
                "last_tick_at": None,
                "channels": self.channels(),
                "reasons": ["database"],
            }
            return JSONResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
        return JSONResponse(
            result.as_json(), status_code=200 if result.ok else 503, headers={"Cache-Control": "no-store"}
        )

    async def metrics(self, request: Request) -> Response:
        try:
            await self.check()
        except Exception as exc:
            logger.warning("metrics could not read the database: %s", type(exc).__name__)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET", "HEAD"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]
