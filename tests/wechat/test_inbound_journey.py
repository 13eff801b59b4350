"""A whole 报到 by a WeChat follower, by numbered replies, from the invite QR code to the approval."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.dialog import Screen
from bot.services import admin
from bot.services.outbox import Outgoing
from storage.models import Account, Member, MemberState, OutboxMessage, Role
from tests.registration.helpers import NAME, PHONE, SECRETARY_A, make_world
from tests.wechat.conftest import WeChatWorld
from tests.wechat.helpers import openid
from wechat.render import remember, render

MEMBER = openid(7)
WX_SECRETARY = openid(8)


def number_for(text: str, label: str) -> str:
    """The number the screen offers for ``label`` ("回复 1 继续 / 2 取消", or on several lines)."""
    if label.isdecimal() and re.search(rf"(?:^|/ |\n){label}(?: /|\n|$)", text):
        return label  # a day of the month is shown as its own number
    offered = dict(
        (name.strip(), number) for number, name in re.findall(r"(?:^|/|\n|回复)\s*(\d+) ([^/\n]+)", text)
    )
    if label in offered:
        return offered[label]
    matches = [number for name, number in offered.items() if label in name]
    assert matches, f"no choice {label!r} in {text!r}"
    return matches[0]


async def play(wx: WeChatWorld, who: str, steps: list[tuple[str, str]], shown: list[str]) -> list[str]:
    """Each step: ("#label", expected) replies with that choice's number; ("text", expected) types it."""
    for action, expected in steps:
        if action.startswith("#"):
            reply = number_for(shown[-1], action[1:])
        else:
            reply = action
        shown = await wx.server.say(who, reply)
        joined = "\n".join(shown)
        assert expected in joined, f"after {action!r}: {expected!r} not in {joined!r}"
    return shown


def report_in_steps() -> list[tuple[str, str]]:
    return [
        ("#继续", "敏感个人信息"),
        ("#同意", "请输入您的姓名"),
        (NAME, "手机号"),
        (PHONE, "家乡乡镇"),
        ("#青山镇", "村党支部"),
        ("#东村", "正式党员还是预备党员"),
        ("#正式党员", "哪一年入党"),
        ("2015", "几月"),  # typed: four digits are never a choice number
        ("#7月", "几日"),
        ("#1", "活动证"),
        ("#跳过", "哪个区"),
        ("#跳过", "工作单位"),
        ("#建筑", "请核对"),
        ("#提交", "已提交"),
    ]


async def _member(wx: WeChatWorld, who: str) -> Member | None:
    async with wx.harness.session() as session:
        return await session.scalar(
            select(Member)
            .join(Account, Account.person_id == Member.person_id)
            .where(Account.channel == "wechat", Account.external_id == who)
        )


async def test_report_in_by_numbers_and_a_telegram_secretary_approves(wx: WeChatWorld) -> None:
    world = await make_world(wx.harness)
    # Scanning the branch's QR code follows the account and starts 报到 to that branch.
    shown = await wx.server.event(MEMBER, "subscribe", f"qrscene_{world.invite_a}")
    assert "报到须知" in shown[-1] and "回复 1 继续" in shown[-1]
    await play(wx, MEMBER, report_in_steps(), shown)
    member = await _member(wx, MEMBER)
    assert member is not None and member.state == MemberState.PENDING and member.name == NAME

    # The secretary (on Telegram) is asked and approves with one tap.
    await wx.harness.deliver()
    assert "新的报到" in wx.harness.fake.last(SECRETARY_A.id).text
    await wx.harness.transcript(SECRETARY_A, [(("press", "通过"), f"已通过：{NAME}")])
    assert (await _member(wx, MEMBER)).state == MemberState.APPROVED

    # The approval reaches the member as an outbox row of the WeChat channel (its delivery sends it).
    async with wx.harness.session() as session:
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "wechat")))
    assert [row.address for row in rows] == [MEMBER]
    assert "已通过" in Outgoing.from_payload(rows[0].payload).text

    # Now a member: the help lists the member commands, and the menu's 报到/我的 is /me.
    help_text = "\n".join(await wx.server.say(MEMBER, "/help"))
    assert "/me" in help_text and "/dues" in help_text
    me = "\n".join(await wx.server.event(MEMBER, "CLICK", "START_OR_ME"))
    assert NAME in me


async def test_a_wechat_secretary_approves_by_replying_with_a_number(wx: WeChatWorld) -> None:
    world = await make_world(wx.harness)
    async with wx.harness.session() as session:
        await admin.grant(
            session, user=f"wx:{WX_SECRETARY}", role=Role.SECRETARY, branch=str(world.branch_a), township=None
        )
        await session.commit()
    shown = await wx.server.event(MEMBER, "SCAN", world.invite_a)  # already following: a SCAN event
    assert "报到须知" in shown[-1]
    await play(wx, MEMBER, report_in_steps(), shown)

    # What the WeChat delivery (wx-out's adapter) does with the secretary's row: send it rendered with its
    # numbered choices, and remember them, so the secretary's "1" means 通过.
    async with wx.harness.session() as session:
        row = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.channel == "wechat", OutboxMessage.address == WX_SECRETARY
            )
        )
        account = await session.scalar(select(Account).where(Account.external_id == WX_SECRETARY))
        outgoing = Outgoing.from_payload(row.payload)
        text, choices = render(Screen(outgoing.text, buttons=outgoing.buttons), language="zh")
        await remember(session, account.id, choices, wx.server.clock.now())
        await session.commit()
    assert "新的报到" in text
    shown = await wx.server.say(WX_SECRETARY, number_for(text, "通过"))
    assert f"已通过：{NAME}" in "\n".join(shown)
    assert (await _member(wx, MEMBER)).state == MemberState.APPROVED
