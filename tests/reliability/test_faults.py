"""Fault injection: while an input or a dependency is faulted, nothing is accepted that should not
be; once the fault clears, the platform recovers by itself (no restart, no operator).

- Stale prices: the feed stops (a manual clock ages the last prices) → every order is denied
  ``price_stale``; the feed resumes → orders are accepted again. A real server started with
  ``--feed none`` denies orders ``price_unavailable``.
- Storage errors: a store whose commits fail → every write is answered 503 and nothing is
  stored; a store that cannot be read either → no answer is a 2xx while it is down; the store
  comes back → the same requests (same Idempotency-Keys, same client order ids) succeed.
- Venue down: every order is rejected ``broker_unavailable`` and its hold released, the circuit
  opens; the venue comes back → after the recovery time a probe is accepted and the circuit closes.
- Slow disk: commits take 200 ms → no acknowledgement leaves before its commit has returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora.bootstrap import Platform, build_platform
from agora.config import Settings
from agora.core.clock import ManualClock
from agora.core.errors import StorageError
from agora.execution.breaker import BreakerSettings, BreakerState, CircuitBreaker
from agora.ledger import customer_cash
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import Deposit
from agora.orders.model import Order, Side, Status
from agora.storage import SqliteStore
from agora.storage.memory import MemoryStore
from agora.web.app import create_app
from agora.web.auth import Role
from agora.web.compose import PlatformParts, make_context
from agora.web.context import WebSettings
from agora.web.routes.admin import create_user
from tests.chaos.harness import ChaosServer
from tests.integration.test_execution import close, order, quote, reaches, trading
from tests.integration.test_lanes import ACCOUNT, funded, verify
from tests.live.conftest import call, client_session
from tests.web.conftest import LIMITS, PricesOnly

AAPL = 2_000_000  # 200.00
RESTING = {"symbol": "AAPL", "side": "buy", "qty": "5", "type": "limit", "limit_price": "195.00"}
MARKET = {"symbol": "AAPL", "side": "buy", "qty": "1", "type": "market", "time_in_force": "day"}


class FaultyStore:
    """A store that can refuse writes, refuse reads, or write slowly; the rest passes through."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.writes_fail = False
        self.reads_fail = False
        self.commit_delay_seconds = 0.0
        self.committed_at: dict[str, float] = {}  # order or transfer id → when its commit returned

    def _check(self, reading: bool) -> None:
        if self.reads_fail or (self.writes_fail and not reading):
            raise StorageError("injected fault: the store is unavailable")

    async def commit_frozen(self, batches: Sequence[Any]) -> None:
        self._check(reading=False)
        if self.commit_delay_seconds:
            await asyncio.sleep(self.commit_delay_seconds)
        await self.inner.commit_frozen(batches)
        now = time.monotonic()
        for batch in batches:
            self.committed_at.update((o.order_id, now) for o in batch.orders)
            self.committed_at.update((t.transfer_id, now) for t in batch.transfers)

    async def put_document(self, *args: Any, **kwargs: Any) -> Any:
        self._check(reading=False)
        return await self.inner.put_document(*args, **kwargs)

    async def load_snapshot(self) -> Any:
        self._check(reading=True)
        return await self.inner.load_snapshot()

    async def get_order(self, order_id: str) -> Order | None:
        self._check(reading=True)
        return await self.inner.get_order(order_id)

    async def get_document(self, *args: Any, **kwargs: Any) -> Any:
        self._check(reading=True)
        return await self.inner.get_document(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class World:
    """The API over the in-memory platform on a FaultyStore, driven in process."""

    platform: Platform
    store: FaultyStore
    client: httpx.AsyncClient
    clock: ManualClock
    prices: LastPriceCache
    trader: dict[str, str]
    admin: dict[str, str]
    account: str
    response_started: dict[bytes, float] = field(default_factory=dict)  # body → first byte time

    async def post(self, path: str, body: object, key: str | None = None) -> httpx.Response:
        headers = {**self.trader, **({"Idempotency-Key": key} if key else {})}
        return await self.client.post(path, json=body, headers=headers)

    async def orders(self) -> list[dict[str, Any]]:
        answer = await self.client.get("/api/v1/orders?status=all", headers=self.trader)
        assert answer.status_code == 200, answer.text
        listed: list[dict[str, Any]] = answer.json()
        return listed

    async def account_state(self) -> dict[str, Any]:
        answer = await self.client.get("/api/v1/account", headers=self.trader)
        shown: dict[str, Any] = answer.json()
        return shown

    async def ledger_ok(self) -> bool:
        answer = await self.client.get("/api/v1/admin/ledger/verify", headers=self.admin)
        return bool(answer.json()["ok"])


class StampFirstByte:
    """ASGI wrapper: note when each response starts, keyed by its body."""

    def __init__(self, app: ASGIApp, seen: dict[bytes, float]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: list[float] = []

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(time.monotonic())
            elif message["type"] == "http.response.body" and started:
                self.seen[message.get("body", b"")] = started[0]
            await send(message)

        await self.app(scope, receive, stamped)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock()
    prices = LastPriceCache()
    prices.update("AAPL", AAPL, clock.now())
    store = FaultyStore(MemoryStore())
    settings = replace(Settings(), risk=LIMITS)
    platform = await build_platform(settings, store=store, clock=clock, prices=prices)  # type: ignore[arg-type]
    parts = PlatformParts(
        orders=platform.orders,
        store=store,  # type: ignore[arg-type]
        prices=prices,
        instruments=platform.instruments,
        controls=platform.controls,
        clock=clock,
        ids=platform.ids,
        metrics=platform.metrics,
    )
    context = make_context(
        parts, PricesOnly(prices, clock), WebSettings(rate_limit_per_second=10**6)
    )
    trader, trader_token = await create_user(context, "trader", Role.TRADER)
    _, admin_token = await create_user(context, "admin", Role.ADMIN)
    assert trader.account_id is not None
    await platform.orders.execute(
        Deposit(account_id=trader.account_id, transfer_id="seed", amount=10_000_000)
    )
    seen: dict[bytes, float] = {}
    transport = httpx.ASGITransport(app=StampFirstByte(create_app(context), seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://agora.test") as client:
        yield World(
            platform, store, client, clock, prices,
            {"Authorization": f"Bearer {trader_token}"},
            {"Authorization": f"Bearer {admin_token}"},
            trader.account_id, seen,
        )  # fmt: skip
    await platform.close()


# -- stale prices --------------------------------------------------------------------------------


async def test_stale_prices_deny_every_order_until_the_feed_resumes(world: World) -> None:
    resting = (await world.post("/api/v1/orders", RESTING)).json()
    assert resting["status"] == "pending_new"
    before = await world.orders()
    world.clock.advance(timedelta(milliseconds=LIMITS.price_max_age_ms + 1))  # the feed stopped
    attempts = [
        ("POST", "/api/v1/orders", MARKET),
        ("POST", "/api/v1/orders", RESTING),
        ("POST", "/api/v1/orders", {**MARKET, "side": "sell"}),
        ("POST", "/api/v1/orders", {**RESTING, "side": "sell", "limit_price": "205.00"}),
        ("PATCH", f"/api/v1/orders/{resting['order_id']}", {"limit_price": "194.00"}),
    ] * 4
    for n, (method, path, body) in enumerate(attempts):
        sent = {**body, "client_order_id": f"stale-{n}"} if method == "POST" else body
        answer = await world.client.request(method, path, json=sent, headers=world.trader)
        assert (answer.status_code, answer.json()["code"]) == (422, "price_stale"), answer.text
    assert await world.orders() == before  # nothing stored
    world.prices.update("AAPL", AAPL, world.clock.now())  # the feed resumes
    for n, (method, path, body) in enumerate(attempts[:4]):
        sent = {**body, "client_order_id": f"stale-{n}"}
        answer = await world.client.request(method, path, json=sent, headers=world.trader)
        assert answer.status_code in (202, 422), answer.text
        if answer.status_code == 422:  # a sell of shares the trader does not have
            assert answer.json()["code"] == "insufficient_shares"
    assert await world.ledger_ok()


@pytest.mark.slow
async def test_a_server_without_a_feed_denies_orders(tmp_path: Path) -> None:
    server = ChaosServer(tmp_path / "data", tmp_path)
    server.launch("--feed", "none")
    try:
        server.wait_healthy()
        async with client_session(server) as http:
            for body in (MARKET, {**RESTING, "time_in_force": "gtc"}, {**MARKET, "side": "sell"}):
                denied = await call(http, "POST", "/api/v1/orders", server.demo, body, expect=422)
                assert denied["code"] == "price_unavailable", denied
            assert await call(http, "GET", "/api/v1/orders?status=all", server.demo) == []
        assert server.stop() == 0, server.logs()
    finally:
        server.kill()


# -- storage errors ------------------------------------------------------------------------------


def _writes(resting_id: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """Every kind of write a trader can make: (method, path, body, idempotency key)."""
    writes = [
        ("POST", "/api/v1/orders", {**MARKET, "client_order_id": f"down-{n}"}, f"o{n}")
        for n in range(8)
    ]
    writes += [("POST", "/api/v1/account/deposits", {"amount": "10.00"}, f"d{n}") for n in range(3)]
    writes += [
        ("POST", "/api/v1/account/withdrawals", {"amount": "5.00"}, f"w{n}") for n in range(3)
    ]
    writes += [
        ("PATCH", f"/api/v1/orders/{resting_id}", {"limit_price": "194.00"}, "p"),
        ("DELETE", f"/api/v1/orders/{resting_id}", {}, "c"),
    ]
    return writes


async def _send_all(
    world: World, writes: list[tuple[str, str, dict[str, Any], str]], *, keyed: bool = True
) -> list[httpx.Response]:
    async def one(method: str, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        headers = {**world.trader, **({"Idempotency-Key": key} if keyed else {})}
        if method == "DELETE":
            return await world.client.delete(path, headers=headers)
        return await world.client.request(method, path, json=body, headers=headers)

    return list(await asyncio.gather(*(one(*write) for write in writes)))


async def test_failing_commits_acknowledge_nothing_and_recovery_needs_no_restart(
    world: World,
) -> None:
    resting = (await world.post("/api/v1/orders", RESTING)).json()
    account, orders = await world.account_state(), await world.orders()
    writes = _writes(resting["order_id"])
    world.store.writes_fail = True
    answers = await _send_all(world, writes)
    assert [a.status_code for a in answers] == [503] * len(writes), [a.text for a in answers]
    assert {a.json()["code"] for a in answers} == {"storage_unavailable"}
    assert await world.account_state() == account
    assert await world.orders() == orders  # the resting order untouched, nothing new
    assert await world.ledger_ok()
    world.store.writes_fail = False  # the disk is back: the same requests, the same keys
    answers = await _send_all(world, writes)
    assert [a.status_code for a in answers[:-2]] == [202] * 8 + [201] * 6, [a.text for a in answers]
    assert all(a.status_code < 500 for a in answers[-2:]), [a.text for a in answers[-2:]]
    assert await world.ledger_ok()


async def test_an_unreadable_store_answers_no_2xx_until_it_is_back(world: World) -> None:
    await world.post("/api/v1/orders", RESTING)
    cash = Decimal((await world.account_state())["cash"])
    world.store.writes_fail = world.store.reads_fail = True
    writes = _writes("unused")[:14]  # orders, deposits, withdrawals; no key: they reach the lanes
    sent = asyncio.create_task(_send_all(world, writes, keyed=False))
    await asyncio.sleep(0.5)
    restored_at = time.monotonic()
    world.store.writes_fail = world.store.reads_fail = False
    async with asyncio.timeout(10):
        answers = await sent
    assert {a.status_code for a in answers} <= {201, 202, 503}, [a.text for a in answers]
    for (_, path, body, _), answer in zip(writes, answers, strict=True):
        if answer.status_code < 300:  # applied after the store came back: answered after, too
            assert world.response_started[answer.content] > restored_at, answer.text
            amount = Decimal(body.get("amount", "0"))
            cash += amount if path.endswith("deposits") else -amount
        if "client_order_id" in body:
            stored = await world.client.get(
                f"/api/v1/orders/by-client-id/{body['client_order_id']}", headers=world.trader
            )
            assert stored.status_code == (200 if answer.status_code == 202 else 404), stored.text
    assert Decimal((await world.account_state())["cash"]) == cash
    again = await world.post("/api/v1/orders", {**MARKET, "client_order_id": "after"})
    assert again.status_code == 202, again.text
    assert await world.ledger_ok()


# -- slow disk -----------------------------------------------------------------------------------


async def test_a_slow_disk_delays_acknowledgements_and_none_leaves_early(world: World) -> None:
    world.store.commit_delay_seconds = 0.2
    started = time.monotonic()
    bodies = [{**MARKET, "client_order_id": f"slow-{n}"} for n in range(20)]
    answers = await asyncio.gather(
        *(world.post("/api/v1/orders", body) for body in bodies),
        *(world.post("/api/v1/account/deposits", {"amount": "1.00"}) for _ in range(10)),
    )
    assert [a.status_code for a in answers] == [202] * 20 + [201] * 10
    for answer in answers:
        payload = answer.json()
        written = (
            payload["order_id"]
            if "order_id" in payload
            else f"{world.account}:{payload['transfer_id']}"
        )
        first_byte = world.response_started[answer.content]
        committed = world.store.committed_at.get(written)
        assert committed is not None, f"{written} acknowledged, never committed"
        assert committed <= first_byte, f"{written} acknowledged before its commit returned"
        assert first_byte - started >= world.store.commit_delay_seconds
    assert await world.ledger_ok()


# -- venue down ----------------------------------------------------------------------------------


async def test_a_venue_outage_rejects_and_releases_then_the_breaker_closes(tmp_path: Path) -> None:
    clock = ManualClock()
    prices = LastPriceCache()
    prices.update("AAPL", AAPL, clock.now())
    settings = BreakerSettings(failure_threshold=2, recovery_seconds=5, probe_successes=1)
    world = await trading(tmp_path / "v", clock, prices, CircuitBreaker(settings))
    try:
        await funded(world.platform)
        world.venue.on_quote(quote("199.90", "200.00"))
        world.venue.fail()
        placed = await asyncio.gather(
            *(
                world.platform.orders.execute(order(Side.BUY, 1 + n % 3, limit=1_990_000 - n * 100))
                for n in range(20)
            ),
            *(world.platform.orders.execute(order(Side.BUY, 1 + n)) for n in range(10)),
        )
        for each in placed:
            rejected = await reaches(world, each.order_id, Status.REJECTED)
            assert (rejected.reject_reason, rejected.filled_qty) == ("broker_unavailable", 0)
        book = world.platform.orders.lane_for(ACCOUNT).book
        assert book.ledger.pending(customer_cash(ACCOUNT)) == 0  # every hold released
        assert book.ledger.posted(customer_cash(ACCOUNT)) == 10_000_000  # nothing bought
        assert world.engine.breaker.state(clock.now()) is BreakerState.OPEN
        world.venue.recover()
        clock.advance(timedelta(seconds=settings.recovery_seconds))
        probe = await world.platform.orders.execute(order(Side.BUY, 1, limit=1_900_000))
        await reaches(world, probe.order_id, Status.NEW)
        assert world.engine.breaker.state(clock.now()) is BreakerState.CLOSED
        bought = await world.platform.orders.execute(order(Side.BUY, 2))
        await reaches(world, bought.order_id, Status.FILLED)
        assert isinstance(world.platform.store, SqliteStore)
        await verify(world.platform.store)
    finally:
        await close(world)
