"""What the routes share: the services of one process, built by bootstrap, read by the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from agora.bus.ports import AccountOutbox, CheckpointStore, DocumentSource
from agora.core.clock import Clock
from agora.core.events import JsonValue
from agora.core.ids import IdFactory
from agora.core.instruments import InstrumentRegistry
from agora.marketdata.cache import LastPriceCache
from agora.observability import Metrics
from agora.orders.lanes import OrderService
from agora.orders.model import Order
from agora.orders.ports import OrderReads, PlatformControls
from agora.storage.ports import DocumentStore, LedgerRecordsSource
from agora.web.auth import Users
from agora.web.idempotency import Idempotency
from agora.web.ratelimit import SlidingWindowLimiter
from agora.web.streams import OrderStream, PriceStream


class ReadStore(
    OrderReads,
    DocumentSource,
    DocumentStore,
    LedgerRecordsSource,
    AccountOutbox,
    CheckpointStore,
    Protocol,
):
    """Everything the web tier reads from the system of record."""

    async def get_order(self, order_id: str) -> Order | None:
        """Read one order (any status), or None."""
        ...


class MarketData(Protocol):
    """What the web tier asks of market data: quotes, candles and the clock."""

    def quote(self, symbol: str) -> dict[str, JsonValue] | None:
        """The last quote of ``symbol`` in the API's shape, or None."""
        ...

    async def candles(
        self, symbol: str, interval: str, start: str | None, end: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        """Candles in the API's shape, oldest first."""
        ...

    def clock(self) -> dict[str, JsonValue]:
        """The market clock in the API's shape."""
        ...


@dataclass(slots=True)
class WebSettings:
    """Web-tier knobs (from ``agora serve`` options)."""

    rate_limit_per_second: int = 50
    paper_deposits: bool = True
    max_page: int = 500
    heartbeat_seconds: float = 15.0


@dataclass(slots=True)
class WebContext:
    """The services the routes use."""

    orders: OrderService
    store: ReadStore
    prices: LastPriceCache
    instruments: InstrumentRegistry
    controls: PlatformControls
    clock: Clock
    ids: IdFactory
    users: Users
    idempotency: Idempotency
    limiter: SlidingWindowLimiter
    order_stream: OrderStream
    price_stream: PriceStream
    market: MarketData
    settings: WebSettings = field(default_factory=WebSettings)
    metrics: Metrics = field(default_factory=Metrics)
