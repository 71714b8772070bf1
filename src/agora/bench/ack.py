"""``agora bench ack``: open-loop HTTP load on ``POST /api/v1/orders`` until the 202.

A child ``agora serve`` (SQLite, synthetic feed) takes immediate-or-cancel limit buys 5% under
the bid from many traders, so every order is durably accepted, goes to the venue and ends
canceled, and books stay small. Requests leave on a fixed schedule (open loop) for each rate; a
request's latency counts from its scheduled time, so a stalled server cannot hide its queue
(no coordinated omission). Target (PERFORMANCE.md): p99 <= 5 ms at 5,000 orders/s, idle <= 2 ms.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import aiohttp

from agora.bench.common import machine, percentiles
from agora.bench.server import Server, served

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "JPM", "V")


@dataclass(frozen=True, slots=True)
class AckConfig:
    """What the scenario runs."""

    rates: tuple[int, ...] = (50, 500, 1_000, 2_500, 5_000)
    duration_seconds: float = 10.0
    traders: int = 100


@dataclass(slots=True)
class RateResult:
    """One rate's figures."""

    rate: int
    sent: int
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ns: list[int] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as printed and as JSON (latencies in ms)."""
        shown = {k: round(v / 1_000, 3) for k, v in percentiles(self.latencies_ns).items()}
        return {
            "rate": self.rate,
            "sent": self.sent,
            "accepted_202": self.statuses.get(202, 0),
            "other_statuses": {str(k): v for k, v in self.statuses.items() if k != 202},
            "achieved_per_second": round(self.sent / self.elapsed_seconds, 1),
            "latency_ms": shown,
        }


async def _json(response: aiohttp.ClientResponse) -> Any:
    body = await response.json()
    if response.status >= 300:
        raise RuntimeError(f"{response.method} {response.url}: {response.status} {body}")
    return body


async def call(session: aiohttp.ClientSession, method: str, url: str, **options: Any) -> Any:
    """Make one set-up request, waiting out the rate limit (429) as a polite client does."""
    for _ in range(100):
        async with session.request(method, url, **options) as response:
            if response.status == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            return await _json(response)
    raise RuntimeError(f"{method} {url}: still rate limited")


async def make_traders(session: aiohttp.ClientSession, server: Server, count: int) -> list[str]:
    """Create funded traders whose order-rate limit will not bind; return their tokens."""
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    api = f"{server.url}/api/v1/admin"
    tokens: list[str] = []
    for n in range(count):
        made = await call(
            session, "POST", f"{api}/users", json={"name": f"bench-{n}"}, headers=admin
        )
        account = made["account_id"]
        deposit = {"amount": "10000000"}
        await call(
            session, "POST", f"{api}/accounts/{account}/deposits", json=deposit, headers=admin
        )
        limits = {"max_orders_per_second": 1_000_000, "duplicate_window_ms": 1}
        await call(session, "PUT", f"{api}/accounts/{account}/limits", json=limits, headers=admin)
        tokens.append(made["token"])
    return tokens


async def limit_prices(
    session: aiohttp.ClientSession, server: Server, token: str
) -> dict[str, str]:
    """A price 5% under each symbol's bid, on the cent grid (inside the 10% collar)."""
    headers = {"Authorization": f"Bearer {token}"}
    prices: dict[str, str] = {}
    for _ in range(200):
        for symbol in SYMBOLS:
            async with session.get(f"{server.url}/api/v1/quotes/{symbol}", headers=headers) as r:
                if r.status == 200:
                    bid = Decimal((await r.json())["bid"])
                    cents = (bid * Decimal("0.95")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
                    prices[symbol] = str(cents)
        if len(prices) == len(SYMBOLS):
            return prices
        await asyncio.sleep(0.1)
    raise RuntimeError("the feed gave no quotes")


Send = Callable[[int], Awaitable[int]]
"""Send request number n; return its HTTP status (0 for a connection error)."""


def order_sender(
    session: aiohttp.ClientSession, url: str, tokens: list[str], prices: dict[str, str]
) -> Send:
    """Send ioc limit buys under the bid, round-robin over traders and symbols."""

    async def send(index: int) -> int:
        symbol = SYMBOLS[index % len(SYMBOLS)]
        body = {
            "symbol": symbol,
            "side": "buy",
            "qty": "1",
            "type": "limit",
            "time_in_force": "ioc",
            "limit_price": prices[symbol],
        }
        headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
        async with session.post(f"{url}/api/v1/orders", json=body, headers=headers) as response:
            await response.read()
            return response.status

    return send


async def open_loop(
    send: Send, rate: int, duration: float, on_sent: Callable[[], None]
) -> RateResult:
    """Call ``send`` ``rate`` times per second for ``duration`` seconds on a fixed schedule."""
    result = RateResult(rate=rate, sent=int(rate * duration))
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def one(index: int, due: float) -> None:
        try:
            status = await send(index)
        except aiohttp.ClientError:
            status = 0
        result.statuses[status] += 1
        result.latencies_ns.append(int((loop.time() - due) * 1e9))

    start = loop.time() + 0.05
    for index in range(result.sent):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(index, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        on_sent()
    await asyncio.gather(*pending)
    result.elapsed_seconds = loop.time() - start
    return result


async def check(
    session: aiohttp.ClientSession, server: Server, tokens: list[str]
) -> dict[str, Any]:
    """After the load: the ledger verifies and no order is left open."""
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    open_left = -1
    for _ in range(100):
        open_left = 0
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(
                f"{server.url}/api/v1/orders?status=open&limit=500", headers=headers
            ) as r:
                open_left += len(await _json(r))
        if open_left == 0:
            break
        await asyncio.sleep(0.2)
    async with session.get(f"{server.url}/api/v1/admin/ledger/verify", headers=admin) as r:
        report = await _json(r)
    return {"ledger_ok": report["ok"], "open_orders_left": open_left}


async def run_ack(config: AckConfig, on_sent: Callable[[], None]) -> dict[str, Any]:
    """Run every rate against one fresh server; return the report."""
    with tempfile.TemporaryDirectory(prefix="agora-bench-") as folder:
        data = Path(folder) / "data"
        async with served(data, "--rate-limit", "1000000", "--feed", "synthetic") as server:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                tokens = await make_traders(session, server, config.traders)
                prices = await limit_prices(session, server, tokens[0])
                results = []
                send = order_sender(session, server.url, tokens, prices)
                for rate in config.rates:
                    measured = await open_loop(send, rate, config.duration_seconds, on_sent)
                    results.append(measured.summary())
                    await asyncio.sleep(1.0)  # let the venue's cancels drain between rates
            async with aiohttp.ClientSession() as fresh:  # pooled connections may be reset
                verdict = await check(fresh, server, tokens)
    return {
        "scenario": "ack",
        "config": {
            "rates": list(config.rates),
            "duration_seconds": config.duration_seconds,
            "traders": config.traders,
            "orders": "ioc limit buys 5% under the bid, qty 1",
            "server": "agora serve (SQLite, synthetic feed) in a child process, loopback",
            "client": "aiohttp, open loop, latency from the scheduled send time",
        },
        "machine": machine(),
        "results": results,
        "check": verdict,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
