"""SSE against a real server: a thousand price clients at once, and order-stream resume.

A thousand aiohttp clients in this process (a thousand sockets on each side, far below the 20,000
open files a process may have here) each follow two symbols; every one must get its snapshot and a
live update, and the server's gauges must count them while they are there and fall back to zero
when they leave. Resuming the order stream with ``Last-Event-ID`` must continue the ids exactly:
what the first connection read plus what the second one got is the account's whole stream, as
read again from id 0, with nothing repeated and nothing missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import aiohttp

from tests.live.conftest import (
    AgoraServer,
    SseEvent,
    SseStream,
    Trader,
    call,
    client_session,
    eventually,
    is_status,
    metrics,
    new_trader,
    open_stream,
    place,
)

PRICE_CLIENTS = 1_000
ORDER_CLIENTS = 20
SYMBOLS_EACH = 2
PRICES = "agora_sse_price_subscriptions"
ORDERS = "agora_sse_order_connections"


async def gauges(http: aiohttp.ClientSession) -> tuple[float, float]:
    shown = await metrics(http)
    return shown[PRICES], shown[ORDERS]


async def until_gauges(http: aiohttp.ClientSession, prices: int, orders: int) -> None:
    async def reached() -> bool | None:
        return True if await gauges(http) == (prices, orders) else None

    try:
        await eventually(reached, f"{PRICES}={prices} and {ORDERS}={orders}")
    except AssertionError:
        raise AssertionError(f"gauges stuck at {await gauges(http)}") from None


async def receive_prices(stream: SseStream, symbols: list[str]) -> list[SseEvent]:
    """A snapshot per symbol first, then at least one live update; only of ``symbols``."""
    received = [await stream.next(within_seconds=30) for _ in range(len(symbols) + 1)]
    assert {e.event for e in received} == {"price"}
    assert sorted(e.data["symbol"] for e in received[: len(symbols)]) == sorted(symbols)
    assert {e.data["symbol"] for e in received} <= set(symbols)
    return received


async def test_a_thousand_price_clients_all_receive_and_the_gauges_return_to_zero(
    server: AgoraServer, http: aiohttp.ClientSession
) -> None:
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert open_files > PRICE_CLIENTS + ORDER_CLIENTS + 100, f"only {open_files} open files"
    trader = await new_trader(http, server, "sse-crowd")
    listed = await call(http, "GET", "/api/v1/instruments", trader)
    universe = [instrument["symbol"] for instrument in listed]
    await until_gauges(http, 0, 0)
    size = len(universe)  # client i follows two different symbols; every pair gets used
    wanted = [
        sorted({universe[i % size], universe[(i + 1 + (i // size) % (size - 1)) % size]})
        for i in range(PRICE_CLIENTS)
    ]
    async with client_session(server, PRICE_CLIENTS + ORDER_CLIENTS) as crowd:
        async with contextlib.AsyncExitStack() as open_streams:

            async def connect(path: str) -> SseStream:
                return await open_streams.enter_async_context(open_stream(crowd, path, trader))

            prices = await asyncio.gather(
                *(connect(f"/api/v1/stream/prices?symbols={','.join(s)}") for s in wanted)
            )
            orders = await asyncio.gather(
                *(connect("/api/v1/stream/orders") for _ in range(ORDER_CLIENTS))
            )
            assert {len(s) for s in wanted} == {SYMBOLS_EACH}
            assert await gauges(http) == (PRICE_CLIENTS * SYMBOLS_EACH, ORDER_CLIENTS)

            received = await asyncio.gather(
                *(receive_prices(stream, s) for stream, s in zip(prices, wanted, strict=True))
            )
            assert len(received) == PRICE_CLIENTS
            assert all(len(r) == len(s) + 1 for r, s in zip(received, wanted, strict=True))

            marker = await a_resting_order(http, trader, "sse-crowd-marker")
            for stream in orders:
                events = await stream.until(is_status(marker["order_id"], "new"))
                assert {e.order["account_id"] for e in events} == {trader.account_id}
            await call(http, "DELETE", f"/api/v1/orders/{marker['order_id']}", trader, expect=202)
        await until_gauges(http, 0, 0)


async def a_resting_order(
    http: aiohttp.ClientSession, trader: Trader, client_id: str, qty: int = 1
) -> dict[str, Any]:
    """A limit buy 5% under the bid: it rests (``new``) until canceled."""
    quote = await call(http, "GET", "/api/v1/quotes/MSFT", trader)
    limit = (Decimal(quote["bid"]) * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
    return await place(
        http, trader, symbol="MSFT", side="buy", qty=str(qty), type="limit",
        limit_price=str(limit), client_order_id=client_id,
    )  # fmt: skip


def all_reached(order_ids: list[str], status: str) -> Callable[[SseEvent], bool]:
    """A predicate for ``SseStream.until``: every one of these orders has reached ``status``."""
    waiting = set(order_ids)

    def done(event: SseEvent) -> bool:
        if event.event == "order" and event.order["status"] == status:
            waiting.discard(event.order["order_id"])
        return not waiting

    return done


async def test_last_event_id_resumes_the_order_stream_without_gaps_or_repeats(
    server: AgoraServer, http: aiohttp.ClientSession
) -> None:
    trader = await new_trader(http, server, "sse-resume")
    first: list[dict[str, Any]] = []
    async with open_stream(http, "/api/v1/stream/orders", trader) as stream:
        for n in range(3):
            first.append(await a_resting_order(http, trader, f"resume-a{n}", qty=n + 1))
        # stop part-way through what was sent: the rest of it must come again on resume
        before = [await stream.next() for _ in range(4)]
    last_id = before[-1].id
    assert last_id is not None

    later = [await a_resting_order(http, trader, f"resume-b{n}", qty=n + 1) for n in range(3)]
    canceled = [first[0]["order_id"], later[1]["order_id"], later[2]["order_id"]]
    for order_id in canceled:
        await call(http, "DELETE", f"/api/v1/orders/{order_id}", trader, expect=202)

    async with open_stream(http, "/api/v1/stream/orders", trader, last_event_id=last_id) as again:
        resumed = await again.until(all_reached(canceled, "canceled"))
    async with open_stream(http, "/api/v1/stream/orders", trader, last_event_id=0) as whole:
        everything = await whole.until(all_reached(canceled, "canceled"))

    ids = [e.id for e in before + resumed]
    assert ids == [e.id for e in everything], "resume skipped or repeated events"
    assert [e.data for e in before + resumed] == [e.data for e in everything]
    assert len(set(ids)) == len(ids)
    assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(ids))
    assert {e.order["account_id"] for e in everything} == {trader.account_id}

    listed = await call(http, "GET", "/api/v1/orders?status=all", trader)
    last_status = {e.order["order_id"]: e.order["status"] for e in everything}
    assert last_status == {o["order_id"]: o["status"] for o in listed}
    assert sorted(last_status.values()) == ["canceled"] * 3 + ["new"] * 3
    submitted = [e.order["order_id"] for e in everything if e.data["event"] == "order.submitted"]
    assert submitted == [o["order_id"] for o in first + later]


async def test_resuming_never_repeats_what_the_last_event_id_covers(
    server: AgoraServer, http: aiohttp.ClientSession
) -> None:
    """Even an id the server has not streamed yet (a client that saw another replica)."""
    trader = await new_trader(http, server, "sse-ahead")
    async with open_stream(http, "/api/v1/stream/orders", trader) as watching:
        first = await a_resting_order(http, trader, "ahead-0")
        newest = (await watching.until(is_status(first["order_id"], "new")))[-1].id
        assert newest is not None
        ahead = newest + 3
        async with open_stream(
            http, "/api/v1/stream/orders", trader, last_event_id=ahead
        ) as resumed:
            await call(http, "DELETE", f"/api/v1/orders/{first['order_id']}", trader, expect=202)
            second = await a_resting_order(http, trader, "ahead-1", qty=2)
            seen = await watching.until(is_status(second["order_id"], "new"))
            got = await resumed.until(is_status(second["order_id"], "new"))
    assert [e.id for e in got] == [e.id for e in seen if e.id is not None and e.id > ahead]
    assert min(e.id for e in seen if e.id is not None) <= ahead, "nothing was held back"
