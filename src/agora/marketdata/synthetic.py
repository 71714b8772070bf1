"""The synthetic market: a seeded random walk of quotes and trades for a universe of instruments.

Each call to ``next`` moves one symbol (round-robin, in listing order): its bid takes a normal step
in whole ticks scaled by the symbol's volatility, the spread is 1 to ``max_spread_ticks`` ticks,
and one trade prints at the bid or the ask. The same seed and ``seconds_per_update`` give the same
sequence of prices and sizes whatever the wall clock does; only timestamps come from the caller.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from agora.core.instruments import Instrument
from agora.core.money import PRICE_SCALE
from agora.marketdata.normalize import make_update
from agora.marketdata.records import PriceUpdate

SOURCE = "synthetic"
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3_600
_DOLLAR = 10**PRICE_SCALE


class SymbolProfile(msgspec.Struct, frozen=True, kw_only=True):
    """How one symbol's synthetic market behaves."""

    start_price: int  # PRICE_SCALE units
    volatility_bps: int  # annualized, in basis points: 2_500 is 25%
    max_spread_ticks: int = 2
    round_lots: int = 5  # trades and quoted sizes are 1..round_lots lots of 100 shares


def _profile(dollars: int, volatility_pct: int, spread: int = 2, lots: int = 5) -> SymbolProfile:
    return SymbolProfile(
        start_price=dollars * _DOLLAR,
        volatility_bps=volatility_pct * 100,
        max_spread_ticks=spread,
        round_lots=lots,
    )


DEFAULT_PROFILES: Mapping[str, SymbolProfile] = {
    "AAPL": _profile(270, 25, lots=10),
    "MSFT": _profile(480, 22, lots=5),
    "NVDA": _profile(180, 45, lots=20),
    "AMZN": _profile(230, 30, lots=10),
    "GOOGL": _profile(300, 28, lots=8),
    "META": _profile(600, 35, spread=4, lots=4),
    "TSLA": _profile(430, 55, spread=4, lots=10),
    "BRK.B": _profile(500, 16, spread=3, lots=3),
    "JPM": _profile(310, 22, lots=5),
    "V": _profile(340, 20, lots=4),
    "UNH": _profile(330, 35, spread=3, lots=4),
    "XOM": _profile(115, 24, spread=1, lots=8),
    "JNJ": _profile(200, 16, lots=5),
    "WMT": _profile(105, 18, spread=1, lots=10),
    "PG": _profile(150, 15, lots=5),
    "MA": _profile(560, 21, spread=4, lots=3),
    "HD": _profile(350, 22, spread=3, lots=3),
    "KO": _profile(70, 14, spread=1, lots=10),
    "PEP": _profile(150, 17, lots=5),
    "SPY": _profile(670, 15, spread=1, lots=20),
}
"""Roughly the late-2025 prices and volatilities of the default universe."""

FALLBACK_PROFILE = _profile(100, 30)
"""For symbols without a profile of their own."""


class _State:
    __slots__ = ("bid_ticks", "instrument", "profile", "round_lot", "step_volatility")

    def __init__(self, instrument: Instrument, profile: SymbolProfile, step_fraction: float):
        self.instrument = instrument
        self.profile = profile
        self.bid_ticks = max(1, profile.start_price // instrument.tick_size)
        self.round_lot = 100 * 10**instrument.qty_scale
        # One step's standard deviation, relative to the price: σ × √(step / year).
        self.step_volatility = profile.volatility_bps / 10_000 * math.sqrt(step_fraction)


class SyntheticMarket:
    """Generate reproducible price updates for ``instruments``, one symbol per call."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        seed: int,
        seconds_per_update: float,
        profiles: Mapping[str, SymbolProfile] = DEFAULT_PROFILES,
    ) -> None:
        if not instruments:
            raise ValueError("the synthetic market needs at least one instrument")
        if seconds_per_update <= 0:
            raise ValueError("seconds_per_update must be positive")
        step_fraction = seconds_per_update * len(instruments) / TRADING_SECONDS_PER_YEAR
        self._random = random.Random(seed)
        self._states = [
            _State(item, profiles.get(item.symbol, FALLBACK_PROFILE), step_fraction)
            for item in instruments
        ]
        self._turn = 0

    def next(self, now: datetime) -> PriceUpdate:
        """Move the next symbol's market one step and return its update, stamped ``now``."""
        state = self._states[self._turn]
        self._turn = (self._turn + 1) % len(self._states)
        rng = self._random
        sigma_ticks = state.bid_ticks * state.step_volatility
        state.bid_ticks = max(1, state.bid_ticks + round(rng.gauss(0.0, sigma_ticks)))
        tick = state.instrument.tick_size
        lots, lot = state.profile.round_lots, state.round_lot
        bid = state.bid_ticks * tick
        ask = bid + rng.randint(1, state.profile.max_spread_ticks) * tick
        return make_update(
            symbol=state.instrument.symbol,
            timestamp=now,
            source=SOURCE,
            bid=bid,
            ask=ask,
            bid_size=rng.randint(1, lots) * lot,
            ask_size=rng.randint(1, lots) * lot,
            last=ask if rng.random() < 0.5 else bid,
            volume=rng.randint(1, lots) * lot,
        )
