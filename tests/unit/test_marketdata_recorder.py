"""The candle recorder: batched writes, retries, reads that include the open candle, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from agora.core.errors import StorageError
from agora.marketdata.candles import CandleAggregator
from agora.marketdata.normalize import make_update
from agora.marketdata.recorder import CandleRecorder
from agora.marketdata.records import Candle, Interval, PriceUpdate
from agora.storage.candles_memory import MemoryCandleStore

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
M1 = Interval.ONE_MINUTE


def trade(seconds: float, price: int, volume: int = 100) -> PriceUpdate:
    """Return an AAPL trade ``seconds`` after T0."""
    at = T0 + timedelta(seconds=seconds)
    return make_update(symbol="AAPL", timestamp=at, source="t", last=price, volume=volume)


def minute(minutes: int, *ohlcv: int) -> Candle:
    """Return AAPL's 1m candle ``minutes`` after T0."""
    open_, high, low, close, volume = ohlcv
    start = T0 + timedelta(minutes=minutes)
    return Candle(
        symbol="AAPL",
        interval=M1,
        start=start,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


class CountingStore(MemoryCandleStore):
    """A memory store that records each batch and can be told to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Candle]] = []
        self.failing = False

    async def upsert(self, candles: Sequence[Candle]) -> None:
        """Record the batch, then store it (or fail)."""
        if self.failing:
            raise StorageError("writing candles failed: disk full")
        self.batches.append(list(candles))
        await super().upsert(candles)


def recorder(store: MemoryCandleStore) -> CandleRecorder:
    """Return a 1m recorder on ``store``."""
    return CandleRecorder(store, CandleAggregator([M1]))


async def test_updates_are_written_in_one_batch_per_flush() -> None:
    store = CountingStore()
    candles = recorder(store)
    for n, price in enumerate((100_0000, 101_0000, 99_0000)):
        candles.on_price(trade(20 * n, price))
    candles.on_price(trade(61, 102_0000))
    assert store.batches == []
    assert await candles.flush() == 2
    assert store.batches == [
        [
            minute(0, 100_0000, 101_0000, 99_0000, 99_0000, 300),
            minute(1, 102_0000, 102_0000, 102_0000, 102_0000, 100),
        ]
    ]
    assert await candles.flush() == 0
    candles.on_price(trade(62, 103_0000))
    assert await candles.flush() == 1
    assert store.batches[-1] == [minute(1, 102_0000, 103_0000, 102_0000, 103_0000, 200)]


async def test_queries_include_candles_not_written_yet() -> None:
    store = CountingStore()
    candles = recorder(store)
    candles.on_price(trade(0, 100_0000))
    await candles.flush()
    candles.on_price(trade(30, 101_0000))
    candles.on_price(trade(61, 102_0000))
    assert await candles.query("AAPL", M1) == [
        minute(0, 100_0000, 101_0000, 100_0000, 101_0000, 200),
        minute(1, 102_0000, 102_0000, 102_0000, 102_0000, 100),
    ]
    assert await candles.query("AAPL", M1, limit=1) == [
        minute(1, 102_0000, 102_0000, 102_0000, 102_0000, 100)
    ]
    assert await candles.query("AAPL", M1, end=T0 + timedelta(minutes=1)) == [
        minute(0, 100_0000, 101_0000, 100_0000, 101_0000, 200)
    ]
    assert await candles.query("MSFT", M1) == []


async def test_a_failed_write_is_counted_and_retried_at_the_next_flush() -> None:
    store = CountingStore()
    candles = recorder(store)
    candles.on_price(trade(0, 100_0000))
    store.failing = True
    assert await candles.flush() == 0
    assert candles.failed_flushes == 1
    assert await candles.query("AAPL", M1) == [minute(0, *(100_0000,) * 4, 100)]
    store.failing = False
    assert await candles.flush() == 1
    assert await store.query("AAPL", M1) == [minute(0, *(100_0000,) * 4, 100)]


async def test_a_restarted_recorder_extends_the_stored_open_candle() -> None:
    store = CountingStore()
    first = recorder(store)
    first.on_price(trade(10, 100_0000, 300))
    await first.stop()
    second = recorder(store)
    await second.resume(T0 + timedelta(seconds=40))
    second.on_price(trade(45, 99_0000, 50))
    await second.flush()
    assert await store.query("AAPL", M1) == [minute(0, 100_0000, 100_0000, 99_0000, 99_0000, 350)]


async def test_the_periodic_flush_writes_and_stop_writes_the_rest() -> None:
    store = CountingStore()
    candles = CandleRecorder(store, CandleAggregator([M1]), flush_interval_s=0.01)
    await candles.start()
    candles.on_price(trade(0, 100_0000))
    for _ in range(200):
        if store.batches:
            break
        await asyncio.sleep(0.005)
    assert store.batches == [[minute(0, *(100_0000,) * 4, 100)]]
    candles.on_price(trade(1, 101_0000))
    await candles.stop()
    assert await store.query("AAPL", M1) == [minute(0, 100_0000, 101_0000, 100_0000, 101_0000, 200)]


async def test_a_batch_of_updates_makes_the_same_candles_as_one_by_one() -> None:
    updates = [trade(20 * n, 100_0000 + 1_000 * n, 10 + n) for n in range(7)]
    one_by_one, batched = CountingStore(), CountingStore()
    single = recorder(one_by_one)
    for update in updates:
        single.on_price(update)
    many = recorder(batched)
    many.on_prices(updates)
    assert await many.flush() == await single.flush() == 3
    assert batched.batches == one_by_one.batches
