"""The bank test: concurrent transfers and orders on a few accounts, watched by a checker.

Live: thirty clients hammer three traders of a real ``agora serve`` with deposits, withdrawals
(often more than is available), resting limit buys, market buys and sells and cancels, while an
independent checker reads the admin ledger verification and each account's cash, held cash and
buying power over and over: no invariant may break (each asset sums to zero: money is
conserved), nothing may go negative. At the end each account's cash is exactly what the
acknowledged transfers and the fills say.

Control: the same kind of workload in process, once through the real lanes (the checker finds
nothing) and once through ``LanelessService``, the same book and ledger code without the lane's
ordering. The checker must catch the second: proof that it can fail.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agora.bootstrap import build_in_memory
from agora.config import Settings
from agora.core.clock import ManualClock
from agora.core.money import CASH_SCALE, parse_units
from agora.marketdata.cache import LastPriceCache
from agora.storage.memory import MemoryStore
from tests.chaos.checks import cancel_everything, expected_cash, fills_of
from tests.chaos.harness import ChaosServer, chaos_seed, seed_on_failure
from tests.chaos.workload import LIMITS, SYMBOLS, Transfer, down_to_tick
from tests.live.conftest import Trader, call, client_session
from tests.mothers import LOOSE_LIMITS
from tests.reliability.bank import (
    AccountTotals,
    BankChecker,
    Execute,
    LanelessService,
    Totals,
    Violation,
    Workload,
    make_book_factory,
    store_totals,
    watch,
)

ACCOUNTS = ["acc_bank_a", "acc_bank_b", "acc_bank_c"]
LIVE_SECONDS = 8.0
LIVE_CLIENTS_PER_TRADER = 10
LIVE_FUNDING = Decimal("50000.00")


# -- control: in process -----------------------------------------------------------------------


def _prices(clock: ManualClock) -> LastPriceCache:
    prices = LastPriceCache()
    prices.update("AAPL", 2_000_000, clock.now())
    return prices


async def _watched_run(
    execute: Execute, store: MemoryStore, seed: int
) -> tuple[BankChecker, Workload]:
    workload = Workload(ACCOUNTS, seed)
    await workload.open(execute)
    checker, stop = BankChecker(), asyncio.Event()
    watcher = asyncio.create_task(watch(lambda: store_totals(store, ACCOUNTS), checker, stop))
    try:
        await workload.run(execute)
    finally:
        stop.set()
        await watcher
    return checker, workload


async def test_through_the_lanes_the_checker_finds_nothing() -> None:
    seed = chaos_seed()
    clock = ManualClock()
    settings = replace(Settings(), risk=LOOSE_LIMITS)
    platform = await build_in_memory(settings, clock=clock, prices=_prices(clock))
    try:
        assert isinstance(platform.store, MemoryStore)
        with seed_on_failure(seed):
            checker, workload = await _watched_run(platform.orders.execute, platform.store, seed)
            assert checker.violations == []
            assert checker.observations >= 3
            assert workload.counts.get("Withdraw:insufficient_funds", 0) > 10, workload.counts
            assert workload.counts.get("PlaceOrder:insufficient_buying_power", 0) > 0
    finally:
        await platform.close()


async def test_the_checker_catches_the_lane_bypassed() -> None:
    seed = chaos_seed()
    clock = ManualClock()
    store = MemoryStore()
    bypass = LanelessService(store, make_book_factory(_prices(clock), LOOSE_LIMITS))
    bypass.clock_now = clock.now
    with seed_on_failure(seed):
        checker, _ = await _watched_run(bypass.execute, store, seed)
        caught = checker.of_kind("negative", "ledger")
        assert caught, f"the checker missed the bypassed lane: {checker.violations[:5]}"
        assert any("no_overdraft" in v.text for v in caught), caught[:5]


# -- live: a real server -----------------------------------------------------------------------


async def _live_totals(
    http: aiohttp.ClientSession, server: ChaosServer, traders: list[Trader]
) -> Totals:
    verified = await call(http, "GET", "/api/v1/admin/ledger/verify", server.admin)
    broken = tuple(f"{c['name']}: {c['detail']}" for c in verified["checks"] if not c["ok"])
    shown = {}
    for trader in traders:
        account = await call(http, "GET", "/api/v1/account", trader)
        cash, held, power = (
            parse_units(account[name], CASH_SCALE) for name in ("cash", "cash_held", "buying_power")
        )
        shown[str(trader.account_id)] = AccountTotals(cash, held, power)
    return Totals(verified["ok"], broken, shown)


class LiveClient:
    """One client of one trader: a seeded closed loop of transfers and orders."""

    def __init__(self, http: aiohttp.ClientSession, trader: Trader, seed: str) -> None:
        self.http = http
        self.trader = trader
        self.rng = random.Random(seed)
        self.transfers: list[Transfer] = []
        self.resting: list[str] = []
        self.statuses: dict[str, int] = {}

    async def run(self, until: float, bids: dict[str, Decimal]) -> None:
        """Act until ``until`` (time.monotonic())."""
        step = 0
        while time.monotonic() < until:
            step += 1
            await self._step(f"{id(self)}-{step}", bids)

    async def _step(self, tag: str, bids: dict[str, Decimal]) -> None:
        roll, rng = self.rng.random(), self.rng
        symbol = rng.choice(SYMBOLS)
        if roll < 0.2:
            await self._transfer(
                Transfer(self.trader, tag, "deposit", rng.randint(1, 500_000) * Decimal("0.01"))
            )
        elif roll < 0.45:
            await self._transfer(
                Transfer(
                    self.trader, tag, "withdrawal", rng.randint(1, 1_500_000) * Decimal("0.01")
                )
            )
        elif roll < 0.65:
            limit = down_to_tick(bids[symbol] * Decimal("0.96"))
            body = {
                "symbol": symbol,
                "side": "buy",
                "qty": str(rng.randint(1, 20)),
                "type": "limit",
                "time_in_force": "gtc",
                "limit_price": limit,
            }
            answer = await self._send("POST", "/api/v1/orders", body, "resting_buy")
            if answer is not None:
                self.resting.append(answer["order_id"])
        elif roll < 0.8:
            body = {
                "symbol": symbol,
                "side": "buy",
                "qty": str(rng.randint(1, 5)),
                "type": "market",
                "time_in_force": "day",
            }
            await self._send("POST", "/api/v1/orders", body, "market_buy")
        elif roll < 0.9:
            body = {
                "symbol": symbol,
                "side": "sell",
                "qty": str(rng.randint(1, 5)),
                "type": "market",
                "time_in_force": "day",
            }
            await self._send("POST", "/api/v1/orders", body, "market_sell")
        elif self.resting:
            order_id = self.resting.pop(rng.randrange(len(self.resting)))
            await self._send("DELETE", f"/api/v1/orders/{order_id}", None, "cancel")

    async def _send(self, method: str, path: str, body: Any, op: str) -> Any:
        async with self.http.request(
            method, path, json=body, headers=self.trader.headers
        ) as answer:
            payload = await answer.json()
            key = f"{op}:{answer.status}"
            self.statuses[key] = self.statuses.get(key, 0) + 1
            assert answer.status < 500, f"{method} {path}: {answer.status} {payload}"
            return payload if answer.status in (201, 202) else None

    async def _transfer(self, transfer: Transfer) -> None:
        answer = await self._send(
            "POST", transfer.path, {"amount": str(transfer.amount)}, transfer.kind
        )
        transfer.outcome = "acked" if answer is not None else "refused"
        self.transfers.append(transfer)


@pytest.mark.slow
async def test_concurrent_transfers_and_orders_keep_the_bank_whole(tmp_path: Path) -> None:
    seed = chaos_seed()
    server = ChaosServer(tmp_path / "data", tmp_path)
    server.start()
    try:
        with seed_on_failure(seed):
            torn = await _live_bank(server, seed)
        assert server.stop() == 0, server.logs()
    finally:
        server.kill()
    assert not torn, torn[:5]  # B3 (fixed): one answer shows one moment


async def _live_bank(server: ChaosServer, seed: int) -> list[Violation]:
    async with (
        client_session(server, connections=64) as http,
        client_session(server) as watcher_http,
    ):
        traders = []
        for number in range(len(ACCOUNTS)):
            made = await call(
                http,
                "POST",
                "/api/v1/admin/users",
                server.admin,
                {"name": f"bank-{number}", "role": "trader"},
                expect=201,
            )
            trader = Trader(made["token"], made["account_id"])
            path = f"/api/v1/admin/accounts/{trader.account_id}"
            await call(http, "PUT", f"{path}/limits", server.admin, LIMITS)
            await call(
                http,
                "POST",
                f"{path}/deposits",
                server.admin,
                {"amount": str(LIVE_FUNDING)},
                expect=201,
            )
            traders.append(trader)
        bids = {}
        for symbol in SYMBOLS:
            bids[symbol] = Decimal(
                (await call(http, "GET", f"/api/v1/quotes/{symbol}", traders[0]))["bid"]
            )
        clients = [
            LiveClient(http, trader, f"{seed}:{t}:{n}")
            for t, trader in enumerate(traders)
            for n in range(LIVE_CLIENTS_PER_TRADER)
        ]
        checker, stop = BankChecker(), asyncio.Event()

        async def read() -> Totals:
            return await _live_totals(watcher_http, server, traders)

        watching = asyncio.create_task(watch(read, checker, stop))
        until = time.monotonic() + LIVE_SECONDS
        try:
            await asyncio.gather(*(client.run(until, bids) for client in clients))
        finally:
            stop.set()
            await watching
        assert checker.of_kind("ledger", "negative") == []  # the pass bar
        assert checker.observations >= 10
        statuses: dict[str, int] = {}
        for client in clients:
            for key, n in client.statuses.items():
                statuses[key] = statuses.get(key, 0) + n
        assert statuses.get("withdrawal:422", 0) > 0, statuses  # the accounts ran dry at times
        _, still = await cancel_everything(http, traders)
        assert not still, still
        for trader in traders:
            transfers = [t for c in clients if c.trader == trader for t in c.transfers]
            fills = await fills_of(http, trader)
            account = await call(http, "GET", "/api/v1/account", trader)
            assert Decimal(account["cash"]) == expected_cash(LIVE_FUNDING, transfers, fills)
        final = await read()
        assert checker.observe(final) == []
        torn = checker.of_kind("torn")
        print("BANK-SUMMARY", {"observations": checker.observations, "torn": len(torn), **statuses})
    return torn
