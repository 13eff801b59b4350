"""A real `branchbot run` with WeChat: WeChat only (no BOT_TOKEN) and both channels, against the fake
WeChat API server (and the fake Bot API): /healthz, the callback answering, the tick, a clean stop."""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx
import pytest

from bench.fake_botapi import FakeBotAPI
from tests.ops.test_run_ops import TOKEN, bot_env, free_port, stop, wait_for
from tests.wechat.fake_server import APP_ID, APP_SECRET, CALLBACK_TOKEN, FakeWeChat
from tests.wechat.helpers import message_xml, openid
from wechat.callback import signature


def wechat_env(fake: FakeWeChat) -> dict[str, str]:
    return {
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_TOKEN": CALLBACK_TOKEN,
        "WECHAT_API_BASE_URL": fake.base_url,
    }


async def _ticked(client: httpx.AsyncClient) -> bool:
    try:
        response = await client.get("/healthz")
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json()["last_tick_at"] is not None


def _start(env: dict[str, str], cwd) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.flaky(reruns=1)  # a real bot process on a loaded machine
async def test_wechat_only_runs_the_callback_health_and_tick(
    fresh_database_factory, tmp_path, fake_wechat
) -> None:
    port = free_port()
    async with FakeBotAPI() as telegram:
        env = bot_env(telegram, fresh_database_factory(), port, **wechat_env(fake_wechat))
        env.pop("BOT_TOKEN")
        process = _start(env, tmp_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                assert await wait_for(lambda: _ticked(client), 120), "no healthy /healthz with a tick"
                health = (await client.get("/healthz")).json()
                assert health["channels"] == {"telegram": "off", "wechat": "up"}
                assert (await client.get("/metrics")).status_code == 200
                timestamp, nonce = str(int(time.time())), "n1"
                query = {
                    "signature": signature(CALLBACK_TOKEN, timestamp, nonce),
                    "timestamp": timestamp,
                    "nonce": nonce,
                }
                xml = message_xml(openid(5), int(timestamp), "text", Content="/help", MsgId=1)
                answer = await client.post("/wechat?" + urlencode(query), content=xml.encode())
                assert answer.status_code == 200
                if answer.text == "success":  # slower than the passive budget: it follows as a message

                    async def sent() -> bool:
                        return bool(fake_wechat.texts_to(openid(5)))

                    assert await wait_for(sent, 30)
                    assert "/help" in fake_wechat.texts_to(openid(5))[0]
                else:
                    assert "/help" in answer.text
                bad = await client.post("/wechat?" + urlencode({**query, "signature": "0" * 40}), content=xml)
                assert bad.status_code == 403
        finally:
            output = await stop(process)
        assert process.returncode == 0, output[-3000:]
        assert telegram.delivered == []  # no Telegram at all
    assert APP_SECRET not in output and "TOKEN-" not in output


@pytest.mark.slow
@pytest.mark.flaky(reruns=1)
async def test_both_channels_run_together(fresh_database_factory, tmp_path, fake_wechat) -> None:
    port = free_port()
    async with FakeBotAPI() as telegram:
        env = bot_env(telegram, fresh_database_factory(), port, **wechat_env(fake_wechat))
        process = _start(env, tmp_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                assert await wait_for(lambda: _ticked(client), 120), "no healthy /healthz with a tick"
                health = (await client.get("/healthz")).json()
                assert health["channels"] == {"telegram": "up", "wechat": "up"}
                handshake = {"signature": signature(CALLBACK_TOKEN, "1", "n"), "timestamp": "1", "nonce": "n"}
                echoed = await client.get("/wechat?" + urlencode({**handshake, "echostr": "e42"}))
                assert echoed.text == "e42"
        finally:
            output = await stop(process)
        assert process.returncode == 0, output[-3000:]
    assert TOKEN not in output
