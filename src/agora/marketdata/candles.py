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

How it stays cheap: a symbol's intervals are kept together, so an update looks its symbol up
once, and a point inside an open, unexpired candle (nearly every point) costs three datetime
comparisons per interval (start <= time < end, watermark < end + grace) and the OHLCV update.
Only a point outside it computes its interval's start, in integer microseconds since the epoch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from agora.marketdata.records import ALL_INTERVALS, EPOCH, Candle, Interval, PriceUpdate

DEFAULT_GRACE = timedelta(seconds=2)

_MICROSECOND = timedelta(microseconds=1)
_NONE = datetime.max.replace(tzinfo=UTC)  # start, end and deadline while no candle is open


class _Series:
    """One symbol's candles of one interval: the open one (its fields) and those closed since."""

    __slots__ = (
        "close",
        "closed",
        "closed_through",
        "deadline",
        "dirty",
        "end",
        "first",
        "high",
        "interval",
        "last",
        "length",
        "length_us",
        "low",
        "open",
        "start",
        "symbol",
        "volume",
    )

    def __init__(self, symbol: str, interval: Interval) -> None:
        self.symbol = symbol
        self.interval = interval
        self.length = interval.length
        self.length_us = interval.seconds * 1_000_000
        self.start = self.end = self.deadline = _NONE  # deadline: the watermark that expires it
        self.open = self.high = self.low = self.close = self.volume = 0
        self.first = self.last = _NONE  # times of the open candle's first and last points
        self.closed_through: datetime | None = None  # start of the newest closed candle
        self.closed: list[Candle] = []  # closed since the last drain
        self.dirty = False  # the open candle changed since the last drain

    @property
    def is_open(self) -> bool:
        return self.start is not _NONE

    def start_of(self, moment: datetime) -> datetime:
        micros = (moment - EPOCH) // _MICROSECOND
        return EPOCH + timedelta(microseconds=micros - micros % self.length_us)

    def begin(
        self, start: datetime, grace: timedelta, price: int, volume: int, at: datetime
    ) -> None:
        self.start, self.end = start, start + self.length
        self.deadline = self.end + grace
        self.open = self.high = self.low = self.close = price
        self.volume = volume
        self.first = self.last = at

    def finish(self) -> None:
        self.closed.append(self.candle())
        self.closed_through = self.start
        self.start = self.end = self.deadline = _NONE
        self.dirty = False

    def candle(self) -> Candle:
        return Candle(
            symbol=self.symbol,
            interval=self.interval,
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
        self._by_symbol: dict[str, tuple[_Series, ...]] = {}

    def apply(self, update: PriceUpdate) -> None:
        """Add one update to each interval's candle for its symbol."""
        self.apply_many((update,))

    def apply_many(self, updates: Sequence[PriceUpdate]) -> None:
        """Add updates, in order, to each interval's candle for their symbols."""
        by_symbol = self._by_symbol
        for update in updates:
            price = update.last
            if price is None:
                continue
            at = update.timestamp
            watermark = self.watermark
            if watermark is None or at > watermark:
                self.watermark = watermark = at
            volume = update.volume
            series = by_symbol.get(update.symbol) or self._add_symbol(update.symbol)
            for one in series:
                if not (one.start <= at < one.end and watermark < one.deadline):
                    self._apply_new(one, price, volume, at, watermark)
                    continue
                if price > one.high:  # the common case, inlined: a point in the open candle
                    one.high = price
                elif price < one.low:
                    one.low = price
                one.volume += volume
                if at >= one.last:
                    one.close, one.last = price, at
                elif at < one.first:
                    one.open, one.first = price, at
                one.dirty = True

    def _add_symbol(self, symbol: str) -> tuple[_Series, ...]:
        series = tuple(_Series(symbol, interval) for interval in self.intervals)
        self._by_symbol[symbol] = series
        return series

    def _apply_new(
        self, one: _Series, price: int, volume: int, at: datetime, watermark: datetime
    ) -> None:
        """Apply a point that is not inside the open, unexpired candle of ``one``."""
        if one.is_open and one.deadline <= watermark:
            one.finish()
        start = one.start_of(at)
        if (one.is_open and start < one.start) or (
            one.closed_through is not None and start <= one.closed_through
        ):
            self.dropped_late[one.interval] += 1
            return
        if one.is_open:  # a point in a later interval closes the open candle
            one.finish()
        one.begin(start, self.grace, price, volume, at)
        one.dirty = True

    def expire(self) -> None:
        """Close every open candle whose interval ended more than ``grace`` before the watermark."""
        if self.watermark is None:
            return
        for series in self._by_symbol.values():
            for one in series:
                if one.is_open and one.deadline <= self.watermark:
                    one.finish()

    def drain(self) -> list[Candle]:
        """Expire old candles; return every candle closed or changed since the last drain.

        They come sorted by symbol, interval length and start.
        """
        self.expire()
        result: list[Candle] = []
        for series in self._by_symbol.values():  # a few per symbol, once a flush: cheaper than
            for one in series:  # keeping a list of changed ones on every update
                result.extend(one.closed)
                if one.dirty:
                    result.append(one.candle())
                one.closed = []
                one.dirty = False
        result.sort(key=lambda c: (c.symbol, c.interval.seconds, c.start))
        return result

    def pending(self, symbol: str, interval: Interval) -> list[Candle]:
        """Return ``symbol``'s candles not yet drained, and its open candle, oldest first."""
        for one in self._by_symbol.get(symbol, ()):
            if one.interval == interval:
                return [*one.closed, *([one.candle()] if one.is_open else [])]
        return []

    def open_candles(self) -> list[Candle]:
        """Return every open candle."""
        return [
            one.candle() for series in self._by_symbol.values() for one in series if one.is_open
        ]

    def resume(self, candles: Iterable[Candle]) -> None:
        """Reopen stored candles (after a restart) so new points extend them, not replace them."""
        for candle in candles:
            if candle.interval not in self.intervals:
                continue
            series = self._by_symbol.get(candle.symbol) or self._add_symbol(candle.symbol)
            one = series[self.intervals.index(candle.interval)]
            if one.is_open and one.start >= candle.start:
                continue
            one.begin(candle.start, self.grace, candle.open, candle.volume, candle.start)
            one.high, one.low, one.close = candle.high, candle.low, candle.close
