"""The dues forms on the step engine: what the engine adds to the declaration, the payment report and the
secretary's typed answers (返回, 取消, stale buttons after a cancel, 修改 from the check, refused answers
asked again, expiry), and every catalogue key the dues screens name, in both languages."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.i18n import LANGUAGES, Catalogue
from bot.rules.dues import DuesBracket, DuesCategory
from bot.services import dues
from storage.models import Draft
from storage.models.dues import (
    AdjustmentKind,
    DeclarationReview,
    DuesAdjustment,
    DuesDeclaration,
    DuesPayment,
    PaymentPlace,
    Rounding,
)
from tests import factories
from tests.dues.factory import SECRETARY, declare, local, make_world, open_months
from tests.factories import TgUser
from tests.fakes import Call
from tests.harness import BotHarness

MEMBER = TgUser(5601, "张伟")


def m(year: int, month: int) -> date:
    return date(year, month, 1)


async def count(harness: BotHarness, model, *where) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def said(calls: list[Call]) -> str:
    """Everything the person was shown: messages, edits and toasts."""
    return "\n".join(str(c.params.get("text") or c.text) for c in calls)


async def test_declaration_cancelled_then_its_old_buttons_are_stale(harness: BotHarness) -> None:
    world = await make_world(harness, [MEMBER])
    await harness.transcript(MEMBER, [("/dues", ["请先申报", "您属于哪一类"])])
    old_category = harness.fake.last(MEMBER.id).button("在职")
    await harness.transcript(MEMBER, [(("press", "取消"), ["已取消", "/dues"])])
    assert await count(harness, Draft) == 0
    calls = await harness.press(MEMBER, old_category)
    assert "这个按钮已失效" in said(calls)
    await harness.transcript(MEMBER, [("3000", "现在没有需要您填写的内容")])
    assert (
        await count(harness, DuesDeclaration, DuesDeclaration.member_id == world.member_ids[MEMBER.id]) == 0
    )


async def test_changing_a_declaration_walks_back_and_asks_a_bad_base_again(harness: BotHarness) -> None:
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER, "employed", "2800")
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "每月应交：14.00 元"),
            (("press", "改申报"), "您属于哪一类"),
            # 返回 from the first question of a change: the overview it was begun from.
            (("press", "返回"), ["每月应交：14.00 元", "近几个月"]),
            (("press", "改申报"), "您属于哪一类"),
            (("press", "在职"), "请输入每月税后工资"),
            # A typed base the rule refuses: the reason, and the same question again.
            ("abc", ["请输入一个金额数字", "请输入每月税后工资"]),
            ("3000.123", ["最多两位小数", "请输入每月税后工资"]),
            (("press", "返回"), "您属于哪一类"),
            (("press", "退休"), "请输入每月养老金"),
            ("6000", "新基数从哪个月起执行"),
            (("press", "返回"), "请输入每月养老金"),
            ("6000", "新基数从哪个月起执行"),
            (("press", "本月"), ["自2026年3月起执行", "每月应交：60.00 元"]),
        ],
    )
    assert await count(harness, Draft) == 0
    async with harness.session() as session:
        rows = list(await session.scalars(select(DuesDeclaration).order_by(DuesDeclaration.id)))
    assert (rows[-1].category, rows[-1].base, rows[-1].review) == (
        "retired",
        Decimal("6000.00"),
        DeclarationReview.PENDING,
    )
    # The month buttons of the finished change are stale now.
    calls = await harness.press(MEMBER, f"dues:eff:{dues.month_code(m(2026, 3))}")
    assert "这个按钮已失效" in said(calls)


async def test_a_declaration_left_too_long_is_dropped_with_one_message(harness: BotHarness) -> None:
    await make_world(harness, [MEMBER])
    await harness.transcript(MEMBER, [("/dues", "您属于哪一类"), (("press", "在职"), "请输入每月税后工资")])
    harness.clock.advance(days=31)
    await harness.transcript(MEMBER, [("3000", ["已超过 30 天", "/dues"])])
    assert await count(harness, Draft) == 0
    await harness.transcript(MEMBER, [("/dues", "您属于哪一类")])


async def test_edit_from_the_payment_check_returns_to_it(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER)
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "每月应交：15.00 元"),
            (("press", "交党费"), "已选：2026年3月"),
            (("press", "下一步"), "哪天交的"),
            (("press", "今天"), "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "本人"), ["交纳日期：2026-03-05", "交纳地点：本支部"]),
            # 修改 one answer: answering it comes straight back to the check, the rest kept.
            (("press", "修改交纳日期"), "哪天交的"),
            (("press", "昨天"), ["交纳日期：2026-03-04", "交纳地点：本支部"]),
            # 返回 while changing an answer is the check again, the answer unchanged.
            (("press", "修改交纳地点"), "在哪里交的"),
            (("press", "返回"), ["交纳日期：2026-03-04", "交纳地点：本支部"]),
            # The payer's name belongs to the payer answer: asked before the check comes back.
            (("press", "修改交纳人"), "是本人交的"),
            (("press", "他人代交"), "代交人的姓名"),
            ("王芳", ["代交人：王芳", "交纳日期：2026-03-04"]),
            (("press", "提交"), "已报告"),
        ],
    )
    async with harness.session() as session:
        [row] = await session.scalars(select(DuesPayment))
    assert (row.paid_on, row.place, row.paid_by) == (date(2026, 3, 4), PaymentPlace.HOST, "王芳")


async def test_secretary_form_back_cancel_and_stale(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 2, 9))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER, "employed", "3000")
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "减免"), "为谁记录少交或免交"),
            (("press", "张伟"), "哪个月"),
            (("press", "3月"), "少交还是免交"),
            (("press", "少交"), "少交后每月交多少元"),
            ("5", "请输入支部决定的理由"),
            # 返回 from the reason: the amount again; a new amount replaces the old one.
            (("press", "返回"), "少交后每月交多少元"),
            ("6", "请输入支部决定的理由"),
        ],
    )
    old_back = harness.fake.last(SECRETARY.id).button("返回")
    await harness.transcript(SECRETARY, [(("press", "取消"), ["已取消", "/duesadmin"])])
    calls = await harness.press(SECRETARY, old_back)
    assert "这个按钮已失效" in said(calls)
    await harness.transcript(SECRETARY, [("困难", "现在没有需要您填写的内容")])
    assert await count(harness, DuesAdjustment) == 0
    # Again, to the end: the amount typed after 返回 is the one recorded.
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "减免"), "为谁"),
            (("press", "张伟"), "哪个月"),
            (("press", "3月"), "少交还是免交"),
            (("press", "少交"), "少交后每月交多少元"),
            ("5", "理由"),
            (("press", "返回"), "少交后每月交多少元"),
            ("6", "理由"),
            ("生活困难", "已记录：2026年3月少交，应交 6.00 元"),
        ],
    )
    async with harness.session() as session:
        [adjustment] = await session.scalars(select(DuesAdjustment))
    assert (adjustment.kind, str(adjustment.reduced_amount)) == (AdjustmentKind.REDUCED, "6.00")


async def test_record_in_person_asks_for_a_month_and_for_buttons(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER, "employed", "5000")
    await open_months(harness, world.branch_id, m(2026, 3))
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "代登记"), "为谁登记"),
            (("press", "张伟"), "当面交了哪几个月"),
        ],
    )
    calls = await harness.press(SECRETARY, harness.fake.last(SECRETARY.id).button("保存"))
    assert "请至少选择一个月" in said(calls)
    await harness.transcript(
        SECRETARY,
        [
            ("3月", ["请点按钮选择", "张伟 当面交了哪几个月"]),
            (("press", "3月"), "已选：2026年3月，共 50.00 元"),
            (("press", "保存"), "已登记并确认：2026年3月，共 50.00 元"),
        ],
    )
    assert await count(harness, DuesPayment) == 1 and await count(harness, Draft) == 0


async def test_override_base_answers_anything_but_text_with_its_question(harness: BotHarness) -> None:
    """The override's base question asked again after a photo (it once looked up a missing key)."""
    world = await make_world(harness, [MEMBER])
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "类别"), "谁"),
            (("press", "张伟"), "还没有申报交费类别"),
            (("press", "改类"), "核定"),
            (("press", "退休"), "请输入每月养老金"),
        ],
    )
    calls = await harness.feed(factories.photo_update(SECRETARY))
    texts = said(calls)
    assert "请输入文字回答" in texts and "请输入每月养老金" in texts, texts
    assert "出了点问题" not in texts
    await harness.transcript(
        SECRETARY, [("-1", ["金额必须大于零", "养老金"]), ("6000", "每月应交：60.00 元")]
    )
    async with harness.session() as session:
        declaration = await session.scalar(
            select(DuesDeclaration).where(DuesDeclaration.member_id == world.member_ids[MEMBER.id])
        )
    assert (declaration.category, declaration.review) == ("retired", DeclarationReview.OVERRIDDEN)


