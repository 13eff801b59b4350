"""/start, /me and the language press of a known person run few statements (issue #15): the member's
state comes with the person, /me reads its record with the place names in one select."""

from __future__ import annotations

from bot.flows.start import SET_LANGUAGE
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.registration.helpers import approve, make_world, play, report_in, report_in_steps
from tests.statements import statements_of

USER = TgUser(7401, "小周")


async def test_start_me_and_language_of_an_approved_member_are_cheap(harness: BotHarness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await approve(harness, USER)
    await harness.deliver()
    await harness.send(USER, "/help")  # the last-seen touch is done: it is not what is counted

    start = await statements_of(harness, lambda: harness.send(USER, "/start"))
    assert "您可以使用这些命令" in harness.fake.last(USER.id).text
    # the person, member row and roles; the redelivery record (an approved member has no report-in to
    # resume: no draft is read)
    assert len(start) <= 2, start
    assert not [s for s in start if "draft" in s.lower()], start

    me = await statements_of(harness, lambda: harness.send(USER, "/me"))
    assert "青山镇 东村" in harness.fake.last(USER.id).text
    assert len(me) <= 3, me  # the person; the record with its branch and places; the redelivery record

    press = await statements_of(harness, lambda: harness.press(USER, SET_LANGUAGE.data("en")))
    assert len(press) <= 3, press  # the person; the language written; the redelivery record


async def test_start_while_the_report_in_waits_is_one_select_more(harness: BotHarness) -> None:
    world = await make_world(harness)
    await report_in(harness, USER, world.invite_a)
    await harness.send(USER, "/help")

    start = await statements_of(harness, lambda: harness.send(USER, "/start"))
    assert "正在等待深圳流动党支部书记审核" in harness.fake.last(USER.id).text
    assert len(start) <= 4, start  # as above, and the waiting member with their branch


async def test_start_with_a_report_in_open_reads_its_draft_once(harness: BotHarness) -> None:
    world = await make_world(harness)
    await play(harness, USER, report_in_steps(world.invite_a)[:4])  # at the phone question
    await harness.send(USER, "/help")

    start = await statements_of(harness, lambda: harness.send(USER, "/start"))
    assert "分享号码" in harness.fake.last(USER.id).text  # the open question again
    drafts = [s for s in start if "draft" in s.lower()]
    assert len(drafts) == 2, drafts  # read once, saved once (it becomes the form typed input goes to)
    assert len(start) <= 4, start  # and the person; the redelivery record
