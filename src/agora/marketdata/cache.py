"""The last-price cache: the newest price per symbol with the time it was observed.

A price's age is ``now - as_of``. The risk engine's ``price_freshness`` rule judges staleness from
``quote(symbol).as_of`` with each account's ``price_max_age_ms``; ``is_stale`` applies the cache's
own bound (``max_age``) for everything else: the quotes endpoint, the dashboard, health checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import msgspec

from agora.marketdata.records import PriceUpdate
from agora.risk import PriceQuote

DEFAULT_MAX_AGE = timedelta(seconds=5)
"""Matches the default ``RiskLimits.price_max_age_ms``."""


class LastPriceCache:
    """Keeps the last price of each symbol; the risk rules judge its age."""

    def __init__(self, *, max_age: timedelta = DEFAULT_MAX_AGE) -> None:
        if max_age < timedelta(0):
            raise ValueError("max_age must not be negative")
        self.max_age = max_age
        self._quotes: dict[str, PriceQuote] = {}
        self._latest: dict[str, PriceUpdate] = {}

    def update(self, symbol: str, price: int, as_of: datetime) -> None:
        """Record a price unless a newer one is already known."""
        current = self._quotes.get(symbol)
        if current is None or current.as_of <= as_of:
            self._quotes[symbol] = PriceQuote(price=price, as_of=as_of)

    def on_price(self, update: PriceUpdate) -> None:
        """Record a feed update (a hub observer): its last price, or its mid for a pure quote."""
        self.on_prices((update,))

    def on_prices(self, updates: Iterable[PriceUpdate]) -> None:
        """Record feed updates in order (a hub batch observer), as ``on_price`` does each."""
        quotes, latest = self._quotes, self._latest
        for update in updates:
            symbol, at, price = update.symbol, update.timestamp, update.last
            if price is None and update.bid is not None and update.ask is not None:
                price = (update.bid + update.ask) // 2
            if price is not None:
                current = quotes.get(symbol)
                if current is None or current.as_of <= at:
                    quotes[symbol] = PriceQuote(price=price, as_of=at)
            newest = latest.get(symbol)
            if newest is None:
                latest[symbol] = update
            elif newest.timestamp <= at:
                complete = update.bid is not None and update.last is not None
                latest[symbol] = update if complete else _merged(update, newest)

    def quote(self, symbol: str) -> PriceQuote | None:
        """Return the last price of ``symbol``, or None."""
        return self._quotes.get(symbol)

    def latest(self, symbol: str) -> PriceUpdate | None:
        """Return the newest bid, ask and last seen for ``symbol`` in one record, or None."""
        return self._latest.get(symbol)

    def age(self, symbol: str, now: datetime) -> timedelta | None:
        """Return how old ``symbol``'s last price is at ``now`` (never negative), or None."""
        quote = self._quotes.get(symbol)
        if quote is None:
            return None
        return max(now - quote.as_of, timedelta(0))

    def is_stale(self, symbol: str, now: datetime) -> bool:
        """Tell whether ``symbol`` has no price, or one older than ``max_age`` at ``now``."""
        age = self.age(symbol, now)
        return age is None or age > self.max_age

    def forget(self, symbol: str) -> None:
        """Drop a symbol's price (a feed outage, in tests)."""
        self._quotes.pop(symbol, None)
        self._latest.pop(symbol, None)


def _merged(update: PriceUpdate, current: PriceUpdate) -> PriceUpdate:
    """Return ``update`` with ``current``'s quote or last price where it has none."""
    merged = update
    if update.bid is None:
        merged = msgspec.structs.replace(
            merged,
            bid=current.bid,
            ask=current.ask,
            bid_size=current.bid_size,
            ask_size=current.ask_size,
        )
    if update.last is None:
        merged = msgspec.structs.replace(merged, last=current.last)
    return merged
