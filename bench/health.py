"""How /healthz and /metrics grow with the outbox: the figures are read from SQL at every request.

    python -m bench.health [--rows 10000,100000,300000] [--database-url postgresql+asyncpg://...]

Fills the outbox with sent rows (plus a few pending ones), serves the real routes on the real HTTP
host, and times GET /healthz and GET /metrics over real HTTP on 127.0.0.1. Prints one line per size
and the ratio of the largest to the smallest, measured in the same run, with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

REQUESTS = 20


async def fill(db, start: int, stop: int, now: datetime) -> None:
    from storage.models import OutboxMessage

    chunk = 5000
    for first in range(start, stop, chunk):
        rows = [
            {
                "source": f"bench:{i}",
                "kind": "text",
                "chat_id": i,
                "payload": {"text": "x"},
                "status": "sent" if i % 100 else "pending",
                "priority": 30,
                "attempts": 1,
                "next_attempt_at": now - timedelta(seconds=30),
                "created_at": now - timedelta(minutes=1),
            }
            for i in range(first, min(first + chunk, stop))
        ]
        async with db.session() as session:
            await session.execute(insert(OutboxMessage), rows)
            await session.commit()


async def timed(client: httpx.AsyncClient, path: str) -> float:
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code in (200, 503), response.status_code
    return statistics.median(samples) * 1000


async def run(sizes: list[int], database_url: str | None) -> None:
    from cryptography.fernet import Fernet

    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.http.host import HttpHost
    from bot.http.ops import OpsEndpoints
    from storage import crypto, migrate
    from storage.db import Database

    folder = Path(tempfile.mkdtemp(prefix="bench-health-"))
    url = database_url or f"sqlite+aiosqlite:///{folder / 'health.sqlite3'}"
    crypto.configure(crypto.Keyring.from_setting(Fernet.generate_key().decode()))
    await migrate.upgrade(url)
    db = Database(url)
    settings = Settings(database_url=url, http_listen="127.0.0.1", http_port=0)
    ops = OpsEndpoints(db, settings, SystemClock(), lambda: {"telegram": "up", "wechat": "off"})
    host = HttpHost(settings)
    host.add_routes(ops.routes())
    await host.start()
    results = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.port}") as client:
            filled = 0
            for size in sorted(sizes):
                await fill(db, filled, size, datetime.now(UTC))
                filled = size
                health_ms, metrics_ms = await timed(client, "/healthz"), await timed(client, "/metrics")
                results.append((size, health_ms, metrics_ms))
                print(f"rows={size} healthz_median_ms={health_ms:.1f} metrics_median_ms={metrics_ms:.1f}")
    finally:
        await host.stop()
        await db.dispose()
    (small, h0, m0), (large, h1, m1) = results[0], results[-1]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    kind = "postgresql" if database_url else "sqlite"
    print(
        f"rows_ratio={large / small:.0f} healthz_ratio={h1 / h0:.1f} metrics_ratio={m1 / m0:.1f} "
        f"load={load} database={kind}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,300000", help="outbox sizes, comma-separated")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    asyncio.run(run([int(x) for x in args.rows.split(",")], args.database_url))


if __name__ == "__main__":
    main()
