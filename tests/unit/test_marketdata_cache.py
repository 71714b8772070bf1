"""The last-price cache: feed updates in, ages and staleness out, risk's view unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agora.marketdata.cache import LastPriceCache
from agora.marketdata.normalize import make_update
from agora.marketdata.records import PriceUpdate
from agora.risk import PriceQuote

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)


def quote(seconds: float, bid: int, ask: int, last: int | None = None) -> PriceUpdate:
    """Return an AAPL quote ``seconds`` after T0."""
    at = T0 + timedelta(seconds=seconds)
    return make_update(
        symbol="AAPL", timestamp=at, source="t", bid=bid, ask=ask, bid_size=5, ask_size=7, last=last
    )


def trade(seconds: float, price: int) -> PriceUpdate:
    """Return an AAPL trade ``seconds`` after T0."""
    at = T0 + timedelta(seconds=seconds)
    return make_update(symbol="AAPL", timestamp=at, source="t", last=price, volume=10)


def test_a_trade_sets_the_last_price_risk_sees() -> None:
    cache = LastPriceCache()
    cache.on_price(trade(1, 2_000_000))
    assert cache.quote("AAPL") == PriceQuote(price=2_000_000, as_of=T0 + timedelta(seconds=1))


def test_a_pure_quote_sets_the_mid() -> None:
    cache = LastPriceCache()
    cache.on_price(quote(0, 2_000_000, 2_000_100))
    assert cache.quote("AAPL") == PriceQuote(price=2_000_050, as_of=T0)


def test_an_older_update_does_not_replace_a_newer_one() -> None:
    cache = LastPriceCache()
    cache.on_price(trade(5, 2_000_000))
    cache.on_price(trade(4, 1_000_000))
    assert cache.quote("AAPL") == PriceQuote(price=2_000_000, as_of=T0 + timedelta(seconds=5))
    latest = cache.latest("AAPL")
    assert latest is not None
    assert latest.last == 2_000_000


def test_latest_merges_the_newest_quote_and_the_newest_trade() -> None:
    cache = LastPriceCache()
    cache.on_price(quote(0, 2_000_000, 2_000_100))
    cache.on_price(trade(1, 2_000_100))
    latest = cache.latest("AAPL")
    assert latest == PriceUpdate(
        symbol="AAPL",
        bid=2_000_000,
        ask=2_000_100,
        bid_size=5,
        ask_size=7,
        last=2_000_100,
        volume=10,
        timestamp=T0 + timedelta(seconds=1),
        source="t",
    )
    cache.on_price(quote(2, 2_000_200, 2_000_300))
    merged = cache.latest("AAPL")
    assert merged is not None
    assert (merged.bid, merged.ask, merged.last) == (2_000_200, 2_000_300, 2_000_100)


def test_age_and_staleness_use_the_configured_bound() -> None:
    cache = LastPriceCache(max_age=timedelta(seconds=5))
    assert cache.age("AAPL", T0) is None
    assert cache.is_stale("AAPL", T0)
    cache.on_price(trade(0, 2_000_000))
    assert cache.age("AAPL", T0 + timedelta(seconds=5)) == timedelta(seconds=5)
    assert not cache.is_stale("AAPL", T0 + timedelta(seconds=5))
    assert cache.is_stale("AAPL", T0 + timedelta(seconds=5, microseconds=1))
    assert cache.age("AAPL", T0 - timedelta(seconds=1)) == timedelta(0)  # clock skew


def test_the_old_update_api_and_forget_still_work() -> None:
    cache = LastPriceCache()
    cache.update("AAPL", 1_500_000, T0)
    assert cache.quote("AAPL") == PriceQuote(price=1_500_000, as_of=T0)
    cache.on_price(trade(1, 1_600_000))
    cache.forget("AAPL")
    assert cache.quote("AAPL") is None
    assert cache.latest("AAPL") is None


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_age must not be negative"):
        LastPriceCache(max_age=timedelta(seconds=-1))


def test_a_batch_is_recorded_as_its_updates_one_by_one() -> None:
    cache = LastPriceCache()
    cache.on_prices(
        [
            quote(0, 2_000_000, 2_000_100),
            trade(3, 2_000_300),
            trade(2, 1_000_000),  # older than the trade before it: changes nothing
            quote(4, 2_000_200, 2_000_500),  # a pure quote: its mid, and the last trade kept
            make_update(symbol="MSFT", timestamp=T0, source="t", last=4_000_000, volume=1),
        ]
    )
    assert cache.quote("AAPL") == PriceQuote(price=2_000_350, as_of=T0 + timedelta(seconds=4))
    latest = cache.latest("AAPL")
    assert latest is not None
    assert (latest.bid, latest.ask, latest.last, latest.timestamp) == (
        2_000_200,
        2_000_500,
        2_000_300,
        T0 + timedelta(seconds=4),
    )
    assert cache.quote("MSFT") == PriceQuote(price=4_000_000, as_of=T0)
    cache.on_prices([])
    assert cache.quote("MSFT") == PriceQuote(price=4_000_000, as_of=T0)
