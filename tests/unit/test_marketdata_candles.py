"""The candle aggregator: UTC-aligned OHLCV, late updates, no empty candles."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.core.errors import ValidationError
from agora.marketdata.candles import CandleAggregator
from agora.marketdata.normalize import make_update
from agora.marketdata.records import (
    Candle,
    Interval,
    PriceUpdate,
    interval_start,
    parse_interval,
)

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
M1, M5, H1 = Interval.ONE_MINUTE, Interval.FIVE_MINUTES, Interval.ONE_HOUR


def trade(seconds: float, price: int, volume: int = 100, symbol: str = "AAPL") -> PriceUpdate:
    """Return a trade ``seconds`` after T0."""
    at = T0 + timedelta(seconds=seconds)
    return make_update(symbol=symbol, timestamp=at, source="t", last=price, volume=volume)


def candle(interval: Interval, start: datetime, *ohlcv: int, symbol: str = "AAPL") -> Candle:
    """Return a candle from its open, high, low, close and volume."""
    open_, high, low, close, volume = ohlcv
    return Candle(
        symbol=symbol,
        interval=interval,
        start=start,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def feed(aggregator: CandleAggregator, *updates: PriceUpdate) -> CandleAggregator:
    """Apply ``updates`` in order."""
    for update in updates:
        aggregator.apply(update)
    return aggregator


def test_intervals_align_to_utc_boundaries() -> None:
    moment = datetime(2025, 12, 1, 14, 37, 59, 999_999, tzinfo=UTC)
    assert interval_start(moment, M1) == datetime(2025, 12, 1, 14, 37, tzinfo=UTC)
    assert interval_start(moment, M5) == datetime(2025, 12, 1, 14, 35, tzinfo=UTC)
    assert interval_start(moment, H1) == datetime(2025, 12, 1, 14, 0, tzinfo=UTC)
    assert interval_start(T0, M5) == T0


def test_interval_names_parse_and_bad_ones_are_refused() -> None:
    assert [parse_interval(name) for name in ("1m", "5m", "1h")] == [M1, M5, H1]
    with pytest.raises(ValidationError, match="interval must be one of 1m, 5m, 1h, got '2m'"):
        parse_interval("2m")


def test_trades_in_one_minute_make_one_candle_per_interval() -> None:
    aggregator = feed(
        CandleAggregator(),
        trade(1, 100_0000, 100),
        trade(20, 101_0000, 200),
        trade(40, 99_0000, 300),
        trade(59.9, 100_5000, 400),
    )
    assert aggregator.drain() == [
        candle(M1, T0, 100_0000, 101_0000, 99_0000, 100_5000, 1_000),
        candle(M5, T0, 100_0000, 101_0000, 99_0000, 100_5000, 1_000),
        candle(H1, T0.replace(minute=0), 100_0000, 101_0000, 99_0000, 100_5000, 1_000),
    ]
    assert aggregator.drain() == []  # nothing changed since


def test_a_new_interval_closes_the_old_candle_and_gaps_stay_empty() -> None:
    aggregator = feed(
        CandleAggregator([M1]),
        trade(10, 100_0000),
        trade(70, 101_0000),
        trade(250, 102_0000, 50),  # 14:34: nothing at 14:32 or 14:33
    )
    assert aggregator.drain() == [
        candle(M1, T0, 100_0000, 100_0000, 100_0000, 100_0000, 100),
        candle(M1, T0 + timedelta(minutes=1), 101_0000, 101_0000, 101_0000, 101_0000, 100),
        candle(M1, T0 + timedelta(minutes=4), 102_0000, 102_0000, 102_0000, 102_0000, 50),
    ]


def test_a_late_update_inside_the_open_candle_is_applied_in_time_order() -> None:
    aggregator = feed(
        CandleAggregator([M1]),
        trade(30, 100_0000),
        trade(40, 101_0000),
        trade(5, 98_0000),  # earlier than both: the new open, and the low
        trade(35, 102_0000),  # between: the high, not the close
    )
    assert aggregator.drain() == [candle(M1, T0, 98_0000, 102_0000, 98_0000, 101_0000, 400)]
    assert aggregator.dropped_late[M1] == 0


def test_an_update_for_a_closed_candle_is_counted_and_dropped() -> None:
    aggregator = feed(CandleAggregator([M1, M5]), trade(30, 100_0000), trade(61, 101_0000))
    aggregator.apply(trade(59, 90_0000))  # the 14:30 minute is closed; the 14:30 5m is open
    assert aggregator.dropped_late == {M1: 1}
    assert aggregator.drain() == [
        candle(M1, T0, 100_0000, 100_0000, 100_0000, 100_0000, 100),
        candle(M1, T0 + timedelta(minutes=1), 101_0000, 101_0000, 101_0000, 101_0000, 100),
        candle(M5, T0, 100_0000, 101_0000, 90_0000, 101_0000, 300),
    ]


def test_the_watermark_closes_candles_of_quiet_symbols_after_the_grace() -> None:
    aggregator = CandleAggregator([M1], grace=timedelta(seconds=2))
    feed(aggregator, trade(30, 100_0000), trade(61, 50_0000, symbol="MSFT"))
    aggregator.apply(trade(59, 100_5000))  # AAPL's 14:30 minute is still within the grace
    feed(aggregator, trade(62, 50_0000, symbol="MSFT"), trade(59.5, 100_7000))  # now it is not
    assert aggregator.dropped_late == {M1: 1}
    closed = aggregator.drain()
    assert candle(M1, T0, 100_0000, 100_5000, 100_0000, 100_5000, 200) in closed
    assert [c.symbol for c in aggregator.open_candles()] == ["MSFT"]


def test_a_candle_closes_when_the_watermark_reaches_its_end_plus_the_grace() -> None:
    applying = CandleAggregator([M1], grace=timedelta(seconds=2))
    feed(applying, trade(30, 100_0000), trade(62, 50_0000, symbol="MSFT"))
    applying.apply(trade(59, 100_5000))  # the watermark is exactly 14:31:02: too late
    assert applying.dropped_late == {M1: 1}
    assert applying.pending("AAPL", M1) == [candle(M1, T0, *(100_0000,) * 4, 100)]
    draining = feed(CandleAggregator([M1]), trade(30, 100_0000), trade(62, 1, symbol="MSFT"))
    assert candle(M1, T0, *(100_0000,) * 4, 100) in draining.drain()
    assert [c.symbol for c in draining.open_candles()] == ["MSFT"]


def test_updates_without_a_last_price_change_no_candle() -> None:
    aggregator = CandleAggregator()
    aggregator.apply(make_update(symbol="AAPL", timestamp=T0, source="q", bid=1, ask=2))
    assert aggregator.drain() == []
    assert aggregator.watermark is None


def test_a_quote_with_a_last_price_counts_its_volume_only() -> None:
    quote = make_update(
        symbol="AAPL", timestamp=T0, source="q", bid=1_0000, ask=1_0100, last=1_0000, volume=0
    )
    assert feed(CandleAggregator([M1]), quote).drain() == [
        candle(M1, T0, 1_0000, 1_0000, 1_0000, 1_0000, 0)
    ]


def test_pending_shows_undrained_closed_candles_and_the_open_one() -> None:
    aggregator = feed(CandleAggregator([M1]), trade(1, 100_0000), trade(61, 101_0000))
    assert aggregator.pending("AAPL", M1) == [
        candle(M1, T0, 100_0000, 100_0000, 100_0000, 100_0000, 100),
        candle(M1, T0 + timedelta(minutes=1), 101_0000, 101_0000, 101_0000, 101_0000, 100),
    ]
    aggregator.drain()
    assert [c.start for c in aggregator.pending("AAPL", M1)] == [T0 + timedelta(minutes=1)]
    assert aggregator.pending("MSFT", M1) == []


def test_a_resumed_candle_is_extended_not_replaced() -> None:
    aggregator = CandleAggregator([M1])
    aggregator.resume([candle(M1, T0, 100_0000, 103_0000, 99_0000, 101_0000, 700)])
    aggregator.apply(trade(45, 102_0000, 50))
    assert aggregator.drain() == [candle(M1, T0, 100_0000, 103_0000, 99_0000, 102_0000, 750)]


def test_resume_keeps_a_newer_open_candle_and_skips_other_intervals() -> None:
    aggregator = feed(CandleAggregator([M1]), trade(61, 101_0000))
    aggregator.resume(
        [
            candle(M1, T0, 1, 1, 1, 1, 1),
            candle(H1, datetime(2025, 12, 1, 14, tzinfo=UTC), 1, 1, 1, 1, 1),
        ]
    )
    assert [c.start for c in aggregator.open_candles()] == [T0 + timedelta(minutes=1)]


def test_apply_many_is_apply_one_update_at_a_time() -> None:
    updates = [
        trade(s, 100_0000 + 1_000 * (s % 7), s % 5, symbol=("AAPL", "MSFT")[s % 2])
        for s in range(0, 900, 7)
    ]
    one_by_one = feed(CandleAggregator(), *updates)
    batched = CandleAggregator()
    batched.apply_many(updates)
    assert batched.drain() == one_by_one.drain()
    assert batched.watermark == one_by_one.watermark == updates[-1].timestamp


class ModelAggregator:
    """The rules of the module docstring, written plainly: one dict entry per open candle."""

    def __init__(self, intervals: list[Interval], grace: timedelta) -> None:
        self.intervals, self.grace = intervals, grace
        self.watermark: datetime | None = None
        self.dropped_late: Counter[Interval] = Counter()
        self.open: dict[tuple[str, Interval], list[Any]] = {}  # start, o, h, l, c, v, first, last
        self.closed_through: dict[tuple[str, Interval], datetime] = {}
        self.out: dict[tuple[str, Interval, datetime], Candle] = {}  # changed since the drain

    def apply(self, update: PriceUpdate) -> None:
        if update.last is None:
            return
        at, price, volume = update.timestamp, update.last, update.volume
        self.watermark = at if self.watermark is None else max(self.watermark, at)
        for interval in self.intervals:
            key = (update.symbol, interval)
            start = interval_start(at, interval)
            candle = self.open.get(key)
            if candle and candle[0] + interval.length + self.grace <= self.watermark:
                self.close(key)
                candle = None
            through = self.closed_through.get(key)
            if (candle and start < candle[0]) or (through is not None and start <= through):
                self.dropped_late[interval] += 1
                continue
            if candle and start == candle[0]:
                candle[2], candle[3], candle[5] = (
                    max(candle[2], price),
                    min(candle[3], price),
                    candle[5] + volume,
                )
                if at < candle[6]:
                    candle[1], candle[6] = price, at
                if at >= candle[7]:
                    candle[4], candle[7] = price, at
            else:
                if candle:
                    self.close(key)
                candle = self.open[key] = [start, price, price, price, price, volume, at, at]
            self.out[(*key, start)] = self.candle(key, candle)

    def candle(self, key: tuple[str, Interval], fields: list[Any]) -> Candle:
        start, open_, high, low, close, volume = fields[:6]
        return candle(key[1], start, open_, high, low, close, volume, symbol=key[0])

    def close(self, key: tuple[str, Interval]) -> None:
        fields = self.open.pop(key)
        self.closed_through[key] = fields[0]
        self.out[(*key, fields[0])] = self.candle(key, fields)

    def drain(self) -> list[Candle]:
        for key, fields in list(self.open.items()):
            if self.watermark and fields[0] + key[1].length + self.grace <= self.watermark:
                self.close(key)
        result = sorted(self.out.values(), key=lambda c: (c.symbol, c.interval.seconds, c.start))
        self.out.clear()
        return result

    def open_candles(self) -> list[Candle]:
        return [self.candle(key, fields) for key, fields in self.open.items()]


_points = st.lists(
    st.tuples(
        st.sampled_from(["AAPL", "MSFT"]),
        st.integers(0, 1_200).map(lambda n: n * 500),  # ms after 13:58, past the hour, often
        # exactly on a candle's end plus the grace
        st.integers(1, 9),
        st.integers(0, 5),
        st.booleans(),  # drain after this point
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    _points,
    st.sampled_from([[M1], [M1, M5, H1], [H1, M5]]),
    st.sampled_from([0, 1, 2, 30]),
)
def test_the_aggregator_matches_a_plain_model_of_its_rules(
    points: list[tuple[str, int, int, int, bool]], intervals: list[Interval], grace_s: int
) -> None:
    start = datetime(2025, 12, 1, 13, 58, tzinfo=UTC)
    fast = CandleAggregator(intervals, grace=timedelta(seconds=grace_s))
    model = ModelAggregator(intervals, timedelta(seconds=grace_s))
    for symbol, ms, price, volume, drain in points:
        at = start + timedelta(milliseconds=ms)
        update = make_update(symbol=symbol, timestamp=at, source="t", last=price, volume=volume)
        fast.apply(update)
        model.apply(update)
        if drain:
            assert fast.drain() == model.drain()
    assert fast.dropped_late == model.dropped_late
    assert fast.watermark == model.watermark
    by_key = lambda c: (c.symbol, c.interval.seconds, c.start)  # noqa: E731
    assert sorted(fast.open_candles(), key=by_key) == sorted(model.open_candles(), key=by_key)
    assert fast.drain() == model.drain()
