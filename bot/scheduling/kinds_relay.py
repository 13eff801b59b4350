"""Reminder kinds of the relay to the home township: chasing (催办) requests against their promised deadline,
and the one-month talk deadline of an application to join.

- ``relay.soon``: to the township's agents on the request's last promised day (from the start of that
  local day), when the promise was at least one day. Period ``soon``.
- ``relay.late``: to the township's agents once the deadline has passed (the overdue flag to the township),
  then again 1, 3, 7, 14, 21 and 28 days later while the request stays open. Period ``late<days>``.
- ``relay.late_branch``: to the member's host-branch secretary and committee once, when it goes overdue
  (they see the status, never the contents). Period ``late``.
- ``apply.talk``: to the branch's secretary and committee while nobody has talked with the applicant:
  a week before the deadline (``week``), on the last day (``last``), when it has passed (``late``) and a
  week after (``late7``).

Each query selects only the period that applies now (a CASE over the elapsed time) and is bounded (nothing
after ``GIVE_UP_DAYS``), so a tick catching up after downtime sends the latest reminder, not the whole
series. A completed, refused or withdrawn request, or a recorded talk, drops out of the query at once.
Time comparisons use values computed in Python (``now - n days``), so the SQL is the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.scheduling.engine import Occasion, ReminderKind, occurrence_columns
from bot.services.outbox import Button, Outgoing
from storage.models import (
    RUNNING_STATES,
    Branch,
    ItemKind,
    JoinApplication,
    Member,
    Role,
    RoleGrant,
    ServiceItem,
    ServiceRequest,
    Township,
    UTCDateTime,
)

LATE_DAYS = (0, 1, 3, 7, 14, 21, 28)  # days after the deadline on which the agents are chased
GIVE_UP_DAYS = 35  # after five weeks the request stays flagged in /inbox, but the chasing stops
TALK_WEEK = 7
TALK_LATE_AGAIN = 7
TALK_GIVE_UP = 30
OFFICERS = (Role.SECRETARY, Role.COMMITTEE)
DEFAULT_TZ = "Asia/Shanghai"


def _at(moment: datetime) -> Any:
    return literal(moment, UTCDateTime())


def _running() -> Any:
    return and_(
        ServiceRequest.state.in_([str(s) for s in RUNNING_STATES]),
        ServiceRequest.kind == ItemKind.FULL,
        ServiceRequest.due_at.is_not(None),
    )


def _agents_join() -> Any:
    return and_(RoleGrant.township_id == ServiceRequest.township_id, RoleGrant.role == Role.AGENT)


async def due_soon(session: AsyncSession, now: datetime) -> Any:
    return (
        select(
            *occurrence_columns(
                subject_type="relay_request",
                subject_id=ServiceRequest.id,
                period="soon",
                person_id=RoleGrant.person_id,
                tz=func.coalesce(ServiceRequest.tz, DEFAULT_TZ),
                due_at=ServiceRequest.due_at,
            )
        )
        .join(RoleGrant, _agents_join())
        .where(
            _running(),
            ServiceRequest.promised_days >= 1,
            ServiceRequest.due_at > _at(now),
            ServiceRequest.due_at <= _at(now + timedelta(days=1)),
        )
    )


def _late_period(now: datetime) -> Any:
    """The chase that applies now: the largest LATE_DAYS step the request has passed."""
    return case(
        *[
            (ServiceRequest.due_at <= _at(now - timedelta(days=days)), literal(f"late{days}"))
            for days in sorted(LATE_DAYS, reverse=True)
        ],
        else_=literal("late0"),
    )


def _overdue_now(now: datetime) -> Any:
    return and_(
        _running(),
        ServiceRequest.due_at <= _at(now),
        ServiceRequest.due_at > _at(now - timedelta(days=GIVE_UP_DAYS)),
    )


async def due_late(session: AsyncSession, now: datetime) -> Any:
    return (
        select(
            *occurrence_columns(
                subject_type="relay_request",
                subject_id=ServiceRequest.id,
                period=_late_period(now),
                person_id=RoleGrant.person_id,
                tz=func.coalesce(ServiceRequest.tz, DEFAULT_TZ),
                due_at=ServiceRequest.due_at,
            )
        )
        .join(RoleGrant, _agents_join())
        .where(_overdue_now(now))
    )


async def due_late_branch(session: AsyncSession, now: datetime) -> Any:
    return (
        select(
            *occurrence_columns(
                subject_type="relay_request",
                subject_id=ServiceRequest.id,
                period="late",
                person_id=RoleGrant.person_id,
                tz=Branch.timezone,
                due_at=ServiceRequest.due_at,
            )
        )
        .join(Branch, Branch.id == ServiceRequest.branch_id)
        .join(RoleGrant, and_(RoleGrant.branch_id == ServiceRequest.branch_id, RoleGrant.role.in_(OFFICERS)))
        .where(_overdue_now(now))
    )


async def _request_params(session: AsyncSession, occasion: Occasion) -> dict[str, object] | None:
    request = await session.get(ServiceRequest, occasion.subject_id)
    if request is None or request.state not in RUNNING_STATES:
        return None
    item = await session.get(ServiceItem, request.item_id)
    member = await session.get(Member, request.member_id) if request.member_id else None
    return {
        "id": request.id,
        "item": item.name if item else "?",
        "name": (member.name if member else None) or "—",
        "receipt": request.receipt_no or "—",
        "due": request.due_on.isoformat() if request.due_on else "—",
        "state": t(occasion.language, f"relay.state.{request.state}"),
    }


def _view_button(language: str, request_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(language, "btn.relay.view"), data=f"rl:view:{request_id}"),),)


async def render_soon(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    params = await _request_params(session, occasion)
    if params is None:
        return None
    return Outgoing(
        text=t(occasion.language, "relay.remind.soon", **params),
        buttons=_view_button(occasion.language, occasion.subject_id),
    )


async def render_late(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    params = await _request_params(session, occasion)
    if params is None:
        return None
    days = int(occasion.period.removeprefix("late") or 0)
    key = "relay.remind.late" if days == 0 else "relay.remind.late_again"
    return Outgoing(
        text=t(occasion.language, key, days=days, **params),
        buttons=_view_button(occasion.language, occasion.subject_id),
    )


async def render_late_branch(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    params = await _request_params(session, occasion)
    if params is None:
        return None
    request = await session.get(ServiceRequest, occasion.subject_id)
    township = await session.get(Township, request.township_id)
    return Outgoing(
        text=t(
            occasion.language,
            "relay.remind.late_branch",
            township=township.name if township else "?",
            **params,
        )
    )


def _talk_period(now: datetime) -> Any:
    talk = JoinApplication.talk_due_at
    return case(
        (talk <= _at(now - timedelta(days=TALK_LATE_AGAIN)), literal("late7")),
        (talk <= _at(now), literal("late")),
        (talk <= _at(now + timedelta(days=1)), literal("last")),
        else_=literal("week"),
    )


async def due_talk(session: AsyncSession, now: datetime) -> Any:
    talk = JoinApplication.talk_due_at
    return (
        select(
            *occurrence_columns(
                subject_type="join_application",
                subject_id=JoinApplication.id,
                period=_talk_period(now),
                person_id=RoleGrant.person_id,
                tz=Branch.timezone,
                due_at=talk,
            )
        )
        .join(Branch, Branch.id == JoinApplication.branch_id)
        .join(RoleGrant, and_(RoleGrant.branch_id == JoinApplication.branch_id, RoleGrant.role.in_(OFFICERS)))
        .where(
            JoinApplication.talk_done_at.is_(None),
            talk <= _at(now + timedelta(days=TALK_WEEK)),
            talk > _at(now - timedelta(days=TALK_GIVE_UP)),
        )
    )


async def render_talk(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    app = await session.get(JoinApplication, occasion.subject_id)
    if app is None or app.talk_done_at is not None:
        return None
    language = occasion.language
    return Outgoing(
        text=t(
            language,
            f"apply.remind.{occasion.period}",
            id=app.id,
            name=app.name,
            due=app.talk_due_on.isoformat(),
        ),
        buttons=((Button(t(language, "btn.apply.talked"), data=f"jn:talk:{app.id}"),),),
    )


# Each query stops selecting a request GIVE_UP_DAYS (an application TALK_GIVE_UP days) after its deadline.
KEEP = timedelta(days=max(GIVE_UP_DAYS, TALK_GIVE_UP) + 5)

RELAY_KINDS: list[ReminderKind] = [  # the relay feature's
    ReminderKind("relay.soon", due_soon, render_soon, keep=KEEP),
    ReminderKind("relay.late", due_late, render_late, keep=KEEP),
    ReminderKind("relay.late_branch", due_late_branch, render_late_branch, keep=KEEP),
]
APPLY_KINDS: list[ReminderKind] = [ReminderKind("apply.talk", due_talk, render_talk, keep=KEEP)]
REMINDER_KINDS: list[ReminderKind] = [*RELAY_KINDS, *APPLY_KINDS]
