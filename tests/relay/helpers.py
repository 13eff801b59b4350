"""Small helpers for the relay transcripts."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEntry, OutboxMessage, RequestEvent, ServiceRequest
from tests.factories import TgUser
from tests.fakes import Call
from tests.harness import BotHarness


def button(harness: BotHarness, user: TgUser, label: str) -> str:
    """The callback data of the newest message to ``user`` that has a button labelled ``label``."""
    for call in reversed(harness.fake.sent(user.id)):
        try:
            return call.button(label)
        except AssertionError:
            continue
    raise AssertionError(f"no button {label!r} was ever sent to {user.id}")


async def tap(harness: BotHarness, user: TgUser, label: str) -> list[Call]:
    return await harness.press(user, button(harness, user, label))


def texts(calls: list[Call], user: TgUser | None = None) -> str:
    return "\n".join(
        c.text for c in calls if c.method != "answerCallbackQuery" and (user is None or c.chat_id == user.id)
    )


async def request_row(harness: BotHarness, request_id: int) -> ServiceRequest:
    async with harness.session() as session:
        return await session.get(ServiceRequest, request_id)


async def event_keys(harness: BotHarness, request_id: int) -> list[str]:
    async with harness.session() as session:
        return list(
            await session.scalars(
                select(RequestEvent.key)
                .where(RequestEvent.request_id == request_id)
                .order_by(RequestEvent.id)
            )
        )


async def audit_entries(
    harness: BotHarness, action_prefix: str = "relay."
) -> list[tuple[str, str, int | None]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.result, AuditEntry.actor_person_id)
            .where(AuditEntry.action.like(f"{action_prefix}%"))
            .order_by(AuditEntry.id)
        )
        return [(a, r, p) for a, r, p in rows]


async def outbox_to(harness: BotHarness, chat_id: int) -> list[OutboxMessage]:
    return [row for row in await harness.outbox() if row.chat_id == chat_id]
