"""The report texts, rendered from the figures through the catalogue (``reports.po``), short for phones."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.i18n import t
from bot.reports.figures import BranchMonth, RatePoint, TownshipYear

STAGES = ("applied", "activist", "candidate", "probationary", "full")


def month_label(language: str, month: date) -> str:
    return t(language, "report.month", year=month.year, mon=month.month)


def rate_text(language: str, rate: Decimal | None) -> str:
    return t(language, "report.rate.none") if rate is None else f"{rate}%"


def money_text(amount: Decimal) -> str:
    return f"{amount:.2f}"


def branch_report_text(
    language: str, figures: BranchMonth, tz: ZoneInfo, *, so_far: date | None = None
) -> str:
    """The monthly report of one branch: one line per subject; ``so_far`` marks a month under way."""
    lang = language
    m, a, d, s, r, w = (
        figures.members,
        figures.activity,
        figures.dues,
        figures.study,
        figures.requests,
        figures.warnings,
    )
    title = t(lang, "report.title", branch=figures.branch_name, month=month_label(lang, figures.month))
    if so_far is not None:
        title += t(lang, "report.so_far", day=t(lang, "report.day", month=so_far.month, day=so_far.day))
    lines = [title]
    lines.append(
        t(
            lang,
            "report.members",
            total=m.total,
            new=m.new,
            left=m.left,
            unreachable=m.unreachable,
            lost=m.lost_contact,
        )
    )
    if a.status in ("held", "upcoming") and a.starts_at is not None:
        day = a.starts_at.astimezone(tz)
        lines.append(
            t(
                lang,
                f"report.activity.{a.status}",
                day=t(lang, "report.day", month=day.month, day=day.day),
                attend=a.rsvp_attend,
                leave=a.rsvp_leave,
                present=a.present,
                expected=a.expected,
                rate=rate_text(lang, a.rate),
            )
        )
    else:
        lines.append(t(lang, f"report.activity.{a.status}"))
    if d.opened:
        lines.append(
            t(
                lang,
                "report.dues",
                due=d.due,
                paid=d.paid,
                rate=rate_text(lang, d.rate),
                collected=money_text(d.collected),
                pending=money_text(d.pending),
            )
        )
    else:
        lines.append(t(lang, "report.dues.closed"))
    if d.arrears:
        items = [
            t(lang, "report.arrears.item", months=months, count=count)
            for months, count in sorted(d.arrears.items())
        ]
        lines.append(t(lang, "report.arrears", items=t(lang, "report.sep").join(items)))
    else:
        lines.append(t(lang, "report.arrears.none"))
    if s.items:
        lines.append(
            t(
                lang,
                "report.study",
                items=s.items,
                checkins=s.checkins,
                expected=s.expected,
                rate=rate_text(lang, s.rate),
            )
        )
    else:
        lines.append(t(lang, "report.study.none"))
    lines.append(
        t(
            lang,
            "report.requests",
            received=r.received,
            accepted=r.accepted,
            completed=r.completed,
            on_time=r.on_time,
            overdue=r.overdue,
            rate=rate_text(lang, r.completion_rate),
        )
    )
    lines.append(t(lang, "report.warnings", org_life=w.org_life, dues=w.dues))
    return "\n".join(lines)


def chart_labels(language: str, branch_name: str, points: list[RatePoint]) -> tuple[str, list[str], dict]:
    """(title, month labels, series) for `bot.reports.chart.line_chart`.

    A label is the month's number, with the year under the first month and under each January, so
    twelve labels stay short enough to be drawn large on a phone."""
    months = [
        f"{p.month.month}\n{p.month.year}" if i == 0 or p.month.month == 1 else str(p.month.month)
        for i, p in enumerate(points)
    ]
    series = {
        t(language, "report.chart.attendance"): [p.attendance for p in points],
        t(language, "report.chart.dues"): [p.dues for p in points],
        t(language, "report.chart.study"): [p.study for p in points],
    }
    return t(language, "report.chart.title", branch=branch_name), months, series


def chart_caption(
    language: str, branch_name: str, points: list[RatePoint], *, so_far: date | None = None
) -> str:
    caption = t(
        language,
        "report.chart.caption",
        branch=branch_name,
        first=month_label(language, points[0].month),
        last=month_label(language, points[-1].month),
    )
    if so_far is not None:
        caption += t(
            language, "report.so_far", day=t(language, "report.day", month=so_far.month, day=so_far.day)
        )
    if all(p.attendance is None and p.dues is None and p.study is None for p in points):
        caption += "\n" + t(language, "report.chart.no_data")
    return caption


def township_report_text(language: str, figures: TownshipYear) -> str:
    lang = language
    lines = [t(lang, "town.title", township=figures.township_name, year=figures.year)]
    total = sum(b.members for b in figures.members)
    lines.append(t(lang, "town.members", total=total))
    for branch in figures.members:
        lines.append(
            t(lang, "town.members.line", city=branch.city, branch=branch.branch_name, count=branch.members)
        )
    r = figures.requests
    lines.append(
        t(
            lang,
            "town.requests",
            received=r.received,
            accepted=r.accepted,
            completed=r.completed,
            on_time=r.on_time,
            overdue=r.overdue,
            answered=r.answered,
            rate=rate_text(lang, r.completion_rate),
            on_time_rate=rate_text(lang, r.on_time_rate),
        )
    )
    lines.append(
        t(
            lang,
            "town.applications",
            talks=figures.talks_overdue,
            **{stage: figures.stages.get(stage, 0) for stage in STAGES},
        )
    )
    return "\n".join(lines)
