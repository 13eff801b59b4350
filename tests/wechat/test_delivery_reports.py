"""What happens after a WeChat send: job-finish events in a notice's delivery report, the 收到 on the page,
timeouts left uncertain, re-routing to a person's other account, and a clean stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from bot.services.broadcast import notice_counts
from storage.models import NoticeAck, OutboxStatus, WebMessage, WeChatJobEvent
from tests.delivery.helpers import SECRETARY, make_branch
from tests.delivery.test_broadcast import compose, confirm
from tests.harness import BotHarness
from tests.wechat.outbound import (
    TPL_NOTICE,
    WeChatOut,
    account_of,
    add_wechat_member,
    openid,
    page_path,
    rows_to,
    wx_fixture,  # noqa: F401 - the fixture ``wx``
)
from tests.wechat.test_delivery import branch, notify
from web.channel import WebChannel
from wechat.api import WeChatApi
from wechat.delivery import WeChatDelivery, record_job_finish


def report_texts(harness: BotHarness) -> list[str]:
    return [c.text for c in harness.fake.sent(SECRETARY.id) if "发送报告" in c.text]


async def test_a_notice_on_wechat_its_page_and_the_job_finish_events_in_the_report(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await make_branch(harness)
    for n in (1, 2, 3):
        await add_wechat_member(harness, branch_id, n)
    await compose(harness, text="本周六上午九点开会。\n请带好笔记本。")
    notice_id = await confirm(harness)
    assert await wx.drain() == 3
    templates = [wx.fake.templates_to(openid(n))[0] for n in (1, 2, 3)]
    assert {t["template_id"] for t in templates} == {TPL_NOTICE}
    assert templates[0]["data"]["thing1"]["value"] == "深圳流动党支部通知"  # no emoji, one line
    assert templates[0]["data"]["thing2"]["value"] == "深圳流动党支部"

    # The member opens the page: the whole notice and the 收到 button; 收到 is recorded once.
    page = await wx.client.get(page_path(templates[0]["url"]))
    assert "本周六上午九点开会。\n请带好笔记本。" in page.text and ">收到</button>" in page.text
    [row] = await rows_to(harness, 1)
    ack = row.payload["buttons"][0][0]["data"]
    first = await wx.client.post(page_path(templates[0]["url"]), data={"data": ack})
    again = await wx.client.post(page_path(templates[0]["url"]), data={"data": ack})
    assert "收到" in first.text and first.status_code == again.status_code == 200
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(NoticeAck)) == 1

    # The report went to the secretary when the sends were done: three delivered so far.
    await harness.deliver()
    report, *edited = report_texts(harness)
    assert "已送达 3，屏蔽 0，失败 0" in report
    assert "已点“收到” 1 人" in (edited or [report])[-1]

    # WeChat reports each template message: delivered, refused by the member, failed.
    msgids = [r.template_msgid for n in (1, 2, 3) for r in await rows_to(harness, n)]
    async with harness.session() as session:
        assert await record_job_finish(session, openid(1), msgids[0], "success")
        assert await record_job_finish(session, openid(2), msgids[1], "failed:user block")
        assert await record_job_finish(session, openid(3), msgids[2], "failed: system failed")
        await session.commit()
    async with harness.session() as session:
        counts = await notice_counts(session, notice_id)
    assert (counts.sent, counts.blocked, counts.failed) == (1, 1, 1)
    assert (await account_of(harness, 2)).unreachable and not (await account_of(harness, 1)).unreachable
    edits = [c for c in await harness.deliver() if c.chat_id == SECRETARY.id]
    assert edits and "已送达 1，屏蔽 1，失败 1" in edits[-1].text and "已点“收到” 1 人" in edits[-1].text
    # The same event again changes nothing.
    async with harness.session() as session:
        assert await record_job_finish(session, openid(2), msgids[1], "failed:user block")
        await session.commit()
        assert (await notice_counts(session, notice_id)).blocked == 1


async def test_a_job_finish_before_the_row_knows_its_msgid_is_applied_later(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 4)
    await notify(harness, 4, "test:early")
    async with harness.session() as session:
        # The fake numbers template messages from 1000: WeChat's event overtakes the send's answer.
        assert not await record_job_finish(session, openid(4), 1000, "failed:user block")
        await session.commit()
    assert await wx.drain() == 1
    [row] = await rows_to(harness, 4)
    assert (row.template_msgid, row.status, row.last_error) == (1000, OutboxStatus.FAILED, "blocked")
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(WeChatJobEvent)) == 0


class TimeoutAfterSend(httpx.AsyncBaseTransport):
    """Delivers a send to the fake server, then loses the answer: the message may well have arrived."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.paths = paths

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith(self.paths):
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_timeout_is_uncertain_and_never_resent(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 5)
    await add_wechat_member(harness, branch_id, 6, last_inbound_at=harness.clock.now())
    await notify(harness, 5, "test:t5")
    await notify(harness, 6, "test:t6")
    client = httpx.AsyncClient(transport=TimeoutAfterSend(("/template/send", "/custom/send")))
    api = WeChatApi(wx.settings, harness.db, harness.clock, client=client)
    delivery = WeChatDelivery(harness.db, harness.clock, api, wx.settings, concurrency=1)
    try:
        assert await delivery.drain() == 0
        for n in (5, 6):
            [row] = await rows_to(harness, n)
            assert (row.status, row.last_error) == (OutboxStatus.UNCERTAIN, "timeout")
        assert len(wx.fake.templates_to(openid(5))) == 1 and len(wx.fake.texts_to(openid(6))) == 1
        harness.clock.advance(hours=1)
        await delivery.drain()
        await wx.drain()
        assert len(wx.fake.templates_to(openid(5))) == 1 and len(wx.fake.texts_to(openid(6))) == 1
    finally:
        await client.aclose()


