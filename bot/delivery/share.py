"""Several instances, one budget: the configured global rate divided between the running senders.

Telegram's 30/s is per bot, not per process. On SQLite one instance runs, and it has the whole
rate. On PostgreSQL every sender keeps a row in ``sender_instance`` (its id, a heartbeat every
``REFRESH`` seconds) and sets its own ``RateBudget`` to its share of the configured rate:

* **Shares are whole messages.** With N = floor(rate) and k live instances (heartbeat younger than
  ``TTL``), ordered by id, the instance ranked r gets N // k, plus one if r < N % k (25 between
  three: 9, 8, 8). Each budget keeps at most its share in any window, so all together keep at
  most N, and an instance's replies count against its own share too.
* **Joining.** A sender writes (and commits) its row, then reads the others. If it finds other
  live instances it sends nothing (its budget is held) for ``JOIN_HOLD`` (``REFRESH`` plus
  about three seconds), by which time every other instance has seen its row and lowered its own share. Alone,
  it starts at once with the whole rate. (Reading in the same transaction as the insert let two
  instances started together miss each other and both send at the full rate for a few seconds.)
* **Leaving.** A clean stop deletes the row; the others take its share at their next refresh. A
  dead instance's row stops being refreshed: it counts as gone after ``TTL`` (or at once when its
  process is known dead on this host), so its share is handed over within ``TTL + REFRESH``
  (20 s), well inside the 30 s asked for. Its claimed rows come back by the outbox lease
  (``bot.delivery.sender``).
* **One chat, one instance.** Telegram's 1/s per private chat is kept by each instance's budget,
  which knows only its own sends: two instances sending to one chat (a progress edit and the
  next) drew 429s, and a 429 pauses the whole instance. So an instance claims only the rows of
  its partition of the chats (``partition``: abs(chat_id) modulo the rate, in a range as wide as
  its share, so every instance has work in proportion to its rate; with equal ranges the one
  with the smaller share finished last, alone). When the instances change, a chat may change
  hands once; a reply goes out from the instance that got the update, as before.
* When the database cannot be reached the sender keeps its last share: it cannot send anything
  from the outbox then anyway, and replies are few.

The instance id is the sender's ``claimed_by`` (``host:pid:token``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select, update

from bot.clock import Clock
from bot.delivery.limits import WINDOW, RateBudget
from storage.db import Database
from storage.models import SenderInstance

logger = logging.getLogger(__name__)

REFRESH = 5.0
TTL = timedelta(seconds=15)
# A newcomer waits until every other instance has refreshed (lowered its share, narrowed its
# chats) and sent what it had claimed from the newcomer's chats before (about a second's worth).
JOIN_HOLD = REFRESH + 2 * WINDOW + 1.0


def share_of(total: int, instances: list[str], me: str) -> int:
    """Whole messages per window for ``me`` among ``instances`` (sorted by id)."""
    ordered = sorted(set(instances) | {me})
    count = len(ordered)
    rank = ordered.index(me)
    return max(1, total // count + (1 if rank < total % count else 0))


class RateShare:
    """Keeps one instance's row alive and its budget at its share (PostgreSQL only)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        budget: RateBudget,
        instance_id: str,
        *,
        is_dead: Callable[[str], bool] = lambda _owner: False,
    ) -> None:
        self.db = db
        self.clock = clock
        self.budget = budget
        self.instance_id = instance_id
        self.is_dead = is_dead
        self.total = max(1, int(budget.configured_rate))
        self.peers: list[str] = []
        self.share = self.total

    @property
    def partition(self) -> tuple[int, int, int]:
        """(modulus, low, high): we claim the rows of the chats with low <= abs(chat_id) % modulus
        < high, so that each chat's messages go out from one instance and its 1/s holds. The
        modulus is the whole rate and each range is as wide as its instance's share, so each
        instance has as many rows as it can send and all finish together."""
        ordered = sorted({*self.peers, self.instance_id})
        shares = [share_of(self.total, ordered, i) for i in ordered]
        rank = ordered.index(self.instance_id)
        low = sum(shares[:rank])
        return self.total, low, low + shares[rank]

    async def join(self) -> int:
        """Register; hold the budget until the others have made room. Returns the share."""
        others = await self._refresh(register=True)
        if others:
            self.budget.pause(JOIN_HOLD)
            logger.info("outbox sender joins %s other instance(s): share %s/s", len(others), self.share)
        return self.share

    async def refresh(self) -> int:
        """Heartbeat and recompute the share; call every ``REFRESH`` seconds."""
        await self._refresh(register=False)
        return self.share

    async def leave(self) -> None:
        async with self.db.session() as session:
            await session.execute(delete(SenderInstance).where(SenderInstance.id == self.instance_id))
            await session.commit()

    async def _refresh(self, *, register: bool) -> list[str]:
        now = self.clock.now()
        async with self.db.session() as session:
            found = await session.execute(
                update(SenderInstance)
                .where(SenderInstance.id == self.instance_id)
                .values(heartbeat_at=now)
                .returning(SenderInstance.id)
            )
            rejoined = False
            if found.first() is None:
                session.add(SenderInstance(id=self.instance_id, started_at=now, heartbeat_at=now))
                rejoined = not register  # others dropped us (we stalled past the TTL): join again
            # Our row is committed before we look at the others: of two instances starting at once,
            # the one that looks second sees the first (and waits), never neither.
            await session.commit()
            rows = (await session.execute(select(SenderInstance.id, SenderInstance.heartbeat_at))).all()
            stale = now - TTL
            dead = [i for i, beat in rows if i != self.instance_id and (beat < stale or self.is_dead(i))]
            if dead:
                await session.execute(delete(SenderInstance).where(SenderInstance.id.in_(dead)))
            await session.commit()
        others = [i for i, _beat in rows if i != self.instance_id and i not in dead]
        share = share_of(self.total, others, self.instance_id)
        if rejoined and others:
            self.budget.pause(JOIN_HOLD)
        if share != self.share or others != self.peers:
            logger.info("outbox sender: %s instance(s), share %s/s", len(others) + 1, share)
        self.peers, self.share = others, share
        self.budget.set_rate(min(float(share), self.budget.configured_rate))
        return others
