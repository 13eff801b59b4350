"""The relay and applications on the conversation core: forged and oversized button ids are stale (never a
crash), /mydata holds and /deleteme erases every personal free text, and the issue-19 points of /apply,
the relayed phone format and the requests sheet's print setup."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.features import build_features
from bot.reports import sheets as report_sheets
from bot.services.export import write_workbook
from storage.models import Draft, JoinApplication, RequestAttachment, RequestEvent, ServiceRequest
from tests import factories
from tests.factories import TgUser
from tests.harness import ADMIN_CHAT_ID, BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, SECRETARY_A, make_world
from tests.relay.helpers import tap, texts

APPLICANT = TgUser(7600, "周")
TOO_BIG = "2147483648"  # one more than an INTEGER column holds (the ids of these tables)
INT64_TOO_BIG = "9223372036854775808"  # one more than a BIGINT column holds
HUGE = "99999999999999999999"


async def _world(harness: BotHarness):
    async with harness.session() as session:
        return await make_world(session, harness.clock.now())


@pytest.mark.parametrize(
    "data",
    [
        f"rl:item:{TOO_BIG}",
        f"rl:my:{HUGE}",
        f"rl:add:{TOO_BIG}",
        f"rl:wd:{TOO_BIG}",
        f"rl:wdy:{HUGE}",
        f"rl:view:{TOO_BIG}",
        f"rl:acc:{HUGE}",
        f"rl:fwd:{TOO_BIG}",
        f"rl:miss:{TOO_BIG}",
        f"rl:done:{HUGE}",
        f"rl:ref:{TOO_BIG}",
        f"rl:ans:{TOO_BIG}",
        f"rl:view:{INT64_TOO_BIG}",
        f"jn:talk:{INT64_TOO_BIG}",
        "rl:view:9223372036854775807",
        "rl:view:-1",
        "rl:acc:0",
        "rl:acc:abc",
        f"rl:cat:off:{TOO_BIG}",
        f"rl:cat:on:{HUGE}",
        f"rl:cat:new:{TOO_BIG}",
        "rl:cat:k:bogus",
        "rl:cat:zap:1",
        "rl:nonsense",
        "rl:sub:1",
        f"jn:view:{TOO_BIG}",
        f"jn:talk:{HUGE}",
        f"jn:stg:{TOO_BIG}:activist",
        f"jn:tw:{TOO_BIG}",
        f"jn:br:{HUGE}",
        "jn:yr:3000",
        "jn:mo:13",
        "jn:dy:32",
        "jn:yp:99",
        "jn:ed:nonsense",
        "jn:back:",
        "jn:zzz:1",
        "apply:other",
    ],
)
async def test_forged_and_oversized_ids_are_stale_buttons(harness: BotHarness, data: str) -> None:
    await _world(harness)
    for user in (MEMBER_A, AGENT_A, SECRETARY_A):
        calls = await harness.press(user, data)
        shown = texts(calls)
        assert "这个按钮已失效" in shown, (data, shown)
    # No crash: nothing reached the admin chat's error reports.
    assert not harness.fake.sent(ADMIN_CHAT_ID)


@pytest.mark.parametrize("data", ["rl:view:2147483647", "jn:view:2147483647"])
async def test_the_largest_id_is_looked_up_and_refused(harness: BotHarness, data: str) -> None:
    await _world(harness)
    shown = texts(await harness.press(AGENT_A, data)) + texts(await harness.press(SECRETARY_A, data))
    assert "没有权限" in shown
    assert not harness.fake.sent(ADMIN_CHAT_ID)


# -- privacy through the live bot ---------------------------------------------------------------------------

RELAY_TEXTS = (
    "身份证号 110101199003070011",  # a typed material
    "户口本首页照片",  # a photo's caption
    "迁移证明-张三.pdf",  # a document's file name
    "户籍证明原件",  # the agent's missing list (request.missing and the event's note)
    "补交的户籍证明说明",  # a material added later
    "迁移证编号 QY-7788",  # the result
    "缺少劳动合同原件",  # a refusal's reason
)


async def _mydata(harness: BotHarness, user: TgUser) -> str:
    calls = await harness.send(user, "/mydata")
    document = next(c for c in calls if c.method == "sendDocument")
    return json.dumps(json.loads(document.files["document"][1]), ensure_ascii=False)


async def _requests_with_every_text(harness: BotHarness) -> None:
    await harness.transcript(MEMBER_A, [("/services", "青山镇"), (("press", "户口迁移"), "提交")])
    await harness.send(MEMBER_A, RELAY_TEXTS[0])
    await harness.feed(factories.photo_update(MEMBER_A, "photo-p1", caption=RELAY_TEXTS[1]))
    await harness.feed(factories.document_update(MEMBER_A, "doc-p1", file_name=RELAY_TEXTS[2]))
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #1")])
    await harness.deliver()
    assert "缺哪些材料" in texts(await harness.press(AGENT_A, "rl:miss:1"))
    await harness.transcript(AGENT_A, [(RELAY_TEXTS[3], "补办材料清单")])
    await harness.deliver()
    await tap(harness, MEMBER_A, "补材料")
    await harness.send(MEMBER_A, RELAY_TEXTS[4])
    await harness.transcript(MEMBER_A, [(("press", "提交"), "#1")])
    await harness.deliver()
    harness.clock.advance(seconds=30)
    assert "已受理" in texts(await harness.press(AGENT_A, "rl:acc:1"))
    await harness.press(AGENT_A, "rl:done:1")
    await harness.transcript(AGENT_A, [(RELAY_TEXTS[5], "#1")])
    await harness.deliver()
    await harness.transcript(MEMBER_A, [("/services", "青山镇"), (("press", "在外务工证明"), "提交")])
    await harness.send(MEMBER_A, "请开务工证明")
    await harness.transcript(MEMBER_A, [(("press", "提交"), "已提交 #2")])
    await harness.deliver()
    await harness.press(AGENT_A, "rl:ref:2")
    await harness.transcript(AGENT_A, [(RELAY_TEXTS[6], "#2")])
    await harness.deliver()


async def test_mydata_holds_and_deleteme_erases_every_relay_text(harness: BotHarness) -> None:
    await _world(harness)
    await _requests_with_every_text(harness)
    held = await _mydata(harness, MEMBER_A)
    for text in RELAY_TEXTS:
        assert text in held, text

    await harness.transcript(MEMBER_A, [("/deleteme", "不能恢复"), (("press", "删除"), "已删除")])
    async with harness.session() as session:
        requests = list(await session.scalars(select(ServiceRequest).order_by(ServiceRequest.id)))
        assert [r.id for r in requests] == [1, 2]  # the township's figures keep the rows
        for request in requests:
            assert (request.missing, request.result_text, request.reason, request.member_id) == (
                None,
                None,
                None,
                None,
            )
        assert list(await session.scalars(select(RequestAttachment))) == []
        assert [n for n in await session.scalars(select(RequestEvent.note)) if n is not None] == []
    again = await _mydata(harness, MEMBER_A)
    for text in RELAY_TEXTS:
        assert text not in again, text


async def _apply_by_buttons(harness: BotHarness, user: TgUser = APPLICANT) -> None:
    await harness.transcript(user, [("/apply", ["年满18周岁", "出生年份"])])
    assert "2008" in harness.fake.last(user.id).button_data()[0]  # the newest year an adult was born in
    await harness.transcript(
        user,
        [
            (("press", "更早"), "出生年份"),
            (("press", "1994"), ["1994 年", "月份"]),
            (("press", "返回"), "出生年份"),
        ],
    )
    await harness.transcript(
        user,
        [
            (("press", "1995"), "月份"),  # back on the page of years it left
            (("press", "2"), ["1995 年 2 月", "日期"]),
        ],
    )
    days = [d for d in harness.fake.last(user.id).button_data() if d.startswith("jn:dy:")]
    assert days[-1] == "jn:dy:28"  # no 29 February in 1995
    await harness.transcript(user, [(("press", "28"), "姓名"), ("周九", "手机号")])
    harness.clock.advance(seconds=30)


async def test_apply_birth_date_by_buttons_back_share_number_and_edit(harness: BotHarness) -> None:
    await _world(harness)
    await _apply_by_buttons(harness)
    # The phone question offers 分享号码 on a keyboard with 返回 and 取消.
    markup = harness.fake.last(APPLICANT.id).params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    keys = [k for row in markup["keyboard"] for k in row]
    assert keys[0]["text"] == "分享号码" and keys[0]["request_contact"] is True
    assert {"返回", "取消"} <= {k["text"] for k in keys}
    # Typed 返回 on that keyboard goes back to the name, and the keyboard goes away.
    calls = await harness.send(APPLICANT, "返回")
    assert "请输入您的姓名" in texts(calls)
    assert any("remove_keyboard" in str(c.params.get("reply_markup")) for c in calls)
    await harness.transcript(APPLICANT, [("周九", "手机号")])
    await harness.share_contact(APPLICANT, "+8613800138077", APPLICANT.id)
    await harness.transcript(
        APPLICANT,
        [
            (("press", "青山镇"), "哪个流动党支部"),
            (("press", "返回"), "家乡是哪个乡镇"),
            (("press", "青山镇"), "哪个流动党支部"),
            (("press", "深圳流动党支部"), "入党申请书"),
            ("我志愿加入中国共产党。", ["请核对", "周九", "138 0013 8077", "1995-02-28", "文字"]),
        ],
    )
    harness.clock.advance(seconds=30)  # a person, not a flood: the throttle lets the rest through
    # Change the name and the birth date from the confirmation: each comes back to it.
    await harness.transcript(
        APPLICANT,
        [
            (("press", "改姓名"), "姓名"),
            ("周十", ["请核对", "周十", "1995-02-28"]),
            (("press", "改出生日期"), "出生年份"),
            ("1990-07-01", ["请核对", "周十", "1990-07-01", "深圳流动党支部"]),
            (("press", "提交"), "已提交（#1）"),
        ],
    )
    calls = await harness.deliver()
    to_secretary = texts(calls, SECRETARY_A)
    assert "周十" in to_secretary and "138 0013 8077" in to_secretary and "+86" not in to_secretary


async def test_cancel_on_the_phone_keyboard_closes_the_form(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(APPLICANT, [("/apply", "出生"), ("1990-01-01", "姓名"), ("周九", "手机号")])
    calls = await harness.send(APPLICANT, "取消")
    assert "已取消" in texts(calls)
    assert any("remove_keyboard" in str(c.params.get("reply_markup")) for c in calls)
    async with harness.session() as session:
        assert await session.scalar(select(Draft).where(Draft.flow == "apply")) is None


async def test_an_old_back_button_is_stale(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(APPLICANT, [("/apply", "出生"), ("1990-01-01", "姓名"), ("周九", "手机号")])
    # 返回 under the name question, pressed after the form moved on, must not rewind it.
    assert "已失效" in texts(await harness.press(APPLICANT, "jn:back:name"))
    async with harness.session() as session:
        assert (await session.scalar(select(Draft).where(Draft.flow == "apply"))).step == "phone"


async def test_mydata_holds_and_deleteme_erases_the_application(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(
        APPLICANT,
        [
            ("/apply", "出生"),
            ("1990-07-01", "姓名"),
            ("周九", "手机号"),
            ("13800138077", "乡镇"),
            (("press", "青山镇"), "支部"),
            (("press", "深圳流动党支部"), "申请书"),
            ("我志愿加入中国共产党，愿意为共产主义奋斗终身。", "请核对"),
            (("press", "提交"), "已提交"),
        ],
    )
    held = await _mydata(harness, APPLICANT)
    for text in ("周九", "+8613800138077", "1990-07-01", "愿意为共产主义奋斗终身"):
        assert text in held, text
    await harness.transcript(APPLICANT, [("/deleteme", "不能恢复"), (("press", "删除"), "已删除")])
    async with harness.session() as session:
        assert list(await session.scalars(select(JoinApplication))) == []
    again = await _mydata(harness, APPLICANT)
    for text in ("周九", "8613800138077", "1990-07-01", "愿意为共产主义奋斗终身"):
        assert text not in again, text


def test_every_personal_column_is_declared() -> None:
    features = {f.name: f for f in build_features()}
    relay_columns = {f"{c.table.name}.{c.name}" for c in features["relay"].personal_columns}
    assert {
        "relay_request.missing",
        "relay_request.result_text",
        "relay_request.reason",
        "relay_event.note",
        "relay_attachment.text",
        "relay_attachment.filename",
        "relay_attachment.file_id",
    } <= relay_columns
    apply_columns = {f"{c.table.name}.{c.name}" for c in features["applications"].personal_columns}
    assert {
        "join_application.name",
        "join_application.phone",
        "join_application.birth_date",
        "join_application.letter_text",
        "join_application.letter_file_id",
        "join_application.letter_filename",
    } <= apply_columns


async def test_the_requests_sheet_is_set_up_for_printing(harness: BotHarness) -> None:
    world = await _world(harness)
    async with harness.session() as session:
        sheet = await report_sheets.requests_sheet(session, world.branch_a, "zh")
    workbook = load_workbook(io.BytesIO(write_workbook([sheet])))
    ws = workbook.worksheets[0]
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert int(ws.page_setup.fitToWidth) == 1 and int(ws.page_setup.fitToHeight) == 0
    assert ws.print_title_rows == "$1:$1"


@pytest.mark.parametrize(
    "failure", ["bad_request:message can't be edited", "bad_request:message is not modified"]
)
async def test_a_press_on_a_message_that_cannot_be_edited_is_handled(
    harness: BotHarness, failure: str
) -> None:
    """Issue 19, point 18: the year pager updates its message; when Telegram refuses the edit, the screen
    comes as a new message (or, not modified, stays as it is), never an error reply or an admin report."""
    await _world(harness)
    await harness.transcript(APPLICANT, [("/apply", "出生年份")])
    harness.fake.fail(failure, method="editMessageText")
    calls = await harness.press(APPLICANT, "jn:yp:1")
    sent = [c for c in calls if c.method == "sendMessage"]
    if "can't be edited" in failure:
        assert len(sent) == 1 and "jn:yr:1996" in sent[0].button_data()
    else:
        assert sent == []
    assert "出了点问题" not in texts(calls) and not harness.fake.sent(ADMIN_CHAT_ID)
    async with harness.session() as session:
        assert (await session.scalar(select(Draft).where(Draft.flow == "apply"))).data["year_page"] == 1
