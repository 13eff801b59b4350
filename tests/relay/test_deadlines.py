"""Deadlines through the reminder engine: the agent is chased before and after the promised date, the
secretary and the township are flagged when a request goes overdue, and the rates of the month."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.features import reminder_kinds
from bot.scheduling import kinds_relay
from bot.scheduling.engine import QuietHours, tick
from bot.services import relay
from bot.services.identity import load_actor
from bot.services.relay import Part
from storage.models import Person
from tests.factories import telegram_user
from tests.harness import BotHarness
from tests.relay.factory import (
    AGENT_A,
    AGENT_B,
    MEMBER_A,
    MEMBER_A2,
    MEMBER_B,
    SECRETARY_A,
    SECRETARY_B,
    make_world,
)
from tests.relay.helpers import texts

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


async def _tick(harness: BotHarness) -> int:
    quiet = QuietHours.from_settings(harness.settings)
    result = await tick(harness.db, harness.clock.now(), quiet, kinds_relay.REMINDER_KINDS)
    return result.outbox_rows


async def _actor(session, user):
    person = await session.scalar(select(Person).where(telegram_user(user.id)))
    return await load_actor(session, person)


async def _accepted_request(harness: BotHarness, world, user=MEMBER_A, item="a.hukou") -> int:
    """A request submitted and accepted now (through the services, the transcripts cover the chat)."""
    now = harness.clock.now()
    async with harness.session() as session:
        member = await _actor(session, user)
        view = await relay.submit_request(session, member, world.items[item], [Part.typed("材料")], now)
        agent = await _actor(session, AGENT_B if item.startswith("b.") else AGENT_A)
        await relay.accept(session, agent, view.id, SHANGHAI, now)
        await session.commit()  # services leave the commit to the caller
    await harness.deliver()
    harness.fake.clear()
    return view.id


def test_the_relay_kinds_are_registered_with_the_engine() -> None:
    names = {kind.name for kind in reminder_kinds()}
    assert {"relay.soon", "relay.late", "relay.late_branch", "apply.talk"} <= names


async def test_an_overdue_request_is_chased_and_flagged(harness: BotHarness) -> None:
    async with harness.session() as session:
        world = await make_world(session, harness.clock.now())
    request_id = await _accepted_request(harness, world)  # accepted Mon 2 March, 5 days: due 7 March
    other = await _accepted_request(harness, world, MEMBER_B, "b.hukou")  # 绿水镇, due 5 March

    harness.clock.set(local(2026, 3, 4, 9, 0))
    assert await _tick(harness) == 0

    # The last promised day: the agent is reminded in the morning, once.
    harness.clock.set(local(2026, 3, 7, 9, 0))
    await _tick(harness)
    assert await _tick(harness) == 0
    calls = await harness.deliver()
    assert "承诺今天（2026-03-07）办结" in texts(calls, AGENT_A)
    assert texts(calls, SECRETARY_A) == "" and texts(calls, MEMBER_A) == ""
    # 绿水镇's own request (3 days, due 5 March) is already late: its own agent is chased about it.
    assert f"#{other}「户口迁移」（王五）已超期 1 天" in texts(calls, AGENT_B)
    assert f"#{request_id}" not in texts(calls, AGENT_B)

    # The day after: overdue. The township's agent and the member's secretary are flagged; nobody
    # of the other township or branch hears about this request.
    harness.clock.set(local(2026, 3, 8, 9, 0))
    await _tick(harness)
    calls = await harness.deliver()
    agent_text, secretary_text = texts(calls, AGENT_A), texts(calls, SECRETARY_A)
    assert f"超期：#{request_id}「户口迁移」" in agent_text and "T1-2026-0001" in agent_text
    assert (
        f"#{request_id}「户口迁移」" in secretary_text
        and "张三" in secretary_text
        and "青山镇" in secretary_text
    )
    assert f"#{request_id}" not in texts(calls, AGENT_B) + texts(calls, SECRETARY_B)

    # A restart and a second tick the same day change nothing; the next day the agent is chased again.
    harness = await harness.restart()
    assert await _tick(harness) == 0
    harness.clock.set(local(2026, 3, 9, 9, 0))
    await _tick(harness)
    calls = await harness.deliver()
    assert "已超期 1 天" in texts(calls, AGENT_A)
    assert texts(calls, SECRETARY_A) == ""  # the secretary is flagged once

    # The lists show it too.
    assert "（超期）" in texts(await harness.send(AGENT_A, "/inbox"))
    assert "（超期）" in texts(await harness.send(SECRETARY_A, "/branchrequests"))

    # Completed: the chasing stops.
    async with harness.session() as session:
        agent = await _actor(session, AGENT_A)
        await relay.complete(session, agent, request_id, harness.clock.now(), text="已办结")
        await session.commit()  # services leave the commit to the caller
    harness.clock.set(local(2026, 3, 12, 9, 0))
    await _tick(harness)
    calls = await harness.deliver()
    assert f"#{request_id}" not in texts(calls, AGENT_A)
    await harness.stop()


async def test_after_downtime_only_the_latest_chase_is_sent(harness: BotHarness) -> None:
    async with harness.session() as session:
        world = await make_world(session, harness.clock.now())
    await _accepted_request(harness, world, MEMBER_A, "a.proof")  # 2 days: due 4 March
    harness.clock.set(local(2026, 3, 14, 9, 0))  # 10 days late, and the bot was down all along
    await _tick(harness)
    agent_texts = [c.text for c in await harness.deliver() if c.chat_id == AGENT_A.id]
    assert len(agent_texts) == 1 and "已超期 7 天" in agent_texts[0]


async def test_a_chase_in_the_night_waits_for_the_morning(harness: BotHarness) -> None:
    async with harness.session() as session:
        world = await make_world(session, harness.clock.now())
    await _accepted_request(harness, world, MEMBER_A, "a.proof")  # due at the end of 4 March
    harness.clock.set(local(2026, 3, 5, 0, 30))
    await _tick(harness)
    assert [c for c in await harness.deliver() if c.chat_id == AGENT_A.id] == []
    harness.clock.set(local(2026, 3, 5, 7, 1))
    assert "超期" in texts(await harness.deliver(), AGENT_A)


async def test_the_completion_rate_of_the_month(harness: BotHarness) -> None:
    """March: 5 accepted in 青山镇 (one withdrawn after, left out), 3 completed of which 2 on time,
    one refused; one consultation answered. April's acceptance does not count in March."""
    async with harness.session() as session:
        world = await make_world(session, harness.clock.now())
    march_2 = harness.clock.now()
    ids = [
        await _accepted_request(harness, world, MEMBER_A if n % 2 else MEMBER_A2, "a.proof") for n in range(6)
    ]
    async with harness.session() as session:
        agent = await _actor(session, AGENT_A)
        # Due at the end of 4 March: two completed on time, one late, one refused, one withdrawn, one open.
        harness.clock.set(local(2026, 3, 4, 18, 0))
        await relay.complete(session, agent, ids[0], harness.clock.now(), text="好")
        await relay.complete(session, agent, ids[1], harness.clock.now(), text="好")
        harness.clock.set(local(2026, 3, 6, 10, 0))
        await relay.complete(session, agent, ids[2], harness.clock.now(), text="晚了")
        await relay.refuse(session, agent, ids[3], "不符合条件", harness.clock.now())
        owner = await _actor(session, MEMBER_A2)  # ids[4] was asked by 李四
        await relay.withdraw(session, owner, ids[4], harness.clock.now())
        # A consultation answered in March, and a request accepted in April.
        member = await _actor(session, MEMBER_A)
        ask = await relay.submit_request(
            session, member, world.items["a.pension"], [Part.typed("问")], march_2
        )
        await relay.answer(session, agent, ask.id, harness.clock.now(), text="答")
        april = local(2026, 4, 1, 10, 0)
        later = await relay.submit_request(session, member, world.items["a.proof"], [Part.typed("x")], april)
        await relay.accept(session, agent, later.id, SHANGHAI, april)
        await session.commit()  # services leave the commit to the caller

        harness.clock.set(local(2026, 4, 2, 9, 0))
        march = await relay.month_stats(session, 2026, 3, SHANGHAI, harness.clock.now())
        april_stats = await relay.month_stats(session, 2026, 4, SHANGHAI, harness.clock.now())
        branch_b = await relay.month_stats(
            session, 2026, 3, SHANGHAI, harness.clock.now(), branch_ids=[world.branch_b]
        )
    assert len(march) == 1
    stats = march[0]
    assert (stats.township_name, stats.accepted, stats.completed, stats.on_time) == ("青山镇", 5, 3, 2)
    assert (stats.answered, stats.overdue_open) == (1, 1)
    assert stats.completion_rate == Decimal("60.0") and stats.on_time_rate == Decimal("40.0")
    assert [(s.accepted, s.completed) for s in april_stats] == [(1, 0)]
    assert branch_b == []

    # The agent reads the same figures in the chat.
    harness.fake.clear()
    shown = texts(await harness.send(AGENT_A, "/servicestats 2026-03"))
    assert "2026-03" in shown and "受理 5，办结 3（办结率 60.0%），按时办结 2（40.0%）" in shown
    assert "超期未结 1" in shown and "咨询答复 1" in shown
    assert "月份格式" in texts(await harness.send(AGENT_A, "/servicestats March"))
    # The branch sees its members' figures; the other branch has none this month.
    branch_view = texts(await harness.send(SECRETARY_A, "/servicestats 2026-03"))
    assert "本支部党员办事统计" in branch_view and "青山镇：受理 5，办结 3（办结率 60.0%）" in branch_view
    assert "本月没有受理的申请" in texts(await harness.send(SECRETARY_B, "/servicestats 2026-03"))
    assert "没有权限" in texts(await harness.send(MEMBER_A, "/servicestats"))
