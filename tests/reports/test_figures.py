"""The monthly figures of the fixture year, compared with the same figures computed from its own lists."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from bot.reports.figures import BranchMonth, branch_month, rate_series, township_year
from tests.reports.expected import Expect, Figures, township_expect
from tests.reports.world import MONTHS, NOW, TZ, World


def observed(f: BranchMonth) -> Figures:
    return Figures(
        total=f.members.total,
        new=f.members.new,
        left=f.members.left,
        unreachable=f.members.unreachable,
        lost=f.members.lost_contact,
        event_status=f.activity.status,
        rsvp_attend=f.activity.rsvp_attend,
        rsvp_leave=f.activity.rsvp_leave,
        expected=f.activity.expected,
        present=f.activity.present,
        attendance_rate=f.activity.rate,
        dues_opened=f.dues.opened,
        dues_due=f.dues.due,
        dues_paid=f.dues.paid,
        dues_rate=f.dues.rate,
        collected=f.dues.collected,
        pending=f.dues.pending,
        arrears=f.dues.arrears,
        study_items=f.study.items,
        study_expected=f.study.expected,
        study_checkins=f.study.checkins,
        study_rate=f.study.rate,
        received=f.requests.received,
        accepted=f.requests.accepted,
        completed=f.requests.completed,
        on_time=f.requests.on_time,
        overdue=f.requests.overdue,
        completion_rate=f.requests.completion_rate,
        warn_org_life=f.warnings.org_life,
        warn_dues=f.warnings.dues,
    )


async def test_every_month_of_the_fixture_year(harness, world: World) -> None:
    expect = Expect(world.plan, "A", NOW)
    seen: list[Figures] = []
    async with harness.session() as session:
        for month in MONTHS:
            figures = await branch_month(session, world.branch_a, month, NOW)
            assert figures.branch_name == "深圳流动党支部" and figures.month == month
            assert observed(figures) == expect.figures(month), month
            seen.append(observed(figures))
    # The roster adds up from month to month.
    for before, after in pairwise(seen):
        assert after.total == before.total + after.new - after.left
    # The fixture exercises every figure, so a wrong query cannot pass by finding only zeros.
    assert {f.event_status for f in seen} == {"held", "none", "cancelled"}
    assert all(any(getattr(f, name) for f in seen) for name in Figures.__dataclass_fields__)
    february = seen[-1]
    assert (february.new, february.left, february.unreachable, february.lost) == (1, 1, 1, 1)
    assert february.warn_org_life >= 1 and february.warn_dues >= 1 and 3 in february.arrears
    assert february.overdue == 3 and february.accepted == 6  # r2 late, r3 and r7 open past the deadline


async def test_branch_b_sees_only_its_own(harness, world: World) -> None:
    expect = Expect(world.plan, "B", NOW)
    async with harness.session() as session:
        figures = await branch_month(session, world.branch_b, date(2026, 2, 1), NOW)
    assert observed(figures) == expect.figures(date(2026, 2, 1))
    assert figures.members.total == 2 and figures.requests.accepted == 2


async def test_the_chart_series_is_the_twelve_months_rates(harness, world: World) -> None:
    async with harness.session() as session:
        points = await rate_series(session, world.branch_a, date(2026, 2, 1), NOW)
    expected = Expect(world.plan, "A", NOW).rates(date(2026, 2, 1))
    assert [(p.month, p.attendance, p.dues, p.study) for p in points] == expected
    assert points[0].month == date(2025, 3, 1) and len(points) == 12
    assert any(p.attendance is None for p in points) and any(p.dues is not None for p in points)


async def test_township_year(harness, world: World) -> None:
    for key in ("T1", "T2"):
        async with harness.session() as session:
            figures = await township_year(session, world.townships[key], key, 2026, TZ, NOW)
        want = township_expect(world.plan, key, 2026, NOW)
        got_members = {b.branch_name: b.members for b in figures.members}
        assert got_members == {
            {"A": "深圳流动党支部", "B": "东莞流动党支部"}[k]: v for k, v in want["members"].items()
        }
        r = figures.requests
        assert [r.received, r.accepted, r.completed, r.on_time, r.overdue, r.answered] == want["requests"]
        assert {k: v for k, v in figures.stages.items() if v} == want["stages"]
        assert figures.talks_overdue == want["talks"]
