"""Public shapes of market data (API.md): decimal strings, RFC 3339 UTC times."""

from __future__ import annotations

from agora.core.events import JsonValue
from agora.core.money import PRICE_SCALE, format_units
from agora.marketdata.records import Candle, PriceUpdate, rfc3339


def _price(units: int | None) -> str | None:
    return None if units is None else format_units(units, PRICE_SCALE)


def price_payload(update: PriceUpdate) -> dict[str, JsonValue]:
    """Return ``{symbol, bid, ask, last, timestamp}`` (quotes endpoint and SSE price events)."""
    return {
        "symbol": update.symbol,
        "bid": _price(update.bid),
        "ask": _price(update.ask),
        "last": _price(update.last),
        "timestamp": rfc3339(update.timestamp),
    }


def candle_payload(candle: Candle, qty_scale: int = 0) -> dict[str, JsonValue]:
    """Return ``{start, open, high, low, close, volume}`` for the candles endpoint."""
    return {
        "start": rfc3339(candle.start),
        "open": format_units(candle.open, PRICE_SCALE),
        "high": format_units(candle.high, PRICE_SCALE),
        "low": format_units(candle.low, PRICE_SCALE),
        "close": format_units(candle.close, PRICE_SCALE),
        "volume": format_units(candle.volume, qty_scale),
    }