async def test_an_unfollowed_account_hands_the_row_to_the_persons_next_account(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await branch(harness)
    person_id = await add_wechat_member(harness, branch_id, 7)
    async with harness.session() as session:
        from storage.models import Account

        session.add(Account(person_id=person_id, channel="web", external_id="li-web", address="li-web"))
        await session.commit()
    wx.fake.unfollow(openid(7))
    await notify(harness, 7, "test:moved", "您的办事申请已受理。")
    assert await wx.drain() == 0
    assert (await account_of(harness, 7)).unreachable
    web = WebChannel(harness.deps.conversation, harness.db, harness.clock)
    assert await web.deliver_outbox() == 1
    async with harness.session() as session:
        [shown] = list(await session.scalars(select(WebMessage)))
    assert shown.body["text"] == "您的办事申请已受理。"
    assert await rows_to(harness, 7) == []  # the row moved: one row per recipient, counted once


async def test_an_unfollowed_account_hands_the_row_to_the_telegram_chat(
    harness: BotHarness, wx: WeChatOut
) -> None:
    branch_id = await branch(harness)
    person_id = await add_wechat_member(harness, branch_id, 8)
    async with harness.session() as session:
        from storage.models import Account, Person

        person = await session.get(Person, person_id)
        person.chat_id = 880008
        session.add(Account(person_id=person_id, channel="telegram", external_id="880008", address="880008"))
        await session.commit()
    wx.fake.unfollow(openid(8))
    await notify(harness, 8, "test:tg", "审核通过。")
    await wx.drain()
    await harness.deliver()
    assert harness.fake.texts(880008) == ["审核通过。"]


async def test_stop_is_clean_while_a_send_hangs(harness: BotHarness, wx: WeChatOut) -> None:
    branch_id = await branch(harness)
    await add_wechat_member(harness, branch_id, 9)
    await notify(harness, 9, "test:s1", "第一条")
    await notify(harness, 9, "test:s2", "第二条")
    wx.fake.delay("message/template/send", 3.0)
    await wx.delivery.start()
    for _ in range(400):  # until the first request has reached the fake (it answers only after 3 s)
        if wx.fake.calls("message/template/send"):
            break
        await asyncio.sleep(0.01)
    await wx.delivery.stop()
    first, second = await rows_to(harness, 9)
    assert (first.status, first.last_error) == (OutboxStatus.UNCERTAIN, "stopped")
    assert second.status == OutboxStatus.PENDING and second.claimed_by is None
    assert second.next_attempt_at <= harness.clock.now() + timedelta(seconds=1)
    wx.fake.delay("message/template/send", 0)
