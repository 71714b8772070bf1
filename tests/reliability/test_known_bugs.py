"""The bugs the reliability battery found, each pinned by the smallest reproduction.

Every test asserts the *correct* behaviour and is marked ``xfail(strict=True)``: it fails today.
When a fix lands the test passes, strict turns that into a failure, and whoever fixed it removes
the marker here and the matching allowance (``KNOWN_BUGS`` in ``tests/chaos/test_crash_harness.py``,
``_near_the_ends`` / ``_b6_line`` in ``test_fuzz_parsers.py``, the B3 xfail in ``test_bank.py``).
The bugs are described in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import agora.web.routes.account as account_routes
from agora.bootstrap import build_platform
from agora.config import Settings
from agora.core.clock import ManualClock
from agora.core.errors import AgoraError, StorageError
from agora.core.instruments import InstrumentRegistry
from agora.execution.engine import ExecutionEngine
from agora.execution.venues.replay_session import load_session
from agora.execution.venues.reports import VenueReport
from agora.execution.venues.simulated.venue import SimulatedVenue
from agora.ledger import customer_cash
from agora.marketdata.cache import LastPriceCache
from agora.marketdata.normalize import FeedKind, normalize_row
from agora.orders.commands import (
    ApplyReport,
    CancelOrder,
    Deposit,
    OpenAccount,
    ReplaceOrder,
    Withdraw,
)
from agora.orders.model import Report, ReportKind, Side, Status
from agora.risk import TradingState
from agora.storage.memory import MemoryStore
from agora.web.compose import PlatformParts, make_context
from agora.web.context import WebSettings
from agora.web.routes.admin import apply_trading_state
from tests.integration.conftest import start
from tests.integration.test_execution import (
    Trading,
    close,
    order,
    quote,
    reaches,
    trading,
)
from tests.integration.test_lanes import ACCOUNT, buy, funded
from tests.mothers import LOOSE_LIMITS
from tests.web.conftest import Api, PricesOnly, make_api


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    made, platform = await make_api()
    yield made
    await made.client.aclose()
    await platform.close()


def _prices(clock: ManualClock) -> LastPriceCache:
    prices = LastPriceCache()
    prices.update("AAPL", 2_000_000, clock.now())
    return prices


@pytest.mark.xfail(strict=True, raises=TimeoutError, reason="B1: fill ids repeat after a restart")
async def test_b1_a_fill_after_a_restart_is_not_taken_for_a_duplicate(tmp_path: Path) -> None:
    clock = ManualClock()
    prices = _prices(clock)
    first = await trading(tmp_path / "d", clock, prices)
    await funded(first.platform)
    first.venue.on_quote(quote("199.90", "200.00", size=10))  # 10 of the 100 fill: "sim-1"
    placed = await first.platform.orders.execute(order(Side.BUY, 100, limit=2_000_000))
    await reaches(first, placed.order_id, Status.PARTIALLY_FILLED)
    await close(first)
    second = await trading(tmp_path / "d", clock, prices)  # the venue restarts its count
    try:
        second.venue.on_quote(quote("199.90", "200.00", size=1_000))  # the other 90: "sim-1" again
        async with asyncio.timeout(2):
            await reaches(second, placed.order_id, Status.FILLED)
    finally:
        await close(second)


@pytest.mark.xfail(strict=True, raises=TimeoutError, reason="B2: a lost cancel is never resent")
async def test_b2_a_cancel_lost_in_a_crash_still_cancels_after_the_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    prices = _prices(clock)
    first = await trading(tmp_path / "d", clock, prices)
    await funded(first.platform)
    first.venue.on_quote(quote("199.90", "200.00"))
    placed = await first.platform.orders.execute(order(Side.BUY, 10, limit=1_900_000))
    await reaches(first, placed.order_id, Status.NEW)
    first.venue.cancel = lambda order_id: None  # type: ignore[method-assign]  # the crash: no answer
    await first.platform.orders.execute(CancelOrder(account_id=ACCOUNT, order_id=placed.order_id))
    await first.engine.drain()  # the cancel is marked sent
    await close(first)
    second = await trading(tmp_path / "d", clock, prices)
    try:
        second.venue.on_quote(quote("199.90", "200.00"))
        async with asyncio.timeout(2):
            await reaches(second, placed.order_id, Status.CANCELED)
        ledger = second.platform.orders.lane_for(ACCOUNT).book.ledger
        assert ledger.pending(customer_cash(ACCOUNT)) == 0
    finally:
        await close(second)


@pytest.mark.xfail(strict=True, raises=TimeoutError, reason="B2: a lost replace is never resent")
async def test_b2_a_replace_lost_in_a_crash_is_settled_after_the_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    prices = _prices(clock)
    first = await trading(tmp_path / "d", clock, prices)
    await funded(first.platform)
    first.venue.on_quote(quote("199.90", "200.00"))
    old = await first.platform.orders.execute(order(Side.BUY, 10, limit=1_900_000))
    await reaches(first, old.order_id, Status.NEW)
    first.venue.replace = lambda order_id, new: None  # type: ignore[method-assign]  # the crash
    replacing = ReplaceOrder(account_id=ACCOUNT, order_id=old.order_id, qty=12)
    new = await first.platform.orders.execute(replacing)
    await first.engine.drain()  # the replace is marked sent
    await close(first)
    second = await trading(tmp_path / "d", clock, prices)
    try:
        second.venue.on_quote(quote("199.90", "200.00"))
        async with asyncio.timeout(2):  # today: old stays pending_replace, new works on its own
            await reaches(second, old.order_id, Status.REPLACED)
        second.venue.on_quote(quote("188.90", "189.00"))  # and its fill would be refused
        await reaches(second, new.order_id, Status.FILLED)
    finally:
        await close(second)


async def test_b3_the_account_is_one_moment(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    real = account_routes.account_positions

    async def positions_while_a_withdrawal_lands(store: Any, account_id: str) -> Any:
        found = await real(store, account_id)
        await api.platform.orders.execute(
            Withdraw(account_id=account_id, transfer_id="meanwhile", amount=12_345)
        )
        return found

    monkeypatch.setattr(account_routes, "account_positions", positions_while_a_withdrawal_lands)
    shown = (await api.client.get("/api/v1/account", headers=api.trader)).json()
    cash, held, power = (float(shown[k]) for k in ("cash", "cash_held", "buying_power"))
    assert round(cash - held, 2) == power, shown


class _ReadsFail:
    """A memory store whose order reads fail while ``down``."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.down = False

    async def get_order(self, order_id: str) -> Any:
        if self.down:
            raise StorageError("injected: the store cannot be read")
        return await self.inner.get_order(order_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.xfail(strict=True, raises=TimeoutError, reason="B4: a prefetch error ends the lane")
async def test_b4_a_read_error_while_prefetching_does_not_kill_the_lane() -> None:
    clock = ManualClock()
    prices = _prices(clock)
    settings = replace(Settings(), risk=LOOSE_LIMITS)
    store = _ReadsFail()
    first = await build_platform(settings, store=store, clock=clock, prices=prices)  # type: ignore[arg-type]
    await first.orders.execute(OpenAccount(account_id=ACCOUNT))
    await first.orders.execute(Deposit(account_id=ACCOUNT, transfer_id="seed", amount=10**7))
    placed = await first.orders.execute(buy(1, 1_990_000, "c1"))
    done = Report(kind=ReportKind.CANCELED, order_id=placed.order_id, timestamp=clock.now())
    await first.orders.execute(CancelOrder(account_id=ACCOUNT, order_id=placed.order_id))
    await first.orders.execute(ApplyReport(account_id=ACCOUNT, report=done))
    await first.orders.stop()
    second = await build_platform(settings, store=store, clock=clock, prices=prices)  # type: ignore[arg-type]
    try:
        store.down = True  # the retry must read the closed order "c1" from the store
        with pytest.raises((AgoraError, TimeoutError)):
            await asyncio.wait_for(second.orders.execute(buy(1, 1_990_000, "c1")), 2)
        store.down = False
        deposit = Deposit(account_id=ACCOUNT, transfer_id="after", amount=100)
        await asyncio.wait_for(second.orders.execute(deposit), 2)  # hangs: the lane is gone
    finally:
        store.down = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(second.close(), 5)


@pytest.mark.parametrize(
    ("kind", "row"),
    [
        (FeedKind.TRADES, {"timestamp": "0001-01-01T00:00:00+01:00", "price": "1", "size": "1"}),
        (FeedKind.TRADES, {"timestamp": "9999-12-31T23:00:00-02:00", "price": "1", "size": "1"}),
        (
            FeedKind.BARS,
            {
                "timestamp": "9999-12-31T23:59:30+00:00",
                "open": "1",
                "high": "1",
                "low": "1",
                "close": "1",
                "volume": "1",
            },
        ),
    ],
)
def test_b5_timestamps_at_the_ends_of_time_are_refused(kind: FeedKind, row: dict[str, str]) -> None:
    with pytest.raises(AgoraError):
        normalize_row(
            kind,
            {"symbol": "AAPL", **row},
            row_number=1,
            instruments=InstrumentRegistry.default(),
            source="regression",
        )


@pytest.mark.parametrize("line", [b"0 x", b"[1] ]", b'"a" "b"'])
def test_b6_a_non_object_line_with_trailing_text_names_its_line(line: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session.jsonl"
        path.write_bytes(b'{"format": "agora.venue-session", "version": 1}\n' + line + b"\n")
        with pytest.raises(AgoraError, match="line 2"):
            load_session(path)


async def _slow_venue(folder: Path) -> Trading:
    """The platform, engine and a paper venue that takes 300 ms per command (requests pile up)."""
    clock = ManualClock()
    platform = await start(folder, clock, _prices(clock))
    venue = SimulatedVenue(latency_seconds=0.3)
    engine = ExecutionEngine(
        venue=venue, orders=platform.orders, outbox=platform.store,
        checkpoints=platform.store, clock=clock, ack_timeout_seconds=5,
    )  # fmt: skip
    await engine.start()
    commits = asyncio.Event()
    platform.orders.on_commit(commits.set)
    world = Trading(platform, engine, venue, commits)
    await funded(platform)
    venue.on_quote(quote("199.90", "200.00"))
    return world


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="B7: a chained replace loses a fill")
async def test_b7_replacing_an_unconfirmed_replacement_keeps_its_fills(tmp_path: Path) -> None:
    world = await _slow_venue(tmp_path / "d")
    try:
        orders = world.platform.orders
        first = await orders.execute(order(Side.BUY, 10, limit=1_950_000))
        await reaches(world, first.order_id, Status.NEW)
        marketable = ReplaceOrder(
            account_id=ACCOUNT, order_id=first.order_id, limit_price=2_000_000
        )
        second = await orders.execute(marketable)  # fills at once when the venue applies it
        again = ReplaceOrder(account_id=ACCOUNT, order_id=second.order_id, limit_price=1_990_000)
        await orders.execute(again)  # before the venue confirmed the first replace
        await asyncio.sleep(1.5)
        book = orders.lane_for(ACCOUNT).book
        assert book.orders[second.order_id].status is Status.FILLED  # today: new, 0 filled
    finally:
        await close(world)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="B8: halt skips pending replaces")
