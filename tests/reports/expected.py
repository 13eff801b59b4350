"""The report's figures computed straight from the fixture's lists (tests/reports/world.py), in plain
Python, by the definitions in the docstring of `bot.reports.figures` — never by calling the bot's code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tests.reports.world import (
    APPROVED,
    ERASED,
    LEAVING,
    LEFT,
    TZ,
    MemberSpec,
    Plan,
    Request,
    local,
    month_add,
    seen_at,
)

ON = (APPROVED, LEAVING)
GONE = (LEFT, ERASED)
LOST_AFTER = timedelta(days=90)


def pct(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def bounds(month: date) -> tuple[datetime, datetime]:
    nxt = month_add(month, 1)
    return local(month.year, month.month, 1), local(nxt.year, nxt.month, 1)


def start(spec: MemberSpec) -> datetime:
    return spec.approved or spec.created  # type: ignore[return-value]


def counted(spec: MemberSpec) -> bool:
    return spec.state in ON or (spec.state in GONE and spec.left is not None and spec.approved is not None)


def at(spec: MemberSpec, moment: datetime) -> bool:
    return counted(spec) and start(spec) < moment and (spec.state in ON or spec.left >= moment)


def during(spec: MemberSpec, a: datetime, b: datetime) -> bool:
    return counted(spec) and start(spec) < b and (spec.state in ON or spec.left > a)


@dataclass(frozen=True)
class Figures:
    total: int
    new: int
    left: int
    unreachable: int
    lost: int
    event_status: str
    rsvp_attend: int
    rsvp_leave: int
    expected: int
    present: int
    attendance_rate: Decimal | None
    dues_opened: bool
    dues_due: int
    dues_paid: int
    dues_rate: Decimal | None
    collected: Decimal
    pending: Decimal
    arrears: dict[int, int]
    study_items: int
    study_expected: int
    study_checkins: int
    study_rate: Decimal | None
    received: int
    accepted: int
    completed: int
    on_time: int
    overdue: int
    completion_rate: Decimal | None
    warn_org_life: int
    warn_dues: int


class Expect:
    def __init__(self, plan: Plan, branch: str, now: datetime) -> None:
        self.plan, self.branch, self.now = plan, branch, now
        self.specs = plan.in_branch(branch)

    # -- helpers over the lists ----------------------------------------------------------------
    def _event(self, month: date):
        return next((e for e in self.plan.events if e.branch == self.branch and e.month == month), None)

    def _opened(self, month: date) -> bool:
        return (self.branch, month) in self.plan.dues_months

    def _settled(self, i: int, month: date) -> bool:
        return any(
            p.branch == self.branch
            and p.i == i
            and p.month == month
            and p.status in ("reported", "confirmed")
            for p in self.plan.payments
        )

    def _waived(self, i: int, month: date) -> bool:
        return (self.branch, i, month, "exempt") in self.plan.adjustments

    @staticmethod
    def _admitted(spec: MemberSpec, month: date) -> bool:
        return spec.joined_party_on is None or spec.joined_party_on < month_add(month, 1)

    def _flags(self, spec: MemberSpec, month: date) -> list[bool]:
        flags = []
        for i in range(7):
            m = month_add(month, -i)
            _, m_end = bounds(m)
            flags.append(
                self._opened(m)
                and start(spec) < m_end
                and self._admitted(spec, m)
                and not self._settled(spec.i, m)
                and not self._waived(spec.i, m)
            )
        return flags

    # -- figures ---------------------------------------------------------------------------------
    def attendance(self, month: date) -> tuple[str, int, int, int, int]:
        event = self._event(month)
        if event is None:
            return "none", 0, 0, 0, 0
        if event.cancelled:
            return "cancelled", 0, 0, 0, 0
        rsvps = [r for r in self.plan.rsvps if r[0] == self.branch and r[1] == month]
        expected = {s.i for s in self.specs if during(s, event.starts, event.ends)}
        present = sum(
            1 for b, m, i, _ in self.plan.attendance if b == self.branch and m == month and i in expected
        )
        status = "held" if event.ends <= self.now else "upcoming"
        return (
            status,
            sum(1 for r in rsvps if r[3] == "attend"),
            sum(1 for r in rsvps if r[3] == "leave"),
            len(expected),
            present,
        )

    def dues(self, month: date) -> tuple[int, int]:
        if not self._opened(month):
            return 0, 0
        a, b = bounds(month)
        owing = [
            s
            for s in self.specs
            if during(s, a, b) and self._admitted(s, month) and not self._waived(s.i, month)
        ]
        return len(owing), sum(1 for s in owing if self._settled(s.i, month))

    def study(self, month: date) -> tuple[int, int, int]:
        a, b = bounds(month)
        items = [it for it in self.plan.items if it.branch == self.branch and a <= it.starts < b]
        expected = checkins = 0
        for item in items:
            present = {s.i for s in self.specs if during(s, item.starts, item.ends)}
            expected += len(present)
            checkins += sum(1 for c in self.plan.checkins if c.item == item.key and c.i in present)
        return len(items), expected, checkins

    def requests(
        self, month: date, requests: list[Request] | None = None
    ) -> tuple[int, int, int, int, int, int]:
        """(received, accepted, completed, on time, overdue, answered)."""
        a, b = bounds(month)
        rows = (
            requests if requests is not None else [r for r in self.plan.requests if r.branch == self.branch]
        )
        received = sum(1 for r in rows if a <= r.submitted < b and r.state != "withdrawn")
        cohort = [r for r in rows if r.accepted and a <= r.accepted < b and r.state != "withdrawn"]
        completed = [r for r in cohort if r.state == "completed"]
        on_time = [r for r in completed if r.closed < r.due_at]
        open_late = [r for r in cohort if r.state in ("accepted", "forwarded") and r.due_at <= self.now]
        answered = sum(1 for r in rows if r.state == "answered" and r.closed and a <= r.closed < b)
        overdue = len(open_late) + len(completed) - len(on_time)
        return received, len(cohort), len(completed), len(on_time), overdue, answered

    def figures(self, month: date) -> Figures:
        a, b = bounds(month)
        still = [s for s in self.specs if at(s, b) and s.state in ON]
        status, attend, leave, expected, present = self.attendance(month)
        due, paid = self.dues(month)
        host = [
            p
            for p in self.plan.payments
            if p.branch == self.branch and p.month == month and p.place == "host"
        ]
        arrears: dict[int, int] = {}
        runs = []
        for spec in [s for s in self.specs if at(s, b)]:
            flags = self._flags(spec, month)
            if sum(flags):
                arrears[sum(flags)] = arrears.get(sum(flags), 0) + 1
            run = 0
            while run < len(flags) and flags[run]:
                run += 1
            runs.append(run)
        items, study_expected, checkins = self.study(month)
        received, accepted, completed, on_time, overdue, _ = self.requests(month)
        return Figures(
            total=sum(1 for s in self.specs if at(s, b)),
            new=sum(1 for s in self.specs if counted(s) and a <= start(s) < b),
            left=sum(1 for s in self.specs if counted(s) and s.state in GONE and a <= s.left < b),
            unreachable=sum(1 for s in still if s.unreachable),
            lost=sum(1 for s in still if seen_at(s) <= self.now - LOST_AFTER),
            event_status=status,
            rsvp_attend=attend,
            rsvp_leave=leave,
            expected=expected,
            present=present,
            attendance_rate=pct(present, expected) if status == "held" else None,
            dues_opened=self._opened(month),
            dues_due=due,
            dues_paid=paid,
            dues_rate=pct(paid, due) if self._opened(month) else None,
            collected=sum((p.amount + p.extra for p in host if p.status == "confirmed"), Decimal("0.00")),
            pending=sum((p.amount + p.extra for p in host if p.status == "reported"), Decimal("0.00")),
            arrears=arrears,
            study_items=items,
            study_expected=study_expected,
            study_checkins=checkins,
            study_rate=pct(checkins, study_expected),
            received=received,
            accepted=accepted,
            completed=completed,
            on_time=on_time,
            overdue=overdue,
            completion_rate=pct(completed, accepted),
            warn_org_life=self.org_life_warnings(b),
            warn_dues=sum(1 for run in runs if run >= 2),
        )

    def org_life_warnings(self, cutoff: datetime) -> int:
        held = [e for e in self.plan.events if e.branch == self.branch and not e.cancelled]
        count = 0
        for spec in [s for s in self.specs if at(s, cutoff)]:
            good = [
                e.starts
                for e in held
                if e.starts < cutoff
                and (
                    (self.branch, e.month, spec.i) in {(b, m, i) for b, m, i, _ in self.plan.attendance}
                    or (self.branch, e.month, spec.i) in set(self.plan.excuses)
                )
            ]
            last_good = max(good) if good else None
            streak = sum(
                1
                for e in held
                if e.ends <= cutoff and e.starts > start(spec) and (last_good is None or e.starts > last_good)
            )
            count += streak >= 2
        return count

    def rates(
        self, last: date, months: int = 12
    ) -> list[tuple[date, Decimal | None, Decimal | None, Decimal | None]]:
        points = []
        for k in range(months - 1, -1, -1):
            month = month_add(last, -k)
            status, _, _, expected, present = self.attendance(month)
            due, paid = self.dues(month)
            _, study_expected, checkins = self.study(month)
            points.append(
                (
                    month,
                    pct(present, expected) if status == "held" else None,
                    pct(paid, due) if self._opened(month) else None,
                    pct(checkins, study_expected),
                )
            )
        return points


def township_expect(plan: Plan, township: str, year: int, now: datetime) -> dict:
    """Members by branch, the year's requests and the applications of one township."""
    members: dict[str, int] = {}
    for spec in plan.members:
        if spec.township == township and spec.state in ON:
            members[spec.branch] = members.get(spec.branch, 0) + 1
    rows = [r for r in plan.requests if r.township == township]
    expect = Expect(plan, "A", now)
    totals = [0] * 6
    local_now = now.astimezone(TZ)
    last = local_now.month if year == local_now.year else 12
    for number in range(1, last + 1):
        for i, value in enumerate(expect.requests(date(year, number, 1), rows)):
            totals[i] += value
    stages: dict[str, int] = {}
    for app in plan.applications:
        if app.township == township:
            stages[app.stage] = stages.get(app.stage, 0) + 1
    talks = sum(
        1
        for app in plan.applications
        if app.township == township and not app.talked and app.talk_due_at <= now
    )
    return {"members": members, "requests": totals, "stages": stages, "talks": talks}
