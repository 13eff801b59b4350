"""Dues on the conversation core: forged buttons, the payment report as one message with 返回/取消,
typed 今天/昨天, why nothing is due, undeclared bases, unsendable edits (issue 19: 3, 9, 12, 18)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from storage.models import AuditEntry, Draft, OutboxMessage
from storage.models.dues import DuesPayment, DuesReport
from tests.dues.factory import SECRETARY, declare, local, make_world, open_months, pay
from tests.factories import TgUser
from tests.fakes import Call
from tests.harness import BotHarness

MEMBER = TgUser(5401, "张伟")
SILENT = TgUser(5402, "李娜")


def m(year: int, month: int) -> date:
    return date(year, month, 1)


def toasts(calls: list[Call]) -> str:
    return "\n".join(str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery")


def labels(call: Call) -> list[str]:
    return [b["text"] for row in call.buttons for b in row]


async def count(harness: BotHarness, model, *where) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def tap(harness: BotHarness, user: TgUser, label: str) -> list[Call]:
    harness.clock.advance(seconds=1)  # a person taps at a person's pace (the flood guard counts taps)
    return await harness.press(user, harness.fake.last(user.id).button(label))


async def test_forged_and_oversized_buttons_are_stale_not_errors(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    report_id = await pay(harness, world, MEMBER, m(2026, 3), confirm=False)
    member_id = world.member_ids[MEMBER.id]
    forged = [
        "dsa:cf:99999999999999999999",  # does not fit 64 bits
        "dsa:cf:9223372036854775807",  # fits 64 bits, not the tables' 32-bit ids
        "dsa:cf:2147483648",
        "dsa:rec:1099511627776",
        f"dsa:xl:{world.branch_id}:99999999999999",
        f"dsa:open:{world.branch_id}:202613",
        f"dsa:ak:{member_id}:202603:z",
        "dsa:cf:-1",
        "dsa:cf:0",
        "dsa:cf:abc",
        "dsa:b",
        "dsa:",
        "dsa:cf:2147483647",  # in range, names nothing
        "dues:m:9999999999",
        "dues:m:202613",
        "dues:d:7",
        "dues:pl:moon",
        "dues:back:nowhere",
        "dues:zz",
    ]
    for data in forged:
        # A secretary who is not a member is told so on any dues: button; the member sees them stale.
        for user in (SECRETARY, MEMBER) if data.startswith("dsa:") else (MEMBER,):
            harness.clock.advance(seconds=1)
            calls = await harness.press(user, data)
            assert "这个按钮已失效" in toasts(calls), (user, data)
            assert not any(c.method == "sendDocument" for c in calls)
    async with harness.session() as session:
        [row] = await session.scalars(select(DuesPayment))
        assert (row.status, row.report_id) == ("reported", report_id)
    # No press ended in the error handler ("something went wrong, try again").
    assert not any("出了点问题" in c.text for c in harness.fake.calls)


async def test_the_payment_report_is_one_message_with_back_and_cancel(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        MEMBER, [("/dues", "每月应交：15.00 元"), (("press", "交党费"), "已选：2026年3月")]
    )

    async def step(label: str, want: str) -> Call:
        calls = await tap(harness, MEMBER, label)
        sent = [c for c in calls if c.method != "answerCallbackQuery"]
        assert [c.method for c in sent] == ["editMessageText"], (label, sent)
        assert want in sent[0].text, (label, sent[0].text)
        return sent[0]

    for screen in (
        await step("下一步", "哪天交的"),
        await step("今天", "在哪里交的"),
        await step("本支部", "是本人交的"),
        await step("他人代交", "代交人的姓名"),
    ):
        assert {"返回", "取消"} <= set(labels(screen)), screen.text
    # 返回 walks back one step at a time, keeping what was answered.
    await step("返回", "是本人交的")
    await step("返回", "在哪里交的")
    await step("返回", "哪天交的")
    await step("返回", "已选：2026年3月")
    await step("下一步", "哪天交的")
    # The words on the buttons may be typed too.
    await harness.transcript(MEMBER, [("昨天", "在哪里交的")])
    await step("本支部", "是本人交的")
    summary = await step("本人", "交纳日期：2026-03-04")
    assert {"提交", "多交", "返回", "取消"} <= set(labels(summary))
    await step("返回", "是本人交的")
    await step("返回", "在哪里交的")
    await step("返回", "哪天交的")
    await harness.transcript(MEMBER, [("今天", "在哪里交的")])
    await step("本支部", "是本人交的")
    await step("本人", "交纳日期：2026-03-05")
    await step("取消", "已取消")
    assert await count(harness, Draft) == 0
    assert await count(harness, DuesPayment) == 0
    # An old button of the cancelled report is stale.
    calls = await harness.press(MEMBER, "dues:ok")
    assert "已经处理过了" in toasts(calls)
    # The whole report by buttons alone: one message, edited, from 交党费 to 提交.
    await harness.transcript(MEMBER, [("/dues", "15.00")])
    before = len(harness.fake.sent(MEMBER.id, "sendMessage"))
    for label in ("交党费", "下一步", "今天", "本支部", "本人", "提交"):
        await tap(harness, MEMBER, label)
    assert len(harness.fake.sent(MEMBER.id, "sendMessage")) == before
    assert "已报告：2026年3月，共 15.00 元" in harness.fake.last(MEMBER.id).text
    # 前天 and "today" work as well; a wrong word is refused with the question again.
    harness.clock.advance(seconds=30)
    await open_months(harness, world.branch_id, m(2026, 2))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "15.00"),
            (("press", "交党费"), "已选：2026年2月"),
            (("press", "下一步"), "哪天交的"),
            ("明天", ["日期格式不对", "哪天交的"]),
            ("前天", "在哪里交的"),
            (("press", "返回"), "哪天交的"),
            ("today", "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "本人"), "交纳日期：2026-03-05"),
        ],
    )


async def test_nothing_to_pay_says_why_and_what_next(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER], approved_at=local(2026, 3, 1))
    await declare(harness, world, MEMBER)
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "15.00"),
            (
                ("press", "交党费"),
                ["目前没有需要交纳的月份", "支部还没有开始收缴2026年3月的党费", "每月 10 日提醒您"],
            ),
            (("press", "返回"), "每月应交：15.00 元"),
        ],
    )
    await open_months(harness, world.branch_id, m(2026, 3))
    await pay(harness, world, MEMBER, m(2026, 3))
    await harness.transcript(
        MEMBER, [("/dues", "15.00"), (("press", "交党费"), ["目前没有需要交纳的月份", "都已交清或已报告"])]
    )


async def test_undeclared_bases_are_counted_never_summed_and_reminded_in_one_tap(harness: BotHarness) -> None:
    import io

    from openpyxl import load_workbook

    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER, SILENT])
    await declare(harness, world, MEMBER)  # 15.00 a month
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", ["欠交：2 人", "未申报基数：1 人（应交金额未知"]),
            (("press", "提醒申报基数（1 人）"), "已提醒 1 人申报交费类别和基数"),
        ],
    )
    calls = await harness.press(SECRETARY, f"dsa:nag:{world.branch_id}")
    assert "已经处理过了" in toasts(calls)
    await harness.deliver()
    note = harness.fake.last(SILENT.id)
    assert "请您申报交费类别和基数" in note.text
    assert not any("请您申报" in text for text in harness.fake.texts(MEMBER.id))
    await harness.transcript(SILENT, [(("press", "申报"), "您属于哪一类")])
    assert await count(harness, AuditEntry, AuditEntry.action == "dues.remind_declare") == 2
    # The ledger: 未交 is what the declared owe; the undeclared are counted apart, in the caption too.
    await harness.transcript(SECRETARY, [("/duesadmin", "党费管理"), (("press", "导出"), "导出哪个月")])
    calls = await tap(harness, SECRETARY, "2026年3月")
    [document] = [c for c in calls if c.method == "sendDocument"]
    assert "未交 15.00 元" in document.text and "另有 1 人未申报基数" in document.text
    [(_, content)] = list(document.files.values())
    rows = [list(r) for r in load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)]
    col = {h: i for i, h in enumerate(rows[1])}
    body = {r[col["姓名"]]: r for r in rows[2:4]}
    assert body["李娜"][col["状态"]] == "未申报基数" and body["李娜"][col["应交(元)"]] is None
    assert body["张伟"][col["状态"]] == "未交"
    summary = {r[col["姓名"]]: r for r in rows[5:]}
    assert summary["未交"][col["实交(元)"]] == 15
    assert summary["未申报基数（金额未知）"][col["实交(元)"]] == "1 人"


async def test_an_edit_refused_by_telegram_becomes_a_new_message(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(MEMBER, [("/dues", "15.00"), (("press", "交党费"), "已选：2026年3月")])
    harness.fake.fail("bad_request:message can't be edited", method="editMessageText")
    calls = await tap(harness, MEMBER, "下一步")
    # (The fake records only calls that succeeded: the refused edit is not among them.)
    assert [c.method for c in calls if c.method != "answerCallbackQuery"] == ["sendMessage"]
    assert "哪天交的" in calls[-1].text
    harness.fake.fail("bad_request:message is not modified", method="editMessageText")
    calls = await tap(harness, MEMBER, "今天")
    assert [c.method for c in calls if c.method != "answerCallbackQuery"] == []
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert not any("出了点问题" in c.text for c in harness.fake.calls)
    async with harness.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft.step == "place"  # the step moved on although the screen could not be shown again


async def test_a_refused_report_keeps_nothing_half_written(harness: BotHarness) -> None:
    """The secretary records the month while the member's report is open: the submit is refused and no
    report row is left behind (the write is undone inside the event, which still commits its draft)."""
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "15.00"),
            (("press", "交党费"), "已选"),
            (("press", "下一步"), "哪天交的"),
            (("press", "今天"), "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "本人"), "请核对"),
        ],
    )
    await pay(harness, world, MEMBER, m(2026, 3))
    calls = await tap(harness, MEMBER, "提交")
    assert any("所选月份的情况有变化" in c.text for c in calls)
    assert await count(harness, DuesReport) == 1  # the secretary's, and no empty one of the member
    assert await count(harness, Draft) == 0
    async with harness.session() as session:
        [report_id] = await session.scalars(select(DuesReport.id))
        sources = set(await session.scalars(select(OutboxMessage.source)))
    # Only the first report's notices (reported, confirmed): the refused one told nobody anything.
    assert {s for s in sources if s.startswith("dues:report:")} == {
        f"dues:report:{report_id}",
        f"dues:report:{report_id}:confirmed",
    }


async def test_a_month_settled_in_the_same_instant_undoes_only_the_report(harness: BotHarness) -> None:
    """The race UNIQUE(member, month) guards: the report's rows are undone in a savepoint, the rest of
    the event (here a row written before it) still commits, and the member is told the months changed."""
    from decimal import Decimal

    import pytest

    from bot.services import dues
    from storage.models import Member, Person
    from storage.models.dues import PaymentPlace, PaymentStatus

    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    member_id = world.member_ids[MEMBER.id]
    now = harness.clock.now()
    async with harness.session() as session:
        _, state = await dues._member_state(session, member_id, now)
        member = await session.get(Member, member_id)
        member.city_district = "浦东新区"  # something else this event wrote first
        other = DuesReport(member_id=member_id, branch_id=world.branch_id, created_at=now)
        session.add(other)
        await session.flush()
        session.add(
            DuesPayment(
                member_id=member_id,
                branch_id=world.branch_id,
                month=m(2026, 3),
                report_id=other.id,
                amount_due=Decimal("15.00"),
                place=PaymentPlace.HOST,
                paid_on=date(2026, 3, 5),
                status=PaymentStatus.CONFIRMED,
            )
        )
        await session.flush()
        with pytest.raises(dues.DuesRefused) as refused:
            await dues._write_payments(  # the state loaded before the other row was written
                session,
                state,
                branch_id=world.branch_id,
                actor_person_id=world.person_ids[MEMBER.id],
                months=[m(2026, 3)],
                paid_on=date(2026, 3, 5),
                place=PaymentPlace.HOST,
                paid_by="张小明",
                extra=Decimal("0.00"),
                status=PaymentStatus.REPORTED,
                now=now,
            )
        assert refused.value.key == "dues.months_changed"
        await session.commit()
    async with harness.session() as session:
        assert [r.id for r in await session.scalars(select(DuesReport))] == [other.id]
        [payment] = await session.scalars(select(DuesPayment))
        assert (payment.status, payment.paid_by) == (PaymentStatus.CONFIRMED, None)
        assert (await session.get(Member, member_id)).city_district == "浦东新区"
        assert await session.scalar(select(func.count()).select_from(Person)) >= 2
