"""The candle recorder: a hub observer that aggregates candles and writes them in batches.

Nothing is written per update. Every ``flush_interval_s`` the recorder drains the aggregator (the
candles closed since the last flush and the open candles that changed) and upserts them in one
transaction. A failed write is logged and counted, and its candles are retried with the next
flush. Queries read the store and overlay what is not written yet, so they see the open candle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from agora.core.errors import StorageError
from agora.marketdata.candles import CandleAggregator
from agora.marketdata.ports import CandleStore
from agora.marketdata.records import Candle, Interval, PriceUpdate, interval_start

DEFAULT_FLUSH_INTERVAL_S = 1.0

logger = logging.getLogger(__name__)

_Key = tuple[str, Interval, datetime]


class CandleRecorder:
    """Feed updates into an aggregator; write its candles to a store in periodic batches."""

    def __init__(
        self,
        store: CandleStore,
        aggregator: CandleAggregator,
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    ) -> None:
        self.store = store
        self.aggregator = aggregator
        self.flush_interval_s = flush_interval_s
        self.failed_flushes = 0
        self._unwritten: dict[_Key, Candle] = {}
        self._task: asyncio.Task[None] | None = None

    def on_price(self, update: PriceUpdate) -> None:
        """Add one update to the candles (a hub observer)."""
        self.aggregator.apply(update)

    def on_prices(self, updates: Sequence[PriceUpdate]) -> None:
        """Add updates, in order, to the candles (a hub batch observer)."""
        self.aggregator.apply_many(updates)

    async def resume(self, now: datetime) -> None:
        """Reopen the stored candles of the intervals open at ``now``, so a restart extends them."""
        for interval in self.aggregator.intervals:
            stored = await self.store.load_from(interval, interval_start(now, interval))
            self.aggregator.resume(stored)

    async def flush(self) -> int:
        """Write what changed since the last flush; return how many candles were written."""
        for candle in self.aggregator.drain():
            self._unwritten[(candle.symbol, candle.interval, candle.start)] = candle
        batch = dict(self._unwritten)
        if not batch:
            return 0
        try:
            await self.store.upsert(list(batch.values()))
        except StorageError:
            self.failed_flushes += 1
            logger.exception("writing %d candles failed; retrying at the next flush", len(batch))
            return 0
        for key, candle in batch.items():
            if self._unwritten.get(key) is candle:
                del self._unwritten[key]
        return len(batch)

    async def start(self) -> None:
        """Start flushing every ``flush_interval_s`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="marketdata-candle-flush")

    async def stop(self) -> None:
        """Stop the periodic flush and write what is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:  # a bug must not stop candles for good; it is logged each time
                logger.exception("flushing candles failed")

    async def query(
        self,
        symbol: str,
        interval: Interval,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Return candles as ``CandleStore.query`` does, including those not yet written."""
        stored = await self.store.query(symbol, interval, start=start, end=end, limit=limit)
        by_start = {candle.start: candle for candle in stored}
        unwritten = [c for c in self._unwritten.values() if c.symbol == symbol]
        for candle in [*unwritten, *self.aggregator.pending(symbol, interval)]:
            if candle.interval != interval:
                continue
            if (start is None or candle.start >= start) and (end is None or candle.start < end):
                by_start[candle.start] = candle
        result = [by_start[key] for key in sorted(by_start)]
        return result if limit is None else result[max(len(result) - limit, 0) :]
