"""A steady, seeded mix of trading and money operations from many traders, and what was answered.

Each client is one trader sending one request at a time at a fixed pace: market and limit orders
(resting, and marketable ones large enough to fill in parts), sells, cancels, replaces (PATCH),
deposits and withdrawals. Every request is written down before it is sent, so when the server
dies under it the request is known to have an *unknown* outcome rather than none; after the
restart ``reconcile`` settles those: transfers are retried under their Idempotency-Key (at most
once, promise 3), orders are looked up by their client order id.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

import aiohttp

from tests.live.conftest import AgoraServer, Trader, call

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "SPY")
CENT = Decimal("0.01")
FUNDING = Decimal("20000000.00")  # per trader: large marketable limits must not run dry
# Loose enough that only buying power and shares bind; the duplicate rule must stay positive.
LIMITS = {
    "max_order_notional": "5000000.00",
    "max_concentration_bps": 1_000_000,
    "max_orders_per_second": 1_000_000,
    "duplicate_window_ms": 1,
}
QUOTE_MAX_AGE_SECONDS = 1.0
# The operation mix, by weight.
MIX = {
    "market_buy": 22,
    "resting_buy": 14,
    "marketable_buy": 8,
    "market_sell": 12,
    "resting_sell": 5,
    "cancel": 12,
    "replace": 9,
    "deposit": 10,
    "withdraw": 8,
}
UNAVAILABLE = 503  # the store is down or the server is stopping: nothing was done
GONE = (aiohttp.ClientError, TimeoutError, ConnectionError)

Outcome = Literal["acked", "refused", "unknown"]


class ServerGone(Exception):
    """The server stopped answering mid-request: the outcome of that request is unknown."""


@dataclass
class Transfer:
    """One deposit or withdrawal and what became of it."""

    trader: Trader
    key: str
    kind: Literal["deposit", "withdrawal"]
    amount: Decimal
    outcome: Outcome = "unknown"

    @property
    def path(self) -> str:
        """Where it is posted."""
        return f"/api/v1/account/{'deposits' if self.kind == 'deposit' else 'withdrawals'}"


@dataclass
class Answers:
    """Everything the clients were told (and what they were not)."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # acknowledged, first answer
    owners: dict[str, Trader] = field(default_factory=dict)  # order id → its trader
    unknown_orders: dict[str, Trader] = field(default_factory=dict)  # client id → who sent it
    found_unacked: dict[str, dict[str, Any]] = field(default_factory=dict)  # stored anyway
    cancels: set[str] = field(default_factory=set)  # order ids whose cancel was acknowledged
    replaces: dict[str, str] = field(default_factory=dict)  # old order id → new order id
    transfers: list[Transfer] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # "op:outcome"
    unexpected: list[str] = field(default_factory=list)  # answers no promise allows

    def acked_ops(self) -> int:
        """Requests that were acknowledged (2xx)."""
        return sum(n for key, n in self.counts.items() if key.endswith(":acked"))

    def total_ops(self) -> int:
        """Requests sent."""
        return sum(self.counts.values())


@dataclass
class Client:
    """One trader's state as its client sees it."""

    trader: Trader
    number: int
    open_orders: list[str] = field(default_factory=list)  # acked, believed working
    bought: list[str] = field(default_factory=list)  # symbols it may hold


