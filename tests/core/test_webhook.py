"""The webhook refuses requests without or with a wrong secret and accepts the right one."""

from __future__ import annotations

import json

import httpx
import tornado.httpserver
import tornado.netutil

from handlers.webhook import SECRET_HEADER, make_web_app
from tests import factories
from tests.factories import TgUser
from tests.harness import BotHarness

SECRET = "s3cret-token-for-tests"


async def test_secret_header_is_checked(harness: BotHarness) -> None:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    server = tornado.httpserver.HTTPServer(make_web_app(harness.app, SECRET, "/telegram"))
    server.add_sockets(sockets)
    body = json.dumps(factories.message_update(TgUser(9), "/start"))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            missing = await client.post("/telegram", content=body)
            wrong = await client.post("/telegram", content=body, headers={SECRET_HEADER: "nope"})
            right = await client.post("/telegram", content=body, headers={SECRET_HEADER: SECRET})
            garbage = await client.post("/telegram", content=b"{not json", headers={SECRET_HEADER: SECRET})
            health = await client.get("/healthz")
    finally:
        server.stop()
    assert (missing.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    assert garbage.status_code == 400
    assert health.status_code in (200, 503)
    assert harness.app.update_queue.qsize() == 1
