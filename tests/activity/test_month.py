"""Done-when: a month of a branch's life, with exactly the expected messages, however often it restarts.

March 2026 in a Shanghai branch: the rule (15th, 19:00) has run since December; the secretary sets the
place and topic, the three-day reminder goes out, members answer, the secretary moves the day to the
17th, a study item is published and checked in to, members sign in, a member silent since December is
flagged and warned. The same script runs twice: with the tick every hour, and again with restarts of the
bot (and a tick) at arbitrary minutes, including three within the minute a reminder falls due. Both runs
must produce exactly the expected messages.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.features import reminder_kinds
from bot.clock import FakeClock
from bot.scheduling.engine import QuietHours, tick
from bot.services import activity
from storage.models import Member, Person
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityPlan,
    EventStatus,
    OrgLifeExcuse,
)
from storage.models.scheduling import ReminderOccurrence
from storage.models.study import StudyCheckin
from tests.activity.factory import add_member, local, make_branch
from tests.factories import TgUser, telegram_user
from tests.fakes import Call
from tests.harness import BotHarness

S = TgUser(9000, "书记")
A, B, C, D = TgUser(9001, "甲"), TgUser(9002, "乙"), TgUser(9003, "丙"), TgUser(9004, "丁")

START = local(2026, 2, 27, 10, 0)
END = local(2026, 3, 31, 23, 0)
TICK_HOURS = (8, 10, 18)

# What each person receives from the bot unprompted (outbox), in order: (prefix, a detail it must contain).
REMIND_15 = ("【党员活动日提醒】", "时间：3月15日（周日）19:00")
MOVED = ("【党员活动日改期】", "时间：3月17日（周二）19:00")
REMIND_17 = ("【党员活动日提醒】", "时间：3月17日（周二）19:00")
SIGN_IN = ("【党员活动日】现在可以签到了", "时间：3月17日（周二）19:00")
STUDY = ("【学习】", "学习党章第九条")
STUDY_REMIND = ("【学习提醒】", "学习党章第九条")
EXPECTED = {
    S.id: [("丁 已超过90天没有音讯", ""), ("丁 已连续3个月以上没有参加组织生活", "")],
    A.id: [REMIND_15, MOVED, STUDY, SIGN_IN],
    B.id: [REMIND_15, MOVED, STUDY, STUDY_REMIND],
    C.id: [("又过了一年", ""), REMIND_15, MOVED, REMIND_17, STUDY, REMIND_17, SIGN_IN],
    D.id: [
        ("您已连续2个月以上没有参加组织生活", ""),
        REMIND_15,
        MOVED,
        REMIND_17,
        STUDY,
        REMIND_17,
        SIGN_IN,
        STUDY_REMIND,
    ],
}


class Life:
    """Drives one harness through the month, keeping every delivered message across restarts."""

    def __init__(self, database_url: str, restarts: list[datetime]) -> None:
        self.clock = FakeClock(START - timedelta(days=1))
        self.harness = BotHarness(database_url, self.clock)
        self.inbox: dict[int, list[Call]] = defaultdict(list)
        self.replies: dict[int, list[str]] = defaultdict(list)
        # The tick runs every minute in production; what it sends depends only on the database and the
        # time, so the test ticks at three fixed hours a day (and after each restart) to stay fast.
        days = (END - START).days + 2
        ticks = [
            local(2026, 2, 27, hour, 0) + timedelta(days=day) for day in range(days) for hour in TICK_HOURS
        ]
        self.events = sorted(
            [(t, "tick") for t in ticks if START <= t <= END] + [(r, "restart") for r in restarts]
        )
        self.restarted = 0

    async def tick_and_deliver(self) -> None:
        await tick(
            self.harness.db,
            self.clock.now(),
            QuietHours.from_settings(self.harness.settings),
            reminder_kinds(),
        )
        await self.deliver()

    async def deliver(self) -> None:
        for call in await self.harness.deliver():
            self.inbox[call.chat_id].append(call)

    async def until(self, moment: datetime) -> None:
        """Run the ticks (and any restarts, each followed by a tick) up to and including ``moment``."""
        while self.events and self.events[0][0] <= moment:
            when, what = self.events.pop(0)
            self.clock.set(when)
            if what == "restart":
                self.harness = await self.harness.restart()
                self.restarted += 1
            await self.tick_and_deliver()
        self.clock.set(moment)

    def button(self, user: TgUser, prefix: str, label: str) -> str:
        """The callback data of ``label`` in the last message to ``user`` starting with ``prefix``."""
        for call in reversed(self.inbox[user.id]):
            if call.text.startswith(prefix):
                return call.button(label)
        raise AssertionError(f"no message {prefix!r} to {user.first_name}")

    async def press(self, user: TgUser, data: str) -> str:
        calls = await self.harness.press(user, data)
        text = "\n".join(c.text for c in calls if c.method != "answerCallbackQuery")
        self.replies[user.id].append(text)
        await self.deliver()
        return text

    async def say(self, user: TgUser, text: str) -> str:
        calls = await self.harness.send(user, text)
        reply = "\n".join(c.text for c in calls)
        self.replies[user.id].append(reply)
        await self.deliver()
        return reply

    async def last_reply_button(self, user: TgUser, label: str) -> str:
        return self.harness.fake.last(user.id).button(label)


async def _seed(harness: BotHarness) -> None:
    """The branch as it was: rule since December, three held activity days, D last heard of in December."""
    async with harness.session() as session:
        world = await make_branch(
            session, secretary=S, members=[A, B, D], approved_at=local(2025, 12, 1, 10, 0)
        )
        c_member = await add_member(session, world.branch_id, C, approved_at=local(2025, 3, 10, 10, 0))
        members = {A.id: world.member_ids[A.id], B.id: world.member_ids[B.id], C.id: c_member.id}
        members[D.id] = world.member_ids[D.id]
        await session.execute(
            Person.__table__.update()
            .where(telegram_user(*[A.id, B.id, C.id]))
            .values(last_seen_at=local(2026, 2, 20, 12, 0))
        )
        session.add(
            ActivityPlan(
                branch_id=world.branch_id,
                rule_day=15,
                start_time=datetime(2026, 1, 1, 19, 0).time(),
                programme=[],
                lead_days=[3, 0],
                remind_at=datetime(2026, 1, 1, 8, 0).time(),
                lost_contact_days=90,
                study_backfill_days=7,
                rule_set_at=local(2025, 12, 10, 10, 0),
                updated_at=local(2025, 12, 10, 10, 0),
            )
        )
        for year, month, present in ((2025, 12, (A, B, C, D)), (2026, 1, (A, B, C)), (2026, 2, (A, B, C))):
            event = ActivityEvent(
                branch_id=world.branch_id,
                month_key=activity.month_key(year, month),
                starts_at=local(year, month, 15, 19, 0),
                ends_at=local(year, month, 16, 0, 0),
                status=EventStatus.SCHEDULED,
                revision=0,
                moved=False,
                created_at=local(year, month, 1, 0, 0),
            )
            session.add(event)
            await session.flush()
            for user in present:
                source = "secretary" if user is D else "self"
                session.add(
                    ActivityAttendance(
                        event_id=event.id, member_id=members[user.id], source=source, at=event.starts_at
                    )
                )
        await session.commit()


async def _play(life: Life) -> None:
    await _seed(life.harness)
    await life.harness.start()
    # 27 Feb: the secretary sets the place and the topic.
    await life.until(START)
    await life.say(S, "/activity")
    await life.press(S, await life.last_reply_button(S, "地点"))
    await life.say(S, "社区党群服务中心")
    await life.press(S, await life.last_reply_button(S, "主题"))
    assert "主题：学习两会精神" in await life.say(S, "学习两会精神")
    # 10 Mar: C confirms their details.
    await life.until(local(2026, 3, 10, 12, 0))
    assert "谢谢确认" in await life.press(C, life.button(C, "又过了一年", "无变化"))
    # 12 Mar, after the three-day reminder: A attends, B asks for leave.
    await life.until(local(2026, 3, 12, 9, 0))
    assert "已记下您参加 3月15日（周日）19:00" in await life.press(
        A, life.button(A, "【党员活动日提醒】", "参加")
    )
    assert "请简单说一下" in await life.press(B, life.button(B, "【党员活动日提醒】", "请假"))
    assert "已请假" in await life.say(B, "出差")
    # 13 Mar: the secretary moves the day to the 17th.
    await life.until(local(2026, 3, 13, 10, 0))
    await life.say(S, "/activity")
    await life.press(S, await life.last_reply_button(S, "改期"))
    assert "已改到 3月17日（周二）19:00" in await life.say(S, "3月17日 19:00")
    # 15 Mar: a study item for seven days.
    await life.until(local(2026, 3, 15, 12, 0))
    await life.say(S, "/study")
    await life.press(S, await life.last_reply_button(S, "发布学习"))
    await life.say(S, "学习党章第九条")
    await life.press(S, await life.last_reply_button(S, "7天"))
    assert "已发布" in await life.press(S, await life.last_reply_button(S, "发布"))
    # 16 Mar: A checks in with a reflection.
    await life.until(local(2026, 3, 16, 10, 0))
    assert "打卡成功" in await life.press(A, life.button(A, "【学习】", "打卡"))
    await life.press(A, await life.last_reply_button(A, "写心得"))
    assert "心得已保存" in await life.say(A, "要按时参加组织生活")
    # 17 Mar: sign-in.
    await life.until(local(2026, 3, 17, 19, 5))
    assert "签到成功" in await life.press(A, life.button(A, "【党员活动日】现在可以签到了", "签到"))
    await life.until(local(2026, 3, 17, 19, 10))
    assert "签到成功" in await life.press(C, life.button(C, "【党员活动日】现在可以签到了", "签到"))
    await life.until(local(2026, 3, 17, 21, 0))
    await life.say(S, "/activity")
    roster = await life.press(S, await life.last_reply_button(S, "名单"))
    assert "参加 1 · 请假 1 · 未回复 2 · 到场 2" in roster
    # 18 Mar: the secretary records B's good reason for March.
    await life.until(local(2026, 3, 18, 10, 0))
    await life.say(S, "/activity")
    await life.press(S, await life.last_reply_button(S, "往期"))
    await life.press(S, await life.last_reply_button(S, "3月17日"))
    await life.press(S, await life.last_reply_button(S, "理由"))  # the first absent member is B
    assert "已记录正当理由" in await life.say(S, "出差，已请假")
    # 20 Mar: C checks in; 23 Mar: B back-fills after the period.
    await life.until(local(2026, 3, 20, 20, 0))
    assert "打卡成功" in await life.press(C, life.button(C, "【学习】", "打卡"))
    await life.until(local(2026, 3, 23, 9, 0))
    assert "已补打卡" in await life.press(B, life.button(B, "【学习】", "打卡"))
    await life.until(END)


def _check(life: Life) -> None:
    for user_id, expected in EXPECTED.items():
        got = [c.text for c in life.inbox[user_id] if c.method == "sendMessage"]
        assert len(got) == len(expected), (user_id, got)
        for text, (prefix, detail) in zip(got, expected, strict=True):
            assert text.startswith(prefix) and detail in text, (user_id, text, prefix)


def _random_restarts(seed: int) -> list[datetime]:
    rng = random.Random(seed)
    minutes = int((END - START).total_seconds() // 60)
    picks = [START + timedelta(minutes=rng.randrange(minutes)) for _ in range(12)]
    # Three restarts within the minute the first reminder falls due, one on either side of it.
    due = local(2026, 3, 12, 8, 0)
    return [*picks, due - timedelta(seconds=20), due + timedelta(seconds=5), due + timedelta(seconds=40)]


async def _database_facts(harness: BotHarness) -> dict[str, int]:
    async with harness.session() as session:
        return {
            "occurrences": await session.scalar(select(func.count()).select_from(ReminderOccurrence)),
            "attendance": await session.scalar(select(func.count()).select_from(ActivityAttendance)),
            "checkins": await session.scalar(select(func.count()).select_from(StudyCheckin)),
            "excuses": await session.scalar(select(func.count()).select_from(OrgLifeExcuse)),
            "members": await session.scalar(select(func.count()).select_from(Member)),
        }


@pytest.mark.parametrize("seed", [None, 1])
async def test_a_month_of_a_branch_life(database_url: str, seed: int | None) -> None:
    life = Life(database_url, [] if seed is None else _random_restarts(seed))
    try:
        await _play(life)
        _check(life)
        assert life.restarted == (0 if seed is None else 15)
        facts = await _database_facts(life.harness)
    finally:
        await life.harness.stop()
    # Six months of March: A signed in, C signed in; B excused; D absent (the third month in a row).
    assert facts["attendance"] == 4 + 3 + 3 + 2  # December to February as seeded, then A and C in March
    assert facts["checkins"] == 3 and facts["excuses"] == 1
    # 27 outbox-worthy occurrences: the unprompted messages above, minus none (all were reachable).
    assert facts["occurrences"] == sum(len(v) for v in EXPECTED.values())
