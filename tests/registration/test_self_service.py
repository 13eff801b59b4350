"""/me, changing phone, district and employer, /leave, /mydata and /deleteme."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot.services.outbox import Outgoing, enqueue
from storage.crypto import keyring
from storage.models import (
    Account,
    AuditEntry,
    Draft,
    Member,
    MemberState,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from tests.factories import TgUser
from tests.registration.helpers import (
    AGENT_QS,
    COMMITTEE_A,
    E164,
    NAME,
    SECRETARY_A,
    approve,
    invite,
    make_world,
    member_row,
    play,
    report_in,
    report_in_steps,
)

USER = TgUser(7301, "小陈")


async def _member(harness, world) -> Member:
    await report_in(harness, USER, world.invite_a)
    await approve(harness, USER)
    await harness.deliver()
    return await member_row(harness, USER)


async def test_me_shows_the_record_and_changes_the_phone(harness) -> None:
    world = await make_world(harness)
    await _member(harness, world)
    await play(
        harness,
        USER,
        [
            ("/me", ["深圳流动党支部 · 在册", NAME, "138 0013 8000", "青山镇 东村"]),
            (("press", "改手机"), "新的手机号"),
            ("010-12345678", ["不能用座机号", "新的手机号"]),
        ],
    )
    calls = await harness.share_contact(USER, "+8613900139000", contact_user_id=USER.id)
    assert "已更新" in calls[0].text and "remove_keyboard" in str(calls[0].params["reply_markup"])
    assert "139 0013 9000" in calls[-1].text
    member = await member_row(harness, USER)
    assert member.phone == "+8613900139000" and member.phone_index == keyring().blind_index("+8613900139000")
    await harness.deliver()
    for officer in (SECRETARY_A, COMMITTEE_A):
        assert harness.fake.last(officer.id).text == f"{NAME}（深圳流动党支部）的手机号已改为 139 0013 9000。"


async def test_me_changes_district_and_employer(harness) -> None:
    world = await make_world(harness)
    await _member(harness, world)
    await play(
        harness,
        USER,
        [
            ("/me", "所在区"),
            (("press", "改城区"), "住的区"),
            ("宝安区", ["已更新", "所在区：宝安区"]),
            ("/me", "单位/行业"),
            (("press", "改单位"), "新的单位名称"),
            (("press", "餐饮"), ["已更新", "单位/行业：餐饮"]),
            ("/me", "所在区"),
            (("press", "改城区"), "住的区"),
            (("press", "清空"), ["已更新", "所在区：未填"]),
            ("/me", "单位/行业"),
            (("press", "改单位"), "新的单位名称"),
            (("press", "取消"), "已取消"),
        ],
    )
    member = await member_row(harness, USER)
    assert member.city_district is None and member.employer == "餐饮"


async def test_a_change_cancelled_typed_leaves_the_record_and_stale_buttons(harness) -> None:
    world = await make_world(harness)
    district = (await _member(harness, world)).city_district
    await play(
        harness,
        USER,
        [
            ("/me", "所在区"),
            (("press", "改城区"), "住的区"),
            ("区" * 41, ["太长", "住的区"]),  # refused: the question again, under the reason
            ("取消", "已取消，填写的内容没有保存。需要时可以重新开始：/me"),
        ],
    )
    clear = "self:clr"  # the 清空 of the closed question: stale, nothing cleared
    calls = await harness.press(USER, clear)
    assert [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"] == ["这个按钮已失效。"]
    await play(harness, USER, [("宝安区", "/help")])  # no question is open: the text changes nothing
    member = await member_row(harness, USER)
    assert member.city_district == district and member.city_district != "宝安区"
    # The phone question's keyboard goes with a typed 取消.
    await play(harness, USER, [("/me", "手机"), (("press", "改手机"), "新的手机号")])
    calls = await harness.send(USER, "取消")
    assert "已取消" in calls[-1].text and "remove_keyboard" in str(calls[-1].params["reply_markup"])
    assert (await member_row(harness, USER)).phone == "+8613800138000"


async def test_back_from_every_change_question_shows_the_record_again(harness) -> None:
    """返回 on a change question leads back to /me with nothing changed; from the phone question (typed,
    as its keyboard offers it) the share-number keyboard goes first."""
    world = await make_world(harness)
    before = await _member(harness, world)
    for button, question in (("改城区", "住的区"), ("改单位", "单位")):
        await play(harness, USER, [("/me", "手机"), (("press", button), question)])
        calls = await harness.press(USER, harness.fake.last(USER.id).button("返回"))
        assert NAME in calls[-1].text and "改手机" in str(calls[-1].params.get("reply_markup"))
    await play(harness, USER, [("/me", "手机"), (("press", "改手机"), "新的手机号")])
    calls = await harness.send(USER, "返回")
    sends = [c for c in calls if c.method == "sendMessage"]
    assert "remove_keyboard" in str(sends[0].params["reply_markup"])
    assert NAME in sends[-1].text and "改手机" in str(sends[-1].params.get("reply_markup"))
    after = await member_row(harness, USER)
    assert (after.phone, after.city_district, after.employer) == (
        before.phone,
        before.city_district,
        before.employer,
    )
    await play(harness, USER, [("宝安区", "/help")])  # no question is open any more


async def test_me_for_people_without_a_record(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, [("/me", "还没有报到")])
    await play(harness, USER, report_in_steps(world.invite_a)[:3])
    await play(harness, USER, [("/me", "还没填完")])
    await play(harness, USER, report_in_steps(world.invite_a)[3:])
    await play(harness, USER, [("/me", ["待审核", NAME])])
    assert "改手机" not in str(harness.fake.last(USER.id).buttons)
    # A forged change button from someone who is not on a roster is refused.
    calls = await harness.press(USER, "self:ed:phone")
    assert [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"] == [
        "您没有权限进行此操作。"
    ]


async def test_leave_is_confirmed_by_the_secretary_and_the_township_is_told(harness) -> None:
    world = await make_world(harness)
    member = await _member(harness, world)
    await play(harness, USER, [("/leave", "确认您已离开深圳"), (("press", "确认离开"), "等书记确认")])
    await play(harness, USER, [("/leave", "正在等书记确认")])
    assert (await member_row(harness, USER)).state == MemberState.LEAVING
    await harness.deliver()
    assert "报告已离开本市" in harness.fake.last(SECRETARY_A.id).text
    confirm = harness.fake.last(SECRETARY_A.id).button("确认离开")
    assert confirm == f"ros:lv:{member.id}:1"
    await harness.press(SECRETARY_A, confirm)
    again = await harness.press(COMMITTEE_A, confirm)
    assert [c.params.get("text") for c in again if c.method == "answerCallbackQuery"] == ["已经处理过了。"]
    assert (await member_row(harness, USER)).state == MemberState.LEFT
    await harness.deliver()
    assert "书记已确认您离开" in harness.fake.last(USER.id).text
    assert harness.fake.last(AGENT_QS.id).text == f"{NAME}（东村）已于2026-03-02离开深圳流动党支部（深圳）。"
    # Having left, they may report in at another branch.
    await play(harness, USER, [(invite(world.invite_b), "报到须知")])


async def test_leave_for_non_members(harness) -> None:
    await make_world(harness)
    await play(harness, USER, [("/leave", "只有已报到的党员")])


async def test_mydata_sends_everything_held_as_a_file(harness) -> None:
    world = await make_world(harness)
    await _member(harness, world)
    calls = await harness.send(USER, "/mydata")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    filename, content = document.files["document"]
    assert filename == "mydata.json"
    data = json.loads(content)
    assert data["person"]["accounts"] == [{"channel": "telegram", "id": str(USER.id), "preferred": True}]
    assert data["member"]["name"] == NAME and data["member"]["phone"] == E164
    assert data["member"]["state"] == "approved"
    assert data["consents"][0]["granted"] is True
    assert any("已通过" in m["text"] for m in data["messages_to_you"])
    assert {"member.submit", "consent.given", "member.approve"} <= {a["action"] for a in data["activity_log"]}
    # Beside the file, a summary a person can read on a phone, in their language.
    (summary,) = [c for c in calls if c.method == "sendMessage"]
    assert (
        "我们保存的关于您的信息" in summary.text and NAME in summary.text and "138 0013 8000" in summary.text
    )
    assert "同意记录：1 条" in summary.text and "/deleteme" in summary.text
    assert "accounts" not in summary.text and "approved" not in summary.text


async def test_deleteme_erases_cancels_pending_messages_and_is_idempotent(harness) -> None:
    world = await make_world(harness)
    member = await _member(harness, world)
    async with harness.session() as session:
        person = await session.get(Person, member.person_id)
        await enqueue(
            session,
            source="notice:1",
            chat_id=USER.id,
            person_id=person.id,
            message=Outgoing("明天开会，张三带材料"),
        )
        await session.commit()
    await play(harness, USER, [("/deleteme", "不能恢复"), (("press", "删除"), "已删除")])

    async with harness.session() as session:
        erased = await session.get(Member, member.id)
        assert erased.state == MemberState.ERASED
        for field in ("name", "phone", "phone_index", "village_branch_id", "joined_party_on", "employer"):
            assert getattr(erased, field) is None, field
        assert (
            erased.branch_id == world.branch_a and erased.township_id == world.qingshan
        )  # the ledger count stays
        husk = await session.get(Person, member.person_id)
        assert husk.chat_id is None
        assert not list(await session.scalars(select(Account).where(Account.person_id == husk.id)))
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == USER.id)))
        assert rows and all(r.status in (OutboxStatus.CANCELLED, OutboxStatus.SENT) for r in rows)
        assert all(r.payload == {"text": ""} for r in rows)
        notice = next(r for r in rows if r.source == "notice:1")
        assert notice.status == OutboxStatus.CANCELLED
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
        actions = list(
            await session.scalars(select(AuditEntry.action).where(AuditEntry.action == "person.erase"))
        )
        assert actions == ["person.erase"]

    # The officers learn that the record left the roster, by number only.
    await harness.deliver()
    assert (
        harness.fake.last(SECRETARY_A.id).text == f"编号 {member.id} 的党员已删除个人信息，已从花名册移除。"
    )

    # A second run, and a second tap of the old button: nothing more to do, nothing changes.
    await play(harness, USER, [("/deleteme", "无需删除")])
    calls = await harness.press(USER, "self:del")
    assert any("无需删除" in c.text for c in calls)
    async with harness.session() as session:
        assert (
            len(list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "person.erase"))))
            == 1
        )
        assert await session.scalar(select(func.count()).select_from(Member)) == 1
    await play(harness, USER, [("/me", "还没有报到")])


async def test_deleteme_in_the_middle_of_the_form_removes_the_draft(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:4])
    await play(harness, USER, [("/deleteme", "不能恢复"), (("press", "删除"), "已删除")])
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
    await play(harness, USER, [("/start", "流动党员之家")])


async def test_deleteme_cancel_keeps_everything(harness) -> None:
    world = await make_world(harness)
    await _member(harness, world)
    await play(harness, USER, [("/deleteme", "不能恢复"), (("press", "取消"), "已取消")])
    assert (await member_row(harness, USER)).name == NAME


async def test_officers_must_give_up_their_office_before_erasing(harness) -> None:
    await make_world(harness)
    await play(harness, SECRETARY_A, [("/deleteme", "请先请管理员撤销职务")])
    calls = await harness.press(SECRETARY_A, "self:del")
    assert any("撤销职务" in c.text for c in calls)