class Quotes:
    """Last quotes, refreshed through the API when older than QUOTE_MAX_AGE_SECONDS."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, Decimal, Decimal]] = {}

    async def get(
        self, http: aiohttp.ClientSession, trader: Trader, symbol: str
    ) -> tuple[Decimal, Decimal]:
        """The (bid, ask) of ``symbol``."""
        seen = self._seen.get(symbol)
        if seen is None or time.monotonic() - seen[0] > QUOTE_MAX_AGE_SECONDS:
            quote = await _get(http, f"/api/v1/quotes/{symbol}", trader)
            seen = (time.monotonic(), Decimal(quote["bid"]), Decimal(quote["ask"]))
            self._seen[symbol] = seen
        return seen[1], seen[2]


async def _get(http: aiohttp.ClientSession, path: str, who: Trader) -> Any:
    try:
        return await call(http, "GET", path, who)
    except GONE as error:
        raise ServerGone(path) from error


def down_to_tick(price: Decimal) -> str:
    """A price on the cent grid at or below ``price``."""
    return str(price.quantize(CENT, rounding=ROUND_FLOOR))


def up_to_tick(price: Decimal) -> str:
    """A price on the cent grid at or above ``price``."""
    return str(price.quantize(CENT, rounding=ROUND_CEILING))


class Workload:
    """Drives the traders of one server; the answers survive the server's restarts."""

    def __init__(self, seed: int, clients: int, rate_per_client: float) -> None:
        self.seed = seed
        self.rate_per_client = rate_per_client
        self.answers = Answers()
        self.clients_wanted = clients
        self.clients: list[Client] = []
        self.funded: dict[str, Decimal] = {}  # account id → admin funding
        self.round = 0

    # -- setup -----------------------------------------------------------------------------

    async def make_traders(self, http: aiohttp.ClientSession, server: AgoraServer) -> None:
        """Create every trader through the admin API, fund it and loosen its limits."""
        for number in range(self.clients_wanted):
            body = {"name": f"chaos-{number}", "role": "trader"}
            made = await call(http, "POST", "/api/v1/admin/users", server.admin, body, expect=201)
            trader = Trader(made["token"], made["account_id"])
            path = f"/api/v1/admin/accounts/{trader.account_id}"
            await call(http, "PUT", f"{path}/limits", server.admin, LIMITS)
            funding = {"amount": str(FUNDING)}
            await call(http, "POST", f"{path}/deposits", server.admin, funding, expect=201)
            assert trader.account_id is not None
            self.funded[trader.account_id] = FUNDING
            self.clients.append(Client(trader, number))

    # -- load ------------------------------------------------------------------------------

    async def run(self, http: aiohttp.ClientSession) -> None:
        """Run every client until the server goes away (each returns on its first lost answer)."""
        self.round += 1
        quotes = Quotes()
        await asyncio.gather(*(self._client(http, c, quotes) for c in self.clients))

    async def _client(self, http: aiohttp.ClientSession, client: Client, quotes: Quotes) -> None:
        rng = random.Random(f"{self.seed}:{self.round}:{client.number}")
        names, weights = list(MIX), list(MIX.values())
        interval = 1.0 / self.rate_per_client
        next_at = time.monotonic() + rng.uniform(0, interval)
        for n in range(1_000_000):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            op = rng.choices(names, weights)[0]
            tag = f"r{self.round}c{client.number}n{n}"
            try:
                await getattr(self, f"_{op}")(http, client, quotes, rng, tag)
            except ServerGone:
                return

    async def _send(
        self,
        http: aiohttp.ClientSession,
        op: str,
        method: str,
        path: str,
        who: Trader,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request; count it; raise ServerGone (outcome unknown) if the answer is lost."""
        try:
            sent = {**who.headers, **(headers or {})}
            async with http.request(method, path, json=body, headers=sent) as response:
                text = await response.text()
                status = response.status
        except GONE as error:
            self.answers.counts[f"{op}:unknown"] += 1
            raise ServerGone(op) from error
        outcome = "acked" if 200 <= status < 300 else "refused"
        self.answers.counts[f"{op}:{outcome}"] += 1
        if status >= 500 and status != UNAVAILABLE:
            self.answers.unexpected.append(f"{method} {path}: {status} {text[:300]}")
        return status, json.loads(text) if text else None

    # -- orders ----------------------------------------------------------------------------

    async def _place(
        self, http: aiohttp.ClientSession, client: Client, op: str, body: dict[str, str]
    ) -> dict[str, Any] | None:
        trader = client.trader
        client_id = body["client_order_id"]
        self.answers.unknown_orders[client_id] = trader
        status, answer = await self._send(http, op, "POST", "/api/v1/orders", trader, body)
        del self.answers.unknown_orders[client_id]  # answered: known either way
        if status == 202:
            self.answers.orders[answer["order_id"]] = answer
            self.answers.owners[answer["order_id"]] = trader
            return dict(answer)
        if status not in (409, 422, UNAVAILABLE):
            self.answers.unexpected.append(f"place {body}: {status} {answer}")
        return None

    async def _market_buy(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        symbol = rng.choice(SYMBOLS)
        body = _order(symbol, "buy", rng.randint(1, 5), "market", "day", tag)
        if await self._place(http, c, "market_buy", body):
            c.bought.append(symbol)

    async def _resting_buy(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        symbol = rng.choice(SYMBOLS)
        bid, _ = await q.get(http, c.trader, symbol)
        body = _order(symbol, "buy", rng.randint(1, 20), "limit", "gtc", tag)
        body["limit_price"] = down_to_tick(bid * Decimal(rng.uniform(0.93, 0.99)))
        placed = await self._place(http, c, "resting_buy", body)
        if placed:
            c.open_orders.append(placed["order_id"])

    async def _marketable_buy(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        """A limit at the ask, larger than the quoted size at times: fills in parts."""
        symbol = rng.choice(SYMBOLS)
        _, ask = await q.get(http, c.trader, symbol)
        body = _order(symbol, "buy", rng.choice((50, 150, 300, 600)), "limit", "gtc", tag)
        body["limit_price"] = up_to_tick(ask)
        placed = await self._place(http, c, "marketable_buy", body)
        if placed:
            c.bought.append(symbol)
            c.open_orders.append(placed["order_id"])

    async def _market_sell(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        symbol = rng.choice(c.bought or list(SYMBOLS))
        body = _order(symbol, "sell", rng.randint(1, 5), "market", "day", tag)
        await self._place(http, c, "market_sell", body)

    async def _resting_sell(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        symbol = rng.choice(c.bought or list(SYMBOLS))
        _, ask = await q.get(http, c.trader, symbol)
        body = _order(symbol, "sell", rng.randint(1, 3), "limit", "gtc", tag)
        body["limit_price"] = up_to_tick(ask * Decimal(rng.uniform(1.01, 1.07)))
        placed = await self._place(http, c, "resting_sell", body)
        if placed:
            c.open_orders.append(placed["order_id"])

    async def _cancel(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        if not c.open_orders:
            return
        order_id = c.open_orders.pop(rng.randrange(len(c.open_orders)))
        status, answer = await self._send(
            http, "cancel", "DELETE", f"/api/v1/orders/{order_id}", c.trader
        )
        if status == 202:
            self.answers.cancels.add(order_id)
        elif status == 422 and answer["code"] == "not_cancelable":
            pass
        elif status == 404:
            self.answers.unexpected.append(f"acknowledged order {order_id} not found: {answer}")
        elif status != UNAVAILABLE:
            self.answers.unexpected.append(f"cancel {order_id}: {status} {answer}")

    async def _replace(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        if not c.open_orders:
            return
        order_id = c.open_orders.pop(rng.randrange(len(c.open_orders)))
        placed = self.answers.orders[order_id]
        limit = Decimal(placed["limit_price"]) * Decimal(rng.uniform(0.98, 1.01))
        body = {"qty": str(rng.randint(1, 20)), "limit_price": down_to_tick(limit)}
        status, answer = await self._send(
            http, "replace", "PATCH", f"/api/v1/orders/{order_id}", c.trader, body
        )
        if status == 202:
            self.answers.orders[answer["order_id"]] = answer
            self.answers.owners[answer["order_id"]] = c.trader
            self.answers.replaces[order_id] = answer["order_id"]
            c.open_orders.append(answer["order_id"])
        elif status == 422 and answer["code"] not in ("not_replaceable", "invalid_qty"):
            c.open_orders.append(order_id)  # a risk denial: the old order still works
        elif status == 404:
            self.answers.unexpected.append(f"acknowledged order {order_id} not found: {answer}")
        elif status not in (409, 422, UNAVAILABLE):
            self.answers.unexpected.append(f"replace {order_id}: {status} {answer}")

    # -- money -----------------------------------------------------------------------------

    async def _deposit(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        amount = Decimal(rng.randint(1, 500_000)) * CENT
        await self._transfer(http, Transfer(c.trader, tag, "deposit", amount))

    async def _withdraw(
        self, http: aiohttp.ClientSession, c: Client, q: Quotes, rng: random.Random, tag: str
    ) -> None:
        amount = Decimal(rng.randint(1, 400_000)) * CENT
        await self._transfer(http, Transfer(c.trader, tag, "withdrawal", amount))

    async def _transfer(self, http: aiohttp.ClientSession, transfer: Transfer) -> None:
        self.answers.transfers.append(transfer)
        status, answer = await self._send(
            http,
            transfer.kind,
            "POST",
            transfer.path,
            transfer.trader,
            {"amount": str(transfer.amount)},
            {"Idempotency-Key": transfer.key},
        )
        self._settle(transfer, status, answer)

    def _settle(self, transfer: Transfer, status: int, answer: Any) -> None:
        if status == 201:
            transfer.outcome = "acked"
            if Decimal(answer["amount"]) != transfer.amount:
                self.answers.unexpected.append(f"{transfer.key}: answered {answer}")
        elif status == 422 or status == UNAVAILABLE:
            transfer.outcome = "refused"
        else:
            transfer.outcome = "refused"
            self.answers.unexpected.append(f"{transfer.kind} {transfer.key}: {status} {answer}")

    # -- after a restart -------------------------------------------------------------------

    async def reconcile(self, http: aiohttp.ClientSession) -> None:
        """Settle every unknown outcome against the restarted server."""
        for transfer in self.answers.transfers:
            if transfer.outcome == "unknown":  # the same key again: at most once
                async with http.post(
                    transfer.path,
                    json={"amount": str(transfer.amount)},
                    headers={**transfer.trader.headers, "Idempotency-Key": transfer.key},
                ) as response:
                    self._settle(transfer, response.status, await response.json())
                self.answers.counts[f"{transfer.kind}:retried"] += 1
        for client_id, trader in self.answers.unknown_orders.items():
            async with http.get(
                f"/api/v1/orders/by-client-id/{client_id}", headers=trader.headers
            ) as response:
                if response.status == 200:
                    found = await response.json()
                    self.answers.found_unacked[found["order_id"]] = found
                    self.answers.owners[found["order_id"]] = trader
                elif response.status != 404:
                    self.answers.unexpected.append(
                        f"by-client-id {client_id}: {response.status} {await response.text()}"
                    )
        self.answers.unknown_orders.clear()
        for client in self.clients:  # what a client believed open may have moved meanwhile
            client.open_orders = [o for o in client.open_orders if o in self.answers.orders]


def _order(
    symbol: str, side: str, qty: int, order_type: str, time_in_force: str, tag: str
) -> dict[str, str]:
    return {
        "symbol": symbol,
        "side": side,
        "qty": str(qty),
        "type": order_type,
        "time_in_force": time_in_force,
        "client_order_id": tag,
    }
