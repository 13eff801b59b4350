"""Inbound messages and events: numbers and commands, the menu, follows and unfollows, pictures."""

from __future__ import annotations

from sqlalchemy import select

from bot.conversation import Turn
from bot.dialog import Button, Reply
from storage.models import Account, Material, Person
from tests.wechat.conftest import WeChatWorld
from tests.wechat.helpers import openid
from web.channel import material_bytes
from wechat.channel import menu

WHO = openid(3)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


async def _account(wx: WeChatWorld, who: str = WHO) -> Account:
    async with wx.harness.session() as session:
        return await session.scalar(
            select(Account).where(Account.channel == "wechat", Account.external_id == who)
        )


def _join(shown: list[str]) -> str:
    return "\n".join(shown)


async def test_a_number_is_the_choice_of_the_last_screen_in_any_width(wx: WeChatWorld) -> None:
    pressed: list[str] = []

    async def ask(turn: Turn) -> Reply:
        return Reply.say("周六活动日", buttons=((Button("参加", data="t:yes"), Button("请假", data="t:no")),))

    async def answer(turn: Turn) -> Reply:
        pressed.append(turn.inbound.data or "")
        return Reply.say(f"收到 {turn.inbound.data}")

    conversation = wx.harness.deps.conversation
    conversation.commands["ask"] = ask
    conversation.buttons["t"] = answer
    assert _join(await wx.server.say(WHO, "/ask")).endswith("回复 1 参加 / 2 请假")
    assert await wx.server.say(WHO, " 2 ") == ["收到 t:no"]
    # The answer had no choices: they are forgotten, so "１" now is just text (no form open: the pointer).
    assert "/help" in _join(await wx.server.say(WHO, "１"))
    await wx.server.say(WHO, "/ask")
    assert await wx.server.say(WHO, "１") == ["收到 t:yes"]
    assert pressed == ["t:no", "t:yes"]


async def test_a_number_with_no_choice_points_to_help(wx: WeChatWorld) -> None:
    shown = _join(await wx.server.say(WHO, "3"))
    assert "/help" in shown


async def test_typed_commands_work_in_full_width_too(wx: WeChatWorld) -> None:
    assert "/language" in _join(await wx.server.say(WHO, "/help"))
    assert "/language" in _join(await wx.server.say(WHO, "／help"))
    assert "中文" in _join(await wx.server.say(WHO, "/language"))


async def test_the_menu_keys_are_commands(wx: WeChatWorld) -> None:
    keys = [button["key"] for button in menu()["button"]]
    assert [button["name"] for button in menu()["button"]] == ["报到/我的", "党费", "活动", "办事"]
    assert keys == ["START_OR_ME", "DUES", "ACTIVITY", "SERVICES"]
    start = _join(await wx.server.event(WHO, "CLICK", "START_OR_ME"))
    assert "流动党员之家" in start  # not a member yet: /start greets
    seen: list[str] = []
    conversation = wx.harness.deps.conversation
    for command in ("dues", "activity", "services"):

        async def record(turn: Turn, name: str = command) -> Reply:
            seen.append(name)
            return Reply.say(name)

        conversation.commands[command] = record
    for key in ("DUES", "ACTIVITY", "SERVICES"):
        await wx.server.event(WHO, "CLICK", key)
    assert seen == ["dues", "activity", "services"]
    assert "/help" in _join(await wx.server.event(WHO, "CLICK", "NO_SUCH_KEY"))


async def test_follow_greets_and_unfollow_makes_the_account_unreachable(wx: WeChatWorld) -> None:
    assert "流动党员之家" in _join(await wx.server.event(WHO, "subscribe"))
    assert (await _account(wx)).unreachable is False
    assert await wx.server.event(WHO, "unsubscribe") == []
    assert (await _account(wx)).unreachable is True
    await wx.server.event(WHO, "subscribe")  # following again: reachable again
    assert (await _account(wx)).unreachable is False


async def test_an_invite_code_that_does_not_exist(wx: WeChatWorld) -> None:
    shown = _join(await wx.server.event(WHO, "subscribe", "qrscene_nosuchcode"))
    assert shown  # the core's answer to a bad invite, not a crash
    assert "报到须知" not in shown


async def test_a_picture_is_fetched_into_a_material(wx: WeChatWorld) -> None:
    await wx.server.say(WHO, "/start")
    wx.fake.add_media("MEDIA_1", JPEG, "image/jpeg")
    wx.server.clock.advance(seconds=1)
    shown = await wx.server.phone_shows(WHO, await wx.server.post(wx.server.image_xml(WHO, "MEDIA_1")))
    assert "/help" in _join(shown)  # no form open: the core's pointer
    async with wx.harness.session() as session:
        material = await session.scalar(select(Material))
        person = await session.scalar(select(Person.id).join(Account).where(Account.external_id == WHO))
    assert material.kind == "photo" and material.mime_type == "image/jpeg" and material.uploaded
    assert material.person_id == person and material_bytes(material) == JPEG
    assert [call.query["media_id"] for call in wx.fake.calls("media/get")] == ["MEDIA_1"]


async def test_a_picture_that_cannot_be_fetched_is_answered_anyway(wx: WeChatWorld) -> None:
    response = await wx.server.post(wx.server.image_xml(WHO, "GONE"))
    assert "/help" in _join(await wx.server.phone_shows(WHO, response))


async def test_voice_and_location_get_the_pointer(wx: WeChatWorld) -> None:
    from tests.wechat.helpers import message_xml

    voice = message_xml(WHO, wx.server.created(), "voice", MediaId="v1", Format="amr", MsgId=77)
    shown = _join(await wx.server.phone_shows(WHO, await wx.server.post(voice)))
    assert "看不懂" in shown
    # A periodic location report is nobody's input: no answer at all.
    report = wx.server.event_xml(WHO, "LOCATION", Latitude="22.5", Longitude="114.0", Precision="10")
    assert (await wx.server.post(report)).text == "success"


async def test_a_failure_tells_the_person_to_try_again(wx: WeChatWorld) -> None:
    async def broken(turn: Turn) -> Reply:
        raise RuntimeError("boom")

    wx.harness.deps.conversation.commands["broken"] = broken
    shown = _join(await wx.server.say(WHO, "/broken"))
    assert shown  # error.try_again
    assert "boom" not in shown


async def test_replies_that_cannot_be_sent_mark_the_account_unreachable(wx: WeChatWorld) -> None:
    async def three(turn: Turn) -> Reply:
        return Reply(screens=(Reply.say("一").screens[0], Reply.say("二").screens[0]))

    wx.harness.deps.conversation.commands["three"] = three
    await wx.server.say(WHO, "/help")
    wx.fake.unfollow(WHO)
    shown = await wx.server.say(WHO, "/three")
    assert shown == ["一"]  # the passive reply; the second could not be sent
    assert (await _account(wx)).unreachable is True
