"""The officers' decision: approve, reject with a reason, return for changes; stale and forged taps."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import AuditEntry, Member, MemberState, OutboxMessage
from tests.factories import TgUser
from tests.registration.helpers import (
    AGENT_QS,
    COMMITTEE_A,
    NAME,
    SECRETARY_A,
    SECRETARY_B,
    approve,
    invite,
    make_world,
    member_row,
    play,
    report_in,
)

USER = TgUser(7201, "小张")


def _answers(calls) -> list[str]:
    return [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"]


async def _audit(harness, result: str) -> list[str]:
    async with harness.session() as session:
        return list(await session.scalars(select(AuditEntry.action).where(AuditEntry.result == result)))


async def test_a_double_tap_approves_once(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    member = await member_row(harness, USER)
    data = f"reg:ok:{member.id}:1"
    await harness.press(SECRETARY_A, data)
    second = await harness.press(SECRETARY_A, data)
    third = await harness.press(COMMITTEE_A, data)  # the other officer's copy of the request
    assert _answers(second) == ["已经处理过了。"] and _answers(third) == ["已经处理过了。"]
    async with harness.session() as session:
        sources = list(await session.scalars(select(OutboxMessage.source)))
        approvals = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "member.approve")
        )
    assert approvals == 1
    assert sources.count(f"member:{member.id}:approve:1") == 1
    assert sources.count(f"member:{member.id}:reported:1") == 1


async def test_reject_asks_for_a_reason_and_tells_the_member(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await harness.deliver()
    await play(
        harness,
        SECRETARY_A,
        [
            (("press", "不通过"), f"请输入不通过{NAME}的原因"),
            ("   ", ["不能为空", "原因"]),
            ("不是本支部服务范围的党员", f"已不通过：{NAME}。原因：不是本支部服务范围的党员"),
        ],
    )
    member = await member_row(harness, USER)
    assert member.state == MemberState.REJECTED and member.decision_reason == "不是本支部服务范围的党员"
    await harness.deliver()
    assert "未通过" in harness.fake.last(USER.id).text and "服务范围" in harness.fake.last(USER.id).text
    assert harness.fake.sent(AGENT_QS.id) == []
    # A rejected person may report in again later.
    await play(harness, USER, [(invite(world.invite_a), "报到须知")])


async def test_the_reason_prompt_can_be_cancelled(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await harness.deliver()
    await play(harness, SECRETARY_A, [(("press", "打回"), "需要修改什么"), (("press", "取消"), "仍待审核")])
    reject = next(c for c in harness.fake.sent(SECRETARY_A.id) if "新的报到" in c.text).button("不通过")
    calls = await harness.press(SECRETARY_A, reject)
    assert "原因" in calls[-1].text
    await play(harness, SECRETARY_A, [("取消", "仍待审核")])  # typed, too
    member = await member_row(harness, USER)
    assert member.state == MemberState.PENDING and member.decision_reason is None


async def test_a_cancelled_reason_form_leaves_stale_buttons_and_an_old_reason_decides_nothing(
    harness,
) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await harness.deliver()
    await play(harness, SECRETARY_A, [(("press", "不通过"), "原因")])
    cancel = harness.fake.last(SECRETARY_A.id).button("取消")
    assert cancel == "reg:rc"  # the old 取消 data: the buttons already in chats still work
    await play(harness, SECRETARY_A, [("取消", ["已取消", "仍待审核"])])
    assert _answers(await harness.press(SECRETARY_A, cancel)) == ["已经处理过了。"]
    assert _answers(await harness.press(SECRETARY_A, "reg:rb:reject")) == ["这个按钮已失效。"]
    await play(harness, SECRETARY_A, [("不是本支部的", "/help")])  # no form is open: no decision
    assert (await member_row(harness, USER)).state == MemberState.PENDING
    # A reason typed after the other officer decided decides nothing: said, not a toast.
    notice = next(c for c in harness.fake.sent(SECRETARY_A.id) if "新的报到" in c.text)
    assert "需要修改什么" in (await harness.press(SECRETARY_A, notice.button("打回")))[-1].text
    await play(harness, SECRETARY_A, [("长" * 201, ["太长", "需要修改什么"])])
    await harness.deliver()
    await play(harness, COMMITTEE_A, [(("press", "通过"), "已通过")])
    await play(harness, SECRETARY_A, [("手机号错了", "已经处理过了。")])
    member = await member_row(harness, USER)
    assert member.state == MemberState.APPROVED and member.decision_reason is None


async def test_return_for_changes_and_resubmit(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await harness.deliver()
    old_request = harness.fake.last(COMMITTEE_A.id).button("通过")
    await play(harness, SECRETARY_A, [(("press", "打回"), "需要修改什么"), ("入党时间不对", "已打回")])
    await harness.deliver()
    assert "需要修改：入党时间不对" in harness.fake.last(USER.id).text
    assert "打回修改" in harness.fake.last(COMMITTEE_A.id).text  # their copy says what happened
    await play(
        harness,
        USER,
        [
            (("press", "去修改"), ["书记请您修改：入党时间不对", "请核对", NAME]),
            (("press", "改日期"), "哪一年"),
            ("2014-07-01", ["请核对", "2014-07-01"]),
            (("press", "提交"), "已提交"),
        ],
    )
    member = await member_row(harness, USER)
    assert (
        member.state == MemberState.PENDING
        and member.revision == 2
        and str(member.joined_party_on) == "2014-07-01"
    )
    # The button of the first submission is stale; the new request approves.
    assert _answers(await harness.press(COMMITTEE_A, old_request)) == ["已经处理过了。"]
    assert (await member_row(harness, USER)).state == MemberState.PENDING
    await harness.deliver()
    await play(harness, COMMITTEE_A, [(("press", "通过"), "已通过")])
    assert (await member_row(harness, USER)).state == MemberState.APPROVED


async def test_a_returned_report_in_resumes_with_start(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await harness.deliver()
    await play(harness, SECRETARY_A, [(("press", "打回"), "需要修改什么"), ("手机号错了", "已打回")])
    await play(
        harness,
        USER,
        [("/start", ["书记请您修改：手机号错了", "请核对"]), (("press", "取消"), ["已取消", "/start"])],
    )
    assert (await member_row(harness, USER)).state == MemberState.RETURNED
    await play(harness, USER, [(invite(world.invite_a), "书记请您修改")])


async def test_a_secretary_of_another_branch_cannot_decide(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    member = await member_row(harness, USER)
    for data in (f"reg:ok:{member.id}:1", f"reg:no:{member.id}:1", f"reg:rt:{member.id}:1"):
        calls = await harness.press(SECRETARY_B, data)
        assert _answers(calls) == ["您没有权限进行此操作。"]
    # Nor can the member approve themselves, nor an agent.
    for who in (USER, AGENT_QS):
        assert _answers(await harness.press(who, f"reg:ok:{member.id}:1")) == ["您没有权限进行此操作。"]
    assert (await member_row(harness, USER)).state == MemberState.PENDING
    denied = await _audit(harness, "denied")
    assert denied.count("member.approve") == 3 and "member.reject" in denied and "member.return" in denied


async def test_forged_and_garbled_decision_data(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    member = await member_row(harness, USER)
    for data in ("reg:ok:999999:1", "reg:ok:abc:1", "reg:ok:1", f"reg:ok:{member.id}:99", "reg:zz:1:1"):
        calls = await harness.press(SECRETARY_A, data)
        assert _answers(calls)[0] in ("您没有权限进行此操作。", "这个按钮已失效。", "已经处理过了。"), data
    assert (await member_row(harness, USER)).state == MemberState.PENDING
    assert await _audit(harness, "denied") and await _audit(harness, "stale")


async def test_one_branch_per_person(harness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await play(harness, USER, [(invite(world.invite_b), "正在等待书记审核")])
    await approve(harness, USER)
    await play(
        harness,
        USER,
        [
            (invite(world.invite_b), ["您已在深圳流动党支部报到", "/leave"]),
            (invite(world.invite_a), "您已经是深圳流动党支部的党员了"),
            (invite("nonsense"), "邀请链接无效"),
        ],
    )
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 1


async def test_a_branch_without_officers_still_takes_the_report_in(harness) -> None:
    from bot.services import admin

    await make_world(harness)
    async with harness.session() as session:
        lonely = await admin.create_branch(session, name="无人支部", city="佛山", timezone="Asia/Shanghai")
        await session.commit()
    await report_in(harness, USER, lonely.invite_code)
    assert (await member_row(harness, USER)).state == MemberState.PENDING
