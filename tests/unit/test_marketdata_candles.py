"""The candle aggregator: UTC-aligned OHLCV, late updates, no empty candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
