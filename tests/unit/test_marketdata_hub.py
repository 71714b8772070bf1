"""The market-data hub: every observer gets every update unless it falls behind or fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from agora.marketdata.hub import MAX_BATCH, MarketDataHub, ObserverStats
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


async def test_publish_many_reaches_plain_awaited_and_batch_observers_in_order(
    hub: MarketDataHub,
) -> None:
    plain: list[int] = []
    awaited: list[int] = []
    batches: list[list[int]] = []

    async def slowish(update: PriceUpdate) -> None:
        await asyncio.sleep(0)
        awaited.append(update.last or 0)

    hub.subscribe("plain", lambda u: plain.append(u.last or 0))
    hub.subscribe("awaited", slowish)
    hub.subscribe_batches("batches", lambda us: batches.append([u.last or 0 for u in us]))
    await hub.start()
    hub.publish_many([trade(n) for n in range(3)])
    hub.publish(trade(3))
    hub.publish_many([])
    await hub.drain()
    hub.publish_many([trade(4), trade(5)])
    await hub.drain()
    expected = [(100 + n) * 10_000 for n in range(6)]
    assert plain == awaited == expected
    assert batches == [expected[:4], expected[4:]]  # one call per wake-up, not per update
    assert hub.published == 6
    assert {name: s.delivered for name, s in hub.stats().items()} == {
        "plain": 6,
        "awaited": 6,
        "batches": 6,
    }


async def test_a_feed_that_yields_many_updates_at_once_wakes_each_observer_once(
    hub: MarketDataHub,
) -> None:
    batches: list[int] = []
    hub.subscribe_batches("batches", lambda us: batches.append(len(us)))
    await hub.start()
    await hub.pump(ListFeed([trade(n) for n in range(50)]))  # never suspends in between
    await hub.drain()
    assert batches == [50]


async def test_publish_many_into_a_full_queue_drops_the_oldest(hub: MarketDataHub) -> None:
    seen: list[int] = []
    hub.subscribe("small", lambda u: seen.append(u.last or 0), queue_size=4)
    hub.publish_many([trade(n) for n in range(3)])  # not started yet: they wait in the queue
    hub.publish_many([trade(n) for n in range(3, 10)])
    assert hub.stats()["small"] == ObserverStats(dropped=6, queued=4)
    await hub.start()
    await hub.drain()
    assert seen == [(100 + n) * 10_000 for n in range(6, 10)]
    assert hub.stats()["small"] == ObserverStats(delivered=4, dropped=6)


async def test_a_failing_batch_handler_fails_its_whole_batch_and_keeps_receiving(
    hub: MarketDataHub, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken_once(updates: Sequence[PriceUpdate]) -> None:
        calls.append(len(updates))
        if len(calls) == 1:
            raise RuntimeError("boom")

    hub.subscribe_batches("broken", broken_once)
    await hub.start()
    with caplog.at_level(logging.ERROR, logger="agora.marketdata.hub"):
        hub.publish_many([trade(n) for n in range(3)])
        await hub.drain()
        hub.publish(trade(3))
        await hub.drain()
    assert calls == [3, 1]
    assert hub.stats()["broken"] == ObserverStats(delivered=1, failed=3)
    assert [r.getMessage() for r in caplog.records] == [
        "market-data observer broken failed on a batch of 3 updates (3 failures so far)"
    ]


async def test_failures_are_logged_first_and_then_every_thousandth(
    hub: MarketDataHub, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(update: PriceUpdate) -> None:
        raise RuntimeError("boom")

    hub.subscribe("broken", broken, queue_size=3_000)
    await hub.start()
    with caplog.at_level(logging.ERROR, logger="agora.marketdata.hub"):
        hub.publish_many([trade(n) for n in range(2_500)])
        await hub.drain()
    assert hub.stats()["broken"] == ObserverStats(failed=2_500)
    assert [r.getMessage().rsplit("(", 1)[1] for r in caplog.records] == [
        "1 failures so far)",
        "1000 failures so far)",
        "2000 failures so far)",
    ]


async def test_a_plain_function_that_returns_an_awaitable_is_awaited(hub: MarketDataHub) -> None:
    seen: list[int] = []

    async def record(update: PriceUpdate) -> None:
        await asyncio.sleep(0)
        seen.append(update.last or 0)

    hub.subscribe("wrapped", lambda u: record(u))
    hub.subscribe("ignored", lambda u: len(seen))  # a plain value returned is not awaited
    await hub.start()
    hub.publish_many([trade(0), trade(1)])
    await hub.drain()
    assert seen == [1_000_000, 1_010_000]
    assert {name: s.delivered for name, s in hub.stats().items()} == {"wrapped": 2, "ignored": 2}


async def test_an_object_with_an_async_call_is_awaited_one_update_at_a_time(
    hub: MarketDataHub,
) -> None:
    class Slow:
        def __init__(self) -> None:
            self.seen: list[int] = []

        async def __call__(self, update: PriceUpdate) -> None:
            await asyncio.sleep(0)
            self.seen.append(update.last or 0)

    slow = Slow()
    hub.subscribe("slow", slow, queue_size=2)
    await hub.start()
    hub.publish(trade(0))
    await asyncio.sleep(0)  # it takes update 0 and waits inside the handler
    hub.publish_many([trade(n) for n in range(1, 5)])  # its queue keeps only the newest two
    await hub.drain()
    assert slow.seen == [1_000_000, 1_030_000, 1_040_000]
    assert hub.stats()["slow"] == ObserverStats(delivered=3, dropped=2)


async def test_more_than_a_batch_is_handled_in_several_turns(hub: MarketDataHub) -> None:
    sizes: list[int] = []
    hub.subscribe_batches("batches", lambda us: sizes.append(len(us)), queue_size=5_000)
    await hub.start()
    hub.publish_many([trade(n % 100) for n in range(MAX_BATCH + 10)])
    await hub.drain()
    assert sizes == [MAX_BATCH, 10]
