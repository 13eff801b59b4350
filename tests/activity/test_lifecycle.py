"""A member's year: the six-month rule of organisational life, lost contact, the yearly details check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.services import activity, lifecycle
from storage.models import Member, Person
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    EventStatus,
    MemberReview,
    OrgLifeExcuse,
)
from tests.activity.factory import BranchWorld, local, make_branch, set_plan, texts_to, tick_at
from tests.factories import TgUser
from tests.harness import BotHarness

SECRETARY = TgUser(7000, "书记")
A, B, C = TgUser(7001, "甲"), TgUser(7002, "乙"), TgUser(7003, "丙")


async def _world(harness: BotHarness, approved: datetime, members=(A, B, C)) -> BranchWorld:
    async with harness.session() as session:
        return await make_branch(session, secretary=SECRETARY, members=list(members), approved_at=approved)


async def _held_event(
    harness: BotHarness, world: BranchWorld, year: int, month: int, *, cancelled=False
) -> int:
    """A past month's activity day on the 15th at 19:00 (as if planned then)."""
    starts = local(year, month, 15, 19, 0)
    async with harness.session() as session:
        event = ActivityEvent(
            branch_id=world.branch_id,
            month_key=activity.month_key(year, month),
            starts_at=starts,
            ends_at=local(year, month, 16, 0, 0),
            status=EventStatus.CANCELLED if cancelled else EventStatus.SCHEDULED,
            revision=0,
            moved=False,
            created_at=starts - timedelta(days=30),
        )
        session.add(event)
        await session.commit()
        return event.id


async def _attend(harness: BotHarness, world: BranchWorld, event_id: int, *users: TgUser) -> None:
    async with harness.session() as session:
        for user in users:
            session.add(
                ActivityAttendance(
                    event_id=event_id,
                    member_id=world.member_ids[user.id],
                    source="self",
                    at=datetime.now(UTC),
                )
            )
        await session.commit()


async def _seen(harness: BotHarness, world: BranchWorld, when: datetime, *users: TgUser) -> None:
    async with harness.session() as session:
        for user in users:
            await session.execute(
                update(Person).where(Person.id == world.person_ids[user.id]).values(last_seen_at=when)
            )
        await session.commit()


# -- six months of organisational life -------------------------------------------------------------


async def test_warnings_at_two_three_and_five_months(harness: BotHarness) -> None:
    world = await _world(harness, datetime(2025, 8, 1, tzinfo=UTC))
    await _seen(harness, world, datetime(2026, 12, 1, tzinfo=UTC), A, B, C)  # nobody is "lost" here
    seen: dict[int, list[str]] = {SECRETARY.id: [], A.id: [], B.id: []}
    months = [(2025, 9), (2025, 10), (2025, 11), (2025, 12), (2026, 1), (2026, 2), (2026, 3), (2026, 4)]
    for index, (year, month) in enumerate(months, start=1):
        event_id = await _held_event(harness, world, year, month, cancelled=(year, month) == (2025, 12))
        await _attend(harness, world, event_id, C)  # C always comes; A never; B from the 6th month on
        if index >= 6:
            await _attend(harness, world, event_id, B)
        calls = await tick_at(harness, local(year, month, 16, 9, 0))
        for user in (SECRETARY, A, B):
            seen[user.id] += [f"{index}:{text}" for text in texts_to(calls, user)]
    # September, October -> 2 (A and B warned); November -> 3 (the secretary); December is cancelled and
    # does not count; January -> 4 (nothing new); February -> 5 (both). B came from February on.
    assert [m.split(":")[0] for m in seen[A.id]] == ["2", "6"]
    assert "已连续2个月以上没有参加组织生活" in seen[A.id][0] and "连续5个月以上" in seen[A.id][1]
    assert [m.split(":")[0] for m in seen[B.id]] == ["2"]
    tail = "没有参加组织生活（连续6个月视为自行脱党）。如有正当理由，请在 /activity 的名单里登记。"
    assert seen[SECRETARY.id] == [
        f"3:甲 已连续3个月以上{tail}",
        f"3:乙 已连续3个月以上{tail}",
        f"6:甲 已连续5个月以上{tail}",
    ]
    async with harness.session() as session:
        now = local(2026, 4, 16, 9, 0)
        assert await lifecycle.streak_of(session, world.member_ids[A.id], now) == 7
        assert await lifecycle.streak_of(session, world.member_ids[B.id], now) == 0
        assert await lifecycle.streak_of(session, world.member_ids[C.id], now) == 0


