"""/healthz and /metrics through real HTTP: the tick heartbeat, the outbox age, quiet hours, counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.features import reminder_kinds
from bot.http.host import HttpHost
from bot.http.ops import OpsEndpoints
from bot.scheduling.component import ReminderTick
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus
from tests.factories import TgUser
from tests.harness import BotHarness


@asynccontextmanager
async def serving(harness: BotHarness, db=None, channels=None) -> AsyncIterator[httpx.AsyncClient]:
    ops = OpsEndpoints(
        db or harness.db,
        harness.settings,
        harness.clock,
        channels or (lambda: {"telegram": "up", "wechat": "off"}),
    )
    host = HttpHost(harness.settings.model_copy(update={"http_listen": "127.0.0.1", "http_port": 0}))
    host.add_routes(ops.routes())
    await host.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.port}") as client:
            yield client
    finally:
        await host.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def add_pending(harness: BotHarness, due: datetime, n: int = 1, start: int = 0) -> None:
    async with harness.session() as session:
        for i in range(start, start + n):
            session.add(
                OutboxMessage(
                    source=f"test:{i}",
                    kind="text",
                    chat_id=1000 + i,
                    payload={"text": "x"},
                    status=OutboxStatus.PENDING,
                    next_attempt_at=due,
                    created_at=due,
                )
            )
        await session.commit()


async def test_health_follows_the_tick_and_turns_503_when_it_stops(harness: BotHarness) -> None:
    tick = ReminderTick(harness.deps, reminder_kinds())
    async with serving(harness) as client:
        fresh = await client.get("/healthz")
        assert fresh.status_code == 200  # just started: no tick yet, but not late either
        assert fresh.json() == {
            "status": "ok",
            "outbox_pending": 0,
            "outbox_oldest_pending_s": None,
            "last_tick_at": None,
            "channels": {"telegram": "up", "wechat": "off"},
            "reasons": [],
        }
        await tick.run_once()
        ticked = (await client.get("/healthz")).json()
        assert ticked["last_tick_at"] == harness.clock.now().isoformat()

        harness.clock.advance(minutes=2, seconds=59)
        assert (await client.get("/healthz")).status_code == 200
        harness.clock.advance(seconds=2)  # the tick has stopped for more than 3 minutes
        stopped = await client.get("/healthz")
        assert stopped.status_code == 503
        assert stopped.json()["status"] == "degraded"
        assert stopped.json()["reasons"] == ["tick_stale"]
        metrics = samples((await client.get("/metrics")).text)
        assert metrics[("branchbot_healthy", ())] == 0

        await tick.run_once()  # it runs again: healthy again
        assert (await client.get("/healthz")).status_code == 200
        assert samples((await client.get("/metrics")).text)[("branchbot_healthy", ())] == 1


async def test_a_fresh_process_is_not_blamed_for_an_old_tick(harness: BotHarness) -> None:
    await ReminderTick(harness.deps, reminder_kinds()).run_once()
    harness.clock.advance(hours=2)  # the bot was down for two hours, then starts again
    async with serving(harness) as client:
        assert (await client.get("/healthz")).status_code == 200
        harness.clock.advance(minutes=4)  # ...but it has not ticked since it started
        assert (await client.get("/healthz")).status_code == 503


async def test_an_old_pending_row_degrades_outside_quiet_hours_only(harness: BotHarness) -> None:
    tick = ReminderTick(harness.deps, reminder_kinds())
    # 09:00 in Shanghai: daytime.
    await add_pending(harness, harness.clock.now() - timedelta(minutes=9))
    await add_pending(harness, harness.clock.now() + timedelta(hours=1), start=1)  # held, not yet due
    async with serving(harness) as client:
        await tick.run_once()
        young = (await client.get("/healthz")).json()
        assert young["status"] == "ok"
        assert young["outbox_pending"] == 2
        assert 539 <= young["outbox_oldest_pending_s"] <= 541

        harness.clock.advance(minutes=1, seconds=30)
        await tick.run_once()
        old = await client.get("/healthz")
        assert old.status_code == 503 and old.json()["reasons"] == ["outbox_stale"]

        # 23:30 in Shanghai: quiet hours (22:00-07:00); the same backlog is not an alarm.
        harness.clock.set(datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
        await add_pending(harness, harness.clock.now() - timedelta(minutes=30), start=2)
        await tick.run_once()
        night = await client.get("/healthz")
        assert night.status_code == 200, night.json()
        assert night.json()["outbox_oldest_pending_s"] > 600

        metrics = samples((await client.get("/metrics")).text)
        assert metrics[("branchbot_outbox_rows", (("status", "pending"),))] == 3
        assert metrics[("branchbot_outbox_rows", (("status", "sent"),))] == 0
        assert metrics[("branchbot_outbox_oldest_pending_seconds", ())] > 600


async def test_metrics_count_updates_sends_and_ticks(harness: BotHarness) -> None:
    async with serving(harness) as client:
        before = samples((await client.get("/metrics")).text)
        await ReminderTick(harness.deps, reminder_kinds()).run_once()
        await harness.send(TgUser(7001, "Li", "en"), "/start")
        await harness.send(TgUser(7002, "Li", "en"), "/help")
        response = await client.get("/metrics")
        after = samples(response.text)
    assert response.headers["content-type"].startswith("text/plain")
    updates = ("branchbot_updates_total", (("channel", "telegram"), ("result", "ok")))
    assert after[updates] - before.get(updates, 0) == 2
    tick_count = ("branchbot_tick_duration_seconds_count", ())
    assert after[tick_count] - before.get(tick_count, 0) == 1
    for name in (
        "branchbot_outbox_rows",
        "branchbot_outbox_oldest_pending_seconds",
        "branchbot_tick_duration_seconds",
        "branchbot_updates_total",
        "branchbot_sends_total",
    ):
        assert f"# TYPE {name} " in response.text


async def test_sends_are_counted_by_result(harness: BotHarness) -> None:
    from bot import metrics

    key = ("telegram", "sent")
    before = metrics.SENDS.labels(*key)._value.get()
    await add_pending(harness, harness.clock.now(), n=3)
    await harness.deliver()
    assert metrics.SENDS.labels(*key)._value.get() - before == 3


async def test_an_unreadable_database_is_503_not_500(harness: BotHarness, tmp_path) -> None:
    broken = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")  # no tables at all
    try:
        async with serving(harness, db=broken) as client:
            health = await client.get("/healthz")
            metrics = await client.get("/metrics")
    finally:
        await broken.dispose()
    assert health.status_code == 503
    assert health.json()["reasons"] == ["database"]
    assert metrics.status_code == 200
