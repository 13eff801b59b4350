"""/export: every ledger of the branch in one workbook, read back with openpyxl, checked against the data."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.i18n import t
from storage.models import Member, MemberState
from storage.models.dues import DuesPayment
from storage.models.relay import ServiceRequest
from tests.harness import BotHarness
from tests.reports.expected import during
from tests.reports.world import MONTHS, SECRETARY_A, SECRETARY_B, World

SHEETS = ["党员花名册", "组织生活台账", "党费台账 2026年2月", "学习打卡台账", "办事台账"]


def is_chinese(text: object) -> bool:
    return isinstance(text, str) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


async def export(harness: BotHarness, user) -> object:
    calls = await harness.send(user, "/export")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    _, content = document.files["document"]
    return load_workbook(io.BytesIO(content))


def values(ws) -> list[list[object]]:
    return [[cell.value for cell in row] for row in ws.iter_rows()]


async def test_the_workbook_has_every_ledger_with_matching_totals(harness: BotHarness, world: World) -> None:
    workbook = await export(harness, SECRETARY_A)
    assert workbook.sheetnames == SHEETS
    for ws in workbook.worksheets:
        headers = values(ws)[0]
        assert headers and all(is_chinese(h) for h in headers), ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert ws.freeze_panes == "A2"
    plan = world.plan
    a_specs = plan.in_branch("A")

    # Roster: the members on the roster now.
    async with harness.session() as session:
        on_roster = await session.scalar(
            select(func.count(Member.id)).where(
                Member.branch_id == world.branch_a,
                Member.state.in_([MemberState.APPROVED, MemberState.LEAVING]),
            )
        )
    roster = values(workbook["党员花名册"])
    assert roster[-1][0] == "合计" and roster[-1][1].startswith(f"在册{on_roster}人")

    # Attendance: one row per held activity day and member expected at it.
    sheet = values(workbook["组织生活台账"])
    rows, total = sheet[1:-1], sheet[-1]
    held = [e for e in plan.events if e.branch == "A" and not e.cancelled]
    pairs = [(e, s) for e in held for s in a_specs if during(s, e.starts, e.ends)]
    attended = {(m, i) for b, m, i, _ in plan.attendance if b == "A"}
    present = sum(1 for e, s in pairs if (e.month, s.i) in attended)
    rsvps = {(m, i): answer for b, m, i, answer in plan.rsvps if b == "A"}
    attend = sum(1 for e, s in pairs if rsvps.get((e.month, s.i)) == "attend")
    leave = sum(1 for e, s in pairs if rsvps.get((e.month, s.i)) == "leave")
    assert len(rows) == len(pairs) > 50
    assert sum(1 for r in rows if r[5] == "出席") == present
    assert total[:4] == ["合计", f"活动{len(held)}次", f"应到{len(pairs)}人次", f"参加{attend}，请假{leave}"]
    # The rate sits with its count under 出勤 (issue 19.13), not under 签到方式.
    rate = f"{(Decimal(present) * 100 / len(pairs)).quantize(Decimal('0.1'))}%"
    assert sheet[0][5] == "出勤" and total[5] == f"出席{present}/{len(pairs)}，出勤率{rate}"
    assert total[6] is None and total[7] is None
    assert rows[0][0] == "2025-03" and rows[0][1] == datetime(2025, 3, 15, 19, 0)
    assert {r[3] for r in rows} == {"参加", "请假", "未答复"} and "书记补记" in {r[6] for r in rows}
    assert any(r[7] == "夜班" for r in rows)

    # Dues: the latest opened month; what this branch received is the confirmed host payments.
    async with harness.session() as session:
        received = await session.scalar(
            select(func.sum(DuesPayment.amount_due + DuesPayment.voluntary_extra)).where(
                DuesPayment.branch_id == world.branch_a,
                DuesPayment.month == date(2026, 2, 1),
                DuesPayment.place == "host",
                DuesPayment.status == "confirmed",
            )
        )
    dues = values(workbook["党费台账 2026年2月"])
    (totals,) = [r for r in dues if t("zh", "dues.ledger.total") in r]
    assert Decimal(str(totals[8])) == received

    # Study: one row per started item and member expected on it.
    study = values(workbook["学习打卡台账"])
    rows, total = study[1:-1], study[-1]
    items = [it for it in plan.items if it.branch == "A"]
    expected = [(it, s) for it in items for s in a_specs if during(s, it.starts, it.ends)]
    checked = {(c.item, c.i) for c in plan.checkins if c.branch == "A"}
    done = sum(1 for it, s in expected if (it.key, s.i) in checked)
    assert len(rows) == len(expected)
    done_rate = f"{(Decimal(done) * 100 / len(expected)).quantize(Decimal('0.1'))}%"
    assert total[:5] == [
        "合计",
        f"{len(items)}项",
        None,
        f"应打卡{len(expected)}人次",
        f"已打卡{done}/{len(expected)}，打卡率{done_rate}",
    ]
    assert total[5] is None
    assert {r[4] for r in rows} == {"已打卡", "补打卡", "未打卡"}
    assert rows[0][0] == "学习材料A6"

    # Requests: every request of the branch's members, never a member of another branch.
    async with harness.session() as session:
        requests = list(
            await session.scalars(select(ServiceRequest).where(ServiceRequest.branch_id == world.branch_a))
        )
    now = datetime.now(UTC)
    accepted = [r for r in requests if r.accepted_at and r.state != "withdrawn"]
    completed = [r for r in accepted if r.state == "completed"]
    on_time = [r for r in completed if r.closed_at < r.due_at]
    open_late = [r for r in requests if r.state in ("accepted", "forwarded") and r.due_at <= now]
    sheet = values(workbook["办事台账"])
    rows, total = sheet[1:-1], sheet[-1]
    assert sorted(r[0] for r in rows) == sorted(r.id for r in requests)
    assert total[0] == "合计" and total[2] == f"{len(requests)}件"
    assert total[6] == f"办结{len(completed)}/受理{len(accepted)}"
    assert total[11] == f"按时{len(on_time)}，超期{len(completed) - len(on_time) + len(open_late)}"
    assert "党员B01" not in {r[5] for r in rows}
    assert {r[11] for r in rows} >= {"按时办结", "超期办结", "已超期"}
    assert MONTHS  # the fixture year is what the sheets show


async def test_the_other_branch_gets_its_own_workbook(harness: BotHarness, world: World) -> None:
    workbook = await export(harness, SECRETARY_B)
    names = {row[2] for row in values(workbook["组织生活台账"])[1:-1]}
    assert names == {"党员B01", "党员B02"}
    requests = values(workbook["办事台账"])[1:-1]
    assert {r[5] for r in requests} == {"党员B01", "党员B02"}
