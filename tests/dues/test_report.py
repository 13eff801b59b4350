"""Reporting payments through /dues and confirming them: transcripts, idempotency, forged buttons."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from storage.models import AuditEntry
from storage.models.dues import DuesPayment, DuesReport, PaymentPlace, PaymentStatus
from tests.dues.factory import SECRETARY, declare, local, make_world, open_months, pay, run_tick
from tests.factories import TgUser
from tests.harness import BotHarness

MEMBER = TgUser(5201, "张伟")
OTHER = TgUser(5202, "王芳")
OTHER_SECRETARY = TgUser(9002, "周书记")


def m(year: int, month: int) -> date:
    return date(year, month, 1)


async def payments(harness: BotHarness) -> list[DuesPayment]:
    async with harness.session() as session:
        return list(await session.scalars(select(DuesPayment).order_by(DuesPayment.month)))


async def audits(harness: BotHarness, action: str, result: str = "ok") -> int:
    async with harness.session() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.result == result)
            )
            or 0
        )


async def test_declare_remind_report_confirm(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 1, 8))
    await make_world(harness, [MEMBER], approved_at=local(2026, 2, 10))
    await harness.transcript(
        MEMBER, [("/dues", "您属于哪一类"), (("press", "在职"), "税后工资"), ("3000", "每月应交：15.00 元")]
    )
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", ["上海流动党支部 · 2026年3月", "未开始收缴", "欠交：0 人"]),
            (("press", "开本月"), "2026年3月党费已开始收缴"),
        ],
    )
    harness.clock.set(local(2026, 3, 10, 9, 1))
    await run_tick(harness)
    await harness.deliver()
    reminder = harness.fake.last(MEMBER.id)
    assert "【党费提醒】2026年3月党费已开始收缴" in reminder.text
    await harness.transcript(
        MEMBER,
        [
            (("press", "交党费"), ["请选择要报告的月份", "已选：2026年3月，共 15.00 元"]),
            (("press", "下一步"), "哪天交的"),
            (("press", "今天"), "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (
                ("press", "本人"),
                ["请核对：2026年3月，应交 15.00 元", "交纳日期：2026-03-10", "交纳地点：本支部"],
            ),
            (("press", "提交"), "已报告：2026年3月，共 15.00 元"),
        ],
    )
    await harness.deliver()
    note = harness.fake.last(SECRETARY.id)
    assert "张伟 报告已交党费：2026年3月，共 15.00 元（本支部，2026-03-10）" in note.text
    await harness.transcript(SECRETARY, [(("press", "确认"), "已确认：张伟 2026年3月，共 15.00 元")])
    await harness.deliver()
    assert "书记已确认收到您的党费：2026年3月，共 15.00 元" in harness.fake.last(MEMBER.id).text
    await harness.transcript(MEMBER, [("/dues", "2026年3月 15.00元 已交")])
    [row] = await payments(harness)
    assert (row.status, row.place, row.amount_due, row.paid_on) == (
        PaymentStatus.CONFIRMED,
        PaymentPlace.HOST,
        Decimal("15.00"),
        date(2026, 3, 10),
    )
    # The same confirm button again: nothing changes, the member hears nothing twice.
    calls = await harness.press(SECRETARY, note.button("确认"))
    assert any(
        "已经处理过了" in str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery"
    )
    assert await audits(harness, "dues.confirmed") == 1
    assert await harness.deliver() == []


async def test_submit_twice_makes_one_report(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 2, 10))
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 2), m(2026, 3))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "每月应交：15.00 元"),
            (("press", "交党费"), "已选：2026年3月"),
            (("press", "2月"), "已选：2026年2月、2026年3月，共 30.00 元"),
            (("press", "下一步"), "哪天交的"),
            (("press", "昨天"), "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "本人"), "应交 30.00 元"),
        ],
    )
    submit = harness.fake.last(MEMBER.id).button("提交")
    await harness.press(MEMBER, submit)
    calls = await harness.press(MEMBER, submit)
    assert any(
        "已经处理过了" in str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery"
    )
    rows = await payments(harness)
    assert [(r.month, r.paid_on, r.report_id) for r in rows] == [
        (m(2026, 2), date(2026, 3, 4), rows[0].report_id),
        (m(2026, 3), date(2026, 3, 4), rows[0].report_id),
    ]
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(DuesReport)) == 1


async def test_typed_date_payer_and_voluntary_extra(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 2, 10))
    await declare(harness, world, MEMBER, "employed", "8000")
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "每月应交：120.00 元"),
            (("press", "交党费"), "已选：2026年3月"),
            (("press", "下一步"), "哪天交的"),
            ("2026-03-09", ["交纳日期不能晚于今天", "哪天交的"]),
            ("2025-01-01", ["补交最多只能补前六个月", "哪天交的"]),
            ("3月", ["日期格式不对", "哪天交的"]),
            ("2026年3月3日", "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "他人代交"), "代交人的姓名"),
            ("  ", ["内容不能为空", "代交人的姓名"]),
            ("123", ["请输入姓名", "代交人的姓名"]),
            ("张小明", ["代交人：张小明", "交纳日期：2026-03-03"]),
            (("press", "多交"), "自愿多交的金额"),
            ("-5", ["金额必须大于零", "自愿多交的金额"]),
            ("30", ["自愿多交：30.00 元，合计 150.00 元"]),
            (("press", "提交"), "已报告：2026年3月，共 150.00 元"),
        ],
    )
    [row] = await payments(harness)
    assert (row.amount_due, row.voluntary_extra, row.paid_by) == (
        Decimal("120.00"),
        Decimal("30.00"),
        "张小明",
    )
    async with harness.session() as session:
        raw = await session.scalar(text("SELECT paid_by FROM dues_payment"))
    assert "张小明" not in raw  # encrypted at rest
    await harness.deliver()
    assert "代交人：张小明" in harness.fake.last(SECRETARY.id).text


async def test_reject_then_report_again(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 2, 10))
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    await pay(harness, world, MEMBER, m(2026, 3), confirm=False)
    await harness.deliver()
    await harness.transcript(SECRETARY, [(("press", "退回"), "已退回：张伟 2026年3月")])
    await harness.deliver()
    assert "书记未能确认您报告的党费：2026年3月" in harness.fake.last(MEMBER.id).text
    await harness.transcript(MEMBER, [("/dues", "2026年3月 15.00元 被退回")])
    second = await pay(harness, world, MEMBER, m(2026, 3), confirm=False)
    [row] = await payments(harness)
    assert (row.status, row.report_id) == (PaymentStatus.REPORTED, second)


async def test_quarterly_payment_where_the_branch_allows_it(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 4, 3, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 3, 10))
    await declare(harness, world, MEMBER, "retired", "4000")
    await open_months(harness, world.branch_id, m(2026, 3), m(2026, 4))
    await harness.transcript(MEMBER, [("/dues", "20.00"), (("press", "交党费"), "已选：2026年4月")])
    assert "本季度" not in str(harness.fake.last(MEMBER.id).buttons)
    await harness.transcript(SECRETARY, [("/duesadmin", "党费管理"), (("press", "设置"), "可按季交纳：否")])
    await harness.transcript(SECRETARY, [(("press", "按季"), "可按季交纳：是")])
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "20.00"),
            (("press", "交党费"), "已选：2026年4月"),
            (("press", "本季度"), "已选：2026年4月、2026年5月、2026年6月，共 60.00 元"),
            (("press", "3月"), "已选：2026年3月、2026年4月、2026年5月、2026年6月，共 80.00 元"),
            (("press", "下一步"), "哪天交的"),
            (("press", "今天"), "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "本人"), "应交 80.00 元"),
            (("press", "提交"), "已报告"),
        ],
    )
    assert [r.month for r in await payments(harness)] == [m(2026, 3), m(2026, 4), m(2026, 5), m(2026, 6)]
    # May is paid in advance: it is opened later and nobody is reminded of it.
    harness.clock.set(local(2026, 5, 1, 8))
    await open_months(harness, world.branch_id, m(2026, 5))
    harness.clock.set(local(2026, 5, 10, 10))
    assert (await run_tick(harness)).occurrences == 0


async def test_make_up_reaches_six_months_back_and_no_further(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 4, 3, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2025, 8, 1))
    await declare(harness, world, MEMBER)
    await open_months(
        harness, world.branch_id, *[m(2025, mo) for mo in range(8, 13)], *[m(2026, mo) for mo in range(1, 5)]
    )
    await harness.transcript(MEMBER, [("/dues", "15.00"), (("press", "交党费"), "请选择要报告的月份")])
    labels = [b["text"] for row in harness.fake.last(MEMBER.id).buttons for b in row]
    assert labels[:7] == ["10月", "11月", "12月", "1月", "2月", "3月", "✓4月"]
    assert "9月" not in labels and "8月" not in labels
    # A forged button for September (seven months back) is refused; nothing is recorded.
    calls = await harness.press(MEMBER, "dues:m:202509")
    assert any("按钮已失效" in str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery")
    await harness.transcript(MEMBER, [(("press", "10月"), "已选：2025年10月、2026年4月")])


async def test_home_payment_is_never_counted_twice(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 2, 10))
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "15.00"),
            (("press", "交党费"), "已选：2026年3月"),
            (("press", "下一步"), "哪天交的"),
            (("press", "今天"), "在哪里交的"),
            (("press", "在家乡"), "是本人交的"),
            (("press", "本人"), "交纳地点：家乡党组织"),
            (("press", "提交"), "已报告"),
            ("/dues", "2026年3月 15.00元 在家乡交"),
            (("press", "交党费"), "目前没有需要交纳的月份"),
        ],
    )
    async with harness.session() as session:
        session.add(
            DuesPayment(
                member_id=world.member_ids[MEMBER.id],
                branch_id=world.branch_id,
                month=m(2026, 3),
                report_id=(await payments(harness))[0].report_id,
                amount_due=Decimal("15.00"),
                place=PaymentPlace.HOST,
                paid_on=date(2026, 3, 5),
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_another_branch_cannot_confirm(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 2, 10))
    await make_world(harness, [OTHER], name="北京流动党支部", secretary=OTHER_SECRETARY)
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    report_id = await pay(harness, world, MEMBER, m(2026, 3), confirm=False)
    for intruder in (OTHER_SECRETARY, OTHER, MEMBER):
        calls = await harness.press(intruder, f"dsa:cf:{report_id}")
        assert any("您没有权限进行此操作" in c.text for c in calls)
    assert await audits(harness, "dues.confirm", "denied") == 3
    [row] = await payments(harness)
    assert row.status == PaymentStatus.REPORTED
    # A button for a report that does not exist is stale, not an error.
    calls = await harness.press(SECRETARY, "dsa:cf:999999")
    assert any("这个按钮已失效" in c.text for c in calls)
    calls = await harness.press(SECRETARY, "dsa:zz:1")
    assert any("这个按钮已失效" in c.text for c in calls)


async def test_probationary_member_pays_from_admission(harness: BotHarness) -> None:
    from storage.models import Member, PartyStatus

    harness.clock.set(local(2026, 4, 3, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 1, 10))
    async with harness.session() as session:
        member = await session.get(Member, world.member_ids[MEMBER.id])
        member.party_status = PartyStatus.PROBATIONARY
        member.joined_party_on = date(2026, 3, 15)
        await session.commit()
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 1), m(2026, 2), m(2026, 3), m(2026, 4))
    await harness.transcript(MEMBER, [("/dues", "15.00"), (("press", "交党费"), "已选：2026年4月")])
    labels = [b["text"] for row in harness.fake.last(MEMBER.id).buttons for b in row]
    assert labels[:2] == ["3月", "✓4月"] and "1月" not in labels and "2月" not in labels
    harness.clock.set(local(2026, 4, 10, 10))
    await run_tick(harness)
    await harness.deliver()
    # Two months owed (March and April) but no more: the warning at two months, nothing for January.
    texts = harness.fake.texts(MEMBER.id)
    assert any("已连续 2 个月未交党费（自2026年3月起）" in t for t in texts)
