"""/duesadmin: opening months, recording and adjusting, categories, arrears, settings, the ledger export."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select, text

from app.features import build_features
from bot.services import export
from storage.models import AuditEntry
from storage.models.dues import (
    AdjustmentKind,
    DeclarationReview,
    DuesAdjustment,
    DuesDeclaration,
    DuesMonth,
    DuesPayment,
    PaymentPlace,
    PaymentStatus,
)
from tests.dues.factory import SECRETARY, declare, local, make_world, open_months, pay, run_tick
from tests.factories import TgUser
from tests.harness import BotHarness

A = TgUser(5301, "张伟")
B = TgUser(5302, "王芳")
C = TgUser(5303, "李娜")
D = TgUser(5304, "刘洋")
E = TgUser(5305, "陈静")
OUTSIDER = TgUser(5399, "外人")
OTHER_SECRETARY = TgUser(9003, "周书记")


def m(year: int, month: int) -> date:
    return date(year, month, 1)


async def count(harness: BotHarness, model, *where) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def test_only_officers_open_the_dues_menu(harness: BotHarness) -> None:
    await make_world(harness, [A])
    for user in (A, OUTSIDER):
        await harness.transcript(user, [("/duesadmin", "您没有权限进行此操作")])
    assert (
        await count(harness, AuditEntry, AuditEntry.action == "dues.admin", AuditEntry.result == "denied")
        == 2
    )


async def test_committee_member_shares_the_secretary_duties(harness: BotHarness) -> None:
    from storage.models import Role

    await make_world(harness, [A], role=Role.COMMITTEE)
    await harness.transcript(SECRETARY, [("/duesadmin", "党费管理")])


async def test_open_a_month_once(harness: BotHarness) -> None:
    world = await make_world(harness, [A])
    await harness.transcript(SECRETARY, [("/duesadmin", "未开始收缴"), (("press", "开本月"), "已开始收缴")])
    calls = await harness.press(SECRETARY, f"dsa:open:{world.branch_id}:202603")
    assert any(
        "已经处理过了" in str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery"
    )
    # A month in the future, or one beyond the make-up window, cannot be opened.
    for code in ("202604", "202508"):
        calls = await harness.press(SECRETARY, f"dsa:open:{world.branch_id}:{code}")
        assert any("只能开启本月或前六个月内的月份" in c.text for c in calls)
    assert await count(harness, DuesMonth) == 1
    assert await count(harness, AuditEntry, AuditEntry.action == "dues.open_month") == 1
    await harness.transcript(SECRETARY, [("/duesadmin", "本月：已开始收缴")])


async def test_record_a_payment_received_in_person(harness: BotHarness) -> None:
    world = await make_world(harness, [A])
    await declare(harness, world, A, "employed", "5000")
    await open_months(harness, world.branch_id, m(2026, 2), m(2026, 3))
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "欠交：1 人"),
            (("press", "代登记"), "为谁登记"),
            (("press", "张伟"), "张伟 当面交了哪几个月"),
            (("press", "2月"), "已选：2026年2月，共 50.00 元"),
            (("press", "3月"), "已选：2026年2月、2026年3月，共 100.00 元"),
            (("press", "保存"), "已登记并确认：2026年2月、2026年3月，共 100.00 元"),
        ],
    )
    async with harness.session() as session:
        rows = list(await session.scalars(select(DuesPayment).order_by(DuesPayment.month)))
    assert [(r.month, r.status, r.place, r.amount_due) for r in rows] == [
        (m(2026, 2), PaymentStatus.CONFIRMED, PaymentPlace.HOST, Decimal("50.00")),
        (m(2026, 3), PaymentStatus.CONFIRMED, PaymentPlace.HOST, Decimal("50.00")),
    ]
    await harness.deliver()
    assert "书记已登记您当面交纳的党费：2026年2月、2026年3月，共 100.00 元" in harness.fake.last(A.id).text
    # The save button again records nothing more.
    calls = await harness.press(SECRETARY, f"dsa:rok:{world.member_ids[A.id]}")
    assert any(
        "已经处理过了" in str(c.params.get("text")) for c in calls if c.method == "answerCallbackQuery"
    )
    assert await count(harness, DuesPayment) == 2


async def test_reduce_and_waive_with_a_reason(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 2, 9))
    world = await make_world(harness, [A])
    await declare(harness, world, A, "employed", "3000")
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "减免"), "为谁记录少交或免交"),
            (("press", "张伟"), "张伟：哪个月"),
            (("press", "3月"), "张伟 2026年3月：少交还是免交"),
            (("press", "少交"), "少交后每月交多少元"),
            ("20", ["少交金额不能高于按规定应交的金额", "少交后每月交多少元"]),
            ("5", "请输入支部决定的理由"),
            ("  ", ["内容不能为空", "请输入支部决定的理由"]),
            ("家中老人重病，生活困难", "已记录：2026年3月少交，应交 5.00 元"),
        ],
    )
    await harness.deliver()
    assert "您2026年3月的党费减为 5.00 元" in harness.fake.last(A.id).text
    await harness.transcript(
        A, [("/dues", ["每月应交：5.00 元", "少交（标准为 15.00 元）", "2026年3月 5.00元 未交"])]
    )
    async with harness.session() as session:
        raw = await session.scalar(text("SELECT reason FROM dues_adjustment"))
    assert "困难" not in raw
    # Waiving April (ahead of time) settles it: no reminder when it opens.
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "减免"), "为谁"),
            (("press", "张伟"), "哪个月"),
            (("press", "4月"), "少交还是免交"),
            (("press", "免交"), "理由"),
            ("失业", "已记录：2026年4月免交"),
        ],
    )
    async with harness.session() as session:
        kinds = dict((a.month, a.kind) for a in await session.scalars(select(DuesAdjustment)))
    assert kinds == {m(2026, 3): AdjustmentKind.REDUCED, m(2026, 4): AdjustmentKind.EXEMPT}
    harness.clock.set(local(2026, 4, 1, 8))
    await open_months(harness, world.branch_id, m(2026, 4))
    await pay(harness, world, A, m(2026, 3))
    harness.clock.set(local(2026, 4, 10, 10))
    assert (await run_tick(harness)).occurrences == 0


async def test_confirm_or_override_a_category(harness: BotHarness) -> None:
    world = await make_world(harness, [A, B])
    await declare(harness, world, A, "employed", "4000")
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "类别"), "查看或核定谁的交费类别"),
            (("press", "张伟"), ["张伟 的交费类别（待确认）", "在岗职工", "每月应交：40.00 元"]),
            (("press", "改类"), "为 张伟 核定交费类别"),
            (("press", "农民"), ["已核定该党员的交费类别", "农民党员", "每月应交：0.20 元"]),
        ],
    )
    async with harness.session() as session:
        declaration = await session.scalar(
            select(DuesDeclaration).where(DuesDeclaration.member_id == world.member_ids[A.id])
        )
    assert (declaration.category, declaration.declared_category, declaration.review) == (
        "farmer",
        "employed",
        DeclarationReview.OVERRIDDEN,
    )
    await harness.deliver()
    assert "书记核定您的交费类别为：农民党员，每月 0.20 元" in harness.fake.last(A.id).text
    await harness.transcript(A, [("/dues", ["类别由书记核定", "每月应交：0.20 元"])])
    # A member who never declared: the secretary sets the category and base.
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "类别"), "谁"),
            (("press", "王芳"), "还没有申报交费类别"),
            (("press", "改类"), "核定"),
            (("press", "退休"), "养老金"),
            ("abc", ["请输入一个金额数字", "养老金"]),
            ("6000", ["已核定", "每月应交：60.00 元"]),
        ],
    )


async def test_arrears_list(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 2, 9))
    world = await make_world(harness, [A, B, C])
    await declare(harness, world, A, "employed", "3000")
    await declare(harness, world, B, "retired", "6000")
    await open_months(harness, world.branch_id, m(2026, 1), m(2026, 2), m(2026, 3))
    await pay(harness, world, B, m(2026, 1), m(2026, 2), m(2026, 3))
    await pay(harness, world, A, m(2026, 1))
    await harness.transcript(
        SECRETARY,
        [
            # Issue 19.12: who never declared a base owes an unknown amount, said so and never summed.
            ("/duesadmin", ["欠交：2 人", "未申报基数：1 人（应交金额未知"]),
            (
                ("press", "欠交"),
                [
                    "欠交党员 2 人",
                    "李娜：3 个月（连续 3 个月）2026年1月、2026年2月、2026年3月，未申报基数，金额未知",
                    "张伟：2 个月（连续 2 个月）2026年2月、2026年3月，共 30.00 元",
                ],
            ),
        ],
    )
    text_ = harness.fake.last(SECRETARY.id).text
    assert "王芳" not in text_
    assert text_.index("李娜") < text_.index("张伟")


async def test_settings_refuse_bad_values(harness: BotHarness) -> None:
    world = await make_world(harness, [A])
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "设置"), "提醒日：每月 10 日"),
            (("press", "提醒日"), "每月几号"),
            ("32", ["请输入 1 到 31 之间的数字", "每月几号"]),
            ("十五", ["请输入 1 到 31 之间的数字", "每月几号"]),
            ("15号", "提醒日：每月 15 日"),
            (("press", "按季"), "可按季交纳：是"),
        ],
    )
    # The same button again (a second tap, another update id) leaves the choice as it is.
    calls = await harness.press(SECRETARY, f"dsa:qtr:{world.branch_id}:1")
    assert "可按季交纳：是" in calls[-1].text


async def test_forged_buttons_for_another_branch_are_denied_and_audited(harness: BotHarness) -> None:
    world = await make_world(harness, [A])
    other = await make_world(harness, [B], name="北京流动党支部", secretary=OTHER_SECRETARY)
    await declare(harness, world, A)
    await open_months(harness, world.branch_id, m(2026, 3))
    member_a = world.member_ids[A.id]
    forged = [
        f"dsa:b:{world.branch_id}",
        f"dsa:open:{world.branch_id}:202603",
        f"dsa:arr:{world.branch_id}",
        f"dsa:xl:{world.branch_id}:202603",
        f"dsa:mem:{world.branch_id}:rec",
        f"dsa:rec:{member_a}",
        f"dsa:am:{member_a}:202603",
        f"dsa:ak:{member_a}:202603:e",
        f"dsa:cc:{member_a}",
        f"dsa:oc:{member_a}:farmer",
        f"dsa:rnd:{world.branch_id}:jiao",
        f"dsa:day:{world.branch_id}",
    ]
    for data in forged:
        calls = await harness.press(OTHER_SECRETARY, data)
        assert any("您没有权限进行此操作" in c.text for c in calls), data
        assert not any(c.method == "sendDocument" for c in calls)
    denied = await count(
        harness, AuditEntry, AuditEntry.result == "denied", AuditEntry.branch_id == world.branch_id
    )
    assert denied == len(forged)
    assert await count(harness, DuesPayment) == 0 and await count(harness, DuesAdjustment) == 0
    # Their own branch works for them.
    await harness.transcript(OTHER_SECRETARY, [("/duesadmin", "北京流动党支部")])
    assert other.branch_id != world.branch_id


async def test_exported_ledger_matches_the_database(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 20, 10))
    world = await make_world(harness, [A, B, C, D, E])
    await declare(harness, world, A, "employed", "8000")  # 120.00, paid here and confirmed, + extra
    await declare(harness, world, B, "retired", "6000")  # 60.00, paid at home
    await declare(harness, world, C, "employed", "12000")  # 240.00, reported, not confirmed
    await declare(harness, world, D, "employed", "2800")  # 14.00, unpaid
    await declare(harness, world, E, "student", None)  # 0.20, waived
    await open_months(harness, world.branch_id, m(2026, 2), m(2026, 3))
    await pay(harness, world, A, m(2026, 3))
    async with harness.session() as session:
        row = await session.scalar(select(DuesPayment).where(DuesPayment.member_id == world.member_ids[A.id]))
        row.voluntary_extra = Decimal("10.00")
        await session.commit()
    await pay(harness, world, B, m(2026, 3), place="home")
    await pay(harness, world, C, m(2026, 3), confirm=False)
    await pay(harness, world, A, m(2026, 2))  # another month: not in March's ledger
    async with harness.session() as session:
        session.add(
            DuesAdjustment(
                member_id=world.member_ids[E.id], month=m(2026, 3), kind=AdjustmentKind.EXEMPT, reason="困难"
            )
        )
        await session.commit()
    await harness.transcript(SECRETARY, [("/duesadmin", "党费管理"), (("press", "导出"), "导出哪个月")])
    calls = await harness.press(SECRETARY, harness.fake.last(SECRETARY.id).button("2026年3月"))
    [document] = [c for c in calls if c.method == "sendDocument"]
    assert "本支部实收 130.00 元；在家乡交纳 60.00 元（不计入）；未交 14.00 元" in document.text
    [(filename, content)] = [v for k, v in document.files.items()]
    assert filename.endswith(".xlsx") and "党费台账" in filename  # named like the branch's whole ledger
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "上海流动党支部 党费台账 2026年3月"
    headers = rows[1]
    assert headers[:9] == [
        "序号",
        "姓名",
        "党员身份",
        "交费类别",
        "基数(元)",
        "比例",
        "应交(元)",
        "自愿多交(元)",
        "实交(元)",
    ]
    col = {h: i for i, h in enumerate(headers)}
    body = {r[col["姓名"]]: r for r in rows[2:7]}
    assert {name: body[name][col["状态"]] for name in body} == {
        "张伟": "已交",
        "王芳": "在家乡交",
        "李娜": "待确认",
        "刘洋": "未交",
        "陈静": "免交",
    }
    assert body["陈静"][col["备注"]] == "免交：困难"
    totals = rows[7]
    assert totals[col["姓名"]] == "合计（本支部实收）"

    def money(value: object) -> Decimal:
        return Decimal(str(value)).quantize(Decimal("0.01"))

    async with harness.session() as session:
        march = (DuesPayment.branch_id == world.branch_id, DuesPayment.month == m(2026, 3))
        received = await session.scalar(
            select(func.sum(DuesPayment.amount_due + DuesPayment.voluntary_extra)).where(
                *march, DuesPayment.status == PaymentStatus.CONFIRMED, DuesPayment.place == PaymentPlace.HOST
            )
        )
        home = await session.scalar(
            select(func.sum(DuesPayment.amount_due)).where(*march, DuesPayment.place == PaymentPlace.HOME)
        )
        pending = await session.scalar(
            select(func.sum(DuesPayment.amount_due)).where(
                *march, DuesPayment.status == PaymentStatus.REPORTED, DuesPayment.place == PaymentPlace.HOST
            )
        )
    assert money(totals[col["实交(元)"]]) == money(received) == Decimal("130.00")
    assert money(totals[col["自愿多交(元)"]]) == Decimal("10.00")
    # Owed in March: 120 + 60 + 240 + 14 + 0 (waived).
    assert money(totals[col["应交(元)"]]) == Decimal("434.00")
    summary = {r[col["姓名"]]: money(r[col["实交(元)"]]) for r in rows[8:12]}
    assert summary == {
        "本支部实收": money(received),
        "待确认": money(pending),
        "在家乡交纳（不计入本支部）": money(home),
        "未交": Decimal("14.00"),
    }
    # The branch-wide /export workbook carries the same ledger as its dues sheet.
    async with harness.session() as session:
        sheets = [sheet for feature in build_features() for sheet in feature.export_sheets]
        content = await export.build_workbook(session, world.branch_id, "zh", sheets)
    workbook = load_workbook(io.BytesIO(content))
    assert "党费台账 2026年3月" in workbook.sheetnames
