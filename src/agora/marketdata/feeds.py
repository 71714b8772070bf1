"""Paced feeds: the synthetic market at a rate, driven by an injected clock and sleep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime, timedelta

from agora.core.clock import Clock
from agora.marketdata.records import PriceUpdate
from agora.marketdata.synthetic import SyntheticMarket

Sleep = Callable[[float], Awaitable[None]]

MAX_LAG = timedelta(seconds=1)
"""A paced feed that falls further behind than this restarts its schedule instead of bursting."""


class Pacer:
    """Wait until moments on ``clock``, always yielding to the event loop at least once."""

    def __init__(self, clock: Clock, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep

    def now(self) -> datetime:
        """Return the clock's time."""
        return self._clock.now()

    async def wait_until(self, moment: datetime) -> None:
        """Sleep until ``moment`` (at once, but still yielding, if it has passed)."""
        delay = (moment - self._clock.now()).total_seconds()
        await self._sleep(max(delay, 0.0))


class SyntheticFeed:
    """Emit the synthetic market's updates at ``rate`` per second, stamped with the clock's time."""

    def __init__(self, market: SyntheticMarket, pacer: Pacer, *, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._market = market
        self._pacer = pacer
        self._period = timedelta(seconds=1 / rate)

    async def updates(self) -> AsyncGenerator[PriceUpdate, None]:
        """Yield updates forever, one every 1/rate seconds on the clock."""
        start = self._pacer.now()
        count = 0
        while True:
            due = start + count * self._period
            if self._pacer.now() - due > MAX_LAG:
                start, count, due = self._pacer.now(), 0, self._pacer.now()
            await self._pacer.wait_until(due)
            yield self._market.next(self._pacer.now())
            count += 1
