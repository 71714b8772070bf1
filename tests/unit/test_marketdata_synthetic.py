"""The synthetic market: reproducible, on the tick, positive, never crossed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agora.core.instruments import Instrument, InstrumentRegistry
from agora.marketdata.records import PriceUpdate
from agora.marketdata.synthetic import DEFAULT_PROFILES, SymbolProfile, SyntheticMarket

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
UNIVERSE = InstrumentRegistry.default().all()


def run(market: SyntheticMarket, count: int) -> list[PriceUpdate]:
    """Take ``count`` updates, one millisecond apart."""
    return [market.next(T0 + timedelta(milliseconds=n)) for n in range(count)]


def test_the_first_updates_are_fixed_by_the_seed() -> None:
    first = run(SyntheticMarket(UNIVERSE, seed=42, seconds_per_update=0.05), 2)
    assert first == [
        PriceUpdate(
            symbol="AAPL",
            bid=2_700_000,
            ask=2_700_200,
            bid_size=400,
            ask_size=400,
            last=2_700_200,
            volume=200,
            timestamp=T0,
            source="synthetic",
        ),
        PriceUpdate(
            symbol="MSFT",
            bid=4_799_900,
            ask=4_800_000,
            bid_size=500,
            ask_size=400,
            last=4_800_000,
            volume=100,
            timestamp=T0 + timedelta(milliseconds=1),
            source="synthetic",
        ),
    ]


def test_the_same_seed_gives_the_same_sequence_and_another_seed_another() -> None:
    one = run(SyntheticMarket(UNIVERSE, seed=7, seconds_per_update=0.05), 2_000)
    two = run(SyntheticMarket(UNIVERSE, seed=7, seconds_per_update=0.05), 2_000)
    other = run(SyntheticMarket(UNIVERSE, seed=8, seconds_per_update=0.05), 2_000)
    assert one == two
    assert [u.bid for u in one] != [u.bid for u in other]


def test_symbols_take_turns_in_listing_order() -> None:
    updates = run(SyntheticMarket(UNIVERSE, seed=1, seconds_per_update=0.05), 40)
    symbols = [instrument.symbol for instrument in UNIVERSE]
    assert [u.symbol for u in updates] == symbols + symbols


def test_every_price_is_positive_on_the_tick_and_bid_below_ask() -> None:
    market = SyntheticMarket(UNIVERSE, seed=3, seconds_per_update=0.05)
    for update in run(market, 20_000):
        assert update.bid is not None
        assert update.ask is not None
        assert update.last is not None
        assert 0 < update.bid < update.ask
        assert update.last in (update.bid, update.ask)
        assert update.bid % 100 == update.ask % 100 == 0
        assert update.bid_size > 0
        assert update.ask_size > 0
        assert update.volume > 0
        assert update.bid_size % 100 == update.volume % 100 == 0


def test_a_wild_penny_stock_stays_positive() -> None:
    penny = Instrument(symbol="PNY", name="Penny")
    wild = {"PNY": SymbolProfile(start_price=300, volatility_bps=50_000_000, max_spread_ticks=1)}
    market = SyntheticMarket([penny], seed=5, seconds_per_update=1.0, profiles=wild)
    bids = [u.bid for u in run(market, 5_000)]
    assert min(bids) == 100  # clamped at one tick, never zero or below
    assert all(bid is not None and bid % 100 == 0 for bid in bids)


def test_prices_wander_about_as_far_as_the_volatility_says() -> None:
    aapl = [i for i in UNIVERSE if i.symbol == "AAPL"]
    market = SyntheticMarket(aapl, seed=11, seconds_per_update=1.0)
    bids = [u.bid for u in run(market, 23_400)]  # one trading day of 1-second steps
    assert all(bid is not None for bid in bids)
    start = DEFAULT_PROFILES["AAPL"].start_price
    # A 25% annual volatility is about 1.6% a day: a day's range within ±10% is certain enough.
    assert start * 0.9 < bids[-1] < start * 1.1  # type: ignore[operator]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one instrument"):
        SyntheticMarket([], seed=1, seconds_per_update=1.0)
    with pytest.raises(ValueError, match="seconds_per_update must be positive"):
        SyntheticMarket(UNIVERSE, seed=1, seconds_per_update=0)


def test_the_default_universe_has_a_profile_for_every_symbol() -> None:
    assert {i.symbol for i in UNIVERSE} == set(DEFAULT_PROFILES)
    assert all(p.start_price % 100 == 0 for p in DEFAULT_PROFILES.values())
