"""The activity day through the real Application: the plan, reminders, RSVP, sign-in, roster, move, cancel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.services import activity
from bot.services.activity import plan_events
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityPlan,
    ActivityRsvp,
    OrgLifeExcuse,
)
from storage.models.scheduling import ReminderOccurrence
from tests.activity.factory import (
    BranchWorld,
    audit_denials,
    local,
    make_branch,
    set_plan,
    texts_to,
    tick_at,
)
from tests.factories import TgUser
from tests.harness import BotHarness

SECRETARY = TgUser(6000, "书记")
A, B, C = TgUser(6001, "甲"), TgUser(6002, "乙"), TgUser(6003, "丙")
OTHER_SECRETARY, OTHER_MEMBER = TgUser(6100, "另书记"), TgUser(6101, "外")


@pytest.fixture
async def world(harness: BotHarness) -> BranchWorld:
    async with harness.session() as session:
        return await make_branch(
            session, secretary=SECRETARY, members=[A, B, C], approved_at=datetime(2026, 1, 5, tzinfo=UTC)
        )


@pytest.fixture
async def other(harness: BotHarness, world: BranchWorld) -> BranchWorld:
    async with harness.session() as session:
        return await make_branch(
            session,
            name="北京流动党支部",
            secretary=OTHER_SECRETARY,
            members=[OTHER_MEMBER],
            approved_at=datetime(2026, 1, 5, tzinfo=UTC),
        )


async def _event(harness: BotHarness, world: BranchWorld, year: int, month: int) -> ActivityEvent:
    async with harness.session() as session:
        event = await session.scalar(
            select(ActivityEvent).where(
                ActivityEvent.branch_id == world.branch_id,
                ActivityEvent.month_key == activity.month_key(year, month),
            )
        )
        assert event is not None
        return event


async def _count(harness: BotHarness, model, *where) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


# -- the plan --------------------------------------------------------------------------------------


async def test_secretary_sets_the_rule_time_place_and_programme(
    harness: BotHarness, world: BranchWorld
) -> None:
    # The fixture clock: Monday 2 March 2026, 09:00 in Shanghai.
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", ["上海流动党支部 · 党员活动日", "规则：未设定", "下次：还没有安排"]),
            (("press", "规则"), "请输入活动日规则"),
            ("第五个周五", ["没看懂这个规则", "请输入活动日规则"]),
            ("每月１５日", ["已保存", "每月15日（小月取最后一天） 09:00", "下次：3月15日（周日）09:00"]),
            (("press", "时间"), "请输入开始时间"),
            ("25:00", ["时间格式不对", "请输入开始时间"]),
            ("19：30", ["已保存", "下次：3月15日（周日）19:30"]),
            (("press", "地点"), "请输入地点"),
            ("社区党群服务中心", "地点：社区党群服务中心"),
            (("press", "内容"), "每行一条"),
            ("学党章\n讲党课\n做好事", "内容：学党章、讲党课、做好事"),
            (("press", "提醒"), "提前几天提醒"),
            ("3,1,0 07:30", "提醒：提前3天、提前1天、当天，07:30"),
            (("press", "规则"), "请输入活动日规则"),
            ("最后一个周六", ["每月最后一个周六", "下次：3月28日（周六）19:30"]),
        ],
    )
    async with harness.session() as session:
        plan = await session.scalar(select(ActivityPlan).where(ActivityPlan.branch_id == world.branch_id))
        assert (plan.rule_day, plan.rule_nth, plan.rule_weekday) == (None, -1, 5)
        assert plan.lead_days == [3, 1, 0] and plan.programme == ["学党章", "讲党课", "做好事"]


async def test_a_member_cannot_edit_the_plan(harness: BotHarness, world: BranchWorld) -> None:
    calls = await harness.press(A, f"act:e:{world.branch_id}:rule")
    assert "您没有权限" in calls[-1].text
    assert await audit_denials(harness, "activity.plan.update") == 1
    assert await _count(harness, ActivityPlan) == 0


async def test_day_31_in_february_is_clamped_to_the_last_day(harness: BotHarness, world: BranchWorld) -> None:
    harness.clock.set(local(2026, 1, 20, 10, 0))
    await set_plan(harness, world, rule="31", time="19:00")
    assert (await _event(harness, world, 2026, 1)).starts_at == local(2026, 1, 31, 19, 0)
    await tick_at(harness, local(2026, 2, 1, 10, 0))  # the planner adds next month in February
    await tick_at(harness, local(2026, 3, 1, 10, 0))
    assert (await _event(harness, world, 2026, 2)).starts_at == local(2026, 2, 28, 19, 0)
    assert (await _event(harness, world, 2026, 3)).starts_at == local(2026, 3, 31, 19, 0)
    assert (await _event(harness, world, 2026, 4)).starts_at == local(2026, 4, 30, 19, 0)
    async with harness.session() as session:
        # A leap year's February ends on the 29th.
        harness.clock.set(local(2028, 1, 20, 10, 0))
        await plan_events(session, harness.clock.now())
        await session.commit()
    assert (await _event(harness, world, 2028, 2)).starts_at == local(2028, 2, 29, 19, 0)


async def test_a_rule_set_after_this_months_day_starts_next_month(
    harness: BotHarness, world: BranchWorld
) -> None:
    harness.clock.set(local(2026, 3, 20, 10, 0))
    await set_plan(harness, world, rule="15")
    async with harness.session() as session:
        keys = list(await session.scalars(select(ActivityEvent.month_key)))
    assert keys == [activity.month_key(2026, 4)]


# -- reminders, RSVP and sign-in -------------------------------------------------------------------


async def test_reminders_rsvp_and_sign_in(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, rule="15", time="19:00", place="社区党群服务中心")
    event = await _event(harness, world, 2026, 3)
    assert await tick_at(harness, local(2026, 3, 12, 7, 59)) == []
    calls = await tick_at(harness, local(2026, 3, 12, 8, 0))
    for user in (A, B, C):
        [text] = texts_to(calls, user)
        assert text.startswith("【党员活动日提醒】")
        assert "时间：3月15日（周日）19:00" in text and "地点：社区党群服务中心" in text
    assert texts_to(calls, SECRETARY) == []
    await harness.transcript(A, [(("press", "参加"), "已记下您参加 3月15日（周日）19:00 的活动")])
    # A double tap: a second update with the same button.
    again = await harness.press(A, f"act:y:{event.id}")
    assert "您已经报过名了" in again[-1].text
    await harness.transcript(
        B,
        [
            (("press", "请假"), "请简单说一下请假的原因"),
            ("   ", "请简单说一下请假的原因"),
            ("出差去外地", "已请假"),
        ],
    )
    assert "您已经请过假了" in (await harness.press(B, f"act:n:{event.id}"))[-1].text
    async with harness.session() as session:
        rsvps = {r.member_id: (r.answer, r.reason) for r in await session.scalars(select(ActivityRsvp))}
    assert rsvps == {
        world.member_ids[A.id]: ("attend", None),
        world.member_ids[B.id]: ("leave", "出差去外地"),
    }
    # The day itself: only C, who has not answered, is reminded again.
    calls = await tick_at(harness, local(2026, 3, 15, 8, 0))
    assert [len(texts_to(calls, u)) for u in (A, B, C)] == [0, 0, 1]
    # Sign-in opens an hour before the start: not for B, who asked for leave.
    early = await harness.press(A, f"act:s:{event.id}")
    assert "签到还没开始，3月15日（周日）18:00 起可以签到" in early[-1].text
    calls = await tick_at(harness, local(2026, 3, 15, 18, 0))
    assert [len(texts_to(calls, u)) for u in (A, B, C)] == [1, 0, 1]
    assert "现在可以签到了" in texts_to(calls, A)[0]
    await harness.transcript(A, [(("press", "签到"), "签到成功")])
    assert "您已经签到了" in (await harness.press(A, f"act:s:{event.id}"))[-1].text
    # After the event's day no more sign-in.
    harness.clock.set(local(2026, 3, 16, 0, 0))
    assert "签到已经结束" in (await harness.press(C, f"act:s:{event.id}"))[-1].text
    assert await _count(harness, ActivityAttendance) == 1
    # Nothing falls due twice.
    assert await tick_at(harness, local(2026, 3, 16, 9, 0)) == []


async def test_rsvp_can_change_and_is_closed_once_started(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event = await _event(harness, world, 2026, 3)
    await harness.press(A, f"act:n:{event.id}")
    await harness.send(A, "加班")
    calls = await harness.press(A, f"act:y:{event.id}")
    assert "已改为参加" in calls[-1].text
    harness.clock.set(local(2026, 3, 15, 19, 0))
    assert "按钮已失效" in (await harness.press(B, f"act:y:{event.id}"))[-1].text


async def test_bot_down_across_the_reminder_sends_exactly_one(
    harness: BotHarness, world: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00", leads="3,0 09:00")
    await tick_at(harness, local(2026, 3, 12, 8, 55))
    harness.clock.set(local(2026, 3, 12, 11, 30))  # down from 08:55 until 11:30
    restarted = await harness.restart()
    try:
        calls = await tick_at(restarted, local(2026, 3, 12, 11, 30))
        assert [len(texts_to(calls, u)) for u in (A, B, C)] == [1, 1, 1]
        calls = await tick_at(restarted, local(2026, 3, 12, 11, 31))
        assert calls == []
    finally:
        await restarted.stop()
        await harness.start()


async def test_a_branch_in_another_time_zone(harness: BotHarness) -> None:
    urumqi = __import__("zoneinfo").ZoneInfo("Asia/Urumqi")  # UTC+6, no DST
    async with harness.session() as session:
        world = await make_branch(
            session,
            secretary=SECRETARY,
            members=[A],
            approved_at=datetime(2026, 1, 5, tzinfo=UTC),
            timezone="Asia/Urumqi",
        )
    await set_plan(harness, world, rule="15", time="19:00")
    event = await _event(harness, world, 2026, 3)
    assert event.starts_at == datetime(2026, 3, 15, 13, 0, tzinfo=UTC)
    assert await tick_at(harness, local(2026, 3, 12, 7, 59, tz=urumqi)) == []
    calls = await tick_at(harness, local(2026, 3, 12, 8, 0, tz=urumqi))
    assert "3月15日（周日）19:00" in texts_to(calls, A)[0]


async def test_quiet_hours_hold_a_reminder_until_morning(harness: BotHarness, world: BranchWorld) -> None:
    # A reminder at 23:00 (inside 22:00-07:00) waits for 07:00.
    await set_plan(harness, world, rule="15", time="19:00", leads="1 23:00")
    assert await tick_at(harness, local(2026, 3, 14, 23, 0)) == []
    assert await _count(harness, ReminderOccurrence) == 3
    calls = await tick_at(harness, local(2026, 3, 15, 7, 0))
    assert [len(texts_to(calls, u)) for u in (A, B, C)] == [1, 1, 1]


# -- the secretary's roster, hand marks, excuses ---------------------------------------------------


async def test_roster_hand_marks_and_excuse(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event = await _event(harness, world, 2026, 3)
    await harness.press(A, f"act:y:{event.id}")
    await harness.press(B, f"act:n:{event.id}")
    await harness.send(B, "出差")
    harness.clock.set(local(2026, 3, 15, 17, 0))
    early = await harness.press(SECRETARY, f"act:m:{event.id}:{world.member_ids[C.id]}")
    assert "签到开始后才能登记" in early[-1].text
    harness.clock.set(local(2026, 3, 15, 19, 10))
    await harness.press(A, f"act:s:{event.id}")
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", "下次：3月15日（周日）19:00"),
            (
                ("press", "名单"),
                ["参加 1 · 请假 1 · 未回复 1 · 到场 1", "✓ 甲 参加", "○ 乙 请假：出差", "○ 丙 未回复"],
            ),
            (("press", "○丙"), ["到场 2", "✓ 丙 未回复（补登）"]),
            (("press", "✓丙"), ["到场 1", "○ 丙 未回复"]),
            (("press", "理由"), "请输入这个月缺席的正当理由"),
            ("家中老人住院", "已记录正当理由"),
        ],
    )
    async with harness.session() as session:
        excuse = await session.scalar(select(OrgLifeExcuse))
        assert excuse.member_id == world.member_ids[B.id] and excuse.reason == "家中老人住院"
    again = await harness.press(SECRETARY, f"act:x:{event.id}:{world.member_ids[B.id]}")
    assert "已经记录过理由" in again[-1].text


async def test_move_tells_members_and_reminds_for_the_new_date(
    harness: BotHarness, world: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    await tick_at(harness, local(2026, 3, 12, 8, 0))  # the first three-day reminder went out
    await harness.press(A, f"act:y:{(await _event(harness, world, 2026, 3)).id}")
    harness.clock.set(local(2026, 3, 13, 10, 0))
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", "下次：3月15日（周日）19:00"),
            (("press", "改期"), "请输入新的日期和时间"),
            ("后天", ["没看懂这个日期", "请输入新的日期和时间"]),
            ("2026-03-01 19:00", "这个时间已经过去了"),
            ("3月18日 19:30", "已改到 3月18日（周三）19:30，已通知全体党员"),
        ],
    )
    calls = await harness.deliver()
    for user in (A, B, C):
        [text] = texts_to(calls, user)
        assert text.startswith("【党员活动日改期】") and "3月18日（周三）19:30" in text
    # The new three-day reminder (15 March 08:00) goes to those who have not answered.
    calls = await tick_at(harness, local(2026, 3, 15, 8, 0))
    assert [len(texts_to(calls, u)) for u in (A, B, C)] == [0, 1, 1]
    assert "3月18日（周三）19:30" in texts_to(calls, B)[0]
    assert await tick_at(harness, local(2026, 3, 15, 19, 0)) == []  # nothing for the old date


async def test_cancel_tells_members_and_stops_reminders(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event = await _event(harness, world, 2026, 3)
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", "下次"),
            (("press", "取消本次"), "确定取消这次党员活动日吗"),
            (("press", "确认"), "已取消，已通知全体党员"),
        ],
    )
    assert "已经取消了" in (await harness.press(SECRETARY, f"act:kk:{event.id}"))[-1].text
    calls = await harness.deliver()
    assert "本月党员活动日（3月15日（周日）19:00）取消了" in texts_to(calls, A)[0]
    assert await tick_at(harness, local(2026, 3, 12, 8, 0)) == []
    assert await tick_at(harness, local(2026, 3, 15, 18, 0)) == []
    assert "按钮已失效" in (await harness.press(A, f"act:s:{event.id}"))[-1].text
    await harness.transcript(A, [("/activity", "已取消")])


async def test_member_view_shows_only_their_own_answer(harness: BotHarness, world: BranchWorld) -> None:
    await set_plan(harness, world, rule="15", time="19:00", topic="学习两会精神")
    event = await _event(harness, world, 2026, 3)
    await harness.press(B, f"act:n:{event.id}")
    await harness.send(B, "夜班")
    await harness.transcript(
        A, [("/activity", ["主题：学习两会精神", "您的回复：未回复"]), (("press", "参加"), "已记下")]
    )
    await harness.transcript(A, [("/activity", "您的回复：参加")])
    calls = await harness.send(A, "/activity")
    assert "夜班" not in calls[-1].text and "乙" not in calls[-1].text
    await harness.transcript(TgUser(6999), [("/activity", "请先用 /start 报到")])


# -- forged and stale buttons ----------------------------------------------------------------------


async def test_forged_callbacks_for_another_branch_are_denied(
    harness: BotHarness, world: BranchWorld, other: BranchWorld
) -> None:
    await set_plan(harness, world, rule="15", time="19:00")
    event = await _event(harness, world, 2026, 3)
    harness.clock.set(local(2026, 3, 15, 19, 0))
    for data in (f"act:y:{event.id}", f"act:n:{event.id}", f"act:s:{event.id}"):
        calls = await harness.press(OTHER_MEMBER, data)
        assert "您没有权限" in calls[-1].text
    for data in (
        f"act:l:{event.id}",
        f"act:m:{event.id}:{world.member_ids[A.id]}",
        f"act:x:{event.id}:{world.member_ids[A.id]}",
        f"act:v:{event.id}",
        f"act:kk:{event.id}",
        f"act:e:{world.branch_id}:rule",
        f"act:b:{world.branch_id}",
    ):
        calls = await harness.press(OTHER_SECRETARY, data)
        assert "您没有权限" in calls[-1].text, data
    # Our own secretary, but a member of the other branch.
    calls = await harness.press(SECRETARY, f"act:m:{event.id}:{other.member_ids[OTHER_MEMBER.id]}")
    assert "您没有权限" in calls[-1].text
    for data in ("act:y:abc", "act:zz:1", "act:m:1", "act:y:" + "9" * 40):
        assert "按钮已失效" in (await harness.press(A, data))[-1].text
    assert await _count(harness, ActivityRsvp) == 0
    assert await _count(harness, ActivityAttendance) == 0
    assert await audit_denials(harness, "activity.rsvp") == 2
    assert await audit_denials(harness, "activity.signin") == 1
    assert await audit_denials(harness, "activity.attendance.mark") == 2
    assert (await _event(harness, world, 2026, 3)).status == "scheduled"


async def test_a_typed_answer_without_an_open_form(harness: BotHarness, world: BranchWorld) -> None:
    calls = await harness.send(A, "出差")
    assert "现在没有需要您填写的内容" in calls[-1].text


async def test_cancel_button_drops_the_form(harness: BotHarness, world: BranchWorld) -> None:
    await harness.transcript(
        SECRETARY,
        [
            ("/activity", "规则"),
            (("press", "规则"), "请输入活动日规则"),
            (("press", "取消"), "已取消"),
            ("15", "现在没有需要您填写的内容"),
        ],
    )


@pytest.mark.parametrize(
    "text",
    ["", " ", "0", "32", "第0个周五", "\u202e15", "x" * 500, "１５号", "15日 19:00", "🙂", "NaN", "-1"],
)
async def test_odd_input_for_every_plan_field_gets_a_clear_answer(
    harness: BotHarness, world: BranchWorld, text: str
) -> None:
    for field_name in ("rule", "time", "place", "topic", "programme", "leads", "lost", "backfill"):
        await harness.press(SECRETARY, f"act:e:{world.branch_id}:{field_name}")
        if text.strip():
            calls = await harness.send(SECRETARY, text)
            assert calls and calls[-1].text, field_name
            assert "出了点问题" not in "".join(c.text for c in calls), field_name
