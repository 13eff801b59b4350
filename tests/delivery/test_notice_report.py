"""The notice's delivery report kept current (issue 19 point 16) and what secretaries ask of it (issue 16
point 5): the 收到 count updated while members tap it, who was not reached and why (in the report, the
收到 list and its export), a one-tap resend; forged buttons; /mydata and /deleteme; old messages."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.i18n import t
from bot.services import admin
from storage.models import AuditEntry, Notice, NoticeAck, OutboxMessage, Person, Role
from tests.delivery.helpers import SECRETARY, add_members, make_branch
from tests.delivery.test_broadcast import TEXT, compose, confirm
from tests.factories import TgUser
from tests.harness import ADMIN_CHAT_ID, BotHarness

MEMBERS = [7001, 7002, 7003, 7004, 7005]
BLOCKED, NO_CHAT, TIMED_OUT = 7002, 7003, 7004


def report_calls(harness: BotHarness) -> list:
    """Everything sent to the secretary that is the delivery report: the message and its edits."""
    return [c for c in harness.fake.sent(SECRETARY.id) if "发送报告" in c.text]


async def send_with_troubles(harness: BotHarness) -> int:
    """A notice to five members: one blocked the bot, one chat does not exist, one send timed out."""
    branch = await make_branch(harness)
    await add_members(harness, branch, MEMBERS)
    harness.fake.blocked.add(BLOCKED)
    harness.fake.fail("bad_request:chat not found", chat_id=NO_CHAT)
    harness.fake.fail("read_timeout", chat_id=TIMED_OUT)
    await compose(harness)
    notice_id = await confirm(harness)
    await harness.deliver()
    return notice_id


async def test_the_report_names_who_was_not_reached_and_why(harness: BotHarness) -> None:
    notice_id = await send_with_troubles(harness)
    [report] = report_calls(harness)
    assert "已送达 2，屏蔽 1，失败 1，未确定 1" in report.text
    assert "未送达 3 人：" in report.text
    for name in ("党员7002（已屏蔽机器人）", "党员7003（找不到聊天）", "党员7004（未确定，可能已送达）"):
        assert name in report.text
    assert "党员7001" not in report.text and "党员7005" not in report.text
    # Resend is offered to the two that can be reached (not to the member who blocked the bot).
    assert report.button_data() == [f"ntc:na:{notice_id}", f"ntc:fu:{notice_id}", f"ntc:rs:{notice_id}"]
    assert "重发给未送达的 2 人" in [b["text"] for row in report.buttons for b in row]


async def test_the_ack_count_in_the_report_follows_the_taps(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001, 7002, 7003])
    await compose(harness)
    await confirm(harness)
    await harness.deliver()
    [report] = report_calls(harness)
    assert "已点“收到” 0 人" in report.text

    await harness.press(TgUser(7001), harness.fake.last(7001).button("收到"))
    edits = await harness.deliver()
    [edit] = [c for c in edits if c.chat_id == SECRETARY.id]
    assert edit.method == "editMessageText" and int(edit.params["message_id"]) == await report_message_id(
        harness
    )
    assert "已点“收到” 1 人" in edit.text and "已送达 3" in edit.text
    assert edit.button_data() == report.button_data()  # the buttons stay under the edited report

    # A burst of taps becomes one edit with the latest count; a repeated tap changes nothing.
    await harness.press(TgUser(7002), harness.fake.last(7002).button("收到"))
    await harness.press(TgUser(7003), harness.fake.last(7003).button("收到"))
    await harness.press(TgUser(7003), harness.fake.last(7003).button("收到"))
    edits = [c for c in await harness.deliver() if c.chat_id == SECRETARY.id]
    assert [c.method for c in edits] == ["editMessageText"] and "已点“收到” 3 人" in edits[0].text
    assert await harness.deliver() == []  # nothing changed: nothing edited
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(NoticeAck)) == 3


async def report_message_id(harness: BotHarness) -> int:
    """The Telegram message id the report was sent as (recorded on its outbox row)."""
    async with harness.session() as session:
        return await session.scalar(
            select(OutboxMessage.message_id).where(OutboxMessage.source.like("notice:%:report"))
        )


async def test_resend_in_one_tap_to_those_not_reached(harness: BotHarness) -> None:
    notice_id = await send_with_troubles(harness)
    calls = await harness.press(SECRETARY, f"ntc:rs:{notice_id}")
    assert "已向 2 人重发" in "\n".join(c.text for c in calls)
    again = await harness.press(SECRETARY, f"ntc:rs:{notice_id}")  # a double tap sends nothing more
    assert [c.params.get("text") for c in again] == [t("zh", "common.already_done")]

    await harness.deliver()
    assert len(harness.fake.sent(NO_CHAT)) == 1  # the chat exists now: delivered this time
    assert len(harness.fake.sent(TIMED_OUT)) == 2  # may have had it: the secretary chose to resend
    assert harness.fake.sent(BLOCKED) == [] and len(harness.fake.sent(7001)) == 1
    last = report_calls(harness)[-1]
    assert last.method == "editMessageText"
    assert "已送达 4，屏蔽 1，失败 0，未确定 0" in last.text
    assert "未送达 1 人：党员7002（已屏蔽机器人）" in last.text
    assert f"ntc:rs:{notice_id}" not in last.button_data()  # nobody left to resend to
    async with harness.session() as session:
        audits = await session.scalar(
            select(func.count()).where(AuditEntry.action == "notice.resend", AuditEntry.result == "ok")
        )
    assert audits == 1

    # The member who blocked the bot comes back (writes to it): the 收到 list offers them a resend.
    harness.fake.blocked.discard(BLOCKED)
    await harness.send(TgUser(BLOCKED), "/start")
    calls = await harness.press(SECRETARY, f"ntc:na:{notice_id}")
    [listed] = [c for c in calls if c.method == "sendMessage"]
    await harness.press(SECRETARY, listed.button("重发给未送达的 1 人"))
    await harness.deliver()
    assert len(harness.fake.sent(BLOCKED)) == 2  # the /start answer and the notice
    assert TEXT in harness.fake.last(BLOCKED).text
    assert "已送达 5，屏蔽 0" in report_calls(harness)[-1].text


async def test_the_ack_list_gives_reasons_and_exports_them(harness: BotHarness) -> None:
    notice_id = await send_with_troubles(harness)
    await harness.press(TgUser(7001), harness.fake.last(7001).button("收到"))
    calls = await harness.press(SECRETARY, f"ntc:na:{notice_id}")
    [listed] = [c for c in calls if c.method == "sendMessage"]
    assert f"通知 #{notice_id}：4 人还没点“收到”。" in listed.text
    assert "已送达 1 人：党员7005" in listed.text
    assert "未送达 3 人：党员7002（已屏蔽机器人）" in listed.text
    assert "党员7003（找不到聊天）" in listed.text and "党员7004（未确定，可能已送达）" in listed.text
    assert "党员7001" not in listed.text

    calls = await harness.press(SECRETARY, listed.button("导出名单"))
    [document] = [c for c in calls if c.method == "sendDocument"]
    name, content = document.files["document"]
    assert name.endswith(".xlsx") and "共 5 人" in document.text
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["姓名", "已送达", "未送达原因", "已点收到", "收到时间", "送达渠道"]
    by_name = {row[0]: row[1:4] for row in rows[1:]}
    assert by_name == {
        "党员7001": ["是", None, "是"],
        "党员7002": ["否", "已屏蔽机器人", "否"],
        "党员7003": ["否", "找不到聊天", "否"],
        "党员7004": ["否", "未确定，可能已送达", "否"],
        "党员7005": ["是", None, "否"],
    }
    assert rows[1][4] is not None  # when 党员7001 tapped 收到, as a date cell

    # Another branch's secretary can neither list nor export nor resend; each refusal is audited.
    other = TgUser(5002)
    other_branch = await make_branch(harness, "广州流动党支部", other)
    assert other_branch
    for data in (f"ntc:ex:{notice_id}", f"ntc:rs:{notice_id}"):
        calls = await harness.press(other, data)
        assert [c.params.get("text") for c in calls] == [t("zh", "error.not_allowed")], data
    async with harness.session() as session:
        denied = set(await session.scalars(select(AuditEntry.action).where(AuditEntry.result == "denied")))
    assert {"notice.export", "notice.resend"} <= denied


@pytest.mark.parametrize(
    "data",
    [
        "ntc:ack:99999999999999999999",
        "ntc:na:9223372036854775808",
        "ntc:fu:18446744073709551616",
        "ntc:rs:99999999999999999999",
        "ntc:ex:-1",
        "ntc:b:99999999999999999999",
        "ntc:a:NOT_AN_AUDIENCE",
        "ntc:ack:1:2",
        "ntc:ack:",
        "rpt:r:99999999999999999999:202602",
        "rpt:c:9223372036854775808:202602",
        "rpt:t:99999999999999999999:2026",
    ],
)
async def test_forged_or_oversized_ids_are_stale_buttons(harness: BotHarness, data: str) -> None:
    """The ntc:* OverflowError (SQLite) / DBAPIError (PostgreSQL): now a stale button, nothing else."""
    await make_branch(harness)
    calls = await harness.press(SECRETARY, data)
    assert [(c.method, c.params.get("text")) for c in calls] == [
        ("answerCallbackQuery", t("zh", "error.stale_button"))
    ]
    assert harness.fake.sent(ADMIN_CHAT_ID) == []  # no crash reported


async def test_a_preview_that_can_no_longer_be_edited_is_answered_anew(harness: BotHarness) -> None:
    """Issue 19 point 18: "message can't be edited" is handled: the screen comes as a new message."""
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001])
    await harness.transcript(SECRETARY, [("/notice", "请发送"), (TEXT, "发给谁")])
    harness.fake.fail("bad_request:message can't be edited", method="editMessageText")
    calls = await harness.press(SECRETARY, harness.fake.last(SECRETARY.id).button("全支部"))
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    assert "共 1 人" in calls[-1].text and calls[-1].button("提交")
    assert harness.fake.sent(ADMIN_CHAT_ID) == []


async def test_mydata_shows_and_deleteme_erases_notices_and_acks(harness: BotHarness) -> None:
    branch = await make_branch(harness)
    await add_members(harness, branch, [7001, SECRETARY.id])
    await compose(harness, text="请张三周六到党群服务中心")
    notice_id = await confirm(harness)
    await harness.deliver()
    member = TgUser(7001)
    await harness.press(member, harness.fake.last(member.id).button("收到"))

    async def my_data(user: TgUser) -> dict:
        calls = await harness.send(user, "/mydata")
        [document] = [c for c in calls if c.method == "sendDocument"]
        return json.loads(document.files["document"][1])["notices"]

    assert [a["notice_id"] for a in (await my_data(member))["acknowledged"]] == [notice_id]
    written = (await my_data(SECRETARY))["written"]
    assert [(w["id"], w["text"]) for w in written] == [(notice_id, "请张三周六到党群服务中心")]

    await harness.send(member, "/deleteme")
    await harness.press(member, "self:del")
    # An officer cannot erase themselves; a former secretary can.
    async with harness.session() as session:
        await admin.revoke(session, user=SECRETARY.id, role=Role.SECRETARY, branch=str(branch), township=None)
        await session.commit()
    await harness.send(SECRETARY, "/deleteme")
    await harness.press(SECRETARY, "self:del")
    async with harness.session() as session:
        notice = await session.get(Notice, notice_id)
        assert notice.text is None and notice.author_person_id is None and notice.recipients == 2
        assert await session.scalar(select(func.count()).select_from(NoticeAck)) == 0
        rows = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.source == f"notice:{notice_id}")
        )
        assert rows == 2  # the delivery record stays, for the counts
        people = await session.scalars(select(Person.chat_id))
        assert member.id not in list(people)