async def test_b8_halting_during_a_replace_the_venue_refuses_leaves_nothing_open(
    tmp_path: Path,
) -> None:
    world = await _slow_venue(tmp_path / "d")
    platform = world.platform
    parts = PlatformParts(
        orders=platform.orders, store=platform.store, prices=platform.prices,  # type: ignore[arg-type]
        instruments=platform.instruments, controls=platform.controls, clock=platform.clock,
        ids=platform.ids, metrics=platform.metrics,
    )  # fmt: skip
    context = make_context(parts, PricesOnly(platform.prices, platform.clock), WebSettings())  # type: ignore[arg-type]
    try:
        old = await platform.orders.execute(order(Side.BUY, 10, limit=1_950_000))
        await reaches(world, old.order_id, Status.NEW)

        def refuse(order_id: str, new: Any, now: Any) -> list[VenueReport]:  # a real broker may
            return [VenueReport(kind="replace_rejected", order_id=order_id, timestamp=now)]

        world.venue._book.replace = refuse  # type: ignore[method-assign]
        await platform.orders.execute(
            ReplaceOrder(account_id=ACCOUNT, order_id=old.order_id, qty=12)
        )
        await apply_trading_state(context, TradingState.HALTED, None)  # old is pending_replace
        await asyncio.sleep(1.5)
        still = platform.orders.lane_for(ACCOUNT).book.accounts[ACCOUNT].open_orders
        assert not still, [o.status.value for o in still.values()]  # today: new, pending_new
    finally:
        await close(world)
