"""The agent's forms on the step engine: the new catalogue item (返回, 修改 from the check, a bad promised
deadline asked again, 取消 and the stale buttons after it, an expired draft) and the step forms (missing,
complete, refuse, answer): 取消, a request that moved on meanwhile, and township isolation of both."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services import drafts, relay
from storage.models import Draft, Person, RequestState, ServiceItem
from tests.factories import telegram_user
from tests.harness import BotHarness
from tests.relay.factory import AGENT_A, AGENT_B, MEMBER_A, make_world
from tests.relay.helpers import button, request_row, tap, texts


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


async def _drafts(harness: BotHarness, flow: str) -> list[Draft]:
    async with harness.session() as session:
        return list(await session.scalars(select(Draft).where(Draft.flow == flow)))


async def _items(harness: BotHarness, name: str) -> int:
    async with harness.session() as session:
        return await session.scalar(
            select(func.count()).select_from(ServiceItem).where(ServiceItem.name == name)
        )


async def _request(harness: BotHarness) -> None:
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


async def test_a_new_item_is_checked_and_changed_before_it_is_added(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(
        AGENT_A,
        [
            ("/catalogue", "青山镇办事目录"),
            (("press", "新增"), "新事项的名称"),
            ("返回", "这已经是第一步了"),
            ("社保转移", "全程代理，还是咨询服务"),
            (("press", "返回"), "新事项的名称"),  # back, and the answer is asked again
            ("社保关系转移", "全程代理，还是咨询服务"),
            (("press", "咨询服务"), "需要哪些材料"),
            ("社保卡、身份证", "承诺几天"),
            # A bad promised deadline: the reason, and the same question again.
            ("两个星期", ["0 到 365", "承诺几天"]),
            ("400", ["0 到 365", "承诺几天"]),
            ("14", ["请核对新事项", "社保关系转移", "咨询服务", "社保卡、身份证", "14 天"]),
            # 修改 from the check returns to the check, the other answers kept.
            (("press", "修改天数"), "承诺几天"),
            ("一周", ["0 到 365", "承诺几天"]),
            ("7", ["请核对新事项", "社保关系转移", "社保卡、身份证", "7 天"]),
            (("press", "修改类型"), "全程代理，还是咨询服务"),
            (("press", "全程代理"), ["请核对新事项", "全程代理", "社保卡、身份证", "7 天"]),
            (("press", "修改材料"), "需要哪些材料"),
            (("press", "不需要"), ["请核对新事项", "无需材料", "7 天"]),
        ],
    )
    assert await _items(harness, "社保关系转移") == 0  # nothing is added before 提交
    await harness.transcript(AGENT_A, [(("press", "提交"), ["已添加「社保关系转移」", "7 天"])])
    async with harness.session() as session:
        item = await session.scalar(select(ServiceItem).where(ServiceItem.name == "社保关系转移"))
    assert (item.kind, item.materials, item.promised_days) == ("full", [], 7)
    assert await _drafts(harness, relay.FLOW_CATALOGUE) == []
    # A second tap of 提交 adds nothing.
    assert "已经处理过了" in texts(await harness.press(AGENT_A, button(harness, AGENT_A, "提交")))
    assert await _items(harness, "社保关系转移") == 1


async def test_a_cancelled_item_form_leaves_its_buttons_stale(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(
        AGENT_A,
        [
            ("/catalogue", "青山镇办事目录"),
            (("press", "新增"), "新事项的名称"),
            ("低保申请", "全程代理，还是咨询服务"),
        ],
    )
    kind = button(harness, AGENT_A, "全程代理")
    await harness.transcript(AGENT_A, [(("press", "取消"), ["已取消", "/catalogue"])])
    assert await _drafts(harness, relay.FLOW_CATALOGUE) == []
    assert "已失效" in texts(await harness.press(AGENT_A, kind))
    assert "已经处理过了" in texts(await harness.press(AGENT_A, button(harness, AGENT_A, "取消")))
    # Typed text after it is no item's name.
    assert "低保申请" not in texts(await harness.send(AGENT_A, "低保申请"))
    assert await _drafts(harness, relay.FLOW_CATALOGUE) == []
    assert await _items(harness, "低保申请") == 0


async def test_a_button_of_another_step_is_stale_and_the_form_stays(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(
        AGENT_A,
        [("/catalogue", "青山镇"), (("press", "新增"), "名称"), ("低保申请", "全程代理")],
    )
    kind = button(harness, AGENT_A, "全程代理")
    await harness.transcript(AGENT_A, [(("press", "全程代理"), "需要哪些材料")])
    calls = await harness.press(AGENT_A, kind)  # the kind again, from the screen before
    assert "已失效" in texts(calls) and "需要哪些材料" in texts(calls)
    assert [d.step for d in await _drafts(harness, relay.FLOW_CATALOGUE)] == ["materials"]


async def test_an_item_form_left_for_weeks_expires(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(AGENT_A, [("/catalogue", "青山镇"), (("press", "新增"), "名称")])
    harness.clock.advance(days=31)
    await harness.transcript(AGENT_A, [("低保申请", ["超过 30 天", "/catalogue"])])
    assert await _drafts(harness, relay.FLOW_CATALOGUE) == []


async def test_the_item_form_adds_only_to_the_agents_own_township(harness: BotHarness) -> None:
    world = await _world(harness)
    # Another township's agent cannot open it, nor press its buttons without one open.
    assert "没有权限" in texts(await harness.press(AGENT_B, f"rl:cat:new:{world.township_a}"))
    for data in ("rl:ck:full", "rl:cn:none", "rl:cb:kind", "rl:ce:name"):
        assert "已失效" in texts(await harness.press(AGENT_B, data)), data
    assert "已经处理过了" in texts(await harness.press(AGENT_B, "rl:cs"))
    assert await _drafts(harness, relay.FLOW_CATALOGUE) == []
    # A form whose township is not the agent's (the agent's role moved meanwhile) adds nothing.
    await harness.transcript(
        AGENT_B,
        [
            ("/catalogue", "绿水镇"),
            (("press", "新增"), "名称"),
            ("低保申请", "全程代理"),
            (("press", "咨询服务"), "材料"),
            (("press", "不需要"), "几天"),
            ("0", "请核对"),
        ],
    )
    async with harness.session() as session:
        draft = await session.scalar(select(Draft).where(Draft.flow == relay.FLOW_CATALOGUE))
        draft.data = {**draft.data, "township_id": world.township_a}
        await session.commit()
    await harness.transcript(AGENT_B, [(("press", "提交"), "没有权限")])
    assert await _items(harness, "低保申请") == 0
    assert await _drafts(harness, relay.FLOW_CATALOGUE) == []


async def test_the_agents_step_form_cancelled_sends_nothing(harness: BotHarness) -> None:
    await _world(harness)
    await _request(harness)
    assert "缺哪些材料" in texts(await tap(harness, AGENT_A, "补材料"))
    cancel = button(harness, AGENT_A, "取消")
    await harness.transcript(AGENT_A, [(("press", "取消"), ["已取消", "/inbox"])])
    assert "已经处理过了" in texts(await harness.press(AGENT_A, cancel))
    await harness.send(AGENT_A, "户口本首页")  # no form open: not a missing list
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED
    assert not [c for c in await harness.deliver() if c.chat_id == MEMBER_A.id]
    # Typed 取消 closes it as well.
    assert "不予办理" in texts(await tap(harness, AGENT_A, "不予办理"))
    await harness.transcript(AGENT_A, [("取消", "已取消")])
    assert await _drafts(harness, relay.FLOW_AGENT) == []
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED


async def test_a_bad_answer_is_asked_again_and_a_request_that_moved_on_ends_the_form(
    harness: BotHarness,
) -> None:
    await _world(harness)
    await _request(harness)
    await tap(harness, AGENT_A, "补材料")
    # An empty list: why, and the same question again.
    await harness.transcript(AGENT_A, [("、，", ["缺哪些材料"])])
    assert [d.step for d in await _drafts(harness, relay.FLOW_AGENT)] == ["missing"]
    # The member withdraws meanwhile: the agent's list ends the form, and nothing is sent.
    await harness.press(MEMBER_A, "rl:wdy:1")
    await harness.deliver()
    calls = await harness.send(AGENT_A, "户口本首页")
    assert "补办材料清单" not in texts(calls)
    assert await _drafts(harness, relay.FLOW_AGENT) == []
    row = await request_row(harness, 1)
    assert row.state == RequestState.WITHDRAWN and row.missing is None


async def test_another_townships_agent_cannot_use_the_step_form(harness: BotHarness) -> None:
    await _world(harness)
    await _request(harness)
    assert "没有权限" in texts(await harness.press(AGENT_B, "rl:miss:1"))
    assert await _drafts(harness, relay.FLOW_AGENT) == []
    assert "已失效" in texts(await harness.press(AGENT_B, "rl:ab:missing"))
    assert "已经处理过了" in texts(await harness.press(AGENT_B, "rl:ax"))
    # A draft pointing at township A's request (forged into B's form) is refused by the service.
    async with harness.session() as session:
        person = await session.scalar(select(Person).where(telegram_user(AGENT_B.id)))
        await drafts.save_draft(
            session, person.id, relay.FLOW_AGENT, "refuse", {"request_id": 1}, now=harness.clock.now()
        )
        await session.commit()
    calls = await harness.send(AGENT_B, "不办")
    assert "没有权限" in texts(calls) and "请代办户口迁移" not in texts(calls)
    assert await _drafts(harness, relay.FLOW_AGENT) == []
    assert (await request_row(harness, 1)).state == RequestState.SUBMITTED
