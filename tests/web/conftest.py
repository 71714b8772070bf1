"""An API on the in-memory platform, driven in process through httpx's ASGI transport.

Streams are tested against a real uvicorn elsewhere (httpx's ASGI transport buffers whole
responses, so an endless SSE stream would never yield).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest

from agora.bootstrap import Platform, build_in_memory
from agora.config import Settings
from agora.core.clock import ManualClock
from agora.core.events import JsonValue
from agora.core.money import PRICE_SCALE, format_units
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import Deposit
from agora.risk import RiskLimits
from agora.web.app import create_app
from agora.web.auth import Role
from agora.web.compose import PlatformParts, make_context
from agora.web.context import WebContext, WebSettings
from agora.web.routes.admin import create_user

LIMITS = RiskLimits(
    max_order_qty=1_000, max_concentration_bps=1_000_000, price_max_age_ms=3_600_000
)


class PricesOnly:
    """Market data from the last-price cache alone: no candles, the market always open."""

    def __init__(self, prices: LastPriceCache, clock: ManualClock) -> None:
        self._prices = prices
        self._clock = clock

    def quote(self, symbol: str) -> dict[str, JsonValue] | None:
        found = self._prices.quote(symbol)
        if found is None:
            return None
        price = format_units(found.price, PRICE_SCALE)
        return {
            "symbol": symbol,
            "bid": price,
            "ask": price,
            "last": price,
            "timestamp": found.as_of.isoformat(),
        }

    async def candles(
        self, symbol: str, interval: str, start: str | None, end: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        return []

    def clock(self) -> dict[str, JsonValue]:
        now = self._clock.now().isoformat()
        return {"timestamp": now, "is_open": True, "next_open": None, "next_close": None}


@dataclass
class Api:
    platform: Platform
    context: WebContext
    client: httpx.AsyncClient
    trader: dict[str, str]
    other: dict[str, str]
    admin: dict[str, str]
    trader_account: str


async def make_api(rate_limit: int = 1_000) -> tuple[Api, Platform]:
    clock = ManualClock()
    prices = LastPriceCache()
    prices.update("AAPL", 2_000_000, clock.now())
    prices.update("MSFT", 4_000_000, clock.now())
    platform = await build_in_memory(replace(Settings(), risk=LIMITS), clock=clock, prices=prices)
    parts = PlatformParts(
        orders=platform.orders,
        store=platform.store,  # type: ignore[arg-type]
        prices=prices,
        instruments=platform.instruments,
        controls=platform.controls,
        clock=clock,
        ids=platform.ids,
        metrics=platform.metrics,
    )
    context = make_context(
        parts, PricesOnly(prices, clock), WebSettings(rate_limit_per_second=rate_limit)
    )
    trader, trader_token = await create_user(context, "trader", Role.TRADER)
    assert trader.account_id is not None
    await platform.orders.execute(
        Deposit(account_id=trader.account_id, transfer_id="seed", amount=10_000_000)
    )
    _, other_token = await create_user(context, "other", Role.TRADER)
    _, admin_token = await create_user(context, "admin", Role.ADMIN)
    transport = httpx.ASGITransport(app=create_app(context))
    client = httpx.AsyncClient(transport=transport, base_url="http://agora.test")
    api = Api(
        platform=platform,
        context=context,
        client=client,
        trader={"Authorization": f"Bearer {trader_token}"},
        other={"Authorization": f"Bearer {other_token}"},
        admin={"Authorization": f"Bearer {admin_token}"},
        trader_account=trader.account_id,
    )
    return api, platform


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    made, platform = await make_api()
    yield made
    await made.client.aclose()
    await platform.close()
