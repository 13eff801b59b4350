"""Who may see and do what: an agent of township A can neither see nor act on township B's requests
(forged callbacks included), a member only on their own, a secretary only sees their branch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import AuditEntry, RequestState, ServiceItem
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.relay.factory import (
    AGENT_A,
    AGENT_B,
    MEMBER_A,
    MEMBER_A2,
    MEMBER_B,
    OUTSIDER,
    SECRETARY_A,
    SECRETARY_B,
    make_world,
)
from tests.relay.helpers import event_keys, request_row, texts

AGENT_ACTIONS = ("view", "acc", "miss", "done", "ref", "ans", "fwd")
MEMBER_ACTIONS = ("my", "add", "wdy")
NOT_THE_AGENT = (AGENT_B, MEMBER_A, MEMBER_B, SECRETARY_A, SECRETARY_B, OUTSIDER)
NOT_THE_OWNER = (MEMBER_A2, MEMBER_B, AGENT_A, AGENT_B, SECRETARY_A, OUTSIDER)


async def _township_a_request(harness: BotHarness) -> int:
    async with harness.session() as session:
        await make_world(session, harness.clock.now())
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇"),
            (("press", "户口迁移"), "提交"),
            ("请代办户口迁移", "共 1 件"),
            (("press", "提交"), "已提交 #1"),
        ],
    )
    await harness.deliver()
    return 1


async def _denials(harness: BotHarness) -> int:
    async with harness.session() as session:
        return await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.result == "denied")
        )


@pytest.mark.parametrize("user", NOT_THE_AGENT, ids=lambda u: u.first_name)
async def test_only_the_townships_agent_acts_on_its_requests(harness: BotHarness, user: TgUser) -> None:
    request_id = await _township_a_request(harness)
    for action in AGENT_ACTIONS:
        before = await _denials(harness)
        calls = await harness.press(user, f"rl:{action}:{request_id}")
        assert "您没有权限进行此操作" in texts(calls), action
        assert "请代办户口迁移" not in texts(calls) and "+86138" not in texts(calls)
        assert "138 0013" not in texts(calls)
        assert await _denials(harness) == before + 1, action
    row = await request_row(harness, request_id)
    assert row.state == RequestState.SUBMITTED and row.receipt_no is None
    assert await event_keys(harness, request_id) == ["submit"]


@pytest.mark.parametrize("user", NOT_THE_OWNER, ids=lambda u: u.first_name)
async def test_only_the_member_sees_and_changes_their_request(harness: BotHarness, user: TgUser) -> None:
    request_id = await _township_a_request(harness)
    for action in MEMBER_ACTIONS:
        calls = await harness.press(user, f"rl:{action}:{request_id}")
        assert "您没有权限进行此操作" in texts(calls), action
    assert "#1" not in texts(await harness.send(user, "/requests"))
    assert (await request_row(harness, request_id)).state == RequestState.SUBMITTED


async def test_lists_are_scoped(harness: BotHarness) -> None:
    await _township_a_request(harness)
    assert "#1" in texts(await harness.send(AGENT_A, "/inbox"))
    assert "没有待办" in texts(await harness.send(AGENT_B, "/inbox"))
    assert "#1 张三" in texts(await harness.send(SECRETARY_A, "/branchrequests"))
    assert "#1" not in texts(await harness.send(SECRETARY_B, "/branchrequests"))
    for user in (MEMBER_A, OUTSIDER):
        assert "没有权限" in texts(await harness.send(user, "/inbox"))
        assert "没有权限" in texts(await harness.send(user, "/branchrequests"))
    # The other township's agent never got the notice either.
    assert all("#1" not in text for text in harness.fake.texts(AGENT_B.id))


async def test_catalogues_are_scoped(harness: BotHarness) -> None:
    await _township_a_request(harness)
    async with harness.session() as session:
        a_item = await session.scalar(select(ServiceItem).where(ServiceItem.name == "在外务工证明"))
        township_a = a_item.township_id
    before = await _denials(harness)
    assert "没有权限" in texts(await harness.press(AGENT_B, f"rl:cat:off:{a_item.id}"))
    assert "没有权限" in texts(await harness.press(AGENT_B, f"rl:cat:new:{township_a}"))
    assert "没有权限" in texts(await harness.press(MEMBER_B, f"rl:item:{a_item.id}"))
    assert await _denials(harness) == before + 3
    async with harness.session() as session:
        assert (await session.get(ServiceItem, a_item.id)).active is True
    shown = texts(await harness.send(AGENT_B, "/catalogue"))
    assert "绿水镇" in shown and "青山镇" not in shown and "在外务工证明" not in shown


@pytest.mark.parametrize(
    "data", ["rl:acc:999", "rl:acc:x", "rl:acc:1:2", "rl:zzz:1", "rl:", "rl:view:99999999999999"]
)
async def test_malformed_or_unknown_data_is_answered(harness: BotHarness, data: str) -> None:
    await _township_a_request(harness)
    calls = await harness.press(AGENT_A, data)
    assert "已失效" in texts(calls) or "没有权限" in texts(calls)
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED
