"""One sender, a lane per channel: each row goes to its channel's adapter, within that channel's own
limits; a channel that cannot edit gets no edits; one stop stops every lane."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from bot.delivery.channel import EDIT_KEY, PROGRESS_KEY
from bot.delivery.errors import DeliveryError, ErrorKind
from bot.delivery.limits import TELEGRAM, ChannelLimits
from bot.delivery.sender import STOP_GRACE, Delivery
from bot.delivery.telegram import budget_of, telegram_adapter
from bot.services.outbox import Outgoing, enqueue
from storage.models import OutboxMessage, OutboxStatus
from tests.harness import BotHarness
from wechat.delivery import WECHAT_LIMITS


class Recording:
    """An adapter that records what it is handed, and when on its lane's budget clock."""

    def __init__(self, name: str, limits: ChannelLimits, *, hang: bool = False) -> None:
        self.name = name
        self.limits = limits
        self.hang = hang
        self.sent: list[tuple[float, Any, dict[str, Any]]] = []
        self.entered = asyncio.Event()
        self.cancelled_at: float | None = None  # when a hanging request was given up (monotonic)
        self.timer: Any = None  # the lane's budget timer, set by the test
        self._next_id = 100

    async def send(self, address: Any, payload: dict[str, Any], *, row: Any = None) -> int | None:
        self.entered.set()
        if self.hang:
            try:
                await asyncio.sleep(60)  # a request that is never answered
            except asyncio.CancelledError:
                self.cancelled_at = time.monotonic()
                raise
        self.sent.append((self.timer.now() if self.timer else 0.0, address, payload))
        self._next_id += 1
        return self._next_id

    def classify(self, error: Exception) -> DeliveryError:
        return DeliveryError(ErrorKind.INTERNAL, type(error).__name__)


async def add(harness: BotHarness, source: str, text: str, **route: Any) -> None:
    async with harness.session() as session:
        await enqueue(
            session, source=source, message=Outgoing(text=text), not_before=harness.clock.now(), **route
        )
        await session.commit()


async def add_payload(harness: BotHarness, source: str, payload: dict[str, Any], **route: Any) -> None:
    async with harness.session() as session:
        session.add(
            OutboxMessage(
                source=source,
                kind="edit",
                payload=payload,
                status=OutboxStatus.PENDING,
                next_attempt_at=harness.clock.now(),
                **route,
            )
        )
        await session.commit()


async def outbox(harness: BotHarness) -> dict[str, OutboxMessage]:
    return {row.source: row for row in await harness.outbox()}


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_each_row_goes_to_its_channels_adapter_within_that_channels_limits(harness: BotHarness) -> None:
    wechat = Recording("wechat", WECHAT_LIMITS)
    web = Recording("web", ChannelLimits(rate=100.0))
    delivery = Delivery(
        harness.db,
        harness.clock,
        [telegram_adapter(harness.app.bot, harness.db), wechat, web],
        budgets={"telegram": budget_of(harness.app.bot)},
    )
    telegram_lane = delivery.lane("telegram")
    wechat.timer = delivery.lane("wechat").budget.timer
    web.timer = delivery.lane("web").budget.timer
    assert telegram_lane.budget.limits is TELEGRAM and telegram_lane.budget is budget_of(harness.app.bot)
    assert delivery.lane("wechat").budget.rate == 20.0 and delivery.lane("wechat").limits is WECHAT_LIMITS
    timer = telegram_lane.budget.timer
    stamps: list[float] = []
    original = harness.fake.do_request

    async def stamped(url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any):
        stamps.append(timer.now())
        return await original(url, method, request_data, *args, **kwargs)

    harness.fake.do_request = stamped  # type: ignore[method-assign]
    for i in range(3):
        await add(harness, f"t:{i}", f"电报{i}", chat_id=7001)
        await add(harness, f"h:{i}", f"网页{i}", channel="web", address="li-web")
    for i in range(25):  # more than Telegram would allow to one group in a minute
        await add(harness, f"w:{i}", f"微信{i}", channel="wechat", address="oWX1")

    assert await delivery.drain() == 31

    assert harness.fake.texts(7001) == ["电报0", "电报1", "电报2"]
    assert [(a, p["text"]) for _, a, p in wechat.sent] == [("oWX1", f"微信{i}") for i in range(25)]
    assert [(a, p["text"]) for _, a, p in web.sent] == [("li-web", f"网页{i}") for i in range(3)]
    # Telegram keeps 1/s per private chat; WeChat has no per-chat rule: one member's 25 rows follow
    # each other at its overall rate (20/s, 25 in about 1.3 s).
    assert min(gaps(stamps)) >= TELEGRAM.chat_gap - 1e-6
    wechat_times = [t for t, _, _ in wechat.sent]
    assert wechat_times[-1] - wechat_times[0] < 2.0  # Telegram's group rule would take a minute
    rows = await outbox(harness)
    assert {rows[k].status for k in rows} == {OutboxStatus.SENT}
    assert all(rows[f"w:{i}"].claimed_by == delivery.instance_id for i in range(25))


async def test_a_channel_that_cannot_edit_drops_progress_and_sends_a_changed_screen_anew(
    harness: BotHarness,
) -> None:
    sms = Recording("sms", ChannelLimits(rate=10.0, can_edit=False))
    editing = Recording("web", ChannelLimits(rate=10.0, can_edit=True))
    delivery = Delivery(harness.db, harness.clock, [sms, editing])
    progress = {"text": "已送达 10/20", EDIT_KEY: 55, PROGRESS_KEY: True}
    screen = {"text": "此申请已由他人处理。", EDIT_KEY: 56}
    await add_payload(harness, "progress:1", progress, channel="sms", address="138")
    await add_payload(harness, "screen:1", screen, channel="sms", address="138")
    await add_payload(harness, "screen:2", screen, channel="web", address="li-web")

    await delivery.drain()

    assert [p for _, _, p in sms.sent] == [{"text": "此申请已由他人处理。"}]  # a new message
    assert [p for _, _, p in editing.sent] == [screen]  # a channel that can edit gets the edit
    rows = await outbox(harness)
    assert (rows["progress:1"].status, rows["progress:1"].last_error) == (
        OutboxStatus.CANCELLED,
        "cannot_edit",
    )
    assert rows["screen:1"].status == OutboxStatus.SENT and rows["screen:1"].message_id == 101
    assert delivery.lane("sms").stats.dropped == 1


async def test_one_stop_stops_every_lane_within_the_grace(harness: BotHarness) -> None:
    first = Recording("wechat", WECHAT_LIMITS, hang=True)
    second = Recording("sms", ChannelLimits(rate=10.0), hang=True)
    delivery = Delivery(harness.db, harness.clock, [first, second], concurrency={"wechat": 1, "sms": 1})
    await add(harness, "w:1", "一", channel="wechat", address="oWX1")
    await add(harness, "w:2", "二", channel="wechat", address="oWX2")
    await add(harness, "s:1", "三", channel="sms", address="138")
    await delivery.start()
    await asyncio.wait_for(asyncio.gather(first.entered.wait(), second.entered.wait()), 10)

    began = time.monotonic()
    await delivery.stop()
    took = time.monotonic() - began

    # The lanes stop together, not one after the other: both hanging requests are given up after the
    # same grace, and the whole stop is about one grace long (a loaded machine adds to the writes).
    assert first.cancelled_at is not None and second.cancelled_at is not None
    assert abs(first.cancelled_at - second.cancelled_at) < STOP_GRACE / 2
    assert STOP_GRACE <= took < 2 * STOP_GRACE + 2.0
    rows = await outbox(harness)
    # Requests that had left: uncertain; a row still waiting for its turn: pending again.
    assert (rows["w:1"].status, rows["w:1"].last_error) == (OutboxStatus.UNCERTAIN, "stopped")
    assert (rows["s:1"].status, rows["s:1"].last_error) == (OutboxStatus.UNCERTAIN, "stopped")
    assert rows["w:2"].status == OutboxStatus.PENDING and rows["w:2"].claimed_by is None
