"""Property tests: the set-based reminder queries, the broadcast audience and the in-memory ledger agree
with the rule written out plainly, for any pattern of opened, paid, rejected and waived months; and
random input at every typed step never crashes a conversation."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from bot.rules.dues import DuesCategory, compute_monthly_dues, self_employed_base
from bot.services import admin, dues
from storage.models import Branch, DuesDeclaration, DuesPayment, DuesReport, Member, Person
from storage.models.dues import DuesMonth
from storage.models.scheduling import ReminderOccurrence, SchedulerState
from tests.dues.factory import add_member, add_month_rows, local, run_tick
from tests.factories import TgUser
from tests.harness import BotHarness

MONTHS = [date(2026, month, 1) for month in range(1, 9)]  # January to August; August is current
NOW = local(2026, 8, 10, 10)
STATES = ["none", "reported", "confirmed", "home", "rejected", "exempt", "reduced"]
SETTLING = {"reported", "confirmed", "home", "exempt"}
_ids = itertools.count(1)

month_pattern = st.lists(st.tuples(st.booleans(), st.sampled_from(STATES)), min_size=8, max_size=8)


def expected(pattern: list[tuple[bool, str]]) -> tuple[set[tuple[str, str]], list[date]]:
    """The rule, spelled out: (kind, period) of the reminders due on 10 August, and the months owed."""
    owed = [
        month
        for month, (opened, state) in zip(MONTHS, pattern, strict=True)
        if opened and state not in SETTLING
    ]
    if not pattern[-1][0]:
        return set(), owed  # August not opened: nobody is chased yet
    window = MONTHS[1:]  # the current month and the six before it
    kinds: set[tuple[str, str]] = set()
    if any(m in owed for m in window):
        kinds.add(("dues.unpaid", "2026-08"))
    run = 0
    for month in reversed(MONTHS):
        if month not in owed:
            break
        run += 1
    if run <= 6:
        start = dues.period_of(MONTHS[len(MONTHS) - run]) if run else ""
        for kind, level in (("dues.warn2", 2), ("dues.warn5", 5), ("dues.alert3", 3), ("dues.alert5", 5)):
            if run >= level:
                kinds.add((kind, start))
    return kinds, owed


def _pattern(*states: str, opened: bool = True) -> list[tuple[bool, str]]:
    return [(opened, state) for state in states]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=month_pattern)
# A gap of three (warn2, alert3), of five (all four escalations), of six, of eight (past the lapse),
# a gap bridged by a month paid at home, and a month not opened breaking the run.
@example(
    pattern=_pattern(
        "confirmed", "confirmed", "confirmed", "confirmed", "home", "none", "rejected", "reduced"
    )
)
@example(pattern=_pattern("confirmed", "exempt", "none", "none", "none", "none", "none", "none"))
@example(pattern=_pattern("reported", "none", "none", "none", "none", "none", "none", "none"))
@example(pattern=_pattern("none", "none", "none", "none", "none", "none", "none", "none"))
@example(pattern=_pattern("none", "none", "none", "home", "none", "none", "none", "confirmed"))
@example(pattern=[(True, "none")] * 5 + [(False, "none")] + [(True, "none")] * 2)
async def test_reminders_audience_and_ledger_follow_the_rule(harness: BotHarness, pattern) -> None:
    n = next(_ids)
    async with harness.session() as session:
        # Each example writes a world dated in the past into the same database: the tick must look at it
        # as new, not as already seen today (its daily kinds remember their last run).
        await session.execute(delete(SchedulerState))
        info = await admin.create_branch(session, name=f"支部{n}", city="上海", timezone="Asia/Shanghai")
        await admin.grant(session, user=9001, role="secretary", branch=str(info.id), township=None)
        member = await add_member(
            session, info.id, TgUser(700000 + n, f"党员{n}"), approved_at=local(2025, 12, 20)
        )
        session.add(
            DuesDeclaration(
                member_id=member.id,
                effective_month=MONTHS[0],
                category="employed",
                base=Decimal("3000"),
                declared_category="employed",
                declared_base=Decimal("3000"),
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
            opened_at=local(2026, 1, 1),
        )
        await session.commit()
        member_id, person_id, branch_id = member.id, member.person_id, info.id

    kinds, owed = expected(pattern)
    harness.clock.set(NOW)
    await run_tick(harness)
    async with harness.session() as session:
        rows = await session.execute(
            select(ReminderOccurrence.kind, ReminderOccurrence.period, ReminderOccurrence.person_id).where(
                ReminderOccurrence.kind.like("dues.%"),
                (ReminderOccurrence.subject_type == "member") & (ReminderOccurrence.subject_id == member_id)
                | (ReminderOccurrence.subject_type == "branch") & (ReminderOccurrence.person_id == person_id),
            )
        )
        got = set()
        for kind, period, recipient in rows:
            assert (recipient == person_id) == (kind in ("dues.unpaid", "dues.warn2", "dues.warn5"))
            got.add((kind, period))
        assert got == kinds

        for month in MONTHS:
            audience = await dues.unpaid_person_ids(session, branch_id=branch_id, month=month)
            assert audience == ([person_id] if month in owed else []), month

        states = await dues.load_branch_states(session, await session.get(Branch, branch_id), NOW)
        state = states[member_id]
        assert state.unpaid() == [m for m in MONTHS[1:] if m in owed]
        for month, (_, kind) in zip(MONTHS, pattern, strict=True):
            due = state.due(month)
            assert due is not None
            assert due.amount == {"exempt": Decimal("0.00"), "reduced": Decimal("5.00")}.get(
                kind, Decimal("15.00")
            )


@settings(max_examples=200, deadline=None)
@given(
    incomes=st.lists(
        st.decimals(min_value=0, max_value=200000, places=2, allow_nan=False, allow_infinity=False),
        min_size=3,
        max_size=3,
    ),
    separator=st.sampled_from([" ", "、", ",", "，", "  ", "/"]),
)
def test_three_incomes_give_their_average(incomes: list[Decimal], separator: str) -> None:
    average = self_employed_base(incomes)
    if average <= 0:
        return
    typed = separator.join(str(i) for i in incomes)
    base = dues.parse_base(DuesCategory.SELF_EMPLOYED, typed)
    assert base == average
    # Typing the average itself gives the same base, hence the same dues.
    assert dues.parse_base(DuesCategory.SELF_EMPLOYED, str(average)) == base
    assert compute_monthly_dues(DuesCategory.SELF_EMPLOYED, base).amount >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    step=st.sampled_from(
        [
            "base",
            "base_self",
            "date",
            "payer_name",
            "extra",
            "adj_amount",
            "adj_reason",
            "set_day",
            "set_farmer",
            "ovr_base",
        ]
    ),
    typed=st.text(min_size=1, max_size=60).filter(lambda s: not s.startswith("/")),
)
async def test_random_input_at_every_typed_step(harness: BotHarness, step: str, typed: str) -> None:
    """Whatever is typed, the bot answers with a message of the flow, never the crash apology, and
    refused input keeps the form open on the same step."""
    n = next(_ids)
    secretary = TgUser(800000 + n, "书记")
    user = TgUser(810000 + n, "党员")
    async with harness.session() as session:
        info = await admin.create_branch(session, name=f"随机{n}", city="上海", timezone="Asia/Shanghai")
        await admin.grant(session, user=secretary.id, role="secretary", branch=str(info.id), township=None)
        member = await add_member(session, info.id, user, approved_at=local(2026, 1, 5))
        session.add(DuesMonth(branch_id=info.id, month=date(2026, 3, 1), opened_at=local(2026, 3, 1)))
        await session.commit()
        member_id = member.id
    harness.clock.set(local(2026, 3, 5, 10))
    who = user
    if step in ("base", "base_self"):
        await harness.send(user, "/dues")
        await harness.press(user, "dues:cat:" + ("employed" if step == "base" else "self_employed"))
    elif step in ("date", "payer_name", "extra"):
        await harness.send(user, "/dues")
        await harness.press(user, "dues:cat:student")
        for data in ("dues:pay", "dues:next", "dues:d:0", "dues:pl:host", "dues:by:other"):
            if step == "date" and data == "dues:d:0":
                break
            await harness.press(user, data)
        if step == "extra":
            await harness.send(user, "张三")
            await harness.press(user, "dues:x")
    else:
        who = secretary
        await harness.send(user, "/dues")
        await harness.press(user, "dues:cat:student")
        first = {
            "adj_amount": f"dsa:ak:{member_id}:202603:r",
            "adj_reason": f"dsa:ak:{member_id}:202603:e",
            "set_day": f"dsa:day:{info.id}",
            "set_farmer": f"dsa:frm:{info.id}",
            "ovr_base": f"dsa:oc:{member_id}:retired",
        }[step]
        await harness.press(secretary, first)
    before = len(harness.fake.sent(who.id))
    calls = await harness.send(who, typed)
    replies = [c.text for c in calls if c.chat_id == who.id]
    assert replies, "no answer"
    assert not any("出了点问题" in r for r in replies)
    assert len(harness.fake.sent(who.id)) > before
    async with harness.session() as session:
        # At most one payment per member and month, whatever happened.
        assert await session.scalar(
            select(func.count())
            .select_from(DuesPayment)
            .group_by(DuesPayment.member_id, DuesPayment.month)
            .order_by(func.count().desc())
            .limit(1)
        ) in (None, 1)
        assert await session.get(Member, member_id) is not None
        assert await session.scalar(select(func.count()).select_from(Person)) >= 2
