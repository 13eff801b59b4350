"""A small world for the report-in tests: two branches, two townships, officers and agents."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.services import admin
from storage.models import Member, Role, Township, VillageBranch
from tests.factories import TgUser, telegram_user
from tests.harness import BotHarness

SECRETARY_A = TgUser(5001, "书记甲")
COMMITTEE_A = TgUser(5002, "委员甲")
SECRETARY_B = TgUser(5003, "书记乙")
AGENT_QS = TgUser(5101, "代理员青山")
AGENT_HS = TgUser(5102, "代理员河上")
ADMIN = TgUser(5201, "管理员")
NAME = "王建国"
PHONE = "13800138000"
E164 = "+8613800138000"


@dataclass
class World:
    branch_a: int
    branch_b: int
    invite_a: str
    invite_b: str
    qingshan: int
    heshang: int


async def make_world(harness: BotHarness) -> World:
    async with harness.session() as session:
        a = await admin.create_branch(session, name="深圳流动党支部", city="深圳", timezone="Asia/Shanghai")
        b = await admin.create_branch(session, name="东莞流动党支部", city="东莞", timezone="Asia/Shanghai")
        qingshan, _ = await admin.add_township(session, name="青山镇", villages=["东村", "西村"])
        heshang, _ = await admin.add_township(session, name="河上镇", villages=["南村"])
        await admin.grant(session, user=SECRETARY_A.id, role=Role.SECRETARY, branch=str(a.id), township=None)
        await admin.grant(session, user=COMMITTEE_A.id, role=Role.COMMITTEE, branch=str(a.id), township=None)
        await admin.grant(session, user=SECRETARY_B.id, role=Role.SECRETARY, branch=str(b.id), township=None)
        await admin.grant(session, user=AGENT_QS.id, role=Role.AGENT, branch=None, township="青山镇")
        await admin.grant(session, user=AGENT_HS.id, role=Role.AGENT, branch=None, township="河上镇")
        await admin.grant(session, user=ADMIN.id, role=Role.ADMIN, branch=None, township=None)
        await session.commit()
    return World(a.id, b.id, a.invite_code, b.invite_code, qingshan, heshang)


def invite(code: str) -> str:
    return f"/start j_{code}"


# The dialogue of a report-in with buttons only (plus the name and a typed phone).
def report_in_steps(code: str, name: str = NAME, phone: str = PHONE) -> list:
    return [
        (invite(code), "报到须知"),
        (("press", "继续"), "敏感个人信息"),
        (("press", "同意"), "请输入您的姓名"),
        (name, "分享号码"),
        (phone, ["手机号已记录", "家乡乡镇"]),
        (("press", "青山镇"), "村党支部"),
        (("press", "东村"), "正式党员还是预备党员"),
        (("press", "正式党员"), "哪一年入党"),
        (("press", "2015"), "几月"),
        (("press", "7月"), "几日"),
        (("press", "1"), "活动证"),
        (("press", "跳过"), "哪个区"),
        (("press", "跳过"), "工作单位"),
        (("press", "建筑"), ["请核对", name, "青山镇 东村", "正式党员", "2015-07-01", "建筑"]),
        (("press", "提交"), "已提交"),
    ]


async def report_in(harness: BotHarness, user: TgUser, code: str, **kwargs) -> None:
    await play(harness, user, report_in_steps(code, **kwargs))


async def member_row(harness: BotHarness, user: TgUser) -> Member | None:
    from storage.models import Person

    async with harness.session() as session:
        return await session.scalar(
            select(Member).join(Person, Person.id == Member.person_id).where(telegram_user(user.id))
        )


async def approve(harness: BotHarness, user: TgUser, officer: TgUser = SECRETARY_A) -> None:
    member = await member_row(harness, user)
    await harness.press(officer, f"reg:ok:{member.id}:{member.revision}")


async def village_id(harness: BotHarness, name: str) -> int:
    async with harness.session() as session:
        return await session.scalar(select(VillageBranch.id).where(VillageBranch.name == name))


async def township_id(harness: BotHarness, name: str) -> int:
    async with harness.session() as session:
        return await session.scalar(select(Township.id).where(Township.name == name))


async def play(harness: BotHarness, user: TgUser, steps: list) -> None:
    """A transcript at a human pace (a second per step), so long dialogues stay under the flood limit."""
    for step in steps:
        await harness.transcript(user, [step])
        harness.clock.advance(seconds=1)