async def test_an_excused_month_ends_the_streak_and_a_new_streak_warns_again(harness: BotHarness) -> None:
    world = await _world(harness, datetime(2025, 8, 1, tzinfo=UTC), members=(A,))
    await _seen(harness, world, datetime(2026, 12, 1, tzinfo=UTC), A)
    first = await _held_event(harness, world, 2025, 9)
    second = await _held_event(harness, world, 2025, 10)
    calls = await tick_at(harness, local(2025, 10, 16, 9, 0))
    assert len(texts_to(calls, A)) == 1
    # The secretary records a good reason for October: the streak is now 0 (last good month: October).
    async with harness.session() as session:
        session.add(OrgLifeExcuse(event_id=second, member_id=world.member_ids[A.id], reason="住院"))
        await session.commit()
        assert await lifecycle.streak_of(session, world.member_ids[A.id], local(2025, 10, 16, 9, 0)) == 0
    assert first < second
    await _held_event(harness, world, 2025, 11)
    assert await tick_at(harness, local(2025, 11, 16, 9, 0)) == []
    await _held_event(harness, world, 2025, 12)
    calls = await tick_at(harness, local(2025, 12, 16, 9, 0))
    assert len(texts_to(calls, A)) == 1  # a new streak of two: warned again, once
    assert await tick_at(harness, local(2025, 12, 17, 9, 0)) == []


async def test_months_before_approval_and_months_without_an_activity_do_not_count(
    harness: BotHarness,
) -> None:
    world = await _world(harness, datetime(2025, 10, 20, tzinfo=UTC), members=(A,))
    await _seen(harness, world, datetime(2026, 12, 1, tzinfo=UTC), A)
    await _held_event(harness, world, 2025, 9)
    await _held_event(harness, world, 2025, 10)  # the 15th: before A was approved on the 20th
    await _held_event(harness, world, 2025, 11)
    await _held_event(harness, world, 2026, 2)  # no activity day in December or January
    async with harness.session() as session:
        assert await lifecycle.streak_of(session, world.member_ids[A.id], local(2026, 2, 20, 9, 0)) == 2


async def test_the_secretary_sees_who_is_drifting(harness: BotHarness) -> None:
    world = await _world(harness, datetime(2025, 8, 1, tzinfo=UTC))
    await _seen(harness, world, datetime(2026, 3, 1, tzinfo=UTC), A, B)
    for month in (12, 1, 2):
        event_id = await _held_event(harness, world, 2025 if month == 12 else 2026, month)
        await _attend(harness, world, event_id, B)
    harness.clock.set(local(2026, 3, 2, 9, 0))
    await harness.transcript(
        SECRETARY, [("/activity", ["连续未过组织生活：甲（3个月）、丙（3个月）", "可能失联：丙"])]
    )


# -- lost contact ----------------------------------------------------------------------------------


