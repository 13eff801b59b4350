"""The bot as a real process (``branchbot run``) against the fake Bot API HTTP server, stopped with
SIGTERM or killed with SIGKILL in the middle of a notice, then started again (bench.broadcast)."""

from __future__ import annotations

from bench.broadcast import QUEUED_USERS, run_benchmark
from tests.conftest import TEST_DATABASE_URL

MEMBERS = 150


async def test_sigterm_during_a_notice_with_updates_queued() -> None:
    figures = await run_benchmark(
        MEMBERS, rate=30, database_url=TEST_DATABASE_URL or None, term_after=50, probe_every=1.0
    )
    assert figures.kills == 1
    assert figures.stop_s < 10
    assert figures.sending_after_stop == 0  # nothing half-written: sent, uncertain or pending
    assert figures.final_status == {"sent": MEMBERS}
    assert (figures.lost, figures.duplicated) == (0, 0)  # 'sent' rows were delivered, 'pending' were not
    assert figures.queued_answered == len(QUEUED_USERS)
    assert figures.http_429 == 0


async def test_kill_9_during_a_notice_then_restart() -> None:
    figures = await run_benchmark(
        MEMBERS, rate=30, database_url=TEST_DATABASE_URL or None, kill_after=50, probe_every=1.0
    )
    assert figures.kills == 1
    assert figures.final_status == {"sent": MEMBERS}
    assert figures.lost == 0
    assert figures.duplicated <= figures.in_flight_at_kill
    assert figures.max_per_chat_per_second == 1
