"""Kill -9 against a real server: nothing acknowledged is lost, and the ledger still verifies.

Several clients place orders (market buys that fill, limit buys that rest, a few cancels) as fast
as the server takes them; the server is killed with SIGKILL while requests are in flight. On a
restart on the same data folder every order that had been answered 202 is there, as it was placed
and in a legal status; positions equal the sum of the fills; the credentials still work; and once
the server is stopped, ``agora ledger verify`` exits 0. Orders the crash left resting are still
live: canceling them all frees every cent they held.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import aiohttp

from tests.live.conftest import (
    AgoraServer,
    Trader,
    agora_command,
    call,
    client_session,
    eventually,
    server_environment,
)

STATUSES = {
    "pending_new", "accepted", "new", "partially_filled", "filled", "pending_cancel",
    "canceled", "pending_replace", "replaced", "rejected", "expired",
}  # fmt: skip
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM")
CLIENTS = 4
ACKED_BEFORE_KILL = 40
PLACED_FIELDS = ("symbol", "side", "type", "qty", "limit_price", "client_order_id", "account_id")


async def place_until_refused(
    http: aiohttp.ClientSession, trader: Trader, client: int, acked: dict[str, dict[str, Any]]
) -> None:
    """Place orders one after another until the server stops answering; record every 202."""
    for n in range(10_000):
        symbol = SYMBOLS[(client + n) % len(SYMBOLS)]
        body: dict[str, str] = {
            "symbol": symbol, "side": "buy", "qty": str(1 + n % 3), "type": "market",
            "time_in_force": "day", "client_order_id": f"crash-{client}-{n}",
        }  # fmt: skip
        try:
            if n % 2:
                quote = await call(http, "GET", f"/api/v1/quotes/{symbol}", trader)
                limit = Decimal(quote["bid"]) * Decimal("0.95")
                body |= {"type": "limit", "time_in_force": "gtc"}
                body["limit_price"] = str(limit.quantize(Decimal("0.01"), ROUND_DOWN))
            async with http.post("/api/v1/orders", json=body, headers=trader.headers) as answer:
                if answer.status == 202:
                    placed = await answer.json()
                    acked[placed["order_id"]] = placed
                    if n % 5 == 3:
                        path = f"/api/v1/orders/{placed['order_id']}"
                        async with http.delete(path, headers=trader.headers) as canceled:
                            assert canceled.status in (202, 422), await canceled.text()
                else:
                    assert answer.status == 422, await answer.text()  # a risk denial (throttle)
        except (aiohttp.ClientError, TimeoutError):
            return  # the server is gone: what was in flight was never acknowledged


async def test_kill_9_loses_no_acknowledged_order_and_the_ledger_verifies(
    spawn: Callable[[Path], AgoraServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn(data)
    server.start()
    credentials = server.credentials
    demo = server.demo
    acked: dict[str, dict[str, Any]] = {}
    async with client_session(server) as http:
        clients = [
            asyncio.create_task(place_until_refused(http, demo, client, acked))
            for client in range(CLIENTS)
        ]

        async def enough() -> bool | None:
            assert not any(task.done() for task in clients), "a client stopped early"
            return True if len(acked) >= ACKED_BEFORE_KILL else None

        try:
            await eventually(enough, f"{ACKED_BEFORE_KILL} acknowledged orders", within_seconds=30)
            server.kill()
        finally:
            done = await asyncio.gather(*clients, return_exceptions=True)
        assert [r for r in done if r is not None] == []

    server.start()
    assert server.credentials == credentials
    async with client_session(server) as http:
        for order_id, placed in acked.items():
            found = await call(http, "GET", f"/api/v1/orders/{order_id}", demo)
            assert found["status"] in STATUSES, found
            assert {f: found[f] for f in PLACED_FIELDS} == {f: placed[f] for f in PLACED_FIELDS}
            assert Decimal(found["filled_qty"]) <= Decimal(found["qty"])
        await positions_are_the_sum_of_fills(http, demo)
        await open_orders_still_cancel_and_free_their_cash(http, demo)
        verified = await call(http, "GET", "/api/v1/admin/ledger/verify", server.admin)
        assert verified["ok"], verified
    assert server.stop() == 0, server.logs()

    verify = await asyncio.create_subprocess_exec(
        *agora_command("ledger", "verify", "--data-dir", str(data)),
        env=server_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            printed = (await verify.communicate())[0].decode()
    finally:
        if verify.returncode is None:
            verify.kill()
            await verify.wait()
    assert verify.returncode == 0, printed
    assert "ledger verifies" in printed


async def positions_are_the_sum_of_fills(http: aiohttp.ClientSession, trader: Trader) -> None:
    """Wait until the position projector has caught up with the fills, then they agree."""
    seen: list[object] = []

    async def agree() -> bool | None:
        fills = await call(http, "GET", "/api/v1/fills?limit=500", trader)
        assert len(fills) < 500, "more fills than one page"
        expected: dict[str, Decimal] = defaultdict(Decimal)
        for fill in fills:
            expected[fill["symbol"]] += Decimal(fill["qty"]) * (1 if fill["side"] == "buy" else -1)
        positions = await call(http, "GET", "/api/v1/positions", trader)
        shown = {p["symbol"]: Decimal(p["qty"]) for p in positions}
        seen[:] = [shown, dict(expected)]
        return True if shown == {s: q for s, q in expected.items() if q} else None

    try:
        await eventually(agree, "positions equal to the sum of the fills")
    except AssertionError:
        raise AssertionError(f"positions {seen[0]} but fills sum to {seen[1]}") from None


async def open_orders_still_cancel_and_free_their_cash(
    http: aiohttp.ClientSession, trader: Trader
) -> None:
    """Orders left resting by the crash are live at the venue: canceling them frees every hold."""
    await call(http, "DELETE", "/api/v1/orders", trader, expect=202)

    async def all_closed() -> dict[str, Any] | None:
        if await call(http, "GET", "/api/v1/orders?status=open", trader):
            return None
        shown: dict[str, Any] = await call(http, "GET", "/api/v1/account", trader)
        return shown

    shown = await eventually(all_closed, "every open order canceled")
    assert (shown["cash_held"], shown["buying_power"]) == ("0.00", shown["cash"])
