"""An asyncio event loop on virtual time, for timing tests with many concurrent sleepers.

``VirtualTimer`` advances one shared offset per ``sleep`` (fine for one sender, wrong for sixteen
requests each waiting out its own round trip at once). Here the loop's clock is virtual: when
nothing is ready, the selector jumps the clock to the next timer instead of waiting, so
``asyncio.sleep`` in many tasks overlaps exactly as in real time, and a minute takes milliseconds.
Only for pure-asyncio code (no threads, no sockets).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualLoop | None = None

    def select(self, timeout: float | None = None):  # type: ignore[override]
        ready = super().select(0)
        if not ready and timeout and timeout > 0 and self.loop is not None:
            self.loop.offset += timeout
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self.offset = 0.0

    def time(self) -> float:
        return self.offset


class LoopTimer:
    """A ``bot.delivery.limits.Timer`` on the running loop's clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def run_virtual(coro: Awaitable[T]) -> T:
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
