"""/dues: declaring a category and base through the real Application, with every worked example."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from storage.models import AuditEntry, OutboxMessage
from storage.models.dues import DeclarationReview, DuesDeclaration
from tests.dues.factory import SECRETARY, make_world
from tests.factories import TgUser
from tests.harness import BotHarness

MEMBER = TgUser(5001, "张伟")
EN_MEMBER = TgUser(5002, "Zhang", "en-GB")
STRANGER = TgUser(5009, "路人")


async def declared(harness: BotHarness, member_id: int) -> list[DuesDeclaration]:
    async with harness.session() as session:
        rows = await session.scalars(select(DuesDeclaration).where(DuesDeclaration.member_id == member_id))
        return list(rows)


# (button, typed base, amount, rate shown, bracket shown): the worked examples of domain.md and every
# boundary of the 2008 rule, typed by a member, not only computed by the rule.
WAGE_CASES = [
    ("在职", "2800", "14.00", "0.5%", "3000元及以下"),
    ("在职", "3000", "15.00", "0.5%", "3000元及以下"),
    ("在职", "3000.01", "30.00", "1%", "3000元以上至5000元"),
    ("在职", "5000", "50.00", "1%", "3000元以上至5000元"),
    ("在职", "5000.01", "75.00", "1.5%", "5000元以上至10000元"),
    ("在职", "8000", "120.00", "1.5%", "5000元以上至10000元"),
    ("在职", "10000", "150.00", "1.5%", "5000元以上至10000元"),
    ("年薪", "10000.01", "200.00", "2%", "10000元以上"),
    ("年薪", "12000", "240.00", "2%", "10000元以上"),
    ("退休", "5000", "25.00", "0.5%", "养老金5000元及以下"),
    ("退休", "5000.01", "50.00", "1%", "养老金5000元以上"),
    ("退休", "6000", "60.00", "1%", "养老金5000元以上"),
    ("个体", "3000 3500 4000", "35.00", "1%", "3000元以上至5000元"),
    ("个体", "２，８００元", "14.00", "0.5%", "3000元及以下"),
]


@pytest.mark.parametrize(("button", "typed", "amount", "rate", "bracket"), WAGE_CASES)
async def test_declare_shows_the_amount_and_the_rule(
    harness: BotHarness, button: str, typed: str, amount: str, rate: str, bracket: str
) -> None:
    world = await make_world(harness, [MEMBER])
    await harness.transcript(
        MEMBER,
        [
            ("/dues", ["请先申报", "您属于哪一类"]),
            (("press", button), "请输入"),
            (typed, ["已申报", f"× {rate}（{bracket}）", f"每月应交：{amount} 元"]),
            ("/dues", [f"每月应交：{amount} 元", "申报待书记确认", "2026年3月 " + amount + "元 未开始"]),
        ],
    )
    [declaration] = await declared(harness, world.member_ids[MEMBER.id])
    assert declaration.review == DeclarationReview.PENDING
    assert declaration.declared_category == declaration.category
    # A first declaration covers every month since the member reported in here (January).
    assert declaration.effective_month.isoformat() == "2026-01-01"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "金额必须大于零"),
        ("-3000", "金额必须大于零"),
        ("三千", "请输入一个金额数字"),
        ("abc", "请输入一个金额数字"),
        ("3000.123", "最多两位小数"),
        ("100000000", "多打了零"),
        ("", "请输入一个金额数字"),
    ],
)
async def test_bad_base_is_refused_and_asked_again(harness: BotHarness, typed: str, message: str) -> None:
    world = await make_world(harness, [MEMBER])
    await harness.send(MEMBER, "/dues")
    await harness.press(MEMBER, "dues:cat:employed")
    replies = await harness.send(MEMBER, typed or " ")
    text = replies[-1].text
    assert message in text
    assert "请输入每月税后工资" in text  # the same question again
    assert await declared(harness, world.member_ids[MEMBER.id]) == []
    # Nothing is lost: the next answer goes to the same question.
    await harness.transcript(MEMBER, [("3000", "每月应交：15.00 元")])


async def test_self_employed_needs_three_months_or_an_average(harness: BotHarness) -> None:
    await make_world(harness, [MEMBER])
    await harness.send(MEMBER, "/dues")
    await harness.press(MEMBER, "dues:cat:self_employed")
    await harness.transcript(
        MEMBER,
        [
            ("3000 4000", ["三个月的收入", "上季度月平均纯收入"]),
            ("3000 -1 4000", "亏损的月份请填 0"),
            ("0 0 0", "金额必须大于零"),
            # A month at a loss counts as zero: (0 + 4500 + 4500) / 3 = 3000.00 -> 0.5%.
            ("0、4500、4500", ["基数 3000.00 元 × 0.5%", "每月应交：15.00 元"]),
        ],
    )


async def test_flat_categories_need_no_base(harness: BotHarness) -> None:
    await make_world(harness, [MEMBER])
    await harness.transcript(
        MEMBER,
        [("/dues", "您属于哪一类"), (("press", "学生"), ["已申报", "每月交 0.20 元", "每月应交：0.20 元"])],
    )


async def test_farmer_pays_the_branch_amount_and_jiao_rounding(harness: BotHarness) -> None:
    second = TgUser(5003, "王芳")
    await make_world(harness, [MEMBER, second])
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "设置"), ["取整：到分", "农民党员：每月 0.20 元"]),
            (("press", "取整"), "取整：到角"),
            (("press", "农民额"), "0.20 到 1.00"),
            ("1.5", ["0.20 到 1.00 元之间", "农民党员每月交多少元"]),
            ("0.5", "农民党员：每月 0.50 元"),
        ],
    )
    await harness.transcript(MEMBER, [("/dues", "您属于哪一类"), (("press", "农民"), "每月应交：0.50 元")])
    # 2890 x 0.5% = 14.45, rounded half up to the jiao: 14.50.
    await harness.transcript(
        second, [("/dues", "您属于哪一类"), (("press", "在职"), "请输入"), ("2890", "每月应交：14.50 元")]
    )


async def test_secretary_is_asked_to_confirm_a_declaration(harness: BotHarness) -> None:
    world = await make_world(harness, [MEMBER])
    await harness.send(MEMBER, "/dues")
    await harness.press(MEMBER, "dues:cat:employed")
    await harness.send(MEMBER, "8000")
    await harness.deliver()
    note = harness.fake.last(SECRETARY.id)
    assert "张伟 申报了交费类别：在岗职工，基数 8000.00 元，每月应交 120.00 元" in note.text
    await harness.transcript(SECRETARY, [(("press", "确认"), ["已确认该党员的申报", "120.00"])])
    [declaration] = await declared(harness, world.member_ids[MEMBER.id])
    assert declaration.review == DeclarationReview.CONFIRMED
    # A second tap on the same button changes nothing.
    calls = await harness.press(SECRETARY, note.button("确认"))
    assert any(
        c.method == "answerCallbackQuery" and "已经处理过了" in str(c.params.get("text")) for c in calls
    )
    await harness.deliver()
    assert "书记已确认您的交费类别：在岗职工，每月 120.00 元" in harness.fake.last(MEMBER.id).text


async def test_a_new_base_applies_from_the_month_the_pay_is_received(harness: BotHarness) -> None:
    world = await make_world(harness, [MEMBER])
    await harness.transcript(
        MEMBER, [("/dues", "您属于哪一类"), (("press", "在职"), "请输入"), ("2800", "14.00")]
    )
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "每月应交：14.00 元"),
            (("press", "改申报"), "您属于哪一类"),
            (("press", "在职"), "请输入"),
            ("8000", "新基数从哪个月起执行"),
            (("press", "下月"), ["自2026年4月起执行", "每月应交：120.00 元"]),
            # March is still at the old base; April on the new one.
            ("/dues", ["每月应交：14.00 元", "2026年3月 14.00元"]),
        ],
    )
    rows = sorted(await declared(harness, world.member_ids[MEMBER.id]), key=lambda d: d.effective_month)
    assert [(d.effective_month.isoformat(), d.base) for d in rows] == [
        ("2026-01-01", Decimal("2800.00")),
        ("2026-04-01", Decimal("8000.00")),
    ]


async def test_english_member_sees_english(harness: BotHarness) -> None:
    await make_world(harness, [EN_MEMBER])
    await harness.transcript(
        EN_MEMBER,
        [
            ("/dues", "Which category are you in?"),
            (("press", "Retired"), "monthly pension"),
            ("6000", ["Base 6000.00 yuan × 1% (pension over 5000 yuan)", "Monthly dues: 60.00 yuan"]),
        ],
    )


async def test_only_members_on_the_roster_use_dues(harness: BotHarness) -> None:
    await make_world(harness, [MEMBER])
    await harness.transcript(STRANGER, [("/dues", "请先发送 /start 报到")])
    calls = await harness.press(STRANGER, "dues:cat:employed")
    assert "请先发送 /start 报到" in calls[-1].text
    async with harness.session() as session:
        assert await session.scalar(select(OutboxMessage.id)) is None
        assert await session.scalar(select(AuditEntry.id).where(AuditEntry.action == "dues.declare")) is None
