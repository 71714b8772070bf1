"""BOLA against a real server: a second trader armed with the first one's ids gets nothing.

Trader A has a resting order, a filled one and a position; trader B (made by the admin) tries each
of A's order ids and client order ids on every trader endpoint that takes one, lists and streams
its own things, and tries the admin endpoints. Every id-taking request must answer 404 (never 403,
never A's data), the lists and streams must show nothing of A's, and A's orders must be unchanged.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import aiohttp

from tests.live.conftest import (
    AgoraServer,
    Trader,
    call,
    is_status,
    new_trader,
    open_stream,
    place,
)

SYMBOL = "MSFT"


async def a_trader_with_orders(
    http: aiohttp.ClientSession, server: AgoraServer
) -> tuple[Trader, list[dict[str, Any]]]:
    """Trader A with a resting limit buy and a filled market buy (both with client ids)."""
    victim = await new_trader(http, server, "bola-victim")
    async with open_stream(http, "/api/v1/stream/orders", victim) as stream:
        quote = await call(http, "GET", f"/api/v1/quotes/{SYMBOL}", victim)
        limit = (Decimal(quote["bid"]) * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
        resting = await place(
            http, victim, symbol=SYMBOL, side="buy", qty="3", type="limit",
            limit_price=str(limit), client_order_id="bola-resting",
        )  # fmt: skip
        filled = await place(
            http, victim, symbol=SYMBOL, side="buy", qty="2", type="market",
            time_in_force="day", client_order_id="bola-filled",
        )  # fmt: skip
        await stream.until(is_status(resting["order_id"], "new"))
        await stream.until(is_status(filled["order_id"], "filled"))
    orders = [
        await call(http, "GET", f"/api/v1/orders/{o['order_id']}", victim)
        for o in (resting, filled)
    ]
    return victim, orders


async def test_another_traders_ids_and_streams_give_nothing_away(
    server: AgoraServer, http: aiohttp.ClientSession
) -> None:
    victim, orders = await a_trader_with_orders(http, server)
    intruder = await new_trader(http, server, "bola-intruder")
    async with (
        open_stream(http, "/api/v1/stream/orders", intruder, last_event_id=0) as replayed,
        open_stream(http, "/api/v1/stream/orders", intruder) as live,
    ):
        attempts = []
        for order in orders:
            order_id, client_id = order["order_id"], order["client_order_id"]
            attempts += [
                ("GET", f"/api/v1/orders/{order_id}", None),
                ("GET", f"/api/v1/orders/by-client-id/{client_id}", None),
                ("PATCH", f"/api/v1/orders/{order_id}", {"qty": "1"}),
                ("PATCH", f"/api/v1/orders/{order_id}", {"limit_price": "1.00"}),
                ("DELETE", f"/api/v1/orders/{order_id}", None),
            ]
        answers = [await a_try(http, intruder, *attempt) for attempt in attempts]
        assert [status for status, _ in answers] == [404] * len(attempts), answers
        assert {body["code"] for _, body in answers} == {"order_not_found"}
        assert victim.account_id is not None
        leaked = [body for _, body in answers if victim.account_id in str(body)]
        assert leaked == []

        assert await call(http, "GET", "/api/v1/orders?status=all", intruder) == []
        assert await call(http, "DELETE", "/api/v1/orders", intruder, expect=202) == []
        assert await call(http, "GET", f"/api/v1/fills?symbol={SYMBOL}", intruder) == []
        assert await call(http, "GET", "/api/v1/positions", intruder) == []
        await call(http, "GET", f"/api/v1/positions/{SYMBOL}", intruder, expect=404)
        shown = await call(http, "GET", "/api/v1/account", intruder)
        assert shown["account_id"] == intruder.account_id

        # the same client order id is the intruder's own: it names the intruder's order only
        own = await place(
            http, intruder, symbol=SYMBOL, side="buy", qty="1", type="market",
            time_in_force="day", client_order_id="bola-resting",
        )  # fmt: skip
        found = await call(http, "GET", "/api/v1/orders/by-client-id/bola-resting", intruder)
        assert (found["order_id"], found["account_id"]) == (own["order_id"], intruder.account_id)

        # the intruder's own order is the marker: everything before it has been streamed
        for stream in (replayed, live):
            events = await stream.until(is_status(own["order_id"], "filled"))
            assert {e.order["account_id"] for e in events} == {intruder.account_id}
            assert {e.order["order_id"] for e in events} == {own["order_id"]}

    await admin_endpoints_refuse_a_trader(http, intruder, victim)
    for before in orders:
        after = await call(http, "GET", f"/api/v1/orders/{before['order_id']}", victim)
        assert after == before, "the intruder changed the victim's order"


async def a_try(
    http: aiohttp.ClientSession, who: Trader, method: str, path: str, body: object
) -> tuple[int, Any]:
    async with http.request(method, path, json=body, headers=who.headers) as response:
        return response.status, await response.json()


async def admin_endpoints_refuse_a_trader(
    http: aiohttp.ClientSession, intruder: Trader, victim: Trader
) -> None:
    account = victim.account_id
    attempts = [
        ("POST", f"/api/v1/admin/accounts/{account}/deposits", {"amount": "1000.00"}),
        ("PUT", f"/api/v1/admin/accounts/{account}/limits", {"max_order_qty": 1}),
        ("POST", "/api/v1/admin/trading-state", {"state": "halted", "account_id": account}),
        ("POST", "/api/v1/admin/users", {"name": "mallory", "role": "admin"}),
        ("GET", "/api/v1/admin/ledger/verify", None),
    ]
    answers = [await a_try(http, intruder, *attempt) for attempt in attempts]
    assert [status for status, _ in answers] == [403] * len(attempts), answers
    shown = await call(http, "GET", "/api/v1/account", victim)
    assert shown["trading_state"] == "active"
