"""Dues and privacy: the declared base, the payer's name (代交) and the reason of a reduction or waiver
are in /mydata, and /deleteme erases them, through the live bot (issue 11, point 7)."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import func, select

from bot.flows.dues import FEATURE
from storage.models import OutboxMessage, OutboxStatus
from storage.models.dues import AdjustmentKind, DuesAdjustment, DuesDeclaration, DuesPayment
from tests.dues.factory import SECRETARY, local, make_world, open_months
from tests.factories import TgUser
from tests.harness import BotHarness

MEMBER = TgUser(5501, "张伟")
SECRETS = {"declared_base": "8000.00", "paid_by": "张小明", "reason": "家中老人重病"}


async def _mydata(harness: BotHarness, user: TgUser) -> dict:
    calls = await harness.send(user, "/mydata")
    [document] = [c for c in calls if c.method == "sendDocument"]
    [(_, content)] = list(document.files.values())
    return json.loads(content)


async def test_mydata_shows_and_deleteme_erases_every_personal_dues_field(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 5, 10))
    world = await make_world(harness, [MEMBER])
    await open_months(harness, world.branch_id, local(2026, 3, 1).date().replace(day=1))
    await harness.transcript(
        MEMBER,
        [
            ("/dues", "您属于哪一类"),
            (("press", "在职"), "税后工资"),
            ("8000", "每月应交：120.00 元"),
            (("press", "交党费"), "已选：2026年3月"),
            (("press", "下一步"), "哪天交的"),
            (("press", "今天"), "在哪里交的"),
            (("press", "本支部"), "是本人交的"),
            (("press", "他人代交"), "代交人的姓名"),
            ("张小明", "代交人：张小明"),
            (("press", "提交"), "已报告"),
        ],
    )
    await harness.transcript(
        SECRETARY,
        [
            ("/duesadmin", "党费管理"),
            (("press", "减免"), "为谁"),
            (("press", "张伟"), "哪个月"),
            (("press", "4月"), "少交还是免交"),
            (("press", "免交"), "理由"),
            ("家中老人重病", "已记录：2026年4月免交"),
        ],
    )
    await harness.deliver()  # the secretary's notice naming the payer is sent
    assert "代交人：张小明" in harness.fake.last(SECRETARY.id).text

    section = (await _mydata(harness, MEMBER))["party_dues"]
    [declaration] = section["declarations"]
    assert (declaration["category"], declaration["declared_category"]) == ("employed", "employed")
    assert (declaration["base"], declaration["declared_base"]) == ("8000.00", SECRETS["declared_base"])
    [payment] = section["payments"]
    assert (payment["month"], payment["paid_by"], payment["amount_due"]) == ("2026-03", "张小明", "120.00")
    [adjustment] = section["adjustments"]
    assert (adjustment["month"], adjustment["kind"]) == ("2026-04", "exempt")
    assert adjustment["reason"] == SECRETS["reason"]
    # Every column the feature declares personal holds something now (so the erasure below is tested).
    async with harness.session() as session:
        for column in FEATURE.personal_columns:
            held = await session.scalar(select(func.count()).where(column.is_not(None)))
            assert held, column

    await harness.transcript(MEMBER, [("/deleteme", "删除"), (("press", "删除"), "已删除")])

    async with harness.session() as session:
        for column in FEATURE.personal_columns:
            left = await session.scalar(select(func.count()).where(column.is_not(None)))
            assert left == 0, column
        assert await session.scalar(select(func.count()).select_from(DuesDeclaration)) == 0
        # The money stays, so the ledgers of past months remain true.
        [kept] = await session.scalars(select(DuesPayment))
        assert (kept.amount_due, kept.paid_by) == (Decimal("120.00"), None)
        [waived] = await session.scalars(select(DuesAdjustment))
        assert (waived.kind, waived.reason) == (AdjustmentKind.EXEMPT, None)
        notices = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.source.like("dues:%")))
        )
    assert notices
    for notice in notices:
        assert notice.payload == {"text": ""}, notice.source
        assert notice.status in (OutboxStatus.SENT, OutboxStatus.CANCELLED)
    # Whatever a later /mydata from the same Telegram account finds, none of it is left.
    text = json.dumps(await _mydata(harness, MEMBER), ensure_ascii=False)
    for secret in SECRETS.values():
        assert secret not in text
