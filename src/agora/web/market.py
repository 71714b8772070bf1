"""Market data as the web tier shows it: quotes from the cache, candles, the market clock."""

from __future__ import annotations

from datetime import UTC, datetime

from agora.core.clock import Clock
from agora.core.errors import ValidationError
from agora.core.events import JsonValue
from agora.core.instruments import InstrumentRegistry
from agora.marketdata.cache import LastPriceCache
from agora.marketdata.recorder import CandleRecorder
from agora.marketdata.records import parse_interval
from agora.marketdata.trading_calendar import TradingCalendar, clock_payload
from agora.marketdata.views import candle_payload, price_payload


class MarketView:
    """Answer the market endpoints from the running market-data services."""

    def __init__(
        self,
        *,
        prices: LastPriceCache,
        recorder: CandleRecorder,
        calendar: TradingCalendar,
        clock: Clock,
        instruments: InstrumentRegistry,
    ) -> None:
        self._prices = prices
        self._recorder = recorder
        self._calendar = calendar
        self._clock = clock
        self._instruments = instruments

    def quote(self, symbol: str) -> dict[str, JsonValue] | None:
        """The last update of ``symbol`` as ``{symbol, bid, ask, last, timestamp}``."""
        latest = self._prices.latest(symbol)
        return None if latest is None else price_payload(latest)

    async def candles(
        self, symbol: str, interval: str, start: str | None, end: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        """Candles from the store and the aggregator, oldest first."""
        found = await self._recorder.query(
            symbol,
            parse_interval(interval),
            start=_moment(start, "start"),
            end=_moment(end, "end"),
            limit=limit,
        )
        qty_scale = self._instruments.get(symbol).qty_scale
        return [candle_payload(candle, qty_scale) for candle in found]

    def clock(self) -> dict[str, JsonValue]:
        """Whether the market is open now, and its next open and close."""
        return clock_payload(self._calendar, self._clock.now())


def _moment(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field} must be an RFC 3339 time", code="invalid_time") from None
    if moment.tzinfo is None:
        raise ValidationError(f"{field} must carry a UTC offset", code="invalid_time")
    return moment.astimezone(UTC)
