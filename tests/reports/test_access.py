"""Who may see which report: officers their branch, agents their township; forged buttons denied, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.i18n import t
from bot.services import admin
from storage.models import AuditEntry, Role
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.reports.expected import pct, township_expect
from tests.reports.world import (
    AGENT_1,
    AGENT_2,
    MEMBER_BASE,
    NOW,
    OUTSIDER,
    SECRETARY_A,
    SECRETARY_B,
    World,
)

MEMBER = TgUser(MEMBER_BASE + 1, "党员A01")


async def denials(harness: BotHarness) -> list[tuple[str, str | None, int | None]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.target_type, AuditEntry.target_id)
            .where(AuditEntry.result == "denied", AuditEntry.action.like("report.%"))
            .order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]


def sent(calls) -> list[str]:
    return [c.method for c in calls if c.method in ("sendMessage", "sendPhoto", "sendDocument")]


def alert(calls) -> str | None:
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    return answers[0].params.get("text") if answers else None


@pytest.mark.parametrize("data_for", ["rpt:r:{a}:202602", "rpt:r:{a}:0", "rpt:c:{a}:202602"])
async def test_a_secretary_of_b_cannot_get_branch_a(harness: BotHarness, world: World, data_for: str) -> None:
    calls = await harness.press(SECRETARY_B, data_for.format(a=world.branch_a))
    assert sent(calls) == []
    assert alert(calls) == t("zh", "error.not_allowed")
    action = "report.chart" if ":c:" in data_for else "report.branch"
    assert await denials(harness) == [(action, "branch", world.branch_a)]


async def test_the_denial_text_is_the_shared_one(harness: BotHarness, world: World) -> None:
    calls = await harness.press(SECRETARY_B, f"rpt:r:{world.branch_a}:202602")
    assert alert(calls) == t("zh", "error.not_allowed")
    own = await harness.press(SECRETARY_B, f"rpt:r:{world.branch_b}:202602")
    (text,) = [c.text for c in own if c.method == "sendMessage"]
    assert text.startswith("【东莞流动党支部】") and "深圳" not in text


@pytest.mark.parametrize("user", [MEMBER, OUTSIDER, AGENT_1])
async def test_report_needs_an_officer(harness: BotHarness, world: World, user: TgUser) -> None:
    calls = await harness.send(user, "/report")
    assert [c.text for c in calls] == [t("zh", "error.not_allowed")]
    assert await denials(harness) == [("report.branch", "branch", None)]


@pytest.mark.parametrize(
    "data",
    ["rpt:r:x:202602", "rpt:c:1:2026", "rpt:c:1:0", "rpt:r:1:209913", "rpt:zz:1:1", "rpt:", "rpt:t:1:26"],
)
async def test_malformed_buttons_are_stale(harness: BotHarness, world: World, data: str) -> None:
    calls = await harness.press(SECRETARY_A, data)
    assert sent(calls) == []
    assert alert(calls) == t("zh", "error.stale_button")


async def test_an_officer_of_two_branches_picks_one(harness: BotHarness, world: World) -> None:
    async with harness.session() as session:
        await admin.grant(
            session,
            user=SECRETARY_A.id,
            role=Role.COMMITTEE,
            branch=str(world.branch_b),
            township=None,
        )
        await session.commit()
    calls = await harness.send(SECRETARY_A, "/report 2026-01")
    assert calls[0].text == "请选择支部：" and sent(calls) == ["sendMessage"]
    data = harness.fake.last(SECRETARY_A.id).button("东莞")
    assert data == f"rpt:r:{world.branch_b}:202601"
    calls = await harness.press(SECRETARY_A, data)
    assert sent(calls) == ["sendMessage", "sendPhoto"]
    assert calls[1].text.startswith("【东莞流动党支部】2026年1月月报")


async def test_township_report_shows_only_the_agents_township(harness: BotHarness, world: World) -> None:
    calls = await harness.send(AGENT_1, "/townreport")
    (text,) = [c.text for c in calls]
    assert text.startswith("【青山镇】2026年情况")
    assert "绿水镇" not in text
    want = township_expect(world.plan, "T1", 2026, NOW)
    received, accepted, completed, on_time, overdue, answered = want["requests"]
    rate = lambda part, whole: f"{pct(part, whole)}%" if whole else "—"  # noqa: E731
    lines = text.splitlines()
    assert lines[1] == f"在外党员：{sum(want['members'].values())}人"
    assert "· 深圳 深圳流动党支部：4人" in lines and "· 东莞 东莞流动党支部：2人" in lines
    assert lines[-2] == t(
        "zh",
        "town.requests",
        received=received,
        accepted=accepted,
        completed=completed,
        on_time=on_time,
        overdue=overdue,
        answered=answered,
        rate=rate(completed, accepted),
        on_time_rate=rate(on_time, accepted),
    )
    stages = want["stages"]
    assert lines[-1] == (
        f"入党申请：申请{stages.get('applied', 0)}，积极分子{stages.get('activist', 0)}，"
        f"发展对象0，预备党员0，正式党员0；超一个月未谈话{want['talks']}人"
    )
    assert want["members"] == {"A": 4, "B": 2} and want["talks"] == 1 and accepted >= 3
    other = (await harness.send(AGENT_2, "/townreport"))[0].text
    assert other.startswith("【绿水镇】") and "青山镇" not in other
    forged = await harness.press(AGENT_1, f"rpt:t:{world.townships['T2']}:2026")
    assert sent(forged) == []
    assert await denials(harness) == [("report.township", "township", world.townships["T2"])]


@pytest.mark.parametrize("user", [SECRETARY_A, MEMBER, OUTSIDER])
async def test_township_report_needs_an_agent(harness: BotHarness, world: World, user: TgUser) -> None:
    calls = await harness.send(user, "/townreport")
    assert [c.text for c in calls] == [t("zh", "error.not_allowed")]
    assert await denials(harness) == [("report.township", "township", None)]
