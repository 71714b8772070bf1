"""Ports market data owns: where candles are kept, and what a feed is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from agora.core.errors import AgoraError
from agora.marketdata.records import Candle, Interval, PriceUpdate


class FeedUnavailableError(AgoraError):
    """Raise when a live feed cannot connect or subscribe."""

    code = "feed_unavailable"


class CandleStore(Protocol):
    """Durable candles, one per (symbol, interval, start); a newer write replaces an older one."""

    async def upsert(self, candles: Sequence[Candle]) -> None:
        """Write ``candles`` in one transaction, replacing any with the same key."""
        ...

    async def query(
        self,
        symbol: str,
        interval: Interval,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Return ``symbol``'s candles with ``start <= candle.start < end``, oldest first.

        With ``limit``, only the newest ``limit`` of them (page back with ``end``).
        """
        ...

    async def load_from(self, interval: Interval, start: datetime) -> list[Candle]:
        """Return every symbol's candles of ``interval`` starting at or after ``start``."""
        ...

    async def close(self) -> None:
        """Release the store's resources."""
        ...


class Feed(Protocol):
    """A source of normalized price updates (synthetic, file replay, a live vendor)."""

    def updates(self) -> AsyncIterator[PriceUpdate]:
        """Yield updates until the feed ends or the consumer stops iterating."""
        ...


class LiveFeedAdapter(Feed, Protocol):
    """A live vendor's feed, as an adapter under ``agora.marketdata`` would wrap it.

    The adapter owns the vendor connection and its protocol; it yields only ``PriceUpdate``
    records built with ``normalize.make_update`` (prices exact at PRICE_SCALE, never floats;
    UTC timestamps from the vendor's event time; ``source`` the vendor's name). It reconnects
    with backoff on its own and resubscribes; while disconnected it yields nothing, so prices go
    stale and the risk rules fail closed. A bad message is logged and skipped, never raised
    into ``updates``. Vendor and network errors become ``FeedUnavailableError`` at this edge.
    """

    async def connect(self) -> None:
        """Open the vendor connection, or raise FeedUnavailableError."""
        ...

    async def subscribe(self, symbols: Sequence[str]) -> None:
        """Ask for quotes and trades of ``symbols`` (in addition to any already subscribed)."""
        ...

    async def close(self) -> None:
        """Close the connection; ``updates`` then ends."""
        ...
