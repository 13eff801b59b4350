"""Reporting in end to end: invite link -> consent -> form -> submit -> approval -> member and agent told."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from bot.services.registration import NOTICE_VERSION
from storage.crypto import keyring
from storage.models import AuditEntry, ConsentRecord, Draft, Member, MemberState, OutboxMessage
from tests.factories import TgUser
from tests.registration.helpers import (
    AGENT_HS,
    AGENT_QS,
    COMMITTEE_A,
    E164,
    NAME,
    SECRETARY_A,
    SECRETARY_B,
    invite,
    make_world,
    member_row,
    play,
    report_in,
    report_in_steps,
)

USER = TgUser(7001, "建国")


async def test_from_invite_link_to_approval_with_buttons(harness) -> None:
    world = await make_world(harness)
    started = harness.clock.now()
    await report_in(harness, USER, world.invite_a)

    member = await member_row(harness, USER)
    assert member.state == MemberState.PENDING and member.revision == 1
    assert member.name == NAME and member.phone == E164
    assert member.phone_index == keyring().blind_index(E164)
    assert member.joined_party_on == date(2015, 7, 1) and member.party_status == "full"
    assert member.employer == "建筑" and member.activity_card_no is None
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
        consent = await session.scalar(select(ConsentRecord))
        assert consent.granted and consent.notice_version == NOTICE_VERSION
        assert consent.decided_at == started + timedelta(seconds=2)  # the third step, a second each

    # Both officers of branch A are asked, nobody in branch B.
    await harness.deliver()
    for officer in (SECRETARY_A, COMMITTEE_A):
        note = harness.fake.last(officer.id)
        assert "新的报到" in note.text and NAME in note.text and "138 0013 8000" in note.text
        assert note.button_data() == [
            f"reg:ok:{member.id}:1",
            f"reg:no:{member.id}:1",
            f"reg:rt:{member.id}:1",
        ]
    assert harness.fake.sent(SECRETARY_B.id) == []

    # One tap approves; the message turns into the outcome.
    await harness.transcript(SECRETARY_A, [(("press", "通过"), f"已通过：{NAME}")])
    assert (await member_row(harness, USER)).state == MemberState.APPROVED
    await harness.deliver()
    assert "已通过" in harness.fake.last(USER.id).text
    agent_note = harness.fake.last(AGENT_QS.id).text
    assert agent_note == f"{NAME}（东村，正式党员）已于2026-03-02在深圳流动党支部（深圳）报到。"
    assert harness.fake.sent(AGENT_HS.id) == []

    # The new member now sees the member commands.
    await harness.transcript(USER, [("/help", ["/me", "/leave", "/mydata", "/deleteme"])])


async def test_the_invite_offers_i_am_not_a_member(harness) -> None:
    world = await make_world(harness)
    await harness.send(USER, invite(world.invite_a))
    reply = harness.fake.last(USER.id)
    assert "apply:start" in reply.button_data()
    assert reply.button("我不是党员") == "apply:start"


async def test_a_restart_in_the_middle_loses_nothing(harness) -> None:
    world = await make_world(harness)
    steps = report_in_steps(world.invite_a)
    await play(harness, USER, steps[:8])  # up to the membership status
    old = harness
    harness = await old.restart()
    await old.db.dispose()
    try:
        harness.clock.advance(days=3)
        await harness.transcript(USER, [("/start", ["继续您的报到", "哪一年入党"])])
        await play(harness, USER, steps[8:])
        member = await member_row(harness, USER)
        assert member.state == MemberState.PENDING and member.name == NAME
        assert member.township_id == world.qingshan
    finally:
        await harness.stop()


async def test_plain_start_without_a_draft_greets(harness) -> None:
    await make_world(harness)
    await harness.transcript(USER, [("/start", ["流动党员之家", "/help"])])


async def test_back_at_every_step_returns_to_the_previous_question(harness) -> None:
    world = await make_world(harness)
    await play(
        harness,
        USER,
        [
            (invite(world.invite_a), "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "返回"), "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "同意"), "姓名"),
            (("press", "返回"), "敏感个人信息"),
            (("press", "同意"), "姓名"),
            (NAME, "分享号码"),
            ("返回", ["好的", "姓名"]),  # the text button of the phone keyboard
            (NAME, "分享号码"),
            ("13800138000", "家乡乡镇"),
            (("press", "返回"), "分享号码"),
            ("13800138000", "家乡乡镇"),
            (("press", "青山镇"), "村党支部"),
            (("press", "返回"), "家乡乡镇"),
            (("press", "青山镇"), "村党支部"),
            (("press", "东村"), "正式党员还是预备党员"),
            (("press", "返回"), "村党支部"),
            (("press", "东村"), "正式党员还是预备党员"),
            (("press", "预备党员"), "哪一年"),
            (("press", "返回"), "正式党员还是预备党员"),
            (("press", "预备党员"), "哪一年"),
            (("press", "2025"), "几月"),
            (("press", "返回"), "哪一年"),
            (("press", "2025"), "几月"),
            (("press", "7月"), "几日"),
            (("press", "返回"), "几月"),
            (("press", "7月"), "几日"),
            (("press", "1"), "活动证"),
            (("press", "返回"), "几日"),
            (("press", "1"), "活动证"),
            ("ab-1234", "哪个区"),
            (("press", "返回"), "活动证"),
            (("press", "跳过"), "哪个区"),
            ("南山区", "工作单位"),
            (("press", "返回"), "哪个区"),
            (("press", "跳过"), "工作单位"),
            ("顺丰速运", "请核对"),
            (("press", "返回"), "工作单位"),
            ("顺丰速运", ["请核对", "预备党员", "2025-07-01", "顺丰速运", "活动证号：未填", "所在区：未填"]),
        ],
    )


async def test_cancel_at_every_step_deletes_the_draft(harness) -> None:
    world = await make_world(harness)
    steps = report_in_steps(world.invite_a)
    # After each step of the form (but before submitting), cancel, and the draft is gone.
    for upto in range(1, len(steps) - 1):
        harness.clock.advance(seconds=11)  # stay below the flood limit
        await play(harness, USER, steps[:upto])
        if upto == 4:  # at the phone keyboard the cancel button is a text button
            calls = await harness.send(USER, "取消")
        else:
            calls = await harness.press(USER, harness.fake.last(USER.id).button("取消"))
        assert any("已取消" in c.text and "邀请链接" in c.text for c in calls), upto
        async with harness.session() as session:
            assert await session.scalar(select(func.count()).select_from(Draft)) == 0, upto
    assert await member_row(harness, USER) is None


async def test_refusing_consent_ends_registration_and_says_what_it_means(harness) -> None:
    world = await make_world(harness)
    await harness.transcript(
        USER,
        [
            (invite(world.invite_a), "报到须知"),
            (("press", "继续"), "敏感个人信息"),
            (("press", "不同意"), ["报到已结束", "没有保存", "收不到本支部的通知"]),
            ("张三", "现在没有需要您填写的内容"),
        ],
    )
    async with harness.session() as session:
        consent = await session.scalar(select(ConsentRecord))
        assert consent.granted is False and consent.notice_version == NOTICE_VERSION
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
        actions = list(await session.scalars(select(AuditEntry.action)))
        assert "consent.refused" in actions
    assert await member_row(harness, USER) is None


async def test_summary_edit_buttons_change_one_field_and_come_back(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:-1])
    await play(
        harness,
        USER,
        [
            (("press", "改姓名"), "姓名"),
            ("王建民", ["请核对", "王建民"]),
            (("press", "改家乡"), "家乡乡镇"),
            (("press", "河上镇"), "村党支部"),
            (("press", "南村"), ["请核对", "河上镇 南村"]),
            (("press", "改手机"), "分享号码"),
            ("139 0013 9000", ["手机号已记录：139 0013 9000", "请核对"]),
            (("press", "改日期"), "哪一年"),
            ("2016年3月5日", ["请核对", "2016-03-05"]),
            (("press", "改证号"), "活动证"),
            ("返回", "请核对"),
            (("press", "改单位"), "工作单位"),
            (("press", "跳过"), ["请核对", "单位/行业：未填"]),
            (("press", "提交"), "已提交"),
        ],
    )
    member = await member_row(harness, USER)
    assert (member.name, member.phone, member.township_id) == ("王建民", "+8613900139000", world.heshang)
    assert member.joined_party_on == date(2016, 3, 5) and member.employer is None


async def test_submit_twice_creates_one_record_and_one_request(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:-1])
    submit = harness.fake.last(USER.id).button("提交")
    await harness.press(USER, submit)
    second = await harness.press(USER, submit)
    assert [c.params.get("text") for c in second if c.method == "answerCallbackQuery"] == ["已经处理过了。"]
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 1
        sources = list(await session.scalars(select(OutboxMessage.source)))
    assert len(sources) == 2  # one per officer of the branch


async def test_the_same_invite_again_resumes_the_form(harness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:5])
    await harness.transcript(USER, [(invite(world.invite_a), ["继续您的报到", "家乡乡镇"])])


async def test_a_township_list_longer_than_a_page_is_paged(harness) -> None:
    from bot.services import admin

    world = await make_world(harness)
    async with harness.session() as session:
        for i in range(10):
            await admin.add_township(session, name=f"第{i}镇", villages=[])
        await session.commit()
    await play(harness, USER, report_in_steps(world.invite_a)[:5])
    first = harness.fake.last(USER.id)
    assert "第9镇" not in str(first.buttons)
    await harness.transcript(USER, [(("press", "下一页"), "家乡乡镇")])
    assert "第9镇" in str(harness.fake.last(USER.id).buttons)
    # A township without village branches skips the village question.
    await harness.transcript(USER, [(("press", "第9镇"), "正式党员还是预备党员")])


async def test_typing_only_the_name_when_the_phone_is_shared(harness) -> None:
    world = await make_world(harness)
    steps = report_in_steps(world.invite_a)
    await play(harness, USER, steps[:4])  # link, continue, agree, the typed name
    calls = await harness.share_contact(USER, "8613800138000", contact_user_id=USER.id)
    assert "手机号已记录" in calls[0].text and "家乡乡镇" in calls[-1].text
    typed = [action for action, _ in steps[5:] if not (isinstance(action, tuple) and action[0] == "press")]
    assert typed == []  # everything after the phone is a tap
    await play(harness, USER, steps[5:])
    member = await member_row(harness, USER)
    assert member.state == MemberState.PENDING and member.phone == E164
