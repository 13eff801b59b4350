"""The steps around the happy path: missing materials, a refusal that must carry its reason, withdrawing,
and materials that survive a restart of the bot."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.services import relay
from bot.services.identity import load_actor
from bot.services.relay import Part, RelayError
from storage.models import OutboxMessage, Person, RequestAttachment, RequestState
from tests import factories
from tests.factories import telegram_user
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, SECRETARY_A, make_world
from tests.relay.helpers import audit_entries, button, event_keys, request_row, tap, texts


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


async def _submit(harness: BotHarness, item: str = "户口迁移", material: str = "身份证号在附件") -> None:
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇"),
            (("press", item), "提交"),
            (material, "共 1 件"),
            (("press", "提交"), "已提交"),
        ],
    )
    await harness.deliver()


async def test_missing_materials_go_back_and_forth(harness: BotHarness) -> None:
    await _world(harness)
    await _submit(harness)
    assert "缺哪些材料" in texts(await tap(harness, AGENT_A, "补材料"))
    await harness.transcript(AGENT_A, [("户口本首页\n2. 本人页、迁移证明", "补办材料清单发给申请人")])
    notice = texts(await harness.deliver(), MEMBER_A)
    assert "补办材料清单" in notice
    assert "1. 户口本首页" in notice and "2. 本人页" in notice and "3. 迁移证明" in notice
    assert (await request_row(harness, 1)).state == RequestState.MISSING
    await harness.transcript(SECRETARY_A, [("/branchrequests", "待补材料")])

    # The member taps 补材料 under the list, sends two photos and submits them.
    await harness.transcript(MEMBER_A, [(("press", "补材料"), ["#1", "户口本首页", "提交"])])
    await harness.feed(factories.photo_update(MEMBER_A, "photo-hukou-1"))
    await harness.feed(factories.photo_update(MEMBER_A, "photo-move"))
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已把 2 件材料补充到 #1")])

    calls = await harness.deliver()
    to_agent = [c for c in calls if c.chat_id == AGENT_A.id]
    assert "已补交材料 2 件" in to_agent[0].text and "请重新受理" in to_agent[0].text
    assert [c.params.get("photo") for c in to_agent[1:]] == ["photo-hukou-1", "photo-move"]
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED
    assert (await request_row(harness, 1)).round == 2

    # Now complete: the receipt counts every material received.
    await tap(harness, AGENT_A, "受理")
    assert "收到材料：3 件" in texts(await harness.deliver(), MEMBER_A)
    assert await event_keys(harness, 1) == ["submit", "missing:1", "resubmit:2", "accept"]


async def test_a_refusal_without_a_reason_is_impossible(harness: BotHarness) -> None:
    await _world(harness)
    await _submit(harness)
    # In the service: no reason, or only blanks, is refused and nothing changes.
    async with harness.session() as session:
        person = await session.scalar(select(Person).where(telegram_user(AGENT_A.id)))
        agent = await load_actor(session, person)
        for reason in (None, "", "   \n "):
            with pytest.raises(RelayError) as caught:
                await relay.refuse(session, agent, 1, reason, harness.clock.now())
            assert caught.value.code == "reason_empty"
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED

    # In the chat: the agent is asked for the reason, and a photo instead of it is refused.
    assert "理由（必填）" in texts(await tap(harness, AGENT_A, "不予办理"))
    calls = await harness.feed(factories.photo_update(AGENT_A, "photo-x"))
    assert "必须写明理由" in texts(calls)
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED
    await harness.transcript(AGENT_A, [("本镇不办理跨省迁移，请到县公安局户籍科。", "理由已发给申请人")])
    told = texts(await harness.deliver(), MEMBER_A)
    assert "不予办理" in told and "请到县公安局户籍科" in told
    row = await request_row(harness, 1)
    assert row.state == RequestState.REFUSED and row.reason.startswith("本镇不办理")
    assert [a for a, r, _ in await audit_entries(harness) if a == "relay.refuse"] == ["relay.refuse"]


async def test_the_member_withdraws_and_the_agent_is_told(harness: BotHarness) -> None:
    await _world(harness)
    await _submit(harness)
    await harness.transcript(
        MEMBER_A,
        [
            ("/requests", "#1 户口迁移 — 待受理"),
            (("press", "#1"), ["待受理", "提交申请"]),
            (("press", "撤回"), "确定撤回 #1"),
            (("press", "不撤回"), "没有撤回"),
        ],
    )
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED
    confirm = button(harness, MEMBER_A, "撤回")  # the confirmation's own button
    assert confirm == "rl:wdy:1"
    assert "已撤回 #1" in texts(await harness.press(MEMBER_A, confirm))
    assert "已经处理过了" in texts(await harness.press(MEMBER_A, confirm))
    assert "已被申请人撤回" in texts(await harness.deliver(), AGENT_A)
    # The agent's old buttons are stale now.
    assert "已失效" in texts(await tap(harness, AGENT_A, "受理"))
    assert (await request_row(harness, 1)).state == RequestState.WITHDRAWN


async def test_materials_survive_a_restart(harness: BotHarness) -> None:
    """Half a form before the restart, the rest after: every file reaches the agent, and the agent can
    still see the materials again after another restart. The project keeps the files (``material:<id>``);
    Telegram's file ids are the cache they are sent by."""
    await _world(harness)
    await harness.transcript(MEMBER_A, [("/services", "青山镇"), (("press", "户口迁移"), "提交")])
    await harness.feed(factories.photo_update(MEMBER_A, "AgACAgIAAx-photo-before"))
    harness = await harness.restart()
    await harness.feed(factories.document_update(MEMBER_A, "BQACAgIAAx-doc-after", "迁移证明.pdf"))
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #1")])
    async with harness.session() as session:
        files = list(await session.scalars(select(RequestAttachment.file_id).order_by(RequestAttachment.id)))
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == AGENT_A.id)))
    assert files == ["material:1", "material:2"]
    media = [
        (r.payload.get("media_kind"), r.payload.get("media_ref")) for r in rows if r.payload.get("media_kind")
    ]
    assert media == [("photo", "material:1"), ("document", "material:2")]

    harness = await harness.restart()
    calls = await harness.deliver()
    sent = [
        (c.method, c.params.get("photo") or c.params.get("document"))
        for c in calls
        if c.chat_id == AGENT_A.id
    ]
    assert ("sendPhoto", "AgACAgIAAx-photo-before") in sent and (
        "sendDocument",
        "BQACAgIAAx-doc-after",
    ) in sent

    harness = await harness.restart()
    calls = [c for c in await harness.press(AGENT_A, "rl:view:1") if c.method != "answerCallbackQuery"]
    assert [c.method for c in calls] == ["sendMessage", "sendPhoto", "sendDocument"]
    assert "张三" in calls[0].text and calls[1].params["photo"] == "AgACAgIAAx-photo-before"
    # The secretary sees the request, never the files.
    seen = await harness.send(SECRETARY_A, "/branchrequests")
    assert all(c.method == "sendMessage" for c in seen) and "迁移证明" not in texts(seen)
    await harness.stop()


