"""`branchbot status`: the /healthz figures and each branch's backlog on one screen for an operator."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import health
from bot.i18n import t
from bot.scheduling.engine import QuietHours
from storage.models import Branch, Member, MemberState
from storage.models.relay import RUNNING_STATES, ServiceRequest

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class BranchLine:
    name: str
    members: int
    pending_approvals: int
    overdue_requests: int


@dataclass
class Report:
    now: datetime
    health: health.Health
    branches: list[BranchLine]
    revision: str | None
    live: dict[str, Any] | None  # the running bot's own /healthz answer, when it answered


def language_from_env(environ: dict[str, str] | None = None) -> str:
    """Chinese when LANG (or LC_ALL / LC_MESSAGES) says zh, English otherwise."""
    env = os.environ if environ is None else environ
    value = env.get("LC_ALL") or env.get("LC_MESSAGES") or env.get("LANG") or ""
    return "zh" if value.lower().startswith("zh") else "en"


async def branch_lines(session: AsyncSession, now: datetime) -> list[BranchLine]:
    members = dict(
        (
            await session.execute(
                select(Member.branch_id, func.count())
                .where(Member.state.in_([MemberState.APPROVED, MemberState.LEAVING]))
                .group_by(Member.branch_id)
            )
        ).all()
    )
    pending = dict(
        (
            await session.execute(
                select(Member.branch_id, func.count())
                .where(Member.state == MemberState.PENDING)
                .group_by(Member.branch_id)
            )
        ).all()
    )
    overdue = dict(
        (
            await session.execute(
                select(ServiceRequest.branch_id, func.count())
                .where(ServiceRequest.state.in_(list(RUNNING_STATES)), ServiceRequest.due_at < now)
                .group_by(ServiceRequest.branch_id)
            )
        ).all()
    )
    branches = (await session.execute(select(Branch.id, Branch.name).order_by(Branch.id))).all()
    return [
        BranchLine(name, members.get(bid, 0), pending.get(bid, 0), overdue.get(bid, 0))
        for bid, name in branches
    ]


def ask_live(settings: Any, timeout: float = 2.0) -> dict[str, Any] | None:
    """The running bot's /healthz (200 or 503 both carry the figures), or None when nothing answers."""
    host = settings.http_listen
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{settings.http_port}/healthz"
    if not settings.http_port:
        return None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


async def collect(db: Any, settings: Any, now: datetime, live: dict[str, Any] | None) -> Report:
    from sqlalchemy import text

    async with db.session() as session:
        figures = await health.read_figures(session, now)
        branches = await branch_lines(session, now)
        try:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception:
            revision = None
    channels = (live or {}).get("channels") or {}
    judged = health.judge(
        figures,
        now,
        quiet=QuietHours.from_settings(settings),
        timezone=settings.timezone,
        since=EPOCH,  # seen from outside: a tick that never ran is a tick that is not running
        channels=channels,
    )
    return Report(now, judged, branches, revision, live)


def _ago(language: str, seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return t(language, "ops.ago.seconds", n=seconds)
    if seconds < 7200:
        return t(language, "ops.ago.minutes", n=seconds // 60)
    if seconds < 2 * 86400:
        return t(language, "ops.ago.hours", n=seconds // 3600)
    return t(language, "ops.ago.days", n=seconds // 86400)


def render(report: Report, language: str, *, timezone: str, where: str) -> str:
    """The screen: health, the running bot, tick, outbox, then one row per branch."""
    tz = ZoneInfo(timezone)
    f = report.health.figures
    lines = [
        t(language, "ops.status.title", now=report.now.astimezone(tz).strftime("%Y-%m-%d %H:%M"), tz=timezone)
    ]
    if report.health.ok:
        lines.append(t(language, "ops.status.health_ok"))
    else:
        reasons = "; ".join(t(language, f"ops.reason.{r}") for r in report.health.reasons)
        lines.append(t(language, "ops.status.health_degraded", reasons=reasons))
    if report.live is None:
        lines.append(t(language, "ops.status.process_silent", where=where))
    else:
        channels = ", ".join(
            f"{name} {state}" for name, state in sorted((report.live.get("channels") or {}).items())
        )
        lines.append(
            t(
                language,
                "ops.status.process_answers",
                where=where,
                status=report.live.get("status"),
                channels=channels,
            )
        )
    if f.last_tick_at is None:
        lines.append(t(language, "ops.status.tick_never"))
    else:
        lines.append(
            t(
                language,
                "ops.status.tick",
                at=f.last_tick_at.astimezone(tz).strftime("%m-%d %H:%M:%S"),
                ago=_ago(language, (report.now - f.last_tick_at).total_seconds()),
                seconds=f"{f.last_tick_seconds or 0:.2f}",
            )
        )
    counts = f.outbox_by_status
    lines.append(
        t(
            language,
            "ops.status.outbox",
            pending=counts.get("pending", 0),
            sending=counts.get("sending", 0),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            uncertain=counts.get("uncertain", 0),
            cancelled=counts.get("cancelled", 0),
        )
    )
    if f.oldest_pending_s is not None:
        lines.append(t(language, "ops.status.outbox_oldest", ago=_ago(language, f.oldest_pending_s)))
    lines.append(t(language, "ops.status.schema", revision=report.revision or "-"))
    lines.append("")
    if not report.branches:
        lines.append(t(language, "ops.status.no_branches"))
        return "\n".join(lines)
    header = (
        t(language, "ops.col.branch"),
        t(language, "ops.col.members"),
        t(language, "ops.col.pending"),
        t(language, "ops.col.overdue"),
    )
    rows = [
        (b.name, str(b.members), str(b.pending_approvals), str(b.overdue_requests)) for b in report.branches
    ]
    widths = [max(_width(r[i]) for r in (header, *rows)) for i in range(4)]
    for row in (header, *rows):
        cells = [_pad(row[0], widths[0])] + [
            _pad(c, w, right=True) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap
