"""The Application that times and counts every update, and tags its log lines with the update's ids."""

from __future__ import annotations

import logging
import time
from typing import Any

from telegram.ext import Application

from bot import metrics
from bot.logging import mark_failed, update_context

logger = logging.getLogger("branchbot.updates")

CHANNEL = "telegram"


class ObservedApplication(Application):  # type: ignore[type-arg]
    """PTB's Application; each update gets one closing log line and two metric moves."""

    async def process_update(self, update: object) -> None:
        started = time.perf_counter()
        with update_context(CHANNEL, getattr(update, "update_id", None)) as context:
            try:
                await super().process_update(update)
            finally:
                seconds = time.perf_counter() - started
                result = "error" if context.failed else "ok"
                metrics.count_update(CHANNEL, result, seconds)
                logger.info(
                    "update %s handled in %.1f ms (%s)",
                    context.update_id,
                    seconds * 1000,
                    result,
                    extra={"duration_ms": round(seconds * 1000, 1), "result": result},
                )

    async def process_error(
        self, update: object | None, error: Exception, job: Any = None, coroutine: Any = None
    ) -> bool:
        if update is not None:
            mark_failed()
        return await super().process_error(update, error, job, coroutine)
