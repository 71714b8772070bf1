"""PriceUpdate → venue Quote, and the public shapes of prices and candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from agora.core.instruments import InstrumentRegistry
from agora.execution.venues.reports import Quote
from agora.marketdata.normalize import make_update
from agora.marketdata.quotes import quote_batch_observer, quote_observer, to_quote
from agora.marketdata.records import Candle, Interval, rfc3339
from agora.marketdata.views import candle_payload, price_payload

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)


def test_a_two_sided_update_passes_as_is() -> None:
    update = make_update(
        symbol="AAPL",
        timestamp=T0,
        source="s",
        bid=2_000_000,
        ask=2_000_300,
        bid_size=300,
        ask_size=500,
        last=2_000_100,
        volume=100,
    )
    assert to_quote(update, tick_size=100) == Quote(
        symbol="AAPL",
        bid=2_000_000,
        ask=2_000_300,
        bid_size=300,
        ask_size=500,
        last=2_000_100,
        timestamp=T0,
    )


def test_a_quote_without_last_uses_the_mid_rounded_down_to_the_tick() -> None:
    update = make_update(symbol="AAPL", timestamp=T0, source="s", bid=2_000_000, ask=2_000_300)
    quote = to_quote(update, tick_size=100)
    assert quote is not None
    assert quote.last == 2_000_100


def test_a_trade_becomes_a_quote_one_tick_either_side_sized_by_its_volume() -> None:
    update = make_update(symbol="AAPL", timestamp=T0, source="s", last=2_000_000, volume=40)
    assert to_quote(update, tick_size=100) == Quote(
        symbol="AAPL",
        bid=1_999_900,
        ask=2_000_100,
        bid_size=40,
        ask_size=40,
        last=2_000_000,
        timestamp=T0,
    )
    no_volume = make_update(symbol="AAPL", timestamp=T0, source="s", last=2_000_000)
    quote = to_quote(no_volume, tick_size=100)
    assert quote is not None
    assert (quote.bid_size, quote.ask_size) == (100, 100)


def test_a_trade_at_one_tick_gives_no_quote() -> None:
    update = make_update(symbol="AAPL", timestamp=T0, source="s", last=100)
    assert to_quote(update, tick_size=100) is None


def test_the_observer_hands_quotes_to_the_venue() -> None:
    received: list[Quote] = []
    observe = quote_observer(received.append, InstrumentRegistry.default())
    observe(make_update(symbol="KO", timestamp=T0, source="s", last=700_000, volume=10))
    observe(make_update(symbol="KO", timestamp=T0, source="s", last=100))
    assert [(q.bid, q.ask) for q in received] == [(699_900, 700_100)]


def test_price_payload_has_decimal_strings_and_a_z_timestamp() -> None:
    update = make_update(symbol="AAPL", timestamp=T0, source="s", bid=2_699_500, ask=2_699_700)
    assert price_payload(update) == {
        "symbol": "AAPL",
        "bid": "269.9500",
        "ask": "269.9700",
        "last": None,
        "timestamp": "2025-12-01T14:30:00Z",
    }


def test_candle_payload_matches_the_api() -> None:
    candle = Candle(
        symbol="AAPL",
        interval=Interval.ONE_MINUTE,
        start=T0,
        open=2_699_500,
        high=2_700_000,
        low=2_699_000,
        close=2_699_900,
        volume=1_200,
    )
    assert candle_payload(candle) == {
        "start": "2025-12-01T14:30:00Z",
        "open": "269.9500",
        "high": "270.0000",
        "low": "269.9000",
        "close": "269.9900",
        "volume": "1200",
    }


def test_the_batch_observer_hands_quotes_to_the_venue_in_order() -> None:
    received: list[Quote] = []
    observe_all = quote_batch_observer(received.append, InstrumentRegistry.default())
    observe_all(
        [
            make_update(symbol="KO", timestamp=T0, source="s", last=700_000, volume=10),
            make_update(symbol="KO", timestamp=T0, source="s", last=100),  # no quote: skipped
            make_update(symbol="AAPL", timestamp=T0, source="s", bid=2_699_500, ask=2_699_700),
        ]
    )
    assert [(q.symbol, q.bid, q.ask, q.last) for q in received] == [
        ("KO", 699_900, 700_100, 700_000),
        ("AAPL", 2_699_500, 2_699_700, 2_699_600),
    ]


def test_prices_under_a_dollar_and_fractions_of_a_second_are_formatted_exactly() -> None:
    at = datetime(2025, 12, 1, 9, 30, 0, 1_000, tzinfo=timezone(timedelta(hours=-5)))
    update = make_update(symbol="AAPL", timestamp=at, source="s", bid=1, ask=9_999, last=10_000)
    assert price_payload(update) == {
        "symbol": "AAPL",
        "bid": "0.0001",
        "ask": "0.9999",
        "last": "1.0000",
        "timestamp": "2025-12-01T14:30:00.001000Z",
    }
    assert price_payload(update) == price_payload(update)  # the remembered texts are the same


def test_rfc3339_writes_utc_with_a_z_and_microseconds_only_when_there_are_some() -> None:
    assert rfc3339(datetime(2025, 12, 1, 14, 30, 59, 999_999, tzinfo=UTC)) == (
        "2025-12-01T14:30:59.999999Z"
    )
    assert rfc3339(datetime(2025, 12, 1, 14, 31, tzinfo=UTC)) == "2025-12-01T14:31:00Z"
    assert rfc3339(datetime(2025, 12, 1, 14, 30, 59, 5, tzinfo=UTC)) == (
        "2025-12-01T14:30:59.000005Z"
    )
    new_york = timezone(timedelta(hours=-5))
    assert rfc3339(datetime(2025, 12, 1, 23, 59, 59, 10, tzinfo=new_york)) == (
        "2025-12-02T04:59:59.000010Z"
    )
