"""`branchbot run` end to end: a real process polling a fake Bot API server answers /start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.fake_botapi import FakeBotAPI
from tests import factories
from tests.factories import TgUser
from tests.harness import _test_key

# The subprocess runs in a temporary folder: it finds the project through PYTHONPATH, installed or not.
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


async def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.flaky(reruns=1)  # a real process timed on a shared, loaded machine
async def test_run_polls_and_answers_start_in_the_users_language(fresh_database_factory, tmp_path) -> None:
    database_url = fresh_database_factory()
    async with FakeBotAPI() as api:
        env = {
            **os.environ,
            "PYTHONPATH": PROJECT_ROOT,
            "BOT_TOKEN": "123456:TEST-run-token",
            "BOT_API_BASE_URL": api.base_url,
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": _test_key(),
            "LOG_LEVEL": "INFO",
            "HTTP_PORT": "0",  # the HTTP host serves in polling mode too; any free port
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            chinese, english = TgUser(5101, "王", "zh-hans"), TgUser(5102, "Li", "en")
            api.push_update(factories.message_update(chinese, "/start"))
            api.push_update(factories.message_update(english, "/start"))

            def answered() -> bool:
                chats = {c.chat_id for c in api.delivered if c.method == "sendMessage"}
                return {chinese.id, english.id} <= {int(c) for c in chats if c is not None}

            assert await _wait_for(answered, 60), "the bot did not answer /start"
            texts = {
                int(c.chat_id): c.params.get("text", "") for c in api.delivered if c.method == "sendMessage"
            }
            assert "流动党员之家" in texts[chinese.id]
            assert "Mobile Branch" in texts[english.id]

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 15)
            assert time.monotonic() - started < 10
            assert process.returncode == 0
        finally:
            if process.poll() is None:
                process.kill()
            output = process.communicate()[0]
        assert "TEST-run-token" not in output
        assert "王" not in output


@pytest.mark.flaky(reruns=1)  # a real process timed on a shared, loaded machine
async def test_run_webhook_serves_updates_with_the_right_secret(fresh_database_factory, tmp_path) -> None:
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database_url = fresh_database_factory()
    async with FakeBotAPI() as api:
        env = {
            **os.environ,
            "PYTHONPATH": PROJECT_ROOT,
            "BOT_TOKEN": "123456:TEST-hook-token",
            "BOT_API_BASE_URL": api.base_url,
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": _test_key(),
            "WEBHOOK_URL": "https://bot.example.org/telegram",
            "WEBHOOK_SECRET": "hook-secret",
            "HTTP_LISTEN": "127.0.0.1",
            "HTTP_PORT": str(port),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--webhook"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert await _wait_for(lambda: any(c.method == "setWebhook" for c in api.calls), 60)
            user = TgUser(5201, "Li", "en")
            body = factories.message_update(user, "/start")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                refused = await client.post("/telegram", json=body)
                accepted = await client.post(
                    "/telegram", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
                )
                health = await client.get("/healthz")
            assert (refused.status_code, accepted.status_code, health.status_code) == (403, 200, 200)

            def answered() -> bool:
                return any(c.method == "sendMessage" and c.chat_id == user.id for c in api.delivered)

            assert await _wait_for(answered, 30)
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 15)
            assert process.returncode == 0
        finally:
            if process.poll() is None:
                process.kill()
            output = process.communicate()[0]
        assert "TEST-hook-token" not in output
        assert "hook-secret" not in output
