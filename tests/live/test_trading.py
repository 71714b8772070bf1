"""End to end against a real server: money moves exactly as the fills and fees say, to the cent.

The demo trader (funded 100,000.00 by the first start) deposits, buys at market, sells it all,
and parks a limit order far from the market that it then cancels. The order stream is read over
a real socket while this happens; cash, positions and realized P&L are recomputed here from the
fills alone and must match what the server shows, exactly.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

import aiohttp

from tests.live.conftest import (
    AgoraServer,
    SseStream,
    Trader,
    call,
    eventually,
    is_status,
    metrics,
    open_stream,
    order_events_of,
    place,
)

CENT = Decimal("0.01")
SYMBOL = "AAPL"
DEPOSIT = Decimal("2500.55")
BOUGHT = 7


def cents(value: Decimal) -> Decimal:
    """``value`` in dollars, rounded to the cent half-even as the ledger rounds."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


async def account(http: aiohttp.ClientSession, trader: Trader) -> dict[str, Any]:
    found: dict[str, Any] = await call(http, "GET", "/api/v1/account", trader)
    return found


async def fills_of(
    http: aiohttp.ClientSession, trader: Trader, order_id: str
) -> list[dict[str, Any]]:
    fills = await call(http, "GET", f"/api/v1/fills?symbol={SYMBOL}&limit=500", trader)
    return [fill for fill in fills if fill["order_id"] == order_id]


async def market_order_filled(
    http: aiohttp.ClientSession, stream: SseStream, trader: Trader, side: str, client_id: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Place a market order; return its fills and the statuses the stream showed for it."""
    order = await place(
        http, trader, symbol=SYMBOL, side=side, qty=str(BOUGHT), type="market",
        time_in_force="day", client_order_id=client_id,
    )  # fmt: skip
    assert order["status"] == "pending_new"
    seen = await stream.until(is_status(order["order_id"], "filled", "canceled", "rejected"))
    events = order_events_of(seen, order["order_id"])
    statuses = [event.order["status"] for event in events]
    assert statuses[0] == "pending_new", statuses
    assert statuses[-1] == "filled", (statuses, events[-1].order)
    streamed = [event.data["fill"] for event in events if "fill" in event.data]
    fills = await fills_of(http, trader, order["order_id"])
    assert sorted(f["fill_id"] for f in fills) == sorted(f["fill_id"] for f in streamed)
    assert sum(Decimal(f["qty"]) for f in fills) == BOUGHT
    assert events[-1].order["filled_qty"] == str(BOUGHT)
    return fills, statuses


def notional(fills: list[dict[str, Any]]) -> Decimal:
    """Σ qty × price of the fills, unrounded."""
    return sum((Decimal(f["qty"]) * Decimal(f["price"]) for f in fills), Decimal(0))


def cash_change(fills: list[dict[str, Any]], side: str) -> Decimal:
    """What the fills did to cash: each fill's value to the cent, minus its fee."""
    sign = -1 if side == "buy" else 1
    return sum(
        (sign * cents(Decimal(f["qty"]) * Decimal(f["price"])) - Decimal(f["fee"]) for f in fills),
        Decimal(0),
    )


async def test_deposit_buy_sell_and_cancel_settle_exactly_to_the_cent(
    server: AgoraServer, http: aiohttp.ClientSession
) -> None:
    demo = server.demo
    start = await account(http, demo)
    assert (start["cash"], start["buying_power"], start["realized_pl"]) == (
        "100000.00", "100000.00", "0.00",
    )  # fmt: skip
    async with open_stream(http, "/api/v1/stream/orders", demo) as stream:
        deposited = await call(
            http, "POST", "/api/v1/account/deposits", demo, {"amount": str(DEPOSIT)}, expect=201
        )
        cash = Decimal("100000.00") + DEPOSIT
        assert (deposited["amount"], deposited["cash"]) == (str(DEPOSIT), str(cash))

        bought, _ = await market_order_filled(http, stream, demo, "buy", "live-e2e-buy")
        cash += cash_change(bought, "buy")
        after_buy = await account(http, demo)
        assert (after_buy["cash"], after_buy["buying_power"]) == (str(cash), str(cash))
        assert after_buy["cash_held"] == "0.00"

        async def position() -> dict[str, Any] | None:
            found: list[dict[str, Any]] = await call(http, "GET", "/api/v1/positions", demo)
            return next((p for p in found if p["symbol"] == SYMBOL), None)

        held = await eventually(position, "the position after the buy")
        cost = notional(bought)
        assert held["qty"] == str(BOUGHT)
        assert held["cost_basis"] == str(cents(cost))
        assert held["avg_entry_price"] == str(
            (cost / BOUGHT).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
        )
        assert held["realized_pl"] == "0.00"

        sold, _ = await market_order_filled(http, stream, demo, "sell", "live-e2e-sell")
        cash += cash_change(sold, "sell")
        realized = cents(notional(sold) - cost)  # the whole position closed: its whole cost goes

        async def flat() -> dict[str, Any] | None:
            if await position() is not None:
                return None
            shown = await account(http, demo)
            return shown if shown["realized_pl"] == str(realized) else None

        after_sell = await eventually(flat, f"a flat position with realized P&L {realized}")
        assert (after_sell["cash"], after_sell["buying_power"]) == (str(cash), str(cash))
        assert after_sell["realized_pl"] == str(realized)
        gone = await call(http, "GET", f"/api/v1/positions/{SYMBOL}", demo, expect=404)
        assert gone["code"] == "position_not_found"

        await a_canceled_limit_order_gives_back_exactly_what_it_held(http, stream, demo)
    # The fills reached the order stream's follower, which times them for /metrics.
    measured = await metrics(http)
    assert measured["agora_fill_latency_seconds_count"] >= 2


async def a_canceled_limit_order_gives_back_exactly_what_it_held(
    http: aiohttp.ClientSession, stream: SseStream, demo: Trader
) -> None:
    before = await account(http, demo)
    quote = await call(http, "GET", f"/api/v1/quotes/{SYMBOL}", demo)
    limit = (Decimal(quote["bid"]) * Decimal("0.95")).quantize(CENT, rounding=ROUND_DOWN)
    qty = 10
    order = await place(
        http, demo, symbol=SYMBOL, side="buy", qty=str(qty), type="limit",
        limit_price=str(limit), client_order_id="live-e2e-rest",
    )  # fmt: skip
    await stream.until(is_status(order["order_id"], "new"))
    resting = await account(http, demo)
    held = qty * limit
    assert resting["cash"] == before["cash"]
    assert resting["cash_held"] == str(held)
    assert Decimal(resting["buying_power"]) == Decimal(before["buying_power"]) - held

    canceling = await call(http, "DELETE", f"/api/v1/orders/{order['order_id']}", demo, expect=202)
    assert canceling["status"] in ("pending_cancel", "canceled")
    await stream.until(is_status(order["order_id"], "canceled"))
    after = await account(http, demo)
    assert (after["cash"], after["buying_power"], after["cash_held"]) == (
        before["cash"], before["buying_power"], "0.00",
    )  # fmt: skip
    final = await call(http, "GET", f"/api/v1/orders/{order['order_id']}", demo)
    assert (final["status"], final["filled_qty"]) == ("canceled", "0")
