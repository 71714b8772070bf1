"""The candle aggregator: OHLCV per symbol and interval from price updates, in event time.

What counts: an update with a ``last`` price is a trade point (a trade, a bar point, or a quote
carrying the last trade price); its ``last`` moves open, high, low and close and its ``volume``
adds to the candle's volume. An update without ``last`` (a pure quote) changes no candle.

Lateness, per symbol and interval: each has at most one open candle. An update in the open
candle's interval is applied even if it is older than updates already applied (it becomes the
open if it is the earliest, the close if it is the latest). An update in a later interval closes
the open candle and opens the next. An update for an earlier interval, or for the open interval
once that interval ended more than ``grace`` before the newest timestamp seen (the watermark),
is dropped and counted. Intervals without trade points have no candle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from agora.marketdata.records import ALL_INTERVALS, Candle, Interval, PriceUpdate, interval_start

DEFAULT_GRACE = timedelta(seconds=2)

_Key = tuple[str, Interval]


class _Building:
    """A candle still open: its prices, volume, and the times of its first and last points."""

    __slots__ = ("close", "first_at", "high", "last_at", "low", "open", "start", "volume")

    def __init__(self, start: datetime, price: int, volume: int, at: datetime) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = volume
        self.first_at = self.last_at = at

    def add(self, price: int, volume: int, at: datetime) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += volume
        if at < self.first_at:
            self.open, self.first_at = price, at
        if at >= self.last_at:
            self.close, self.last_at = price, at

    def candle(self, symbol: str, interval: Interval) -> Candle:
        return Candle(
            symbol=symbol,
            interval=interval,
            start=self.start,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
        )


class CandleAggregator:
    """Build candles from updates; hand out what changed since the last ``drain``."""

    def __init__(
        self, intervals: Iterable[Interval] = ALL_INTERVALS, *, grace: timedelta = DEFAULT_GRACE
    ) -> None:
        self.intervals = tuple(intervals)
        self.grace = grace
        self.dropped_late: Counter[Interval] = Counter()
        self.watermark: datetime | None = None
        self._open: dict[_Key, _Building] = {}
        self._closed_through: dict[_Key, datetime] = {}  # start of the newest closed candle
        self._closed: dict[_Key, list[Candle]] = {}  # closed since the last drain
        self._changed: set[_Key] = set()

    def apply(self, update: PriceUpdate) -> None:
        """Add one update to each interval's candle for its symbol."""
        if update.last is None:
            return
        at = update.timestamp
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        for interval in self.intervals:
            self._apply(update.symbol, interval, update.last, update.volume, at)

    def _apply(
        self, symbol: str, interval: Interval, price: int, volume: int, at: datetime
    ) -> None:
        key = (symbol, interval)
        start = interval_start(at, interval)
        building = self._open.get(key)
        if building is not None and self._expired(building.start, interval):
            self._close(key)
            building = None
        closed_through = self._closed_through.get(key)
        if (building is not None and start < building.start) or (
            closed_through is not None and start <= closed_through
        ):
            self.dropped_late[interval] += 1
            return
        if building is not None and start == building.start:
            building.add(price, volume, at)
        else:
            if building is not None:
                self._close(key)
            self._open[key] = _Building(start, price, volume, at)
        self._changed.add(key)

    def _expired(self, start: datetime, interval: Interval) -> bool:
        assert self.watermark is not None  # set before any candle exists
        return start + interval.length + self.grace <= self.watermark

    def _close(self, key: _Key) -> None:
        building = self._open.pop(key)
        self._closed.setdefault(key, []).append(building.candle(*key))
        self._closed_through[key] = building.start
        self._changed.discard(key)

    def expire(self) -> None:
        """Close every open candle whose interval ended more than ``grace`` before the watermark."""
        if self.watermark is None:
            return
        for key in [k for k, b in self._open.items() if self._expired(b.start, k[1])]:
            self._close(key)

    def drain(self) -> list[Candle]:
        """Expire old candles; return every candle closed or changed since the last drain.

        They come sorted by symbol, interval length and start.
        """
        self.expire()
        result = [candle for closed in self._closed.values() for candle in closed]
        result.extend(self._open[key].candle(*key) for key in self._changed)
        self._closed.clear()
        self._changed.clear()
        result.sort(key=lambda c: (c.symbol, c.interval.seconds, c.start))
        return result

    def pending(self, symbol: str, interval: Interval) -> list[Candle]:
        """Return ``symbol``'s candles not yet drained, and its open candle, oldest first."""
        key = (symbol, interval)
        result = list(self._closed.get(key, ()))
        building = self._open.get(key)
        if building is not None:
            result.append(building.candle(symbol, interval))
        return result

    def open_candles(self) -> list[Candle]:
        """Return every open candle."""
        return [building.candle(*key) for key, building in self._open.items()]

    def resume(self, candles: Iterable[Candle]) -> None:
        """Reopen stored candles (after a restart) so new points extend them, not replace them."""
        for candle in candles:
            key = (candle.symbol, candle.interval)
            current = self._open.get(key)
            if candle.interval not in self.intervals or (
                current is not None and current.start >= candle.start
            ):
                continue
            building = _Building(candle.start, candle.open, candle.volume, candle.start)
            building.high, building.low, building.close = candle.high, candle.low, candle.close
            self._open[key] = building
