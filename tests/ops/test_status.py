"""`branchbot status`: health figures and each branch's backlog, in Chinese or English by LANG."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app import cli
from bot.status import language_from_env
from storage.models import MemberState, ServiceRequest
from storage.models.relay import RequestState
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.relay.factory import MEMBER_A, MEMBER_A2, MEMBER_B, add_member, make_world


@pytest.fixture(autouse=True)
def _restore_logging():
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def seed(harness: BotHarness) -> None:
    now = datetime.now(UTC)
    async with harness.session() as session:
        world = await make_world(session, now)
        for i in range(3):  # three waiting for the secretary of branch A
            await add_member(
                session,
                TgUser(7300 + i, "新"),
                branch_id=world.branch_a,
                township_id=world.township_a,
                name=f"待审{i}",
                phone=f"+861380013810{i}",
                at=now,
                state=MemberState.PENDING,
            )
        for user, due, state in (
            (MEMBER_A, now - timedelta(days=2), RequestState.ACCEPTED),  # past its deadline
            (MEMBER_A2, now - timedelta(hours=1), RequestState.FORWARDED),  # past its deadline
            (MEMBER_A2, now + timedelta(days=2), RequestState.ACCEPTED),  # still in time
            (MEMBER_B, now - timedelta(days=9), RequestState.COMPLETED),  # closed: not counted
        ):
            branch = world.branch_b if user is MEMBER_B else world.branch_a
            township = world.township_b if user is MEMBER_B else world.township_a
            session.add(
                ServiceRequest(
                    item_id=world.items["b.hukou" if user is MEMBER_B else "a.hukou"],
                    township_id=township,
                    branch_id=branch,
                    person_id=world.person_ids[user.id],
                    kind="full",
                    state=state,
                    due_at=due,
                )
            )
        await session.commit()


async def run_status(monkeypatch, capsys, harness: BotHarness, lang: str) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    monkeypatch.setenv("ENCRYPTION_KEY", harness.settings.encryption_key.get_secret_value())
    monkeypatch.setenv("HTTP_PORT", "1")  # nothing listens there
    monkeypatch.setenv("LANG", lang)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    code = await asyncio.to_thread(cli.main, ["status", "--check"])  # the CLI runs its own event loop
    out, err = capsys.readouterr()
    return code, out, err


async def test_status_shows_each_branch_in_english_and_chinese(
    harness, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    await seed(harness)
    code, out, err = await run_status(monkeypatch, capsys, harness, "en_US.UTF-8")
    assert code == 1, err  # --check: the tick has never run, so health is degraded
    assert "Health: DEGRADED (the reminder tick has not run for more than 3 minutes)" in out
    assert "Running bot: nothing answers at 127.0.0.1:1" in out
    assert "Reminder tick: has never run" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if "流动党支部" in line}
    assert rows == {"深圳流动党支部": ["2", "3", "2"], "东莞流动党支部": ["1", "0", "0"]}
    assert "Members" in out and "Awaiting approval" in out and "Requests past deadline" in out
    for private in ("张三", "待审0", "+8613800138001"):
        assert private not in out

    code, out, _ = await run_status(monkeypatch, capsys, harness, "zh_CN.UTF-8")
    assert "健康状态：异常（提醒定时任务超过 3 分钟没有运行）" in out
    assert "待审批" in out and "逾期代办" in out


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),
    ],
)
def test_language_from_env(environ, expected) -> None:
    assert language_from_env(environ) == expected
