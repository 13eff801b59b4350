"""/notice end to end: compose, audience, preview, send, progress, report, 收到, follow-up, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.delivery.channel import is_progress
from bot.dialog import denied
from bot.services import admin, broadcast
from bot.services.identity import load_actor
from storage.models import (
    AuditEntry,
    Draft,
    MemberState,
    Notice,
    NoticeAck,
    OutboxMessage,
    OutboxStatus,
    PartyStatus,
    Person,
    Role,
)
from tests import factories
from tests.delivery.helpers import OTHER_SECRETARY, SECRETARY, add_members, make_branch, make_township
from tests.factories import TgUser, telegram_user
from tests.harness import BotHarness
from tests.statements import counted

TEXT = "本周六上午九点在党群服务中心开会，请准时参加。"


async def compose(harness: BotHarness, audience: str = "全支部", text: str = TEXT) -> None:
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送通知内容"),
            (text, "发给谁"),
            (("press", audience), "预览"),
        ],
    )


async def confirm(harness: BotHarness, user: TgUser = SECRETARY) -> int:
    await harness.transcript(user, [(("press", "提交"), "发送中")])
    async with harness.session() as session:
        return await session.scalar(select(func.max(Notice.id)))


async def denials(harness: BotHarness) -> list[tuple[str, int | None]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.branch_id).where(AuditEntry.result == "denied")
        )
        return list(rows)


async def test_secretary_sends_a_notice_and_gets_the_delivery_report(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    members = list(range(7001, 7021))
    await add_members(harness, branch, members)
    harness.fake.blocked.add(7003)  # this member blocked the bot

    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送通知内容"),
            (TEXT, "发给谁"),
        ],
    )
    labels = [b["text"] for row in harness.fake.last(SECRETARY.id).buttons for b in row]
    assert labels[:4] == ["全支部", "按乡镇", "正式党员", "预备党员"] and labels[-1] == "取消"
    await harness.transcript(
        SECRETARY,
        [
            (("press", "全支部"), ["预览", "共 20 人", TEXT]),
            (("press", "提交"), "通知 #1 发送中：已送达 0/20"),
        ],
    )
    progress_message = harness.fake.last(SECRETARY.id)
    await harness.deliver()

    for member in members:
        if member == 7003:
            assert harness.fake.sent(member) == []
            continue
        [call] = harness.fake.sent(member)
        assert TEXT in call.text and "深圳流动党支部通知" in call.text
        assert call.button("收到") == "ntc:ack:1"
    to_secretary = harness.fake.sent(SECRETARY.id)[-2:]
    assert to_secretary[0].method == "editMessageText"
    assert "已发完：已送达 19/20，屏蔽 1" in to_secretary[0].text
    assert to_secretary[0].params["message_id"] == progress_message.params["message_id"]
    report = to_secretary[1]
    assert report.method == "sendMessage"
    assert "发送报告" in report.text and "已送达 19" in report.text and "屏蔽 1" in report.text
    assert report.button_data() == ["ntc:na:1", "ntc:fu:1"]

    async with harness.session() as session:
        blocked = await session.scalar(select(Person).where(telegram_user(7003)))
        assert blocked.unreachable is True
        notice = await session.get(Notice, 1)
        assert notice.recipients == 20 and notice.finished_at is not None
        audits = await session.scalar(
            select(func.count()).where(AuditEntry.action == "notice.send", AuditEntry.target_id == 1)
        )
        assert audits == 1
    harness.clock.advance(days=1)
    assert await harness.deliver() == []  # blocked members are not retried; nothing is sent twice


async def test_403_for_5_percent_of_recipients(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    members = list(range(10_001, 10_201))
    await add_members(harness, branch, members)
    blocked = set(members[::20])  # 10 of 200
    harness.fake.blocked.update(list(blocked)[:7])
    for chat in list(blocked)[7:]:
        harness.fake.fail("deactivated", chat_id=chat)
    await compose(harness)
    notice_id = await confirm(harness)
    await harness.deliver()

    delivered = {c.chat_id for c in harness.fake.sent(method="sendMessage") if c.chat_id in members}
    assert delivered == set(members) - blocked
    async with harness.session() as session:
        counts = await broadcast.notice_counts(session, notice_id)
        unreachable = set(await session.scalars(select(Person.chat_id).where(Person.unreachable.is_(True))))
        attempts = await session.scalar(
            select(func.max(OutboxMessage.attempts)).where(OutboxMessage.chat_id.in_(blocked))
        )
    assert (counts.total, counts.sent, counts.blocked, counts.failed, counts.pending) == (200, 190, 10, 0, 0)
    assert unreachable == blocked and attempts == 1
    assert "已送达 190" in harness.fake.last(SECRETARY.id).text
    assert "屏蔽 10" in harness.fake.last(SECRETARY.id).text


async def test_a_read_timeout_is_reported_as_uncertain_and_not_resent(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001, 7002, 7003])
    harness.fake.fail("read_timeout", chat_id=7002)
    await compose(harness)
    await confirm(harness)
    await harness.deliver()
    assert "未确定 1" in harness.fake.last(SECRETARY.id).text
    harness.clock.advance(hours=1)
    await harness.deliver()
    assert len(harness.fake.sent(7002)) == 1


async def test_members_known_to_have_blocked_the_bot_are_counted_not_sent(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    people = await add_members(harness, branch, [7001, 7002])
    async with harness.session() as session:
        await session.execute(update(Person).where(Person.id == people[1]).values(unreachable=True))
        await session.commit()
    await harness.transcript(
        SECRETARY,
        [("/notice", "请发送"), (TEXT, "发给谁"), (("press", "全支部"), ["共 2 人", "其中 1 人已屏蔽"])],
    )
    await confirm(harness)
    await harness.deliver()
    assert harness.fake.sent(7002) == []
    assert "已送达 1，屏蔽 1" in harness.fake.last(SECRETARY.id).text


async def _notice_to_7001_not_7101(harness: BotHarness) -> tuple[int, int]:
    """A notice delivered to member 7001 of the branch; 7101 is a member of another branch.
    Returns (branch id, notice id)."""
    branch = await make_branch(harness)
    other_branch = await make_branch(harness, "广州流动党支部", OTHER_SECRETARY)
    await add_members(harness, branch, [7001])
    await add_members(harness, other_branch, [7101])
    await compose(harness)
    notice_id = await confirm(harness)
    await harness.deliver()
    return branch, notice_id


async def test_acknowledging_is_idempotent_and_only_for_recipients(harness: BotHarness) -> None:
    branch, notice_id = await _notice_to_7001_not_7101(harness)

    member = TgUser(7001)
    data = harness.fake.last(7001).button("收到")
    first = await harness.press(member, data)
    second = await harness.press(member, data)
    assert first[-1].method == "answerCallbackQuery" and "已收到" in first[-1].params["text"]
    assert "已经处理过了" in second[-1].params["text"]

    outsider = TgUser(7101)
    calls = await harness.press(outsider, f"ntc:ack:{notice_id}")
    assert "没有权限" in calls[-1].text
    async with harness.session() as session:
        acks = list(await session.scalars(select(NoticeAck.person_id)))
    assert len(acks) == 1
    assert ("notice.ack", branch) in await denials(harness)


async def test_a_tap_on_acknowledged_is_cheap(harness: BotHarness) -> None:
    """After a notice hundreds of members tap 收到 within a minute: a first tap is the person, the 收到 row
    (written only for a recipient, in the same statement), the report marked out of date and the
    redelivery record; a repeated tap asks whether the person was a recipient instead of marking."""
    _, notice_id = await _notice_to_7001_not_7101(harness)
    member, outsider = TgUser(7001), TgUser(7101)
    await harness.send(member, "/help")  # seen just now: no last-seen touch in the taps below
    await harness.send(outsider, "/help")

    taps, answers = {}, {}
    for name, who in (("first", member), ("again", member), ("outsider", outsider)):
        async with counted(harness) as taps[name]:
            answers[name] = await harness.press(who, f"ntc:ack:{notice_id}")
    assert len(taps["first"]) <= 4, taps["first"]
    assert len(taps["again"]) <= 4, taps["again"]
    assert not any(s.startswith("UPDATE notice") for s in taps["again"]), taps["again"]
    assert len(taps["outsider"]) <= 5, taps["outsider"]  # and the refusal's audit entry
    if harness.db.dialect == "postgresql":  # the row, the mark and the recipient check in one statement
        assert len(taps["first"]) == 2 and len(taps["again"]) == 2, (taps["first"], taps["again"])
    assert "已收到" in answers["first"][-1].params["text"]
    assert "已经处理过了" in answers["again"][-1].params["text"]
    assert "没有权限" in answers["outsider"][-1].text


async def test_unacknowledged_list_and_one_follow_up(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001, 7002, 7003])
    await compose(harness)
    notice_id = await confirm(harness)
    # Too early: the notice is still being sent.
    calls = await harness.press(SECRETARY, f"ntc:fu:{notice_id}")
    assert "还在发送" in calls[0].text
    await harness.deliver()
    await harness.press(TgUser(7002), harness.fake.last(7002).button("收到"))

    await harness.transcript(
        SECRETARY,
        [
            (("press", "未收到"), ["2 人还没点", "党员7001", "党员7003"]),
            (("press", "再提醒"), "已向 2 人再发一次提醒"),
        ],
    )
    await harness.deliver()
    for chat, expected in ((7001, 2), (7002, 1), (7003, 2)):
        assert len(harness.fake.sent(chat)) == expected
    assert "提醒" in harness.fake.last(7001).text and TEXT in harness.fake.last(7001).text
    # The follow-up's 收到 counts for the same notice.
    await harness.press(TgUser(7001), harness.fake.last(7001).button("收到"))
    calls = await harness.press(SECRETARY, f"ntc:na:{notice_id}")
    [listed] = [c for c in calls if c.method == "sendMessage"]
    assert "1 人还没点" in listed.text and "党员7003" in listed.text
    assert not [d for d in listed.button_data() if d.startswith("ntc:fu:")]  # followed up already

    calls = await harness.press(SECRETARY, f"ntc:fu:{notice_id}")
    assert "已经提醒过一次" in calls[0].text
    await harness.deliver()
    assert len(harness.fake.sent(7003)) == 2  # only once


async def test_a_member_an_agent_and_another_branchs_secretary_cannot_reach_this_branch(
    harness: BotHarness,
) -> None:
    branch = await make_branch(harness)
    other_branch = await make_branch(harness, "广州流动党支部", OTHER_SECRETARY)
    await add_members(harness, branch, [7001, 7002])
    await add_members(harness, other_branch, [7101])
    township = await make_township(harness, "青山镇")
    agent = TgUser(6001)
    async with harness.session() as session:
        await admin.grant(session, user=agent.id, role=Role.AGENT, branch=None, township=str(township))
        await session.commit()

    for user in (TgUser(7001), agent):
        await harness.transcript(user, [("/notice", "没有权限")])
    await compose(harness)
    notice_id = await confirm(harness)
    await harness.deliver()

    # The other branch's secretary starts a notice for their own branch only...
    await harness.transcript(OTHER_SECRETARY, [("/notice", "请发送通知内容")])
    async with harness.session() as session:
        draft = await session.scalar(select(Draft).where(Draft.flow == "notice"))
        assert draft.data["branch_id"] == other_branch
    # ... and forged buttons for this branch or its notice are refused and audited.
    for data in (f"ntc:b:{branch}", f"ntc:na:{notice_id}", f"ntc:fu:{notice_id}"):
        calls = await harness.press(OTHER_SECRETARY, data)
        assert "没有权限" in calls[-1].text, data
    found = await denials(harness)
    assert ("notice.compose", branch) in found
    assert ("notice.unacked", branch) in found
    assert ("notice.followup", branch) in found
    assert sum(1 for action, _ in found if action == "notice.compose") >= 3  # member, agent, forged branch

    await harness.transcript(
        OTHER_SECRETARY,
        [("广州的通知", "发给谁"), (("press", "全支部"), "共 1 人"), (("press", "提交"), "发送中")],
    )
    await harness.deliver()
    assert "广州的通知" in harness.fake.last(7101).text
    assert all("广州的通知" not in t for t in harness.fake.texts(7001) + harness.fake.texts(7002))


async def test_a_revoked_secretary_cannot_confirm_an_old_preview(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await compose(harness)
    async with harness.session() as session:
        await admin.revoke(session, user=SECRETARY.id, role=Role.SECRETARY, branch=str(branch), township=None)
        await session.commit()
    calls = await harness.press(SECRETARY, harness.fake.last(SECRETARY.id).button("提交"))
    assert "没有权限" in calls[-1].text
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0


async def test_township_and_party_status_audiences(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    qingshan = await make_township(harness, "青山镇")
    lushui = await make_township(harness, "绿水镇")
    elsewhere = await make_township(harness, "别处镇")
    await add_members(harness, branch, [7001, 7002], township_id=qingshan)
    await add_members(harness, branch, [7003], township_id=lushui, party_status=PartyStatus.PROBATIONARY)
    await add_members(harness, branch, [7004], township_id=qingshan, state=MemberState.PENDING)

    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送"),
            (TEXT, "发给谁"),
            (("press", "按乡镇"), "请选择"),
        ],
    )
    labels = [b["text"] for row in harness.fake.last(SECRETARY.id).buttons for b in row]
    assert labels == ["绿水镇", "青山镇", "返回", "取消"]  # only townships with members here
    calls = await harness.press(SECRETARY, f"ntc:p:{elsewhere}")  # forged: not offered
    assert "没有权限" in calls[-1].text
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请选择"),  # resumes where it stopped
            (("press", "青山镇"), ["按乡镇 · 青山镇", "共 2 人"]),
            (("press", "返回"), "发给谁"),
            (("press", "预备党员"), "共 1 人"),
            (("press", "返回"), "发给谁"),
            (("press", "按乡镇"), "请选择"),
            (("press", "青山镇"), "共 2 人"),
            (("press", "提交"), "发送中"),
        ],
    )
    await harness.deliver()
    assert [bool(harness.fake.sent(c)) for c in (7001, 7002, 7003, 7004)] == [True, True, False, False]


async def test_photo_and_document_notices(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await harness.transcript(SECRETARY, [("/notice", "请发送")])
    await harness.feed(factories.photo_update(SECRETARY, "photo-77", caption="学习材料见图"))
    assert "发给谁" in harness.fake.last(SECRETARY.id).text
    await harness.transcript(
        SECRETARY, [(("press", "全支部"), ["附图片", "学习材料见图"]), (("press", "提交"), "发送中")]
    )
    await harness.deliver()
    [call] = harness.fake.sent(7001)
    assert call.method == "sendPhoto" and call.params["photo"] == "photo-77"
    assert "学习材料见图" in call.params["caption"] and call.button("收到")

    await harness.transcript(SECRETARY, [("/notice", "请发送")])
    await harness.feed(factories.document_update(SECRETARY, "doc-9", "学习.pdf"))
    await harness.transcript(SECRETARY, [(("press", "全支部"), "附文件"), (("press", "提交"), "发送中")])
    await harness.deliver()
    assert harness.fake.last(7001).method == "sendDocument"
    assert harness.fake.last(7001).params["document"] == "doc-9"


async def test_bad_input_gets_a_clear_message_and_the_same_question(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await harness.transcript(
        SECRETARY,
        [
            ("/notice", "请发送通知内容"),
            ("   ", ["不能为空", "请发送通知内容"]),
            ("字" * (broadcast.MAX_TEXT + 1), ["内容太长", "请发送通知内容"]),
        ],
    )
    await harness.share_contact(SECRETARY, "+8613800138000", SECRETARY.id)
    assert "不能为空" in harness.fake.last(SECRETARY.id).text
    await harness.transcript(
        SECRETARY,
        [
            (TEXT, "发给谁"),
            ("再写一段", ["请点按钮选择", "发给谁"]),
            (("press", "全支部"), TEXT),
            (("press", "返回"), "发给谁"),
            (("press", "返回"), "请发送通知内容"),  # every step has a way back
            ("改过的通知", "发给谁"),
            (("press", "全支部"), "改过的通知"),
        ],
    )
    calls = await harness.press(SECRETARY, "ntc:zz:1")
    assert "失效" in calls[-1].text


async def test_confirm_twice_sends_one_notice_and_cancel_drops_the_draft(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await compose(harness)
    data = harness.fake.last(SECRETARY.id).button("提交")
    await harness.press(SECRETARY, data)
    again = await harness.press(SECRETARY, data)
    assert "已经处理过了" in again[-1].params["text"]
    await harness.deliver()
    assert len(harness.fake.sent(7001)) == 1

    await compose(harness)
    await harness.transcript(SECRETARY, [(("press", "取消"), "已取消")])
    again = await harness.press(SECRETARY, "ntc:x")
    assert "已经处理过了" in again[-1].params["text"]
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 1
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0


async def test_english_members_get_an_english_header_and_button(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await add_members(harness, branch, [7002], language="en")
    await compose(harness)
    await confirm(harness)
    await harness.deliver()
    assert harness.fake.last(7001).button("收到")
    english = harness.fake.last(7002)
    assert "Notice from" in english.text and TEXT in english.text and english.button("Received")


async def test_crash_between_insert_and_fan_out_leaves_nothing(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001, 7002])
    await compose(harness)
    real_fan_out = broadcast._fan_out

    async def crash_after_first_language(session, **kwargs):
        kwargs["message_for"]("zh")
        inserted = await real_fan_out(session, **kwargs)
        raise RuntimeError(f"crash after {inserted} rows")

    monkeypatch.setattr(broadcast, "_fan_out", crash_after_first_language)
    data = harness.fake.last(SECRETARY.id).button("提交")
    calls = await harness.press(SECRETARY, data)
    assert "请稍后再试" in calls[-1].text
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert await session.scalar(select(func.count()).select_from(Draft)) == 1  # can try again

    monkeypatch.setattr(broadcast, "_fan_out", real_fan_out)
    await harness.press(SECRETARY, data)
    await harness.deliver()
    assert len(harness.fake.sent(7001)) == len(harness.fake.sent(7002)) == 1


async def test_progress_is_edited_at_most_every_few_seconds_then_finished_once(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, range(7001, 7011))
    await compose(harness)
    notice_id = await confirm(harness)
    source = broadcast.source_of(notice_id)

    async def mark_sent(count: int) -> None:
        async with harness.session() as session:
            ids = (
                await session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.source == source, OutboxMessage.status == OutboxStatus.PENDING)
                    .limit(count)
                )
            ).all()
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(status=OutboxStatus.SENT)
            )
            await session.commit()

    async def tick() -> int:
        async with harness.session() as session:
            added = await broadcast.advance_notices(session, harness.clock.now())
            await session.commit()
            return added

    await mark_sent(3)
    assert await tick() == 1  # first progress edit
    await mark_sent(2)
    harness.clock.advance(seconds=2)
    assert await tick() == 0  # too soon
    harness.clock.advance(seconds=3)
    assert await tick() == 1
    harness.clock.advance(seconds=10)
    assert await tick() == 0  # nothing changed
    await mark_sent(5)
    assert await tick() == 2  # final edit + report
    assert await tick() == 0
    edits = [r for r in await harness.outbox() if r.kind == "edit" or r.source.endswith(":report")]
    assert [r.source.removeprefix(source) for r in edits] == [
        ":progress:1",
        ":progress:2",
        ":progress:final",
        ":report",
    ]
    assert "5/10" in edits[1].payload["text"] and "10/10" in edits[2].payload["text"]
    # Progress edits say so: a channel that cannot edit drops them (``bot.delivery.channel``).
    assert [is_progress(r.payload) for r in edits] == [True, True, True, False]


async def test_service_refuses_a_secretary_of_another_branch_directly(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await make_branch(harness, "广州流动党支部", OTHER_SECRETARY)
    async with harness.session() as session:
        person = await session.scalar(select(Person).where(telegram_user(OTHER_SECRETARY.id)))
        actor = await load_actor(session, person)
        reply = broadcast.may_compose(session, actor, branch)
        assert reply == denied(actor.language)  # refused, with nothing written but the audit entry
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
        await session.commit()
    assert ("notice.compose", branch) in await denials(harness)


async def test_notice_rows_are_bulk_and_a_notification_overtakes_them(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, range(7001, 7006))
    await compose(harness)
    await confirm(harness)
    async with harness.session() as session:
        secretary = await session.scalar(select(Person).where(telegram_user(SECRETARY.id)))
        from bot.services.outbox import notify_person

        await notify_person(
            session,
            secretary,
            source="urgent:1",
            key="notice.followup_already",
            not_before=harness.clock.now() + timedelta(seconds=1),
        )
        await session.commit()
    harness.clock.advance(seconds=1)
    calls = await harness.deliver()
    assert calls[0].chat_id == SECRETARY.id and "提醒过" in calls[0].text


async def test_a_secretary_of_two_branches_chooses_one(harness: BotHarness) -> None:
    first = await make_branch(harness)
    second = await make_branch(harness, "广州流动党支部", OTHER_SECRETARY)
    async with harness.session() as session:
        await admin.grant(session, user=SECRETARY.id, role=Role.COMMITTEE, branch=str(second), township=None)
        await session.commit()
    await add_members(harness, first, [7001])
    await add_members(harness, second, [7101])
    await harness.transcript(SECRETARY, [("/notice", "给哪个支部")])
    labels = [b["text"] for row in harness.fake.last(SECRETARY.id).buttons for b in row]
    assert labels == ["深圳流动党支部", "广州流动党支部", "取消"]
    await harness.transcript(
        SECRETARY,
        [
            (("press", "广州"), "请发送通知内容"),
            ("委员发的通知", "发给谁"),
            (("press", "全支部"), "共 1 人"),
            (("press", "提交"), "发送中"),
        ],
    )
    await harness.deliver()
    assert harness.fake.sent(7001) == [] and "委员发的通知" in harness.fake.last(7101).text
