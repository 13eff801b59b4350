"""The background component that runs the reminder tick as ONE named PTB JobQueue job every minute."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from bot.health import record_tick
from bot.scheduling.engine import QuietHours, ReminderKind, Retention, TickResult, tick

logger = logging.getLogger(__name__)

JOB_NAME = "send_due_reminders"
TICK_SECONDS = 60


class ReminderTick:
    """Registers `send_due_reminders` on start and removes it on stop; runs the `kinds` it was given
    (the composition root passes `app.features.reminder_kinds()`).

    Coalescing and no misfire grace limit: a tick delayed by a busy loop or a suspended host still runs,
    once. The tick itself reads what is due up to now from the database, so nothing depends on the job
    having run at any particular minute; the job is derived state, rebuilt at each start.
    """

    def __init__(self, deps: Any, kinds: Sequence[ReminderKind]) -> None:
        self.deps = deps
        self.kinds = list(kinds)
        self._lock = asyncio.Lock()
        self._application: Any = None

    async def start(self, application: Any) -> None:
        job_queue = application.job_queue
        if job_queue is None:
            raise RuntimeError("the reminder tick needs PTB's job queue (python-telegram-bot[job-queue])")
        for old in job_queue.get_jobs_by_name(JOB_NAME):
            old.schedule_removal()
        job_queue.run_repeating(
            self._run,
            interval=TICK_SECONDS,
            first=1,
            name=JOB_NAME,
            job_kwargs={
                "id": JOB_NAME,
                "replace_existing": True,
                "coalesce": True,
                "misfire_grace_time": None,
                "max_instances": 1,
            },
        )
        self._application = application

    async def stop(self) -> None:
        if self._application is not None and self._application.job_queue is not None:
            for job in self._application.job_queue.get_jobs_by_name(JOB_NAME):
                job.schedule_removal()
        self._application = None

    async def _run(self, context: Any) -> None:
        await self.run_once()

    async def run_once(self) -> TickResult:
        """One tick now (the job calls this; an instance never runs two at once)."""
        async with self._lock:
            settings = self.deps.settings
            now, started = self.deps.clock.now(), time.perf_counter()
            result = await tick(
                self.deps.db,
                now,
                QuietHours.from_settings(settings),
                self.kinds,
                retention=Retention.from_settings(settings),
            )
            if result.ran:  # the heartbeat /healthz reads (bot.health); another instance's tick skips it
                await record_tick(self.deps.db, now, time.perf_counter() - started)
            return result
