"""The web channel over the test database: the demo's parts, and an httpx client on its routes."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from app.demo import Demo
from bot.http.host import HttpHost
from tests.harness import BotHarness
from web.routes import web_routes


@pytest.fixture
async def demo(harness: BotHarness, tmp_path) -> Demo:
    # The demo runs on the wall clock moved on by its time control; rows that take their creation time
    # from the wall clock (a branch's created_at) agree with it only if the test clock starts there too.
    harness.clock.set(datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0))
    demo = Demo(harness.settings, tmp_path, db=harness.db, clock=harness.clock)
    await demo.seed()
    return demo


@pytest.fixture
async def client(demo: Demo):
    host = HttpHost(demo.settings)
    host.add_routes(web_routes(demo.channel, people=demo.people, advance=demo.advance, settle=demo.settle))
    transport = httpx.ASGITransport(app=host.build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        yield client
