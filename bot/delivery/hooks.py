"""Follow-ups to delivery progress, run by the sender after it has sent something.

A hook is ``async def hook(session, now) -> int``: it reads the outbox (never the network),
writes what follows from it (a progress edit, a final report) as new outbox rows in the given
session, and returns how many rows it enqueued; the sender commits. Hooks must be idempotent:
they may run often and after a restart. A feature whose messages need such a follow-up adds its
hook to ``default_hooks``.
"""

from __future__ import annotations

from bot.delivery.sender import Hook


def default_hooks() -> list[Hook]:
    from bot.services.broadcast import advance_notices

    return [advance_notices]
