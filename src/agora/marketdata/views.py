"""Public shapes of market data (API.md): decimal strings, RFC 3339 UTC times."""

from __future__ import annotations

from agora.core.events import JsonValue
from agora.core.money import PRICE_SCALE, format_units
from agora.marketdata.records import Candle, PriceUpdate, rfc3339

_ONE = 10**PRICE_SCALE
_MAX_PRICE_TEXTS = 20_000  # about 2 MiB; when full it starts again from the current prices
_price_texts: dict[int, str] = {}  # a feed's prices stay near its last ones: most are here


def _price(units: int) -> str:
    """Return ``format_units(units, PRICE_SCALE)``, remembering it."""
    text = _price_texts.get(units)
    if text is None:
        if units < _ONE:
            text = format_units(units, PRICE_SCALE)
        else:
            digits = str(units)
            text = f"{digits[:-PRICE_SCALE]}.{digits[-PRICE_SCALE:]}"
        if len(_price_texts) >= _MAX_PRICE_TEXTS:
            _price_texts.clear()
        _price_texts[units] = text
    return text


def price_payload(update: PriceUpdate) -> dict[str, JsonValue]:
    """Return ``{symbol, bid, ask, last, timestamp}`` (quotes endpoint and SSE price events).

    It runs for every update the SSE broadcaster publishes, so price texts are remembered and
    the timestamp reuses the text of its second (``records.rfc3339``).
    """
    texts = _price_texts
    bid, ask, last = update.bid, update.ask, update.last
    return {
        "symbol": update.symbol,
        "bid": None if bid is None else texts.get(bid) or _price(bid),
        "ask": None if ask is None else texts.get(ask) or _price(ask),
        "last": None if last is None else texts.get(last) or _price(last),
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
