"""The process's Prometheus metrics, and the small functions the rest of the code calls to move them.

Counters and the tick histogram are moved where things happen (``count_update``, ``count_send``,
``observe_tick``); the outbox gauges are set from the database just before each scrape
(``set_outbox``), so every instance reports the shared queue, not only what it sent itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "uncertain", "cancelled")

UPDATES = Counter(
    "branchbot_updates",
    "Inbound updates handled, by channel and result (ok, error).",
    ["channel", "result"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "branchbot_update_duration_seconds",
    "Time to handle one inbound update, by channel.",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SENDS = Counter(
    "branchbot_sends",
    "Outbox send attempts, by channel and result (sent, retry, failed, uncertain, rate_limited).",
    ["channel", "result"],
    registry=REGISTRY,
)
TICK_SECONDS = Histogram(
    "branchbot_tick_duration_seconds",
    "Duration of one reminder tick.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
LAST_TICK = Gauge(
    "branchbot_last_tick_timestamp_seconds",
    "Unix time of the last reminder tick of any instance (0 when none yet).",
    registry=REGISTRY,
)
OUTBOX_ROWS = Gauge("branchbot_outbox_rows", "Outbox rows by status.", ["status"], registry=REGISTRY)
OUTBOX_OLDEST = Gauge(
    "branchbot_outbox_oldest_pending_seconds",
    "How long the oldest due pending outbox row has waited (0 when none).",
    registry=REGISTRY,
)
HEALTHY = Gauge("branchbot_healthy", "1 when /healthz says ok, 0 when degraded.", registry=REGISTRY)


def count_update(channel: str, result: str = "ok", seconds: float | None = None) -> None:
    UPDATES.labels(channel=channel, result=result).inc()
    if seconds is not None:
        UPDATE_SECONDS.labels(channel=channel).observe(seconds)


def count_send(channel: str, result: str) -> None:
    SENDS.labels(channel=channel, result=result).inc()


def send_result(status: str) -> str:
    """The result label for an outbox row's new status: a row put back to pending is a retry."""
    return "retry" if status == "pending" else str(status)


def observe_tick(seconds: float) -> None:
    TICK_SECONDS.observe(seconds)


def set_outbox(counts: Mapping[str, int], oldest_pending_s: float | None) -> None:
    for status in {*OUTBOX_STATUSES, *counts}:
        OUTBOX_ROWS.labels(status=status).set(counts.get(status, 0))
    OUTBOX_OLDEST.set(oldest_pending_s or 0.0)


def set_health(ok: bool, last_tick_unix: float | None) -> None:
    HEALTHY.set(1 if ok else 0)
    LAST_TICK.set(last_tick_unix or 0.0)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
