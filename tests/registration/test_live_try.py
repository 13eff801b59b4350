"""Defects a live try found in reporting in and /help (issue 19: points 1, 7, 8)."""

from __future__ import annotations

from tests.factories import TgUser
from tests.registration.helpers import (
    AGENT_QS,
    SECRETARY_A,
    approve,
    invite,
    make_world,
    play,
    report_in_steps,
)

WORKER = TgUser(7701, "打工人")


async def test_start_while_waiting_for_approval_says_so(harness) -> None:
    world = await make_world(harness)
    await play(harness, WORKER, report_in_steps(world.invite_a))
    await harness.send(WORKER, "/start")
    text = harness.fake.last(WORKER.id).text
    assert "等待深圳流动党支部书记审核" in text and "王建国" in text
    assert "/apply" not in text  # not the stranger's welcome


async def test_disagreeing_leaves_a_way_back(harness) -> None:
    world = await make_world(harness)
    await play(
        harness,
        WORKER,
        [
            (invite(world.invite_a), "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "不同意"), "没有同意"),
        ],
    )
    last = harness.fake.last(WORKER.id)
    assert last.button("我不是党员") == "apply:start"
    await harness.press(WORKER, last.button("重新阅读须知"))
    assert "报到须知" in harness.fake.last(WORKER.id).text


async def test_help_lists_what_each_role_can_use_in_its_own_words(harness) -> None:
    world = await make_world(harness)
    stranger = TgUser(7702, "路人")
    await harness.send(stranger, "/help")
    assert "/apply" in harness.fake.last(stranger.id).text
    await play(harness, WORKER, report_in_steps(world.invite_a))
    await approve(harness, WORKER)
    await harness.send(WORKER, "/help")
    member_help = harness.fake.last(WORKER.id).text
    assert "/apply" not in member_help and "/activity — 党员活动日" in member_help
    await harness.send(SECRETARY_A, "/help")
    secretary_help = harness.fake.last(SECRETARY_A.id).text
    assert "/activity — 活动日：安排" in secretary_help
    assert "/servicestats — 本支部党员办事" in secretary_help
    await harness.send(AGENT_QS, "/help")
    assert "/servicestats" in harness.fake.last(AGENT_QS.id).text


async def test_the_other_officers_copies_show_the_decision(harness) -> None:
    from tests.registration.helpers import COMMITTEE_A, member_row, report_in

    world = await make_world(harness)
    await report_in(harness, WORKER, world.invite_a)
    delivered = await harness.deliver()
    copy = [c for c in delivered if c.chat_id == COMMITTEE_A.id and c.method == "sendMessage"]
    assert copy and copy[0].button("通过")
    member = await member_row(harness, WORKER)
    await harness.press(SECRETARY_A, f"reg:ok:{member.id}:1")
    edits = [c for c in await harness.deliver() if c.method == "editMessageText"]
    (edit,) = [c for c in edits if c.chat_id == COMMITTEE_A.id]
    assert "已由另一位书记或委员处理：通过" in edit.text and "王建国" in edit.text
    assert not edit.params.get("reply_markup")
    assert not [c for c in edits if c.chat_id == SECRETARY_A.id]  # their own tap already updated theirs


async def test_a_forgotten_join_day_and_districts_as_buttons(harness) -> None:
    from tests.registration.helpers import member_row

    world = await make_world(harness)
    steps = report_in_steps(world.invite_a)
    day = next(i for i, (action, _) in enumerate(steps) if action == ("press", "1"))
    district = next(i for i, (_, want) in enumerate(steps) if want == "哪个区")
    first = [*steps[:day], (("press", "不记得具体日期"), "活动证"), *steps[day + 1 : district + 1]]
    first += [("南山区", "工作单位"), (("press", "建筑"), "请核对"), (("press", "提交"), "已提交")]
    await play(harness, WORKER, first)
    member = await member_row(harness, WORKER)
    assert str(member.joined_party_on) == "2015-07-01" and member.city_district == "南山区"
    await approve(harness, WORKER)
    other = TgUser(7703, "老乡")
    await play(harness, other, steps[: district + 1])
    assert harness.fake.last(other.id).button("南山区")  # the district another member gave
    await play(harness, other, [(("press", "南山区"), "工作单位")])
