"""The error matrix: what a failed send means for its outbox row, as one pure function.

A channel adapter turns its own exceptions into a ``DeliveryError`` with a channel-neutral
``ErrorKind``; ``decide`` maps it, with the row's history, to what the sender writes:

| kind | meaning | row becomes | person | retry |
|---|---|---|---|---|
| RATE_LIMITED | 429 retry_after (after the in-process retries) | pending | | at now + retry_after |
| QUOTA | the channel's quota for the day is spent | pending | | at now + retry_after (no in-process retry) |
| FORBIDDEN | blocked, deactivated, kicked | failed (code) | unreachable | never |
| BAD_REQUEST | chat not found, text empty ... | failed (code) | | never |
| CHAT_MIGRATED | group became a supergroup | pending on the new chat id, once | chat id updated | now, once |
| NOT_SENT | pool timeout: the request never left | pending | | now (``NOT_SENT_LIMIT`` times) |
| MAYBE_SENT | read/write timeout: it may have arrived | uncertain | | never (reported) |
| NETWORK | connection errors, 5xx, anything else | pending | | capped exponential backoff |
| INTERNAL | a bug or a malformed row | failed (code) | | never |

Backoff for network errors: ``BACKOFF_BASE * 2**(n-1)`` capped at ``BACKOFF_CAP`` (15 min), no
jitter (tests stay deterministic, and rows are already spread by their ids); after
``NETWORK_LIMIT`` failed attempts (about six hours of outage) the row fails as ``gave_up``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta

from storage.models import OutboxStatus

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=15)
NETWORK_LIMIT = 30
NOT_SENT_LIMIT = 10
MIGRATED_MARK = "migrated"
CODE_LENGTH = 64


class ErrorKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    CHAT_MIGRATED = "chat_migrated"
    NOT_SENT = "not_sent"
    MAYBE_SENT = "maybe_sent"
    NETWORK = "network"
    INTERNAL = "internal"


class DeliveryError(Exception):
    """A send failed; ``kind`` says how, ``code`` is a short slug kept in ``outbox.last_error``."""

    def __init__(
        self,
        kind: ErrorKind,
        code: str,
        *,
        retry_after: float | None = None,
        new_chat_id: int | None = None,
    ) -> None:
        super().__init__(f"{kind}: {code}")
        self.kind = kind
        self.code = code[:CODE_LENGTH]
        self.retry_after = retry_after
        self.new_chat_id = new_chat_id


@dataclass(frozen=True)
class Decision:
    """What to write for one failed attempt."""

    status: OutboxStatus
    code: str
    retry_in: timedelta | None = None  # for PENDING: when to try again
    mark_unreachable: bool = False
    new_chat_id: int | None = None  # for a migrated chat: the address to retry on


def slug(text: str) -> str:
    """A short code from an error description: "Bad Request: chat not found" -> "chat_not_found"."""
    text = text.split(":", 1)[1] if ":" in text else text
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48] or "unknown"


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1, 2, ...)."""
    exponent = max(0, attempts - 1)
    if exponent > 20:
        return BACKOFF_CAP
    return min(BACKOFF_BASE * (2**exponent), BACKOFF_CAP)


def decide(error: DeliveryError, *, attempts: int, last_error: str | None) -> Decision:
    """The row's next state after ``error`` on its ``attempts``-th attempt (counting this one)."""
    kind = error.kind
    if kind is ErrorKind.RATE_LIMITED:
        wait = timedelta(seconds=max(1.0, error.retry_after or 1.0))
        return Decision(OutboxStatus.PENDING, "retry_after", retry_in=wait)
    if kind is ErrorKind.QUOTA:
        return Decision(OutboxStatus.PENDING, error.code, retry_in=timedelta(seconds=error.retry_after or 0))
    if kind is ErrorKind.FORBIDDEN:
        return Decision(OutboxStatus.FAILED, error.code, mark_unreachable=True)
    if kind is ErrorKind.BAD_REQUEST:
        return Decision(OutboxStatus.FAILED, error.code)
    if kind is ErrorKind.CHAT_MIGRATED:
        if last_error == MIGRATED_MARK or error.new_chat_id is None:
            return Decision(OutboxStatus.FAILED, "migrated_again")
        return Decision(
            OutboxStatus.PENDING, MIGRATED_MARK, retry_in=timedelta(0), new_chat_id=error.new_chat_id
        )
    if kind is ErrorKind.NOT_SENT:
        if attempts >= NOT_SENT_LIMIT:
            return Decision(OutboxStatus.FAILED, "gave_up")
        return Decision(OutboxStatus.PENDING, error.code, retry_in=timedelta(0))
    if kind is ErrorKind.MAYBE_SENT:
        return Decision(OutboxStatus.UNCERTAIN, error.code)
    if kind is ErrorKind.NETWORK:
        if attempts >= NETWORK_LIMIT:
            return Decision(OutboxStatus.FAILED, "gave_up")
        return Decision(OutboxStatus.PENDING, error.code, retry_in=backoff(attempts))
    return Decision(OutboxStatus.FAILED, error.code)
