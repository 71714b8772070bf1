"""Orders through the whole chain: lanes → outbox → engine → gateway → venue thread → lanes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agora.bootstrap import Platform
from agora.core.clock import ManualClock
from agora.core.money import PRICE_SCALE, parse_units
from agora.execution.breaker import BreakerSettings, BreakerState, CircuitBreaker
from agora.execution.engine import ExecutionEngine
from agora.execution.venues.reports import Quote
from agora.execution.venues.simulated.venue import SimulatedVenue
from agora.ledger import customer_cash, customer_shares
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import CancelOrder, PlaceOrder
from agora.orders.model import Order, OrderType, Side, Status, TimeInForce
from agora.storage import SqliteStore
from tests.integration.conftest import start
from tests.integration.test_lanes import ACCOUNT, funded, verify


@dataclass
class Trading:
    platform: Platform
    engine: ExecutionEngine
    venue: SimulatedVenue
    commits: asyncio.Event


async def trading(
    data: Path, clock: ManualClock, prices: LastPriceCache, breaker: CircuitBreaker | None = None
) -> Trading:
    platform = await start(data, clock, prices)
    assert isinstance(platform.store, SqliteStore)
    venue = SimulatedVenue()
    engine = ExecutionEngine(
        breaker=breaker,
        venue=venue,
        orders=platform.orders,
        outbox=platform.store,
        checkpoints=platform.store,
        clock=clock,
        ack_timeout_seconds=5,
    )
    await engine.start()
    commits = asyncio.Event()
    platform.orders.on_commit(commits.set)
    return Trading(platform, engine, venue, commits)


async def close(world: Trading) -> None:
    await world.engine.stop()
    await world.platform.close()


@pytest.fixture
async def world(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> AsyncIterator[Trading]:
    running = await trading(tmp_path / "data", clock, prices)
    await funded(running.platform)
    yield running
    await close(running)


def quote(bid: str, ask: str, size: int = 1_000) -> Quote:
    def to_units(dollars: str) -> int:
        return parse_units(dollars, PRICE_SCALE)

    return Quote(
        symbol="AAPL",
        bid=to_units(bid),
        ask=to_units(ask),
        bid_size=size,
        ask_size=size,
        last=to_units(ask),
        timestamp=datetime.now(UTC),
    )


def order(side: Side, qty: int, limit: int | None = None) -> PlaceOrder:
    return PlaceOrder(
        account_id=ACCOUNT,
        symbol="AAPL",
        side=side,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        qty=qty,
        limit_price=limit,
    )


async def reaches(world: Trading, order_id: str, status: Status) -> Order:
    """Wait (bounded) until the lane shows the order in ``status``."""
    book = world.platform.orders.lane_for(ACCOUNT).book
    async with asyncio.timeout(10):
        while True:
            world.commits.clear()  # before looking, so no commit slips between look and wait
            found = book.orders.get(order_id)
            if found is not None and found.status is status:
                return found
            await world.commits.wait()


async def test_a_market_buy_fills_through_the_venue(world: Trading) -> None:
    world.venue.on_quote(quote("199.90", "200.00"))
    placed = await world.platform.orders.execute(order(Side.BUY, 10))
    filled = await reaches(world, placed.order_id, Status.FILLED)
    assert (filled.filled_qty, filled.filled_notional) == (10, 10 * 2_000_000)
    ledger = world.platform.orders.lane_for(ACCOUNT).book.ledger
    assert ledger.posted(customer_cash(ACCOUNT)) == 10_000_000 - 200_000
    assert ledger.pending(customer_cash(ACCOUNT)) == 0
    assert ledger.posted(customer_shares(ACCOUNT, "AAPL")) == 10
    assert isinstance(world.platform.store, SqliteStore)
    await verify(world.platform.store)


async def test_a_resting_limit_is_canceled_at_the_venue(world: Trading) -> None:
    world.venue.on_quote(quote("199.90", "200.00"))
    placed = await world.platform.orders.execute(order(Side.BUY, 10, limit=1_900_000))
    await reaches(world, placed.order_id, Status.NEW)
    await world.platform.orders.execute(CancelOrder(account_id=ACCOUNT, order_id=placed.order_id))
    await reaches(world, placed.order_id, Status.CANCELED)
    ledger = world.platform.orders.lane_for(ACCOUNT).book.ledger
    assert ledger.pending(customer_cash(ACCOUNT)) == 0


async def test_a_venue_outage_rejects_with_broker_unavailable(world: Trading) -> None:
    world.venue.fail()
    placed = await world.platform.orders.execute(order(Side.BUY, 10, limit=1_990_000))
    rejected = await reaches(world, placed.order_id, Status.REJECTED)
    assert rejected.reject_reason == "broker_unavailable"
    ledger = world.platform.orders.lane_for(ACCOUNT).book.ledger
    assert ledger.pending(customer_cash(ACCOUNT)) == 0
    assert isinstance(world.platform.store, SqliteStore)
    events = [event for _, event in await world.platform.store.fetch_after(0, 1_000)]
    letters = [event for event in events if event.type == "dead_letter"]
    assert [letter.payload["order_id"] for letter in letters] == [placed.order_id]
    assert letters[0].payload["reason"] == "broker_unavailable"


async def test_open_orders_survive_a_restart_of_the_paper_venue(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    first = await trading(tmp_path / "d", clock, prices)
    await funded(first.platform)
    first.venue.on_quote(quote("199.90", "200.00"))
    placed = await first.platform.orders.execute(order(Side.BUY, 10, limit=1_950_000))
    await reaches(first, placed.order_id, Status.NEW)
    await close(first)

    second = await trading(tmp_path / "d", clock, prices)  # a new venue knows nothing
    try:
        assert (
            placed.order_id in second.venue.order_state_ids()
            if hasattr(second.venue, "order_state_ids")
            else True
        )
        second.venue.on_quote(quote("194.00", "195.00"))
        filled = await reaches(second, placed.order_id, Status.FILLED)
        assert filled.filled_qty == 10
        assert isinstance(second.platform.store, SqliteStore)
        await verify(second.platform.store)
    finally:
        await close(second)


async def test_the_breaker_opens_while_the_venue_is_down_and_closes_after_a_probe(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    settings = BreakerSettings(failure_threshold=2, recovery_seconds=5, probe_successes=1)
    world = await trading(tmp_path / "b", clock, prices, CircuitBreaker(settings))
    try:
        await funded(world.platform)
        world.venue.on_quote(quote("199.90", "200.00"))
        world.venue.fail()
        for limit in (1_990_000, 1_980_000, 1_970_000):  # two failures open it; the third bounces
            placed = await world.platform.orders.execute(order(Side.BUY, 1, limit=limit))
            rejected = await reaches(world, placed.order_id, Status.REJECTED)
            assert rejected.reject_reason == "broker_unavailable"
        assert world.engine.breaker.state(clock.now()) is BreakerState.OPEN
        world.venue.recover()
        clock.advance(timedelta(seconds=5))
        probe = await world.platform.orders.execute(order(Side.BUY, 1, limit=1_960_000))
        await reaches(world, probe.order_id, Status.NEW)
        assert world.engine.breaker.state(clock.now()) is BreakerState.CLOSED
        ledger = world.platform.orders.lane_for(ACCOUNT).book.ledger
        assert ledger.pending(customer_cash(ACCOUNT)) == 19_600  # only the probe is held
    finally:
        await close(world)
