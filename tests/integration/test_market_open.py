"""The overnight queue and the market open, on the XNYS calendar with a manual clock.

Orders placed while the market is closed are ``accepted`` (their buying power held) and go to
the venue at the open, in arrival order, round-robin across accounts, at the configured rate;
``opg`` orders first; ``day`` leftovers expire at the close and ``cls`` orders go at the close.
The calendar's holidays, early closes and weekends decide when.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agora.bootstrap import Platform
from agora.cli import app
from agora.core.clock import ManualClock
from agora.core.errors import ValidationError
from agora.core.events import EventType
from agora.embedded import start_embedded
from agora.execution.engine import ExecutionEngine
from agora.execution.venues.simulated.venue import SimulatedVenue
from agora.ledger import customer_cash
from agora.marketdata.cache import LastPriceCache
from agora.marketdata.trading_calendar import SessionCalendar
from agora.marketdata.xnys import xnys_calendar
from agora.orders.commands import CancelOrder, PlaceOrder, ReplaceOrder
from agora.orders.model import Order, OrderType, Side, Status, TimeInForce
from agora.storage import SqliteStore
from tests.integration.conftest import settings_for, start
from tests.integration.test_execution import quote
from tests.integration.test_lanes import funded, verify

ALICE, BOB, CAROL = "acc_alice", "acc_bob", "acc_carol"
TUESDAY_NIGHT = datetime(2025, 11, 25, 3, 0, tzinfo=UTC)  # Monday 22:00 in New York
TUESDAY_OPEN = datetime(2025, 11, 25, 14, 30, tzinfo=UTC)
TUESDAY_CLOSE = datetime(2025, 11, 25, 21, 0, tzinfo=UTC)
WEDNESDAY_EVENING = datetime(2025, 11, 26, 22, 0, tzinfo=UTC)
THANKSGIVING_OPENING_HOUR = datetime(2025, 11, 27, 14, 30, tzinfo=UTC)  # a holiday
FRIDAY_OPEN = datetime(2025, 11, 28, 14, 30, tzinfo=UTC)
FRIDAY_EARLY_CLOSE = datetime(2025, 11, 28, 18, 0, tzinfo=UTC)  # 13:00 in New York
SATURDAY_OPENING_HOUR = datetime(2025, 11, 29, 14, 30, tzinfo=UTC)
MONDAY_OPEN = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
QUIET = 0.15  # wall seconds to watch for something that must not happen
_client_ids = itertools.count(1)


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    return xnys_calendar(date(2025, 11, 17), date(2025, 12, 12))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(TUESDAY_NIGHT)


@dataclass
class Market:
    platform: Platform
    engine: ExecutionEngine
    venue: SimulatedVenue
    clock: ManualClock
    prices: LastPriceCache

    @property
    def store(self) -> SqliteStore:
        assert isinstance(self.platform.store, SqliteStore)
        return self.platform.store

    async def place(
        self,
        account_id: str,
        tif: TimeInForce = TimeInForce.DAY,
        limit: int | None = 1_950_000,
        qty: int = 10,
    ) -> Order:
        self.prices.update("AAPL", 2_000_000, self.clock.now())  # fresh for the risk rules
        placed: Order = await self.platform.orders.execute(
            PlaceOrder(
                account_id=account_id,
                symbol="AAPL",
                side=Side.BUY,
                order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                time_in_force=tif,
                qty=qty,
                limit_price=limit,
                client_order_id=f"c{next(_client_ids)}",  # distinct: not a double click
            )
        )
        await self.engine.drain()
        return placed

    def order(self, placed: Order) -> Order:
        found = self.platform.orders.lane_for(placed.account_id).book.orders.get(placed.order_id)
        assert found is not None
        return found

    async def released(self) -> list[str]:
        """The ids of the orders released from the queue so far, in release order."""
        events = await self.store.fetch_after(0, 100_000)
        return [
            str(event.payload["order_id"])
            for _, event in events
            if event.type == EventType.ORDER_SUBMITTED and event.payload.get("released") is True
        ]


async def open_market(
    data: Path, clock: ManualClock, calendar: SessionCalendar, rate: int = 1_000
) -> Market:
    prices = LastPriceCache()
    prices.update("AAPL", 2_000_000, clock.now())
    platform = await start(data, clock, prices)
    assert isinstance(platform.store, SqliteStore)
    venue = SimulatedVenue()
    engine = ExecutionEngine(
        venue=venue,
        orders=platform.orders,
        outbox=platform.store,
        checkpoints=platform.store,
        clock=clock,
        ack_timeout_seconds=5,
        calendar=calendar,
        documents=platform.store,
        release_rate_per_second=rate,
        session_poll_seconds=0.01,  # the manual clock moves without waking anyone
    )
    await engine.start()
    venue.on_quote(quote("199.90", "200.00"))
    return Market(platform, engine, venue, clock, prices)


async def close(market: Market) -> None:
    await market.engine.stop()
    await market.platform.close()


@pytest.fixture
async def market(
    tmp_path: Path, clock: ManualClock, calendar: SessionCalendar
) -> AsyncIterator[Market]:
    running = await open_market(tmp_path / "data", clock, calendar)
    for account in (ALICE, BOB, CAROL):
        await funded(running.platform, account)
    yield running
    await close(running)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded, in wall time) until ``condition`` holds."""
    for _ in range(1_000):  # polled: the manual clock and the venue thread set no event
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting: {what}")


