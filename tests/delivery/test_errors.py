"""The error matrix as a table, and the backoff rule as properties."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.errors import (
    BACKOFF_CAP,
    NETWORK_LIMIT,
    NOT_SENT_LIMIT,
    DeliveryError,
    ErrorKind,
    backoff,
    decide,
    slug,
)
from storage.models import OutboxStatus

P, F, U = OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.UNCERTAIN


@pytest.mark.parametrize(
    ("error", "attempts", "last", "status", "code", "retry_in", "unreachable"),
    [
        (DeliveryError(ErrorKind.RATE_LIMITED, "x", retry_after=9), 1, None, P, "retry_after", 9, False),
        (DeliveryError(ErrorKind.QUOTA, "wx_45009", retry_after=3600), 1, None, P, "wx_45009", 3600, False),
        (DeliveryError(ErrorKind.FORBIDDEN, "blocked"), 1, None, F, "blocked", None, True),
        (DeliveryError(ErrorKind.FORBIDDEN, "deactivated"), 3, None, F, "deactivated", None, True),
        (DeliveryError(ErrorKind.BAD_REQUEST, "chat_not_found"), 1, None, F, "chat_not_found", None, False),
        (DeliveryError(ErrorKind.CHAT_MIGRATED, "m", new_chat_id=-1002), 1, None, P, "migrated", 0, False),
        (
            DeliveryError(ErrorKind.CHAT_MIGRATED, "m", new_chat_id=-1003),
            2,
            "migrated",
            F,
            "migrated_again",
            None,
            False,
        ),
        (DeliveryError(ErrorKind.NOT_SENT, "pool_timeout"), 1, None, P, "pool_timeout", 0, False),
        (DeliveryError(ErrorKind.NOT_SENT, "pool_timeout"), NOT_SENT_LIMIT, None, F, "gave_up", None, False),
        (DeliveryError(ErrorKind.MAYBE_SENT, "timeout"), 1, None, U, "timeout", None, False),
        (DeliveryError(ErrorKind.NETWORK, "network"), 1, None, P, "network", 5, False),
        (DeliveryError(ErrorKind.NETWORK, "network"), 4, None, P, "network", 40, False),
        (DeliveryError(ErrorKind.NETWORK, "network"), NETWORK_LIMIT, None, F, "gave_up", None, False),
        (DeliveryError(ErrorKind.INTERNAL, "undecryptable"), 1, None, F, "undecryptable", None, False),
    ],
)
def test_matrix(error, attempts, last, status, code, retry_in, unreachable) -> None:
    decision = decide(error, attempts=attempts, last_error=last)
    assert decision.status == status
    assert decision.code == code
    assert decision.retry_in == (None if retry_in is None else timedelta(seconds=retry_in))
    assert decision.mark_unreachable is unreachable


@given(st.integers(1, 10_000))
def test_backoff_grows_and_is_capped(attempts: int) -> None:
    wait = backoff(attempts)
    assert timedelta(seconds=5) <= wait <= BACKOFF_CAP
    assert backoff(attempts + 1) >= wait


@given(st.text(max_size=300))
def test_codes_are_short_slugs(description: str) -> None:
    code = slug(description)
    assert 0 < len(code) <= 48
    assert set(code) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


def test_slug_of_a_telegram_description() -> None:
    assert slug("Bad Request: chat not found") == "chat_not_found"
