"""Candles in memory: the CandleStore port for tests and quick experiments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agora.marketdata.records import Candle, Interval


class MemoryCandleStore:
    """Keep candles in a dict keyed by (symbol, interval, start)."""

    def __init__(self) -> None:
        self._candles: dict[tuple[str, Interval, datetime], Candle] = {}

    async def upsert(self, candles: Sequence[Candle]) -> None:
        """Store ``candles``, replacing any with the same key."""
        for candle in candles:
            self._candles[(candle.symbol, candle.interval, candle.start)] = candle

    async def query(
        self,
        symbol: str,
        interval: Interval,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Return ``symbol``'s candles in [start, end), oldest first; the newest ``limit``."""
        found = sorted(
            (
                candle
                for (s, i, at), candle in self._candles.items()
                if s == symbol
                and i == interval
                and (start is None or at >= start)
                and (end is None or at < end)
            ),
            key=lambda candle: candle.start,
        )
        return found if limit is None else found[max(len(found) - limit, 0) :]

    async def load_from(self, interval: Interval, start: datetime) -> list[Candle]:
        """Return every symbol's candles of ``interval`` starting at or after ``start``."""
        found = [c for c in self._candles.values() if c.interval == interval and c.start >= start]
        return sorted(found, key=lambda candle: (candle.start, candle.symbol))

    async def close(self) -> None:
        """Do nothing: there is nothing to release."""
