"""Duplicate, out-of-order delivery of every venue report changes nothing.

The same scripted session runs twice against the simulated exchange: once as the venue delivers
(each report once, in order) and once through a transport that delivers every report twice, each
copy after its own random delay, so reports overtake each other. Orders, ledger balances and
positions must come out identical; positions must equal the sum of fills and the ledger verify.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import msgspec

from agora.bootstrap import Platform
from agora.bus.inprocess import InProcessBus
from agora.core.clock import ManualClock
from agora.execution.engine import ExecutionEngine
from agora.execution.venues.protocol import OrderState, VenueListener
from agora.execution.venues.reports import FeeSchedule, Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated.venue import SimulatedVenue
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import CancelOrder, PlaceOrder
from agora.orders.model import Order, Side, Status
from agora.orders.ports import FillQuery, OrderQuery
from agora.positions.model import Position
from agora.positions.projector import PositionProjector, account_positions
from agora.storage import SqliteStore
from tests.integration.conftest import start
from tests.integration.test_execution import order, quote
from tests.integration.test_lanes import ACCOUNT, funded, verify


class TwiceShuffled:
    """A venue whose reports reach the listener twice each, after random delays (seeded)."""

    def __init__(self, inner: SimulatedVenue, seed: int) -> None:
        self.inner = inner
        self.name = inner.name
        self._random = random.Random(seed)
        self._listener: VenueListener | None = None
        self.delivered = 0

    def start(self, listener: VenueListener) -> None:
        self._listener = listener
        self.inner.start(self)

    def on_report(self, report: VenueReport) -> None:
        """Schedule two deliveries of ``report`` at independent random delays (venue thread)."""
        assert self._listener is not None
        for _ in range(2):
            delay = self._random.uniform(0, 0.03)
            threading.Timer(delay, self._deliver, [report]).start()

    def _deliver(self, report: VenueReport) -> None:
        assert self._listener is not None
        self.delivered += 1
        self._listener.on_report(report)

    def stop(self) -> None:
        self.inner.stop()

    def submit(self, order: VenueOrder) -> None:
        self.inner.submit(order)

    def cancel(self, order_id: str) -> None:
        self.inner.cancel(order_id)

    def replace(self, order_id: str, new: VenueOrder) -> None:
        self.inner.replace(order_id, new)

    def order_state(self, order_id: str) -> OrderState:
        return self.inner.order_state(order_id)

    def on_quote(self, quote: Quote) -> None:
        self.inner.on_quote(quote)


@dataclass
class Outcome:
    orders: dict[str, tuple[str, int, int]]  # client order id → (status, filled qty, notional)
    balances: dict[str, int]
    positions: list[Position]
    fills: int


async def settled(platform: Platform, client_order_id: str, status: Status) -> Order:
    """Wait (bounded) until the store holds the order in ``status``."""
    store = platform.store
    assert isinstance(store, SqliteStore)
    async with asyncio.timeout(15):
        for _ in itertools.count():  # polling: the store has no change notification
            found = await store.get_order_by_client_id(ACCOUNT, client_order_id)
            if found is not None and found.status is status:
                return found
            await asyncio.sleep(0.01)
    raise AssertionError("unreachable")


def named(command: PlaceOrder, client_order_id: str) -> PlaceOrder:
    return replace(command, client_order_id=client_order_id)


async def session(
    data: Path, clock: ManualClock, prices: LastPriceCache, chaos_seed: int | None
) -> Outcome:
    platform = await start(data, clock, prices)
    store = platform.store
    assert isinstance(store, SqliteStore)
    simulated = SimulatedVenue(fees=FeeSchedule(per_share_price_units=30, minimum_cents=1))
    venue = simulated if chaos_seed is None else TwiceShuffled(simulated, chaos_seed)
    engine = ExecutionEngine(
        venue=venue,
        orders=platform.orders,
        outbox=store,
        checkpoints=store,
        clock=clock,
        ack_timeout_seconds=5,
    )
    await engine.start()
    try:
        await funded(platform)
        await script(platform, simulated)
        await InProcessBus(store, store, (PositionProjector(platform.instruments),)).drain()
        await verify(store)
        orders = await store.list_orders(OrderQuery(account_id=ACCOUNT, limit=500))
        records = await store.ledger_records()
        fills = await store.list_fills(FillQuery(account_id=ACCOUNT, limit=500))
        positions = await account_positions(store, ACCOUNT)
        for position in positions:  # positions equal the sum of fills
            signed = [
                f.qty if f.side == "buy" else -f.qty for f in fills if f.symbol == position.symbol
            ]
            assert position.qty == sum(signed)
            assert position.fills == len(signed)
        if isinstance(venue, TwiceShuffled):
            assert venue.delivered >= 2 * len(orders)  # the chaos really happened
        return Outcome(
            orders={
                o.client_order_id or "": (o.status.value, o.filled_qty, o.filled_notional)
                for o in orders
            },
            balances=records.balances,
            positions=positions,
            fills=len(fills),
        )
    finally:
        await engine.stop()
        await platform.close()


async def script(platform: Platform, venue: SimulatedVenue) -> None:
    """Partial fills, cancels racing fills, a sale: the same steps in both runs."""
    execute = platform.orders.execute
    venue.on_quote(quote("199.90", "200.00", size=6))
    await execute(named(order(Side.BUY, 10), "market-buy"))
    await settled(platform, "market-buy", Status.PARTIALLY_FILLED)
    venue.on_quote(quote("200.90", "201.00", size=3))
    venue.on_quote(quote("200.90", "201.00", size=100))
    await settled(platform, "market-buy", Status.FILLED)

    resting = await execute(named(order(Side.BUY, 5, limit=1_950_000), "resting"))
    await settled(platform, "resting", Status.NEW)
    await execute(CancelOrder(account_id=ACCOUNT, order_id=resting.order_id))
    await settled(platform, "resting", Status.CANCELED)

    # A fill and the cancel right behind it: delivered the other way round, the fill would be lost.
    for n in range(5):
        name = f"partly-canceled-{n}"
        partly = await execute(named(order(Side.BUY, 10, limit=1_990_000), name))
        await settled(platform, name, Status.NEW)
        venue.on_quote(quote("198.80", "198.90", size=3))
        await execute(CancelOrder(account_id=ACCOUNT, order_id=partly.order_id))
        await settled(platform, name, Status.CANCELED)
        venue.on_quote(quote("200.90", "201.00", size=100))

    await execute(named(order(Side.SELL, 4, limit=2_015_000), "sale"))
    await settled(platform, "sale", Status.NEW)
    venue.on_quote(quote("201.60", "201.70", size=2))
    venue.on_quote(quote("201.70", "201.80", size=50))
    await settled(platform, "sale", Status.FILLED)


async def test_every_report_twice_and_out_of_order_changes_nothing(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    once = await session(tmp_path / "once", clock, prices, chaos_seed=None)
    twice = await session(tmp_path / "twice", clock, prices, chaos_seed=7)

    assert once.orders == twice.orders
    assert once.balances == twice.balances
    assert once.positions == [
        msgspec.structs.replace(p, last_fill_at=q.last_fill_at)  # times differ between runs
        for p, q in zip(twice.positions, once.positions, strict=True)
    ]
    assert once.fills == twice.fills == 10
    assert once.orders["partly-canceled-0"] == ("canceled", 3, 3 * 1_989_000)
    (position,) = once.positions
    assert position.qty == 6 + 15
