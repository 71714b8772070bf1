"""The last-price cache: the newest price per symbol with the time it was observed."""

from __future__ import annotations

from datetime import datetime

from agora.risk import PriceQuote


class LastPriceCache:
    """Keeps the last price of each symbol; the risk rules judge its age."""

    def __init__(self) -> None:
        self._quotes: dict[str, PriceQuote] = {}

    def update(self, symbol: str, price: int, as_of: datetime) -> None:
        """Record a price unless a newer one is already known."""
        current = self._quotes.get(symbol)
        if current is None or current.as_of <= as_of:
            self._quotes[symbol] = PriceQuote(price=price, as_of=as_of)

    def quote(self, symbol: str) -> PriceQuote | None:
        """Return the last price of ``symbol``, or None."""
        return self._quotes.get(symbol)

    def forget(self, symbol: str) -> None:
        """Drop a symbol's price (a feed outage, in tests)."""
        self._quotes.pop(symbol, None)