async def released_count(market: Market, count: int) -> list[str]:
    """Wait until exactly ``count`` orders are released, and check no more follow at once."""
    for _ in range(1_000):
        if len(await market.released()) >= count:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(QUIET)
    released = await market.released()
    assert len(released) == count, released
    return released


def reaches(market: Market, placed: Order, status: Status) -> Callable[[], bool]:
    return lambda: market.order(placed).status is status


async def test_orders_placed_at_night_are_accepted_with_their_buying_power_held(
    market: Market,
) -> None:
    placed = await market.place(ALICE, limit=1_950_000)
    assert market.order(placed).status is Status.ACCEPTED
    ledger = market.platform.orders.lane_for(ALICE).book.ledger
    assert ledger.pending(customer_cash(ALICE)) == 195_000  # 10 × 195.00 USD, held overnight
    assert not market.venue.order_state(placed.order_id).known
    await asyncio.sleep(QUIET)
    assert market.order(placed).status is Status.ACCEPTED

    market.clock.set(TUESDAY_OPEN)
    await until(reaches(market, placed, Status.NEW), "released and working at the open")
    assert market.venue.order_state(placed.order_id).known
    assert ledger.pending(customer_cash(ALICE)) == 195_000
    await verify(market.store)


async def test_the_open_releases_opg_first_then_round_robin_at_the_configured_rate(
    tmp_path: Path, clock: ManualClock, calendar: SessionCalendar
) -> None:
    market = await open_market(tmp_path / "d", clock, calendar, rate=2)
    try:
        for account in (ALICE, BOB, CAROL):
            await funded(market.platform, account)
        names: dict[str, str] = {}
        for name, account, tif in (
            ("a1", ALICE, TimeInForce.DAY),
            ("a2", ALICE, TimeInForce.DAY),
            ("b1", BOB, TimeInForce.GTC),
            ("a3", ALICE, TimeInForce.DAY),
            ("c1", CAROL, TimeInForce.DAY),
            ("b2", BOB, TimeInForce.DAY),
            ("a4", ALICE, TimeInForce.DAY),
            ("c_opg", CAROL, TimeInForce.OPG),
        ):
            placed = await market.place(account, tif)
            assert market.order(placed).status is Status.ACCEPTED
            names[placed.order_id] = name

        def released_names(ids: list[str]) -> list[str]:
            return [names[order_id] for order_id in ids]

        market.clock.set(TUESDAY_OPEN)
        assert released_names(await released_count(market, 2)) == ["c_opg", "a1"]
        market.clock.advance(timedelta(milliseconds=999))
        await released_count(market, 2)  # still inside the first second
        market.clock.advance(timedelta(milliseconds=1))
        assert released_names(await released_count(market, 4))[2:] == ["b1", "c1"]
        market.clock.advance(timedelta(seconds=1))
        assert released_names(await released_count(market, 6))[4:] == ["a2", "b2"]
        market.clock.advance(timedelta(seconds=1))
        market.engine.set_release_rate(1)  # dialled down at run time
        assert released_names(await released_count(market, 7))[6:] == ["a3"]
        market.clock.advance(timedelta(seconds=1))
        assert released_names(await released_count(market, 8))[7:] == ["a4"]
        for order_id in names:
            await until(
                lambda order_id=order_id: market.venue.order_state(order_id).known,
                "every released order reaches the venue",
            )
    finally:
        await close(market)


