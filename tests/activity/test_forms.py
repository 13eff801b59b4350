"""The activity and study forms on the step engine, as users see them: 取消 and the buttons of a closed form,
a refused typed answer said and asked again, 返回 and 修改 in the study item's form, an expired draft."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from storage.models import Draft
from storage.models.activity import ActivityEvent, ActivityPlan, ActivityRsvp, MemberReview
from storage.models.study import StudyItem
from tests import factories
from tests.activity.factory import BranchWorld, local, make_branch, set_plan
from tests.factories import TgUser
from tests.harness import BotHarness

SECRETARY = TgUser(9700, "书记")
A, B = TgUser(9701, "甲"), TgUser(9702, "乙")


@pytest.fixture
async def world(harness: BotHarness) -> BranchWorld:
    async with harness.session() as session:
        world = await make_branch(
            session, secretary=SECRETARY, members=[A, B], approved_at=datetime(2026, 1, 5, tzinfo=UTC)
        )
    await set_plan(harness, world, rule="15", time="19:00")
    return world


async def _event_id(harness: BotHarness) -> int:
    async with harness.session() as session:
        return await session.scalar(select(ActivityEvent.id).order_by(ActivityEvent.starts_at))


async def _drafts(harness: BotHarness) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(Draft))


def _labels(harness: BotHarness, user: TgUser) -> list[str]:
    return [b["text"] for row in harness.fake.last(user.id).buttons for b in row]


async def test_leave_reason_cancel_then_the_closed_form_s_buttons(
    harness: BotHarness, world: BranchWorld
) -> None:
    event_id = await _event_id(harness)
    await harness.transcript(
        A, [("/activity", "您的回复：未回复"), (("press", "请假"), "请简单说一下请假的原因")]
    )
    # One question: no 返回 button, and 返回 typed is answered without leaving the form.
    assert _labels(harness, A) == ["取消"]
    cancel = harness.fake.last(A.id).button("取消")
    await harness.transcript(A, [("返回", ["这已经是第一步了", "请简单说一下请假的原因"])])
    await harness.transcript(A, [(("press", "取消"), ["已取消", "/activity"])])
    assert await _drafts(harness) == 0
    # The same 取消 again is a double tap; the typed reason now belongs to no form.
    assert "已经处理过了" in (await harness.press(A, cancel))[-1].text
    assert "现在没有需要您填写的内容" in (await harness.send(A, "家里有事"))[-1].text
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(ActivityRsvp)) == 0
    # Started again, a photo is not a reason: said, and asked again; then the reason is recorded.
    await harness.press(A, f"act:n:{event_id}")
    calls = await harness.feed(factories.photo_update(A))
    assert "请输入文字回答" in calls[-1].text and "请简单说一下请假的原因" in calls[-1].text
    await harness.transcript(A, [("家里有事", "已请假")])
    assert await _drafts(harness) == 0


async def test_a_bad_date_or_time_is_said_and_asked_again(harness: BotHarness, world: BranchWorld) -> None:
    harness.clock.set(local(2026, 3, 13, 10, 0))
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", "下次：3月15日（周日）19:00"),
            (("press", "改期"), "请输入新的日期和时间"),
            ("3月40日", ["没看懂这个日期", "请输入新的日期和时间"]),
            ("3月18日 25:00", ["时间格式不对", "请输入新的日期和时间"]),
            ("2026-03-01 19:00", ["这个时间已经过去了", "请输入新的日期和时间"]),
        ],
    )
    assert _labels(harness, SECRETARY) == ["取消"]
    async with harness.session() as session:
        event = await session.get(ActivityEvent, await _event_id(harness))
        assert event.starts_at == local(2026, 3, 15, 19, 0)  # nothing moved by a refused answer
    await harness.transcript(SECRETARY, [("3月18日 19:30", "已改到 3月18日（周三）19:30")])
    assert await _drafts(harness) == 0


async def test_a_bad_plan_time_keeps_the_plan_and_the_question(
    harness: BotHarness, world: BranchWorld
) -> None:
    await harness.transcript(
        SECRETARY,
        [
            (("press", "时间"), "请输入开始时间"),
            ("19:75", ["时间格式不对", "请输入开始时间"]),
            ("取消", ["已取消", "/activity"]),
            ("20:00", "现在没有需要您填写的内容"),
        ],
    )
    async with harness.session() as session:
        plan = await session.scalar(select(ActivityPlan))
        assert plan.start_time.strftime("%H:%M") == "19:00"


async def test_an_expired_plan_question_is_dropped_with_one_message(
    harness: BotHarness, world: BranchWorld
) -> None:
    await harness.press(SECRETARY, f"act:e:{world.branch_id}:place")
    harness.clock.advance(days=31)
    calls = await harness.send(SECRETARY, "社区党群服务中心")
    assert "已超过 30 天" in calls[-1].text and "/activity" in calls[-1].text
    async with harness.session() as session:
        assert (await session.scalar(select(ActivityPlan))).place is None
    assert await _drafts(harness) == 0


async def test_details_cancel_says_how_to_start_again(harness: BotHarness, world: BranchWorld) -> None:
    harness.clock.set(local(2027, 1, 6, 10, 0))
    await harness.press(A, "life:chg:0")
    assert _labels(harness, A) == ["取消"]
    await harness.transcript(A, [("取消", ["已取消", "「有变化」"])])
    assert "按钮已失效" in (await harness.press(A, "life:chb:changes"))[-1].text  # no form open
    await harness.press(A, "life:chg:0")
    await harness.transcript(A, [("   ", "请简要写下变化"), ("换了手机号", "已转告支部书记")])
    async with harness.session() as session:
        assert (await session.get(MemberReview, world.member_ids[A.id])).changes == "换了手机号"


async def test_publishing_back_edit_cancel_and_stale(harness: BotHarness, world: BranchWorld) -> None:
    await harness.transcript(
        SECRETARY,
        [
            ("/study", "学习打卡"),
            (("press", "发布学习"), "请发送学习内容"),
            ("学习党章第九条", "学习期几天"),
        ],
    )
    assert _labels(harness, SECRETARY) == ["3天", "7天", "30天", "返回", "取消"]
    seven = harness.fake.last(SECRETARY.id).button("7天")
    await harness.transcript(
        SECRETARY,
        [
            (("press", "返回"), "请发送学习内容"),  # 返回: the previous question
            ("学习党章第十条", "学习期几天"),
            (("press", "7天"), ["预览（7天）", "学习党章第十条"]),
        ],
    )
    assert _labels(harness, SECRETARY) == ["发布", "修改内容", "修改学习期", "返回", "取消"]
    publish = harness.fake.last(SECRETARY.id).button("发布")
    await harness.transcript(
        SECRETARY,
        [
            (("press", "修改学习期"), "学习期几天"),
            ("100", ["天数不在允许的范围内", "学习期几天"]),
            ("30", "预览（30天）"),  # a changed answer leads back to the preview
        ],
    )
    # 7天 of an earlier screen, pressed at the preview: stale, said, and the preview is shown again.
    calls = await harness.press(SECRETARY, seven)
    texts = [c.text for c in calls]
    assert "这个按钮已失效。" in texts and any("预览（30天）" in t for t in texts)
    await harness.transcript(SECRETARY, [(("press", "返回"), "学习期几天")])
    await harness.transcript(SECRETARY, [(("press", "取消"), ["已取消", "/study"])])
    # After 取消: 发布 finds nothing to publish, an answer's button is stale.
    assert "已经处理过了" in (await harness.press(SECRETARY, publish))[-1].text
    assert "按钮已失效" in (await harness.press(SECRETARY, seven))[-1].text
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(StudyItem)) == 0
    assert await _drafts(harness) == 0


async def test_back_from_the_first_question_of_publishing(harness: BotHarness, world: BranchWorld) -> None:
    # 返回 from the first question: back to the counts the form was opened from.
    await harness.transcript(
        SECRETARY,
        [
            ("/study", "学习打卡"),
            (("press", "发布学习"), "请发送学习内容"),
            (("press", "返回"), "目前没有进行中的学习"),
        ],
    )
    assert await _drafts(harness) == 0


async def test_a_reflection_cancelled_can_be_written_from_the_check_in(
    harness: BotHarness, world: BranchWorld
) -> None:
    await harness.press(SECRETARY, f"stu:p:{world.branch_id}")
    await harness.send(SECRETARY, "学习一篇文章")
    await harness.press(SECRETARY, "stu:d:7")
    await harness.press(SECRETARY, "stu:go")
    async with harness.session() as session:
        item_id = await session.scalar(select(StudyItem.id))
    await harness.press(A, f"stu:k:{item_id}")
    await harness.transcript(
        A,
        [
            (("press", "写心得"), "请写下您的心得"),
            (("press", "取消"), ["已取消", "「写心得」"]),
        ],
    )
    # The check-in's message (with 写心得) stayed: the reflection starts again from it.
    checked_in = [c for c in harness.fake.sent(A.id) if "打卡成功" in c.text][-1]
    await harness.press(A, checked_in.button("写心得"))
    await harness.transcript(A, [("x" * 301, ["内容太长了", "请写下您的心得"]), ("很有收获", "心得已保存")])
