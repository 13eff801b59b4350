"""The notice composer on the step engine: 修改 from the preview returns to it, the audience's parameter
belongs to the audience, 取消 leaves every button of the form stale, an empty audience keeps the preview,
a draft left for weeks expires, and a secretary of several branches chooses first."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services import admin, broadcast
from storage.models import Draft, MemberState, Notice, Role
from tests.delivery.helpers import OTHER_SECRETARY, SECRETARY, add_members, make_branch, make_township
from tests.harness import BotHarness


async def _drafts(harness: BotHarness) -> list[Draft]:
    async with harness.session() as session:
        return list(await session.scalars(select(Draft).where(Draft.flow == broadcast.FLOW)))


async def _notices(harness: BotHarness) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(Notice))


async def test_changes_from_the_preview_come_back_to_it(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    qingshan = await make_township(harness, "青山镇")
    await add_members(harness, branch, [7001, 7002], township_id=qingshan)
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送通知内容"),
            ("周六开会", "发给谁"),
            (("press", "全支部"), ["预览", "全支部", "共 2 人", "周六开会"]),
            # 修改内容: the new text, and straight back to the preview, the audience kept.
            (("press", "修改内容"), "请发送通知内容"),
            ("周日开会", ["预览", "全支部", "周日开会"]),
            # 修改对象 with a parameter: the parameter is part of the audience, then the preview.
            (("press", "修改对象"), "发给谁"),
            (("press", "按乡镇"), "请选择"),
            (("press", "青山镇"), ["预览", "按乡镇 · 青山镇", "共 2 人", "周日开会"]),
            (("press", "提交"), "发送中"),
        ],
    )
    assert await _notices(harness) == 1 and await _drafts(harness) == []
    await harness.deliver()
    assert "周日开会" in harness.fake.last(7001).text


async def test_cancel_leaves_the_forms_buttons_stale(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await harness.transcript(SECRETARY, [("/notice", "请发送"), ("周六开会", "发给谁")])
    everyone = harness.fake.last(SECRETARY.id).button("全支部")
    await harness.transcript(SECRETARY, [(("press", "全支部"), "预览")])
    send = harness.fake.last(SECRETARY.id).button("提交")
    await harness.transcript(SECRETARY, [(("press", "取消"), ["已取消", "/notice"])])
    assert await _drafts(harness) == []
    calls = await harness.press(SECRETARY, everyone)
    assert "已失效" in calls[-1].text
    assert "已经处理过了" in (await harness.press(SECRETARY, send))[-1].text
    assert await _notices(harness) == 0
    # Typed text after it starts nothing.
    await harness.send(SECRETARY, "周日开会")
    assert await _drafts(harness) == [] and await _notices(harness) == 0


async def test_a_preview_nobody_would_receive_is_not_sent(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001], state=MemberState.PENDING)
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送"),
            ("周六开会", "发给谁"),
            (("press", "全支部"), ["预览", "没有人会收到"]),
            (("press", "提交"), ["没有人会收到", "预览"]),
        ],
    )
    assert await _notices(harness) == 0
    assert [d.step for d in await _drafts(harness)] == ["confirm"]  # still there, to choose again


async def test_a_button_of_an_earlier_step_is_stale_and_the_form_stays(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await harness.transcript(SECRETARY, [("/notice", "请发送"), ("周六开会", "发给谁")])
    everyone = harness.fake.last(SECRETARY.id).button("全支部")
    await harness.transcript(SECRETARY, [(("press", "全支部"), "预览")])
    calls = await harness.press(SECRETARY, everyone)
    assert "已失效" in "\n".join(c.text for c in calls) and "预览" in calls[-1].text
    assert [d.step for d in await _drafts(harness)] == ["confirm"]


async def test_a_notice_left_for_weeks_expires(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await harness.transcript(SECRETARY, [("/notice", "请发送")])
    harness.clock.advance(days=31)
    await harness.transcript(SECRETARY, [("周六开会", ["超过 30 天", "/notice"])])
    assert await _drafts(harness) == [] and await _notices(harness) == 0


async def test_a_secretary_of_two_branches_chooses_first(harness: BotHarness) -> None:
    first = await make_branch(harness)
    second = await make_branch(harness, "广州流动党支部", OTHER_SECRETARY)
    await add_members(harness, first, [7001])
    await add_members(harness, second, [7101])
    async with harness.session() as session:
        await admin.grant(session, user=SECRETARY.id, role=Role.SECRETARY, branch=str(second), township=None)
        await session.commit()
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "给哪个支部"),
            (("press", "广州流动党支部"), "请发送通知内容"),
            ("广州的通知", "发给谁"),
            (("press", "全支部"), "共 1 人"),
            (("press", "提交"), "发送中"),
        ],
    )
    await harness.deliver()
    assert "广州的通知" in harness.fake.last(7101).text
    assert all("广州的通知" not in text for text in harness.fake.texts(7001))