async def test_an_order_placed_during_a_backlog_waits_its_turn(
    tmp_path: Path, clock: ManualClock, calendar: SessionCalendar
) -> None:
    market = await open_market(tmp_path / "d", clock, calendar, rate=1)
    try:
        for account in (ALICE, BOB):
            await funded(market.platform, account)
        night = [await market.place(ALICE) for _ in range(3)]
        market.clock.set(TUESDAY_OPEN)
        assert await released_count(market, 1) == [night[0].order_id]
        late = await market.place(BOB)  # the market is open, but orders are still waiting
        assert market.order(late).status is Status.ACCEPTED
        market.clock.advance(timedelta(seconds=1))
        assert (await released_count(market, 2))[1] == night[1].order_id  # alice was first
        market.clock.advance(timedelta(seconds=1))
        assert (await released_count(market, 3))[2] == late.order_id  # then bob: round-robin
        market.clock.advance(timedelta(seconds=1))
        assert (await released_count(market, 4))[3] == night[2].order_id
        idle = await market.place(BOB)  # no backlog any more: straight to the venue
        await until(reaches(market, idle, Status.NEW), "sent at once")
    finally:
        await close(market)


async def test_day_leftovers_expire_at_the_close_and_gtc_orders_stay(market: Market) -> None:
    day = await market.place(ALICE, TimeInForce.DAY, limit=1_950_000)
    gtc = await market.place(ALICE, TimeInForce.GTC, limit=1_940_000)
    bought = await market.place(BOB, TimeInForce.DAY, limit=None)  # a market order
    market.clock.set(TUESDAY_OPEN)
    await until(reaches(market, bought, Status.FILLED), "the market order fills at the open")
    await until(reaches(market, day, Status.NEW), "the day order rests")
    await until(reaches(market, gtc, Status.NEW), "the gtc order rests")

    market.clock.set(TUESDAY_CLOSE - timedelta(seconds=1))
    await asyncio.sleep(QUIET)
    assert market.order(day).status is Status.NEW
    market.clock.set(TUESDAY_CLOSE)
    await until(reaches(market, day, Status.EXPIRED), "the day order expires at the close")
    assert market.order(gtc).status is Status.NEW
    ledger = market.platform.orders.lane_for(ALICE).book.ledger
    assert ledger.pending(customer_cash(ALICE)) == 194_000  # only the gtc order is held
    await verify(market.store)


async def test_cls_orders_wait_for_the_close(market: Market) -> None:
    market.clock.set(TUESDAY_OPEN + timedelta(hours=1))
    marketable = await market.place(ALICE, TimeInForce.CLS, limit=None)
    resting = await market.place(BOB, TimeInForce.CLS, limit=1_900_000)
    assert market.order(marketable).status is Status.ACCEPTED
    assert market.order(resting).status is Status.ACCEPTED
    market.clock.set(TUESDAY_CLOSE - timedelta(seconds=1))
    await asyncio.sleep(QUIET)
    assert market.order(marketable).status is Status.ACCEPTED

    market.clock.set(TUESDAY_CLOSE)
    await until(reaches(market, marketable, Status.FILLED), "filled in the closing cross")
    await until(reaches(market, resting, Status.EXPIRED), "not marketable at the close")
    assert market.platform.orders.lane_for(BOB).book.ledger.pending(customer_cash(BOB)) == 0
    await verify(market.store)


async def test_a_canceled_queued_order_is_skipped_at_the_open(market: Market) -> None:
    kept = await market.place(ALICE)
    dropped = await market.place(ALICE)
    await market.platform.orders.execute(CancelOrder(account_id=ALICE, order_id=dropped.order_id))
    assert market.order(dropped).status is Status.CANCELED
    ledger = market.platform.orders.lane_for(ALICE).book.ledger
    assert ledger.pending(customer_cash(ALICE)) == 195_000

    market.clock.set(TUESDAY_OPEN)
    await until(reaches(market, kept, Status.NEW), "the other order is released")
    await until(lambda: len(market.engine.session.queue) == 0, "the queue forgets both")
    assert await market.released() == [kept.order_id]
    assert not market.venue.order_state(dropped.order_id).known
    await verify(market.store)


async def test_a_cancel_racing_the_queue_cancels_without_reaching_the_venue(
    market: Market,
) -> None:
    market.prices.update("AAPL", 2_000_000, market.clock.now())
    placed: Order = await market.platform.orders.execute(
        PlaceOrder(
            account_id=ALICE,
            symbol="AAPL",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.DAY,
            qty=10,
            limit_price=1_950_000,
        )
    )
    # No drain in between: the cancel usually reaches the lane before the engine queues it.
    await market.platform.orders.execute(CancelOrder(account_id=ALICE, order_id=placed.order_id))
    await market.engine.drain()
    await until(reaches(market, placed, Status.CANCELED), "canceled while held")
    ledger = market.platform.orders.lane_for(ALICE).book.ledger
    assert ledger.pending(customer_cash(ALICE)) == 0
    market.clock.set(TUESDAY_OPEN)
    await until(lambda: len(market.engine.session.queue) == 0, "the queue forgets it")
    assert await market.released() == []
    assert not market.venue.order_state(placed.order_id).known
    await verify(market.store)


