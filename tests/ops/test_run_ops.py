"""A real `branchbot run` (polling and webhook) against the fake Bot API: /healthz, /metrics, status,
JSON logs, one instance per SQLite file; and a backup taken during a notice that restores soundly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.fake_botapi import FakeBotAPI
from tests import factories
from tests.conftest import on_postgres
from tests.factories import TgUser
from tests.harness import _test_key

PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
TOKEN = "123456:TEST-ops-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


def bot_env(api: FakeBotAPI, database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": PROJECT_ROOT,
        "BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": api.base_url,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEY": _test_key(),
        "HTTP_LISTEN": "127.0.0.1",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "INFO",
        **extra,
    }
    for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_LISTEN", "WEBHOOK_PORT", "LANG", "LC_ALL"):
        if name not in extra:
            env.pop(name, None)
    return env


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


async def healthy(client: httpx.AsyncClient) -> bool:
    try:
        response = await client.get("/healthz")
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json()["last_tick_at"] is not None


async def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.communicate()[0]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_health_metrics_and_status_in_both_modes(mode, fresh_database_factory, tmp_path) -> None:
    database_url = fresh_database_factory()
    port = free_port()
    extra = {"LOG_FORMAT": "json"}
    if mode == "webhook":
        extra |= {"WEBHOOK_URL": "https://bot.example.org/hook", "WEBHOOK_SECRET": "hook-secret"}
    async with FakeBotAPI() as api:
        env = bot_env(api, database_url, port, **extra)
        args = ["run", "--webhook"] if mode == "webhook" else ["run"]
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = ""
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                assert await wait_for(lambda: healthy(client), 120), "no healthy /healthz"
                user = TgUser(5301, "Li", "en")
                update = factories.message_update(user, "/start")
                if mode == "webhook":
                    accepted = await client.post(
                        "/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
                    )
                    assert accepted.status_code == 200
                else:
                    api.push_update(update)

                async def answered() -> bool:
                    return any(c.method == "sendMessage" and c.chat_id == user.id for c in api.delivered)

                assert await wait_for(answered, 30)
                health = (await client.get("/healthz")).json()
                assert health["status"] == "ok"
                assert health["channels"] == {"telegram": "up", "wechat": "off"}
                metrics = (await client.get("/metrics")).text
                assert 'branchbot_updates_total{channel="telegram",result="ok"} 1.0' in metrics
                assert "branchbot_tick_duration_seconds_count 1.0" in metrics or (
                    "branchbot_tick_duration_seconds_count" in metrics
                )
                assert 'branchbot_outbox_rows{status="pending"}' in metrics

            status_env = {k: v for k, v in env.items() if k != "LOG_FORMAT"}
            english = cli(status_env | {"LANG": "en_US.UTF-8"}, "status", "--check", cwd=tmp_path)
            assert english.returncode == 0, english.stderr
            assert "Health: ok" in english.stdout
            assert f"Running bot: answers at 127.0.0.1:{port} (ok; telegram up, wechat off)" in english.stdout
            chinese = cli(status_env | {"LANG": "zh_CN.UTF-8"}, "status", cwd=tmp_path)
            assert "健康状态：正常" in chinese.stdout

            if mode == "polling":  # another bot on the same port: one clear line, exit 2
                other = env | {"DATABASE_URL": fresh_database_factory()}
                taken = await asyncio.to_thread(cli, other, "run", cwd=tmp_path)  # the fake API keeps serving
                assert taken.returncode == 2, taken.stderr[-2000:]
                assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
            if not on_postgres():
                second = cli(env, "run", cwd=tmp_path)
                assert second.returncode == 2 and "SQLite runs one instance" in second.stderr
                refused = cli(env, "restore", str(tmp_path / "nothing.sqlite3"), cwd=tmp_path)
                assert refused.returncode == 2
        finally:
            output = await stop(process)
        assert process.returncode == 0, output[-3000:]
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # LOG_FORMAT=json: every line is one object
    assert any(e["logger"] == "branchbot.updates" and e.get("update_id") for e in entries)
    assert TOKEN not in output and "hook-secret" not in output


@pytest.mark.skipif(on_postgres(), reason="SQLite's online backup; PostgreSQL is pointed to pg_dump")
@pytest.mark.flaky(reruns=1)  # a real bot process racing a notice on a loaded machine
async def test_a_backup_during_a_notice_restores_soundly(tmp_path) -> None:
    from bench.broadcast import StatusReader, seed
    from storage import migrate

    members = 1000
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}"
    await migrate.upgrade(database_url)
    notice_id = await seed(database_url, members)
    reader = StatusReader(database_url, notice_id)
    async with FakeBotAPI() as api:
        env = bot_env(api, database_url, 0, GLOBAL_RATE="10")  # HTTP on any free port: not used here
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:

            async def sending() -> bool:
                return (await reader()).get("sent", 0) >= 40

            if not await wait_for(sending, 150):  # a shared, loaded machine starts slowly
                pytest.fail(f"the notice did not start: {await reader()}\n{(await stop(process))[-3000:]}")
            backups = []
            for i in range(2):  # copies while the sender writes
                target = tmp_path / f"during-{i}.sqlite3"
                made = await asyncio.to_thread(cli, env, "backup", str(target), cwd=tmp_path)
                assert made.returncode == 0, made.stderr
                assert "integrity check ok" in made.stdout
                assert "encryption key" in made.stdout
                backups.append(target)
                await asyncio.sleep(0.5)
            during = await reader()
            assert during.get("pending", 0) + during.get("sending", 0) > 0, "the notice finished too soon"
            again = await asyncio.to_thread(cli, env, "backup", str(backups[0]), cwd=tmp_path)
            assert again.returncode == 2 and "exists" in again.stderr
            # Restoring over the running bot's database is refused.
            busy = await asyncio.to_thread(cli, env, "restore", str(backups[0]), "--force", cwd=tmp_path)
            assert busy.returncode == 2 and "running" in busy.stderr
        finally:
            output = await stop(process)
            await reader.close()
        assert process.returncode == 0, output[-3000:]

    for backup in backups:
        restored = tmp_path / f"restored-{backup.stem}.sqlite3"
        restore_env = env | {"DATABASE_URL": f"sqlite+aiosqlite:///{restored}"}
        done = cli(restore_env, "restore", str(backup), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        connection = sqlite3.connect(restored)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
            # A consistent snapshot: the notice and all of its outbox rows, each in one state.
            rows = dict(
                connection.execute(
                    "SELECT status, count(*) FROM outbox WHERE source = ? GROUP BY status",
                    (f"notice:{notice_id}",),
                ).fetchall()
            )
        finally:
            connection.close()
        assert sum(rows.values()) == members
        assert set(rows) <= {"pending", "sending", "sent"}
        assert 40 <= rows.get("sent", 0) < members
        # The restored copy is a database the bot can open: status reads it.
        shown = cli(restore_env | {"LANG": "en"}, "status", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "基准支部" in shown.stdout

    # Over an existing database only with --force, which keeps the old one beside it.
    target_env = env | {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'restored-during-0.sqlite3'}"}
    refused = cli(target_env, "restore", str(backups[1]), cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = cli(target_env, "restore", str(backups[1]), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "before-restore" in forced.stdout
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    bad = cli(target_env, "restore", str(garbage), "--force", cwd=tmp_path)
    assert bad.returncode == 2 and "not a SQLite database" in bad.stderr


@pytest.mark.skipif(not on_postgres(), reason="PostgreSQL only")
async def test_on_postgresql_backup_points_to_pg_dump(migrated_template, tmp_path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": PROJECT_ROOT,
        "DATABASE_URL": migrated_template,
        "ENCRYPTION_KEY": _test_key(),
        "LANG": "en_US.UTF-8",
    }
    made = cli(env, "backup", str(tmp_path / "x.dump"), cwd=tmp_path)
    assert made.returncode == 3
    assert "pg_dump --format=custom" in made.stdout and "PostgreSQL" in made.stdout
    assert not (tmp_path / "x.dump").exists()
    restore = cli(env, "restore", str(tmp_path / "x.dump"), cwd=tmp_path)
    assert restore.returncode == 3 and "pg_restore" in restore.stdout
    wrong = cli(
        env | {"DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}, "backup", "y", cwd=tmp_path
    )
    assert wrong.returncode == 2 and "cannot connect" in wrong.stderr
