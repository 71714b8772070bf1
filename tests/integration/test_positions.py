"""The position service on SQLite: fills from the venue become positions, once, rebuildable."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

from agora.bus.inprocess import InProcessBus
from agora.core.clock import ManualClock
from agora.core.events import Event
from agora.marketdata.cache import LastPriceCache
from agora.orders.model import Side, Status
from agora.positions.model import replay
from agora.positions.projector import (
    PositionProjector,
    account_positions,
    all_fills,
    fills_from_events,
)
from agora.storage import SqliteStore
from tests.integration.test_execution import close, order, quote, reaches, trading
from tests.integration.test_lanes import ACCOUNT, funded


async def committed(store: SqliteStore, order_id: str, status: Status) -> None:
    """Wait (bounded) until the store holds the order in ``status``."""
    async with asyncio.timeout(10):
        for _ in itertools.count():  # polling: the store has no change notification to wait on
            found = await store.get_order(order_id)
            if found is not None and found.status is status:
                return
            await asyncio.sleep(0.01)


async def events_of(store: SqliteStore) -> list[Event]:
    return [event for _, event in await store.fetch_after(0, 100_000)]


async def test_fills_become_positions_equal_to_the_sum_of_fills(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    world = await trading(tmp_path / "d", clock, prices)
    store = world.platform.store
    assert isinstance(store, SqliteStore)
    projector = PositionProjector(world.platform.instruments)
    bus = InProcessBus(store, store, (projector,))
    try:
        await funded(world.platform)
        world.venue.on_quote(quote("199.90", "200.00", size=6))
        first = await world.platform.orders.execute(order(Side.BUY, 10))
        await reaches(world, first.order_id, Status.PARTIALLY_FILLED)
        world.venue.on_quote(quote("200.90", "201.00", size=100))
        await reaches(world, first.order_id, Status.FILLED)
        sale = await world.platform.orders.execute(order(Side.SELL, 4))
        await reaches(world, sale.order_id, Status.FILLED)
        await committed(store, sale.order_id, Status.FILLED)
        await bus.drain()
        await bus.drain()  # a second pass finds nothing new and changes nothing

        (position,) = await account_positions(store, ACCOUNT)
        assert position.qty == 6
        assert position.fills == 3
        assert position.average_price() == (6 * 2_000_000 + 4 * 2_010_000) // 10  # $200.40
        assert position.realized_cents == 4 * (20_090 - 20_040)  # sold at the bid, $200.90

        with sqlite3.connect(tmp_path / "d" / "agora.db") as conn:
            signed = conn.execute(
                "SELECT sum(CASE side WHEN 'buy' THEN qty ELSE -qty END), count(*) FROM fills"
            ).fetchone()
        assert signed == (position.qty, position.fills)

        rebuilt = replay(fills_from_events(await events_of(store), world.platform.instruments))
        assert rebuilt == {(ACCOUNT, "AAPL"): position}
        assert len(await all_fills(store)) == 3
    finally:
        await close(world)


async def test_a_restarted_projector_applies_nothing_twice(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    world = await trading(tmp_path / "d", clock, prices)
    store = world.platform.store
    assert isinstance(store, SqliteStore)
    try:
        await funded(world.platform)
        world.venue.on_quote(quote("199.90", "200.00"))
        placed = await world.platform.orders.execute(order(Side.BUY, 10))
        await reaches(world, placed.order_id, Status.FILLED)
        await committed(store, placed.order_id, Status.FILLED)
        projector = PositionProjector(world.platform.instruments)
        await InProcessBus(store, store, (projector,)).drain()
        before = await account_positions(store, ACCOUNT)

        events = await events_of(store)
        fill_events = [event for event in events if event.type == "order.filled"]
        # The same fill redelivered in another event (at-least-once upstream) changes nothing.
        seq = await store.checkpoint(projector.name)
        await store.apply(projector.name, seq + 1, lambda tx: projector.apply(fill_events[0], tx))
        await InProcessBus(store, store, (PositionProjector(world.platform.instruments),)).drain()
        assert await account_positions(store, ACCOUNT) == before
        assert before[0].qty == 10
    finally:
        await close(world)
