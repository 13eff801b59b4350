"""The webhook route refuses requests without or with a wrong secret, accepts the right one, checks bodies."""

from __future__ import annotations

import json

import httpx

from bot.config import Settings
from bot.http.host import HttpHost
from handlers.webhook import MAX_BODY_BYTES, SECRET_HEADER, webhook_routes
from tests import factories
from tests.factories import TgUser
from tests.harness import BotHarness

SECRET = "s3cret-token-for-tests"


async def test_secret_header_is_checked(harness: BotHarness) -> None:
    host = HttpHost(Settings(http_listen="127.0.0.1", http_port=0))
    host.add_routes(webhook_routes(harness.app, SECRET, "/telegram"))
    await host.start()
    body = json.dumps(factories.message_update(TgUser(9), "/start"))
    ok = {SECRET_HEADER: SECRET}
    deep = "[" * 100_000 + "]" * 100_000
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.port}") as client:
            missing = await client.post("/telegram", content=body)
            wrong = await client.post("/telegram", content=body, headers={SECRET_HEADER: "nope"})
            longer = await client.post("/telegram", content=body, headers={SECRET_HEADER: SECRET + "x"})
            right = await client.post("/telegram", content=body, headers=ok)
            bad = [
                await client.post("/telegram", content=content, headers=ok)
                for content in (
                    b"{not json",
                    b"[]",
                    b"null",
                    b"42",
                    b'"text"',
                    b"{}",
                    b'{"update_id": "x"}',
                    b'{"update_id": 1, "message": 5}',
                    deep.encode(),
                    ('{"update_id": 1, "message": ' + "{" * 50_000 + "}" * 50_000 + "}").encode(),
                    b"\xff\xfe",
                )
            ]
            huge = await client.post("/telegram", content=b"{" + b" " * MAX_BODY_BYTES + b"}", headers=ok)
            get = await client.get("/telegram")
    finally:
        await host.stop()
    statuses = (missing.status_code, wrong.status_code, longer.status_code, right.status_code)
    assert statuses == (403, 403, 403, 200)
    assert [r.status_code for r in bad] == [400] * len(bad)
    assert huge.status_code == 413
    assert get.status_code == 405
    assert harness.app.update_queue.qsize() == 1