async def test_a_silent_member_is_flagged_to_the_secretary_once(harness: BotHarness) -> None:
    world = await _world(harness, datetime(2025, 12, 1, 2, 0, tzinfo=UTC))
    await _seen(harness, world, datetime(2026, 12, 1, tzinfo=UTC), A, B)  # C says nothing after approval
    assert texts_to(await tick_at(harness, local(2026, 3, 1, 9, 59)), SECRETARY) == []
    calls = await tick_at(harness, local(2026, 3, 1, 10, 0))  # 90 days after 1 December 10:00 local
    assert texts_to(calls, SECRETARY) == ["丙 已超过90天没有音讯，可能失联，请设法联系。"]
    assert texts_to(calls, C) == []
    assert await tick_at(harness, local(2026, 3, 2, 10, 0)) == []
    # C comes back, then falls silent again: a new flag, once.
    harness.clock.set(local(2026, 3, 5, 12, 0))
    await harness.send(C, "/help")
    assert await tick_at(harness, local(2026, 6, 3, 11, 0)) == []
    calls = await tick_at(harness, local(2026, 6, 3, 12, 0))
    assert len(texts_to(calls, SECRETARY)) == 1


async def test_the_lost_contact_threshold_is_a_branch_setting(harness: BotHarness) -> None:
    world = await _world(harness, datetime(2026, 2, 1, 2, 0, tzinfo=UTC), members=(A,))
    harness.clock.set(local(2026, 2, 1, 12, 0))
    await set_plan(harness, world, lost="30")
    await _seen(harness, world, datetime(2026, 2, 1, 2, 0, tzinfo=UTC), A)
    assert texts_to(await tick_at(harness, local(2026, 3, 3, 9, 59)), SECRETARY) == []
    calls = await tick_at(harness, local(2026, 3, 3, 10, 0))
    assert texts_to(calls, SECRETARY) == ["甲 已超过30天没有音讯，可能失联，请设法联系。"]


# -- the yearly details check ----------------------------------------------------------------------


async def test_yearly_prompt_confirmed_with_one_tap(harness: BotHarness) -> None:
    world = await _world(harness, local(2025, 3, 2, 10, 0), members=(A,))
    await _seen(harness, world, local(2026, 3, 1, 10, 0), A)
    assert await tick_at(harness, local(2026, 3, 2, 9, 59)) == []
    calls = await tick_at(harness, local(2026, 3, 2, 10, 0))
    assert texts_to(calls, A) == ["又过了一年，请核对您在支部登记的信息：工作单位、住址、电话有变化吗？"]
    await harness.transcript(A, [(("press", "无变化"), "谢谢确认")])
    assert "已经确认过了" in (await harness.press(A, "life:ok:0"))[-1].text
    assert await tick_at(harness, local(2026, 5, 1, 10, 0)) == []
    # Next year, a new prompt with the next cycle.
    calls = await tick_at(harness, local(2027, 3, 2, 10, 0))
    [prompt] = [c for c in calls if c.chat_id == A.id]
    assert "life:ok:1" in prompt.button_data()
    async with harness.session() as session:
        review = await session.get(MemberReview, world.member_ids[A.id])
        assert review.cycle == 1 and review.confirmed_at == local(2026, 3, 2, 10, 0)


async def test_yearly_prompt_changes_reach_the_secretary(harness: BotHarness) -> None:
    world = await _world(harness, local(2025, 3, 2, 10, 0), members=(A,))
    await _seen(harness, world, local(2026, 3, 1, 10, 0), A)
    await tick_at(harness, local(2026, 3, 2, 10, 0))
    await harness.transcript(
        A,
        [
            (("press", "有变化"), "请简要写下变化"),
            ("换了工作，现在在浦东的电子厂", "已转告支部书记"),
        ],
    )
    calls = await harness.deliver()
    assert texts_to(calls, SECRETARY) == ["甲 报告信息有变化：换了工作，现在在浦东的电子厂"]
    assert "已经确认过了" in (await harness.press(A, "life:chg:0"))[-1].text
    assert "按钮已失效" in (await harness.press(A, "life:ok:7"))[-1].text
    # Somebody who is not a member cannot confirm anything.
    assert "您没有权限" in (await harness.press(SECRETARY, "life:ok:0"))[-1].text
    async with harness.session() as session:
        member = await session.scalar(select(Member).where(Member.id == world.member_ids[A.id]))
        review = await session.get(MemberReview, member.id)
        assert review.changes == "换了工作，现在在浦东的电子厂"
