"""Build the web tier's context around a running platform (used by bootstrap and tests)."""

from __future__ import annotations

from dataclasses import dataclass

from agora.core.clock import Clock
from agora.core.ids import IdFactory
from agora.core.instruments import InstrumentRegistry
from agora.marketdata.cache import LastPriceCache
from agora.observability import Metrics
from agora.orders.lanes import OrderService
from agora.orders.ports import PlatformControls
from agora.web.auth import Users
from agora.web.context import MarketData, ReadStore, WebContext, WebSettings
from agora.web.idempotency import Idempotency
from agora.web.ratelimit import SlidingWindowLimiter
from agora.web.streams import OrderStream, PriceStream


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformParts:
    """The running platform's services the web tier uses."""

    orders: OrderService
    store: ReadStore
    prices: LastPriceCache
    instruments: InstrumentRegistry
    controls: PlatformControls
    clock: Clock
    ids: IdFactory
    metrics: Metrics


def make_context(parts: PlatformParts, market: MarketData, settings: WebSettings) -> WebContext:
    """Assemble a WebContext; the order stream is told of every lane commit."""
    order_stream = OrderStream(parts.store, observe_fill=parts.metrics.fill_seconds.observe)
    parts.orders.on_commit(order_stream.notify)
    return WebContext(
        orders=parts.orders,
        store=parts.store,
        prices=parts.prices,
        instruments=parts.instruments,
        controls=parts.controls,
        clock=parts.clock,
        ids=parts.ids,
        users=Users(parts.store),
        idempotency=Idempotency(parts.store),
        limiter=SlidingWindowLimiter(settings.rate_limit_per_second),
        order_stream=order_stream,
        price_stream=PriceStream(market.quote),
        market=market,
        settings=settings,
        metrics=parts.metrics,
    )