async def test_a_replace_of_a_queued_order_is_refused_and_the_order_stays_queued(
    market: Market,
) -> None:
    placed = await market.place(ALICE)
    replacement: Order = await market.platform.orders.execute(
        ReplaceOrder(account_id=ALICE, order_id=placed.order_id, qty=5)
    )
    await market.engine.drain()
    await until(reaches(market, replacement, Status.REJECTED), "the replacement is refused")
    assert market.order(placed).status is Status.ACCEPTED
    market.clock.set(TUESDAY_OPEN)
    await until(reaches(market, placed, Status.NEW), "the original goes at the open")
    await verify(market.store)


async def test_queued_orders_survive_a_restart_and_go_once(
    tmp_path: Path, clock: ManualClock, calendar: SessionCalendar
) -> None:
    first = await open_market(tmp_path / "d", clock, calendar, rate=1)
    await funded(first.platform, ALICE)
    placed = [await first.place(ALICE) for _ in range(3)]
    clock.set(TUESDAY_OPEN)
    assert await released_count(first, 1) == [placed[0].order_id]
    await close(first)

    second = await open_market(tmp_path / "d", clock, calendar, rate=1)
    try:
        assert [e.order_id for e in second.engine.session.queue.waiting()] == [
            o.order_id for o in placed[1:]
        ]
        assert second.order(placed[1]).status is Status.ACCEPTED
        await until(reaches(second, placed[0], Status.NEW), "the sent one is sent again")
        clock.advance(timedelta(seconds=1))
        await released_count(second, 2)
        clock.advance(timedelta(seconds=1))
        assert await released_count(second, 3) == [o.order_id for o in placed]
        for order in placed:
            await until(reaches(second, order, Status.NEW), "every order works at the venue")
        await verify(second.store)
    finally:
        await close(second)


async def test_a_holiday_keeps_orders_queued_until_the_next_session(market: Market) -> None:
    market.clock.set(WEDNESDAY_EVENING)
    placed = await market.place(ALICE)
    market.clock.set(THANKSGIVING_OPENING_HOUR)
    await asyncio.sleep(QUIET)
    assert market.order(placed).status is Status.ACCEPTED
    market.clock.set(FRIDAY_OPEN)
    await until(reaches(market, placed, Status.NEW), "released on Friday")


async def test_day_orders_expire_at_an_early_close(market: Market) -> None:
    market.clock.set(FRIDAY_OPEN)
    day = await market.place(ALICE, TimeInForce.DAY)
    await until(reaches(market, day, Status.NEW), "sent at once while open")
    market.clock.set(FRIDAY_EARLY_CLOSE - timedelta(seconds=1))
    await asyncio.sleep(QUIET)
    assert market.order(day).status is Status.NEW
    market.clock.set(FRIDAY_EARLY_CLOSE)
    await until(reaches(market, day, Status.EXPIRED), "expired at 13:00 New York")
    later = await market.place(ALICE, TimeInForce.DAY)
    assert market.order(later).status is Status.ACCEPTED


async def test_a_weekend_keeps_orders_queued_until_monday(market: Market) -> None:
    market.clock.set(FRIDAY_EARLY_CLOSE + timedelta(hours=2))
    placed = await market.place(ALICE, TimeInForce.OPG)
    market.clock.set(SATURDAY_OPENING_HOUR)
    await asyncio.sleep(QUIET)
    market.clock.set(SATURDAY_OPENING_HOUR + timedelta(days=1))
    await asyncio.sleep(QUIET)
    assert market.order(placed).status is Status.ACCEPTED
    market.clock.set(MONDAY_OPEN)
    await until(reaches(market, placed, Status.NEW), "released at Monday's open")


async def test_the_release_rate_must_be_positive(market: Market) -> None:
    with pytest.raises(ValidationError):
        market.engine.set_release_rate(0)
    assert market.engine.release_rate_per_second == 1_000


async def test_agora_serve_wires_the_calendar_and_the_release_rate(tmp_path: Path) -> None:
    settings = replace(
        settings_for(tmp_path / "serve"),
        calendar="XNYS",
        feed="none",
        release_rate_per_second=7,
    )
    embedded = await start_embedded(settings)
    try:
        assert embedded.engine.session.calendar.name == "XNYS"
        assert embedded.engine.release_rate_per_second == 7
    finally:
        await embedded.close()
    help_text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--release-rate" in help_text