# -- the catalogue --------------------------------------------------------------------------------------

SOURCES = ("bot/flows/dues.py", "bot/flows/dues_admin.py", "bot/flows/dues_text.py")
# Audit action names, not catalogue keys (the service's `action=` of a check).
NOT_KEYS = {"dues.admin", "dues.adjust", "dues.record", "dues.review"}


def _keys_named() -> set[str]:
    root = Path(__file__).resolve().parents[2]
    keys: set[str] = set()
    for source in SOURCES:
        keys |= set(
            re.findall(r'"((?:dues|common|steps|error|forms)\.[a-z_.]+)"', (root / source).read_text())
        )
    return keys - NOT_KEYS


def _keys_built() -> set[str]:
    """The keys the dues screens put together from a value (f-strings), for every value there is."""
    keys = {f"dues.review.{r}" for r in DeclarationReview if r != DeclarationReview.CONFIRMED}
    keys |= {f"dues.review_short.{r}" for r in DeclarationReview}
    keys |= {f"dues.st.{s.value}" for s in dues.MonthStatus}
    keys |= {f"dues.{prefix}.{p.value}" for p in PaymentPlace for prefix in ("place", "btn.place")}
    keys |= {f"dues.{prefix}.{c.value}" for c in DuesCategory for prefix in ("cat", "btn.cat")}
    keys |= {f"dues.ask_base.{c.value}" for c in DuesCategory if dues.needs_base(c)}
    flat = {DuesBracket.FARMER_FIXED, DuesBracket.FLAT_MINIMUM}  # explained without a rate
    keys |= {f"dues.bracket.{b.value}" for b in DuesBracket if b not in flat}
    keys |= {f"dues.basis.{b.value}" for b in flat}
    keys |= {f"dues.mon.{n}" for n in range(1, 13)}
    keys |= {f"dues.rounding.{r}" for r in Rounding}
    keys |= {f"dues.admin.pick_member_{op}" for op in ("rec", "adj", "cat")}
    keys |= {f"dues.admin.adjusted_{k.value}" for k in AdjustmentKind}
    return keys


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_dues_screens_name_is_in_the_catalogue(language: str) -> None:
    catalogue = Catalogue()
    missing = []
    for key in sorted(_keys_named() | _keys_built()):
        try:
            catalogue.raw(language, key)
        except Exception:
            missing.append(key)
    assert missing == [], missing
