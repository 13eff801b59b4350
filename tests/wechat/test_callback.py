"""The /wechat callback through the real routes: handshake, signatures, plain and safe mode, redeliveries,
the 5-second answer (passive reply, or "success" and customer-service messages after)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select

from bot.dialog import Reply, Screen
from bot.http.host import HttpHost
from storage.models import Account, HandledUpdate, Person
from tests.wechat.conftest import WeChatWorld
from tests.wechat.helpers import openid
from wechat.callback import signature, wechat_routes

WHO = openid(1)


async def _count(world: WeChatWorld, model) -> int:
    async with world.harness.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def test_handshake_answers_echostr_only_when_signed(wx: WeChatWorld) -> None:
    query = wx.server.query()
    good = await wx.server.client.get("/wechat?" + urlencode({**query, "echostr": "1234567890"}))
    assert good.status_code == 200 and good.text == "1234567890"
    bad = await wx.server.client.get("/wechat?" + urlencode({**wx.server.query(bad=True), "echostr": "123"}))
    assert bad.status_code == 403 and "123" not in bad.text
    missing = await wx.server.client.get("/wechat?echostr=123")
    assert missing.status_code == 403


async def test_a_plain_message_is_answered_passively(wx: WeChatWorld) -> None:
    shown = await wx.server.say(WHO, "/help")
    assert len(shown) == 1 and "/start" in shown[0] and "/help" in shown[0]
    assert wx.fake.calls("message/custom/send") == []  # one screen: the passive reply only


async def test_a_wrong_signature_is_403_and_nothing_happens(wx: WeChatWorld) -> None:
    response = await wx.server.post(wx.server.text_xml(WHO, "/help"), bad=True)
    assert response.status_code == 403
    assert await _count(wx, Person) == 0 and await _count(wx, HandledUpdate) == 0
    # Signed with another token: the same.
    wx.server.token = "anothertoken"
    assert (await wx.server.post(wx.server.text_xml(WHO, "/help"))).status_code == 403
    assert await _count(wx, Person) == 0


async def test_an_old_timestamp_is_refused(wx: WeChatWorld) -> None:
    xml = wx.server.text_xml(WHO, "/help")
    query = wx.server.query()
    old = str(int(query["timestamp"]) - 3 * 24 * 3600)
    query.update(timestamp=old, signature=signature(wx.server.token, old, query["nonce"]))
    response = await wx.server.client.post("/wechat?" + urlencode(query), content=xml.encode())
    assert response.status_code == 403 and await _count(wx, Person) == 0


async def test_not_a_message_is_400(wx: WeChatWorld) -> None:
    response = await wx.server.client.post("/wechat?" + urlencode(wx.server.query()), content=b"<xml>")
    assert response.status_code == 400


async def test_a_redelivered_message_does_nothing_again(wx: WeChatWorld) -> None:
    xml = wx.server.text_xml(WHO, "/start")
    first = await wx.server.post(xml)
    assert wx.server.passive_text(first)
    again = await wx.server.post(xml)
    assert again.status_code == 200 and again.text == "success"
    assert await _count(wx, HandledUpdate) == 1
    # Events have no MsgId: sender, CreateTime and event name tell a retry.
    event = wx.server.event_xml(WHO, "CLICK", "DUES")
    assert wx.server.passive_text(await wx.server.post(event))
    assert (await wx.server.post(event)).text == "success"
    assert await _count(wx, HandledUpdate) == 2
    assert wx.fake.calls("message/custom/send") == []


async def test_safe_mode_decrypts_and_answers_encrypted(wx_safe: WeChatWorld) -> None:
    shown = await wx_safe.server.say(WHO, "/help")
    assert len(shown) == 1 and "/help" in shown[0]
    response = await wx_safe.server.post(wx_safe.server.text_xml(WHO, "/help"))
    assert "<Encrypt>" in response.text and "/help" not in response.text


async def test_safe_mode_refuses_a_wrong_msg_signature_and_plain_bodies(wx_safe: WeChatWorld) -> None:
    assert (await wx_safe.server.post(wx_safe.server.text_xml(WHO, "/help"), bad=True)).status_code == 403
    plain = await wx_safe.server.client.post(
        "/wechat?" + urlencode(wx_safe.server.query()), content=wx_safe.server.text_xml(WHO, "/help").encode()
    )
    assert plain.status_code == 403
    # Signed right but encrypted for another account (app id): refused by wechatpy's check inside.
    wx_safe.server.app_id = "wx_another_account"
    assert (await wx_safe.server.post(wx_safe.server.text_xml(WHO, "/help"))).status_code == 403
    assert await _count(wx_safe, Person) == 0


async def test_slow_work_answers_success_and_sends_after(wx: WeChatWorld) -> None:
    # A budget of 0: the answer cannot wait for the work, whatever the machine's speed.
    host = HttpHost(wx.harness.settings)
    host.add_routes(wechat_routes(wx.channel, wx.harness.settings, passive_budget_s=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.build_app()), base_url="http://x"
    ) as c:
        wx.server.client = c
        response = await wx.server.post(wx.server.text_xml(WHO, "/help"))
        assert response.text == "success"
        await wx.channel.drain()
    texts = wx.fake.texts_to(WHO)
    assert len(texts) == 1 and "/help" in texts[0]


async def test_several_screens_first_passive_rest_as_customer_service(wx: WeChatWorld) -> None:
    async def two(turn):
        return Reply(screens=(Screen("第一条"), Screen("第二条"), Screen("第三条")))

    wx.harness.deps.conversation.commands["two"] = two
    shown = await wx.server.say(WHO, "/two")
    assert shown == ["第一条", "第二条", "第三条"]
    assert wx.fake.texts_to(WHO) == ["第二条", "第三条"]


async def test_every_message_moves_the_window(wx: WeChatWorld) -> None:
    await wx.server.say(WHO, "/help")
    wx.server.clock.advance(seconds=10)
    await wx.server.say(WHO, "/help")
    async with wx.harness.session() as session:
        account = await session.scalar(select(Account).where(Account.external_id == WHO))
    assert account.channel == "wechat" and account.address == WHO
    assert account.last_inbound_at == wx.server.clock.now()