async def test_an_empty_or_odd_form_is_answered_clearly(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(
        MEMBER_A,
        [
            ("/services", "青山镇"),
            (("press", "户口迁移"), "提交"),
            (("press", "提交"), "还没有收到材料"),
            ("x" * 1200, "1000 字以内"),
        ],
    )
    calls = await harness.share_contact(MEMBER_A, "+8613800138001", MEMBER_A.id)
    assert "请发送文字、照片或文件" in texts(calls)
    for n in range(relay.MAX_PARTS):
        await harness.send(MEMBER_A, f"材料{n}")
    assert "一次最多 10 件" in texts(await harness.send(MEMBER_A, "再多一件"))
    await harness.transcript(MEMBER_A, [(("press", "取消"), "已取消")])
    assert "已经处理过了" in texts(await harness.press(MEMBER_A, "rl:sub"))
    async with harness.session() as session:
        assert await session.scalar(select(RequestAttachment.id)) is None


async def test_only_members_use_services(harness: BotHarness) -> None:
    await _world(harness)
    outsider = factories.TgUser(7999, "路人")
    await harness.transcript(outsider, [("/services", "/apply"), ("/requests", "还没有办事申请")])
    calls = await harness.press(outsider, "rl:item:1")
    assert "已报到的党员" in texts(calls)
    assert "没有权限" in texts(await harness.send(outsider, "/inbox"))


async def test_a_member_without_a_home_township_is_told(harness: BotHarness) -> None:
    from tests.relay.factory import add_member

    world = await _world(harness)
    user = factories.TgUser(7150, "赵")
    async with harness.session() as session:
        await add_member(
            session,
            user,
            branch_id=world.branch_a,
            township_id=None,
            name="赵六",
            phone="+8613800138009",
            at=harness.clock.now(),
        )
        await session.commit()
    assert "没有家乡乡镇" in texts(await harness.send(user, "/services"))


async def test_parts_are_kept_as_sent() -> None:
    assert Part.typed("  一行\n\n\n两行 ").text == "一行\n\n两行"
    with pytest.raises(RelayError) as caught:
        Part.typed("   ")
    assert caught.value.code == "text_empty"
