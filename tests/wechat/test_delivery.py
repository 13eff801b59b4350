"""Messages the bot starts, on WeChat: customer-service texts inside the 48-hour window (5 at most), template
messages linking to the H5 page outside it, and the error matrix, against the fake WeChat API server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.dialog import Button
from bot.services.outbox import Outgoing, enqueue
from storage.models import (
    ActivityRsvp,
    OutboxMessage,
    OutboxStatus,
    WeChatChoice,
    WeChatWindow,
)
from tests.activity.factory import local, make_branch, set_plan
from tests.factories import TgUser
from tests.harness import ADMIN_CHAT_ID, BotHarness
from tests.wechat.outbound import (
    PUBLIC,
    TPL_REMINDER,
    WeChatOut,
    account_of,
    add_wechat_member,
    openid,
    page_path,
    rows_to,
    wx_fixture,  # noqa: F401 - the fixture ``wx``
)
from wechat.delivery import FIELD_MAX, TEMPLATE_FIELDS, WECHAT_LIMITS

SECRETARY = TgUser(8800, "书记")


async def branch(harness: BotHarness) -> int:
    async with harness.session() as session:
        world = await make_branch(
            session, secretary=SECRETARY, members=[], approved_at=datetime(2026, 1, 5, tzinfo=UTC)
        )
    return world.branch_id


async def notify(harness: BotHarness, n: int, source: str, text: str = "您的报到申请已通过。", **kw) -> None:
    """A message to the WeChat member ``n``, as a service enqueues one."""
    async with harness.session() as session:
        account = await account_of(harness, n)
        await enqueue(
            session,
            source=source,
            channel="wechat",
            address=openid(n),
            person_id=account.person_id,
            message=Outgoing(text=text, **kw),
            not_before=harness.clock.now(),
        )
        await session.commit()


def check_fields(data: dict) -> None:
    assert set(data) == set(TEMPLATE_FIELDS)
    for field in data.values():
        value = field["value"]
        assert value and len(value) <= FIELD_MAX and "\n" not in value, value


async def test_the_limits_are_set_for_wechat() -> None:
    assert WECHAT_LIMITS.rate == 20.0 and WECHAT_LIMITS.chat_gap == 0
    assert WECHAT_LIMITS.group_limit is None and not WECHAT_LIMITS.can_edit


async def test_a_reminder_outside_the_window_goes_as_a_template_whose_page_answers(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await branch(harness)
    days_ago = harness.clock.now() - timedelta(days=5)
    await add_wechat_member(harness, branch_id, 1, last_inbound_at=days_ago)
    await set_plan(
        harness,
        type("World", (), {"branch_id": branch_id, "secretary": SECRETARY})(),
        rule="15",
        time="19:00",
        place="社区党群服务中心",
    )
    from app.features import reminder_kinds
    from bot.scheduling.engine import QuietHours, tick

    harness.clock.set(local(2026, 3, 12, 8, 0))
    await tick(harness.db, harness.clock.now(), QuietHours(), reminder_kinds())
    assert await wx.drain() == 1

    assert wx.fake.texts_to(openid(1)) == []  # outside the window: no customer-service message
    [template] = wx.fake.templates_to(openid(1))
    assert template["template_id"] == TPL_REMINDER
    check_fields(template["data"])
    assert template["data"]["thing1"]["value"].startswith("【党员活动日提醒】")
    assert template["data"]["thing2"]["value"] == "上海流动党支部"
    assert template["data"]["time3"]["value"] == "2026年03月12日 08:00"
    [row] = await rows_to(harness, 1)
    assert row.status == OutboxStatus.SENT and row.template_msgid is not None and row.kind == "reminder"

    page = await wx.client.get(page_path(template["url"]))
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "【党员活动日提醒】" in page.text and "地点：社区党群服务中心" in page.text
    assert ">参加</button>" in page.text and ">请假</button>" in page.text
    data = next(b["data"] for line in row.payload["buttons"] for b in line if b["text"] == "参加")
    answered = await wx.client.post(page_path(template["url"]), data={"data": data})
    assert answered.status_code == 200 and "已记下您参加" in answered.text
    async with harness.session() as session:
        assert [r.answer for r in await session.scalars(select(ActivityRsvp))] == ["attend"]
    # The page is not a message in the chat: the window stays closed.
    assert (await account_of(harness, 1)).last_inbound_at == days_ago


async def test_inside_the_window_a_customer_service_message_with_numbered_choices(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 2, last_inbound_at=harness.clock.now() - timedelta(hours=3))
    buttons = ((Button("参加", data="act:y:1"), Button("请假", data="act:n:1")),)
    await notify(harness, 2, "test:1", "本月活动日定在15日。", buttons=buttons)
    assert await wx.drain() == 1
    [text] = wx.fake.texts_to(openid(2))
    assert text.startswith("本月活动日定在15日。") and "回复 1 参加" in text and "2 请假" in text
    assert wx.fake.templates_to(openid(2)) == []
    account = await account_of(harness, 2)
    async with harness.session() as session:
        choice = await session.get(WeChatChoice, account.id)
        window = await session.get(WeChatWindow, account.id)
    assert choice is not None and choice.choices == ["act:y:1", "act:n:1"]
    assert window is not None and window.sent == 1
    [row] = await rows_to(harness, 2)
    assert row.status == OutboxStatus.SENT and row.template_msgid is None


async def test_the_sixth_message_in_a_window_goes_as_a_template(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 3, last_inbound_at=harness.clock.now() - timedelta(hours=1))
    for i in range(6):
        await notify(harness, 3, f"test:{i}", f"第{i + 1}条消息")
    assert await wx.drain() == 6
    assert wx.fake.texts_to(openid(3)) == [f"第{i + 1}条消息" for i in range(5)]
    [template] = wx.fake.templates_to(openid(3))
    assert template["data"]["thing1"]["value"] == "第6条消息"
    # The member writes again: a new window, customer-service messages again.
    async with harness.session() as session:
        account = await account_of(harness, 3)
        account.last_inbound_at = harness.clock.now()
        session.add(account)
        await session.commit()
    await notify(harness, 3, "test:7", "第7条消息")
    await wx.drain()
    assert wx.fake.texts_to(openid(3))[-1] == "第7条消息"


async def test_a_closed_window_falls_back_to_a_template(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 4, last_inbound_at=harness.clock.now() - timedelta(hours=47))
    wx.fake.close_window(openid(4))  # WeChat disagrees with our clock: 45015
    await notify(harness, 4, "test:a", "第一条")
    await notify(harness, 4, "test:b", "第二条")
    assert await wx.drain() == 2
    custom = wx.fake.calls("message/custom/send")
    assert len(custom) == 1 and not custom[0].ok  # tried once; the second went straight to a template
    assert [t["data"]["thing1"]["value"] for t in wx.fake.templates_to(openid(4))] == ["第一条", "第二条"]


async def test_a_long_text_is_cut_with_a_link_to_the_whole(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 5, last_inbound_at=harness.clock.now())
    long_text = "学习材料。" * 300  # 4,500 bytes
    await notify(harness, 5, "test:long", long_text, buttons=((Button("收到", data="ntc:ack:1"),),))
    await wx.drain()
    [text] = wx.fake.texts_to(openid(5))
    assert len(text.encode()) <= 2048 and f"全文：{PUBLIC}/m/" in text and "回复 1 收到" in text
    url = text.split("全文：")[1].split()[0]
    page = await wx.client.get(page_path(url))
    assert page.text.count("学习材料。") == 300


async def test_not_following_marks_the_account_unreachable(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 6)
    wx.fake.unfollow(openid(6))
    await notify(harness, 6, "test:1")
    assert await wx.drain() == 0
    [row] = await rows_to(harness, 6)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "unreachable")
    assert (await account_of(harness, 6)).unreachable
    calls = len(wx.fake.requests)
    await notify(harness, 6, "test:2")
    await wx.drain()
    assert len(wx.fake.requests) == calls  # known unreachable: not tried again
    assert [r.last_error for r in await rows_to(harness, 6)] == ["unreachable", "unreachable"]


async def test_the_quota_stops_the_channel_until_the_next_day_and_reports(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await branch(harness)
    for n in (7, 8):
        await add_wechat_member(harness, branch_id, n)
    wx.fake.fail_next("message/template/send", 45009, "reach max api daily quota limit")
    await notify(harness, 7, "test:q7")
    await notify(harness, 8, "test:q8")
    assert await wx.drain() == 0
    assert wx.delivery.state() == "down"
    assert len(wx.fake.calls("message/template/send")) == 1  # the second row was not tried
    resume = datetime(2026, 3, 2, 16, 5, tzinfo=UTC)  # 00:05 the next day in Beijing
    for row in await rows_to(harness):
        assert row.status == OutboxStatus.PENDING and row.next_attempt_at <= resume
    [first] = await rows_to(harness, 7)
    assert first.next_attempt_at == resume and first.last_error == "wx_45009"
    # Reported to the administrators' chat (through the Telegram sender).
    reported = await harness.deliver()
    assert any(c.chat_id == ADMIN_CHAT_ID and "45009" in c.text for c in reported)
    harness.clock.set(resume)
    assert wx.delivery.state() == "up"
    assert await wx.drain() == 2
    assert {r.status for r in await rows_to(harness)} == {OutboxStatus.SENT}


async def test_busy_backs_off_and_retries(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 9)
    wx.fake.fail_next("message/template/send", -1, "system error")
    await notify(harness, 9, "test:busy")
    assert await wx.drain() == 0
    [row] = await rows_to(harness, 9)
    assert (row.status, row.last_error) == (OutboxStatus.PENDING, "wx_-1")
    assert row.next_attempt_at > harness.clock.now()
    harness.clock.advance(seconds=10)
    assert await wx.drain() == 1
    assert len(wx.fake.templates_to(openid(9))) == 2


async def test_an_edit_row_goes_as_a_new_message(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 10, last_inbound_at=harness.clock.now())
    async with harness.session() as session:
        account = await account_of(harness, 10)
        session.add(
            OutboxMessage(
                source="test:edit",
                kind="edit",
                channel="wechat",
                address=openid(10),
                person_id=account.person_id,
                payload={"text": "已更新", "edit_message_id": 5},
                status=OutboxStatus.PENDING,
                next_attempt_at=harness.clock.now(),
            )
        )
        await session.commit()
    await wx.drain()
    assert wx.fake.texts_to(openid(10)) == ["已更新"]


async def test_without_a_public_address_long_texts_go_in_parts_and_templates_cannot_go(
    harness: BotHarness, wx: WeChatOut
) -> None:
    from tests.wechat.outbound import build_settings
    from wechat.api import WeChatApi
    from wechat.delivery import WeChatDelivery

    settings = build_settings(harness, wx.fake, public_base_url=None)
    api = WeChatApi(settings, harness.db, harness.clock)
    delivery = WeChatDelivery(harness.db, harness.clock, api, settings, concurrency=1)
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 11, last_inbound_at=harness.clock.now())
    await add_wechat_member(harness, branch_id, 12)
    await notify(harness, 11, "test:parts", "第一段。\n" + "学习材料。" * 200)
    await notify(harness, 12, "test:nopage", "窗口外的消息")
    try:
        assert await delivery.drain() == 1
    finally:
        await api.aclose()
    parts = wx.fake.texts_to(openid(11))
    assert len(parts) == 2 and all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(parts).replace("\n", "") == ("第一段。" + "学习材料。" * 200)
    async with harness.session() as session:
        window = await session.get(WeChatWindow, (await account_of(harness, 11)).id)
    assert window.sent == 2
    [row] = await rows_to(harness, 12)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "wx_no_page")


async def test_the_runner_builds_one_sender_whose_lanes_reach_each_channel(
    harness: BotHarness, wx: WeChatOut
) -> None:
    from app.runner import Parts, build_delivery
    from bot.delivery.telegram import DELIVERY_KEY
    from handlers.context import DEPS_KEY

    parts = Parts(wx.settings, harness.db, harness.clock, harness.deps.conversation)
    parts.wechat_outbox = wx.delivery.adapter
    delivery = build_delivery(harness.app, parts)
    assert list(delivery.lanes) == ["telegram", "wechat"]
    assert harness.app.bot_data[DEPS_KEY].components[DELIVERY_KEY] is delivery  # the component starts it
    assert not delivery.lane("wechat").limits.can_edit and delivery.lane("telegram").limits.can_edit
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 13, last_inbound_at=harness.clock.now())
    await notify(harness, 13, "test:both", "微信上的消息")
    async with harness.session() as session:
        await enqueue(
            session,
            source="test:both",
            chat_id=7013,
            message=Outgoing(text="电报上的消息"),
            not_before=harness.clock.now(),
        )
        await session.commit()
    assert await delivery.drain() == 2
    assert wx.fake.texts_to(openid(13)) == ["微信上的消息"]
    assert harness.fake.texts(7013) == ["电报上的消息"]
