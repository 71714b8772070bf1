"""The market-data hub: every observer gets every update unless it falls behind or fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from agora.marketdata.hub import MarketDataHub, ObserverStats
from agora.marketdata.normalize import make_update
from agora.marketdata.records import PriceUpdate

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)


def trade(n: int) -> PriceUpdate:
    """Return the ``n``-th AAPL trade, priced 100 + n dollars."""
    at = T0 + timedelta(seconds=n)
    return make_update(symbol="AAPL", timestamp=at, source="t", last=(100 + n) * 10_000)


class ListFeed:
    """A feed of fixed updates."""

    def __init__(self, updates: list[PriceUpdate]) -> None:
        self._updates = updates

    async def updates(self) -> AsyncIterator[PriceUpdate]:
        """Yield the updates."""
        for update in self._updates:
            yield update


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    """A hub, stopped after the test."""
    made = MarketDataHub()
    yield made
    await made.stop(drain_timeout_s=0.1)


async def test_every_observer_gets_every_update_in_order(hub: MarketDataHub) -> None:
    plain: list[int] = []
    awaited: list[int] = []

    async def slowish(update: PriceUpdate) -> None:
        await asyncio.sleep(0)
        awaited.append(update.last or 0)

    hub.subscribe("plain", lambda u: plain.append(u.last or 0))
    hub.subscribe("awaited", slowish)
    await hub.start()
    await hub.pump(ListFeed([trade(n) for n in range(3)]))
    await hub.drain()
    assert plain == awaited == [1_000_000, 1_010_000, 1_020_000]
    assert hub.published == 3
    assert hub.stats()["plain"] == ObserverStats(delivered=3)


async def test_a_failing_observer_is_counted_and_logged_and_others_carry_on(
    hub: MarketDataHub, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[PriceUpdate] = []

    def broken(update: PriceUpdate) -> None:
        raise RuntimeError("boom")

    hub.subscribe("broken", broken)
    hub.subscribe("good", seen.append)
    await hub.start()
    with caplog.at_level(logging.ERROR, logger="agora.marketdata.hub"):
        for n in range(3):
            hub.publish(trade(n))
        await hub.drain()
    assert len(seen) == 3
    assert hub.stats()["broken"] == ObserverStats(delivered=0, failed=3)
    assert [r.getMessage() for r in caplog.records] == [
        "market-data observer broken failed on AAPL (1 failures so far)"
    ]


async def test_a_slow_observer_drops_its_oldest_updates_and_blocks_no_one(
    hub: MarketDataHub,
) -> None:
    release = asyncio.Event()
    slow: list[int] = []
    fast: list[int] = []

    async def stuck(update: PriceUpdate) -> None:
        await release.wait()
        slow.append(update.last or 0)

    hub.subscribe("slow", stuck, queue_size=4)
    hub.subscribe("fast", lambda u: fast.append(u.last or 0))
    await hub.start()
    hub.publish(trade(0))
    await asyncio.sleep(0)  # the slow observer takes update 0 and waits
    for n in range(1, 10):
        hub.publish(trade(n))
    await asyncio.sleep(0)
    assert len(fast) == 10
    assert hub.stats()["slow"] == ObserverStats(dropped=5, queued=4)
    release.set()
    await hub.drain()
    assert slow == [(100 + n) * 10_000 for n in (0, 6, 7, 8, 9)]
    assert hub.stats()["slow"] == ObserverStats(delivered=5, dropped=5)


async def test_observers_can_come_and_go_while_running(hub: MarketDataHub) -> None:
    early: list[PriceUpdate] = []
    late: list[PriceUpdate] = []
    hub.subscribe("early", early.append)
    await hub.start()
    hub.publish(trade(0))
    hub.subscribe("late", late.append)
    hub.publish(trade(1))
    await hub.drain()
    await hub.unsubscribe("early")
    hub.publish(trade(2))
    await hub.drain()
    assert [u.last for u in early] == [1_000_000, 1_010_000]
    assert [u.last for u in late] == [1_010_000, 1_020_000]
    assert set(hub.stats()) == {"late"}
    with pytest.raises(ValueError, match="already subscribed"):
        hub.subscribe("late", late.append)
    with pytest.raises(ValueError, match="queue_size must be at least 1"):
        hub.subscribe("unbounded", late.append, queue_size=0)


async def test_stop_lets_observers_finish_what_is_queued() -> None:
    hub = MarketDataHub()
    seen: list[PriceUpdate] = []
    hub.subscribe("cache", seen.append)
    await hub.start()
    for n in range(100):
        hub.publish(trade(n))
    await hub.stop()
    assert len(seen) == 100
    hub.publish(trade(100))  # stopped: queued, not handled
    assert hub.stats()["cache"] == ObserverStats(delivered=100, queued=1)
