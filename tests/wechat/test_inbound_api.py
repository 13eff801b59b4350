"""The API client against the fake WeChat server: one shared token, renewed before expiry and once when
refused; the calls in WeChat's shapes; errors with their codes."""

from __future__ import annotations

import logging

import pytest

from bot.clock import FakeClock
from bot.config import Settings
from storage.db import Database
from storage.models import WeChatToken
from tests.wechat.fake_server import FakeWeChat
from wechat.api import WeChatApi, WeChatApiError


async def test_the_token_is_fetched_once_and_shared_through_the_database(
    api: WeChatApi, fake_wechat: FakeWeChat, settings: Settings, db: Database, clock: FakeClock
) -> None:
    await api.send_text("openid-a", "你好")
    await api.send_text("openid-a", "再见")
    assert len(fake_wechat.calls("stable_token")) == 1
    assert fake_wechat.texts_to("openid-a") == ["你好", "再见"]
    async with db.session() as session:
        row = await session.get(WeChatToken, settings.wechat_app_id)
    assert row is not None and row.token == "TOKEN-1"
    # Another instance reads the same token from the database instead of asking WeChat.
    other = WeChatApi(settings, db, clock)
    try:
        await other.send_text("openid-b", "hi")
    finally:
        await other.aclose()
    assert len(fake_wechat.calls("stable_token")) == 1
    assert fake_wechat.calls("message/custom/send")[-1].token == "TOKEN-1"


async def test_the_token_is_renewed_before_it_expires(
    api: WeChatApi, fake_wechat: FakeWeChat, clock: FakeClock
) -> None:
    await api.send_text("openid-a", "one")
    clock.advance(seconds=7200 - 5 * 60 + 1)
    await api.send_text("openid-a", "two")
    calls = fake_wechat.calls("stable_token")
    assert len(calls) == 2 and calls[1].body["force_refresh"] is False


async def test_a_refused_token_is_renewed_once_with_force_and_the_call_tried_again(
    api: WeChatApi, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await api.send_text("openid-a", "one")
    fake_wechat.invalidate_token(40001)
    await api.send_text("openid-a", "two")
    tokens = fake_wechat.calls("stable_token")
    assert [c.body["force_refresh"] for c in tokens] == [False, True]
    sends = fake_wechat.calls("message/custom/send")
    assert [(s.token, s.ok) for s in sends] == [("TOKEN-1", True), ("TOKEN-1", False), ("TOKEN-2", True)]
    # Our own log lines never carry it (httpx's request lines are silenced by bot.logging in production).
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("wechat", "bot", "app"))]
    assert not any("TOKEN-" in line for line in ours)


async def test_a_token_refused_twice_is_an_error_not_a_loop(api: WeChatApi, fake_wechat: FakeWeChat) -> None:
    await api.send_text("openid-a", "one")
    fake_wechat.invalidate_token(42001)
    fake_wechat.fail_next("message/custom/send", 40001)
    with pytest.raises(WeChatApiError) as caught:
        await api.send_text("openid-a", "two")
    assert caught.value.errcode == 40001 and caught.value.kind == "token"
    assert "TOKEN" not in str(caught.value)
    assert [c.body["force_refresh"] for c in fake_wechat.calls("stable_token")] == [False, True]


async def test_errors_carry_their_code(api: WeChatApi, fake_wechat: FakeWeChat) -> None:
    fake_wechat.close_window("closed")
    fake_wechat.unfollow("gone")
    with pytest.raises(WeChatApiError) as closed:
        await api.send_text("closed", "x")
    with pytest.raises(WeChatApiError) as gone:
        await api.send_text("gone", "x")
    assert (closed.value.errcode, closed.value.kind) == (45015, "window_closed")
    assert (gone.value.errcode, gone.value.kind) == (43004, "unreachable")
    fake_wechat.fail_next("message/template/send", 45009)
    with pytest.raises(WeChatApiError) as quota:
        await api.send_template("someone", "TPL", None, {"thing1": "x"})
    assert quota.value.kind == "quota"


async def test_template_qr_menu_and_media(api: WeChatApi, fake_wechat: FakeWeChat) -> None:
    msgid = await api.send_template("openid-a", "TPL1", "https://h5/x", {"thing1": "党员活动日"})
    assert msgid == 1000
    body = fake_wechat.templates_to("openid-a")[0]
    assert body["data"] == {"thing1": {"value": "党员活动日"}} and body["url"] == "https://h5/x"
    url = await api.create_qr("abc123")
    assert url.startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
    assert fake_wechat.calls("qrcode/create")[0].body == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "abc123"}},
    }
    await api.create_menu({"button": [{"type": "click", "name": "党费", "key": "dues"}]})
    assert fake_wechat.calls("menu/create")[0].body["button"][0]["name"] == "党费"
    fake_wechat.add_media("m1", b"\xff\xd8\xffjpeg", "image/jpeg")
    assert await api.get_media("m1") == (b"\xff\xd8\xffjpeg", "image/jpeg")
    with pytest.raises(WeChatApiError) as missing:
        await api.get_media("nope")
    assert missing.value.errcode == 40007


async def test_media_after_a_refused_token(api: WeChatApi, fake_wechat: FakeWeChat) -> None:
    fake_wechat.add_media("m1", b"\x89PNG\r\n\x1a\n", "image/png")
    await api.create_menu({"button": []})
    fake_wechat.invalidate_token()
    assert (await api.get_media("m1"))[0].startswith(b"\x89PNG")
    assert [c.body["force_refresh"] for c in fake_wechat.calls("stable_token")] == [False, True]
