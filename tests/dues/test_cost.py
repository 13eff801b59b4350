"""What a member's /dues costs: the statements it runs (so a saving cannot silently come back), and the
plain two-statement read of the member's own state agreeing with the ORM state the writers use."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.services import admin, dues
from storage.models import DuesDeclaration, DuesReport, MemberState
from storage.models.dues import DuesSettings
from tests.dues.factory import add_member, add_month_rows, declare, local, make_world
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.statements import counted

MEMBER = TgUser(5301, "张伟")


async def test_dues_of_a_member_who_never_declared_is_cheap(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 2))
    await make_world(harness, [MEMBER])
    await harness.send(MEMBER, "/dues")  # the declaration form opens
    async with counted(harness) as statements:
        await harness.send(MEMBER, "/dues")
    assert "请先申报" in harness.fake.last(MEMBER.id).text
    # The person with their roles; the member with the branch's zone and settings and the member's dues
    # rows (one select); the form's draft (found and kept); the redelivery record. No second look for
    # declarations.
    assert len(statements) <= 5, statements
    assert sum("dues_declaration" in s for s in statements) == 1, statements

    async with counted(harness) as statements:
        await harness.send(MEMBER, "随便写点")  # typed at a question answered by a button
    assert "您属于哪一类" in harness.fake.last(MEMBER.id).text
    assert len(statements) <= 4, statements  # the person; the draft; declared before?; the record


async def test_dues_of_a_declared_member_is_cheap(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 2))
    world = await make_world(harness, [MEMBER])
    await declare(harness, world, MEMBER, "student", None)
    await harness.send(MEMBER, "/dues")
    async with counted(harness) as statements:
        await harness.send(MEMBER, "/dues")
    assert "每月应交" in harness.fake.last(MEMBER.id).text
    assert len(statements) <= 3, statements  # the person; the member with their dues rows; the record
    assert not any("member.name" in s for s in statements), statements  # nothing personal is decrypted


# August is current; December is before the window (kept out), even on the 1st of August at 05:00 in
# Shanghai, when it is still July in UTC.
MONTHS = [date(2025, 12, 1), *[date(2026, month, 1) for month in range(1, 9)]]
NOW = local(2026, 8, 10, 10)
FIRST_MORNING = local(2026, 8, 1, 5)
STATES = ["none", "reported", "confirmed", "home", "rejected", "exempt", "reduced"]
_ids = itertools.count(1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pattern=st.lists(st.tuples(st.booleans(), st.sampled_from(STATES)), min_size=9, max_size=9),
    declared=st.lists(st.sampled_from(MONTHS), max_size=3, unique=True),
    approved=st.sampled_from([local(2025, 9, 20), local(2026, 3, 31, 23, 30), local(2026, 8, 1, 1)]),
    joined=st.sampled_from([None, date(2010, 7, 1), date(2026, 5, 20)]),
    quarterly=st.sampled_from([None, True, False]),
    state=st.sampled_from([MemberState.APPROVED, MemberState.APPROVED, MemberState.LEFT]),
    now=st.sampled_from([NOW, FIRST_MORNING]),
)
@example(
    pattern=[(True, "none")] * 9,
    declared=[],
    approved=local(2025, 9, 20),
    joined=None,
    quarterly=True,
    state=MemberState.APPROVED,
    now=FIRST_MORNING,
)
async def test_the_plain_own_view_is_the_state_the_writers_see(
    harness: BotHarness, pattern, declared, approved, joined, quarterly, state, now
) -> None:
    n = next(_ids)
    async with harness.session() as session:
        info = await admin.create_branch(session, name=f"支部{n}", city="上海", timezone="Asia/Shanghai")
        member = await add_member(
            session,
            info.id,
            TgUser(710000 + n, f"党员{n}"),
            approved_at=approved,
            joined_party_on=joined,
            state=state,
        )
        if quarterly is not None:
            session.add(
                DuesSettings(
                    branch_id=info.id,
                    farmer_amount=Decimal("0.50"),
                    rounding="jiao",
                    quarterly_allowed=quarterly,
                    reminder_day=5,
                )
            )
        for index, month in enumerate(declared):
            category = ["employed", "retired", "farmer"][index]
            base = None if category == "farmer" else Decimal("3456.78")
            session.add(
                DuesDeclaration(
                    member_id=member.id,
                    effective_month=month,
                    category=category,
                    base=base,
                    declared_category=None if index == 1 else category,
                    declared_base=base,
                    review=["pending", "confirmed", "overridden"][index],
                )
            )
        report = DuesReport(member_id=member.id, branch_id=info.id)
        session.add(report)
        await session.flush()
        add_month_rows(
            session,
            member_id=member.id,
            branch_id=info.id,
            report_id=report.id,
            months=MONTHS,
            pattern=pattern,
            opened_at=local(2025, 1, 1),
            voluntary_extra=Decimal("1.10"),
        )
        await session.commit()
        member_id = member.id

    async with harness.session() as session:
        if state != MemberState.APPROVED:
            with pytest.raises(dues.DuesRefused):
                await dues.member_overview(session, member_id, now)
            return
        plain = await dues.member_overview(session, member_id, now)
    async with harness.session() as session:
        branch, orm_state = await dues._own_state(session, member_id, now)
        assert plain == dues._overview(branch.id, orm_state)
    async with harness.session() as session:  # and the same months read, none before the window
        _, view = await dues._own_view(session, member_id, now)
    assert view.opened == orm_state.opened
    assert set(view.payments) == set(orm_state.payments)
    assert set(view.adjustments) == set(orm_state.adjustments)
