"""Account lanes on SQLite: the over-spend race, restarts, failed commits, the bus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agora.bootstrap import Platform
from agora.bus.ports import ProjectionTx
from agora.core.clock import ManualClock
from agora.core.errors import RiskDeniedError, StorageError
from agora.core.events import Event
from agora.ledger import customer_cash
from agora.ledger.verify import verify_ledger
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import ApplyReport, Deposit, OpenAccount, PlaceOrder
from agora.orders.model import Order, OrderType, Report, ReportKind, Side, Status, TimeInForce
from agora.storage import SqliteStore
from tests.integration.conftest import start

ACCOUNT = "acc_race"


async def funded(platform: Platform, account_id: str = ACCOUNT, cents: int = 10_000_000) -> None:
    await platform.orders.execute(OpenAccount(account_id=account_id))
    await platform.orders.execute(Deposit(account_id=account_id, transfer_id="seed", amount=cents))


def buy(
    qty: int, limit: int, client_order_id: str | None = None, account_id: str = ACCOUNT
) -> PlaceOrder:
    return PlaceOrder(
        account_id=account_id,
        symbol="AAPL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        qty=qty,
        limit_price=limit,
        client_order_id=client_order_id,
    )


async def verify(store: SqliteStore) -> None:
    records = await store.ledger_records()
    report = verify_ledger(
        transfers=records.transfers,
        balances=records.balances,
        holds=records.holds,
        hold_needs=records.hold_needs,
        pending=records.pending,
    )
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_over_spend_race_accepts_at_most_ten(platform: Platform) -> None:
    await funded(platform)  # 100,000.00 USD
    # 50 concurrent buys of 50 × 200.00 = 10,000.00 each: 10% of the cash
    results = await asyncio.gather(
        *(platform.orders.execute(buy(50, 2_000_000, f"race-{n}")) for n in range(50)),
        return_exceptions=True,
    )
    accepted = [r for r in results if isinstance(r, Order)]
    denied = [r for r in results if isinstance(r, RiskDeniedError)]
    assert len(accepted) == 10
    assert len(denied) == 40
    assert {d.code for d in denied} == {"insufficient_buying_power"}
    assert isinstance(platform.store, SqliteStore)
    await verify(platform.store)


async def test_restart_rebuilds_the_lanes(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    first = await start(tmp_path / "d", clock, prices)
    await funded(first)
    order = await first.orders.execute(buy(10, 1_990_000, "keep-1"))
    fill = Report(
        kind=ReportKind.FILL,
        order_id=order.order_id,
        timestamp=clock.now(),
        fill_id="f1",
        qty=4,
        price=1_980_000,
    )
    await first.orders.execute(ApplyReport(account_id=ACCOUNT, report=fill))
    await first.close()

    second = await start(tmp_path / "d", clock, prices)
    try:
        book = second.orders.lane_for(ACCOUNT).book
        again = await second.orders.execute(buy(10, 1_990_000, "keep-1"))
        assert again.order_id == order.order_id
        assert (again.status, again.filled_qty) == (Status.PARTIALLY_FILLED, 4)
        cash = customer_cash(ACCOUNT)
        assert book.ledger.posted(cash) == 10_000_000 - 79_200
        assert book.ledger.pending(cash) == 19_900 * 10 - 79_200
        duplicate = await second.orders.execute(ApplyReport(account_id=ACCOUNT, report=fill))
        assert duplicate.filled_qty == 4  # the fill id survived the restart
        assert isinstance(second.store, SqliteStore)
        await verify(second.store)
    finally:
        await second.close()


class FailingStore:
    """A SQLite store whose next commit fails (everything else passes through)."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.fail_next = False

    async def commit_frozen(self, batches: list[object]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise StorageError("disk on fire")
        await self.inner.commit_frozen(batches)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_failed_commit_acknowledges_nothing(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> None:
    from agora.bootstrap import build_platform
    from tests.integration.conftest import settings_for

    store = FailingStore(await SqliteStore.open(tmp_path / "f.db"))
    platform = await build_platform(settings_for(tmp_path), store=store, clock=clock, prices=prices)  # type: ignore[arg-type]
    try:
        await funded(platform)
        store.fail_next = True
        with pytest.raises(StorageError):
            await platform.orders.execute(buy(10, 1_990_000, "lost-1"))
        book = platform.orders.lane_for(ACCOUNT).book
        assert book.ledger.pending(customer_cash(ACCOUNT)) == 0
        assert not book.accounts[ACCOUNT].client_order_ids
        retried = await platform.orders.execute(buy(10, 1_990_000, "lost-1"))
        assert retried.status is Status.PENDING_NEW
        await verify(store.inner)
    finally:
        await platform.close()


class CountingSubscriber:
    """Counts events per type in its projection: exactly once, or the counts are off."""

    name = "counter"

    def wants(self, event: Event) -> bool:
        return True

    def apply(self, event: Event, tx: ProjectionTx) -> None:
        current = tx.get("counts", event.type)
        tx.put("counts", event.type, str(int(current or b"0") + 1).encode())


async def test_bus_delivers_every_event_exactly_once_across_restarts(platform: Platform) -> None:
    from agora.bus.inprocess import InProcessBus

    assert isinstance(platform.store, SqliteStore)
    store = platform.store
    await funded(platform)
    bus = InProcessBus(store, store, (CountingSubscriber(),), chunk=3)
    platform.orders.on_commit(bus.notify)
    bus.start()
    for n in range(5):
        await platform.orders.execute(buy(1, 1_990_000 + n * 100, f"b-{n}"))
    await bus.stop()  # stops wherever it is; the rest is redelivered
    await bus.drain()
    await bus.drain()  # a second pass applies nothing again
    events = await store.fetch_after(0, 1_000)
    expected: dict[str, int] = {}
    for _, event in events:
        expected[event.type] = expected.get(event.type, 0) + 1

    seen: dict[str, int] = {}

    def read(tx: ProjectionTx) -> None:
        for event_type in expected:
            raw = tx.get("counts", event_type)
            seen[event_type] = int(raw or b"0")

    await store.apply("reader", 1, read)
    assert seen == expected
    assert await store.checkpoint("counter") == events[-1][0]


async def test_a_failure_after_an_order_changed_drops_the_batch_and_reloads(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agora.core.errors import ConflictError
    from agora.orders import settlement

    await funded(platform)
    order = await platform.orders.execute(buy(10, 1_990_000, "torn-1"))

    def broken(*args: object, **kwargs: object) -> None:
        raise ConflictError("simulated settlement bug")

    monkeypatch.setattr(settlement, "settle_fill", broken)
    fill = Report(
        kind=ReportKind.FILL,
        order_id=order.order_id,
        timestamp=order.created_at,
        fill_id="f-torn",
        qty=4,
        price=1_990_000,
    )
    with pytest.raises(StorageError):
        await platform.orders.execute(ApplyReport(account_id=ACCOUNT, report=fill))
    monkeypatch.undo()
    reloaded = platform.orders.lane_for(ACCOUNT).book.orders[order.order_id]
    assert reloaded.filled_qty == 0  # memory was rebuilt from the store, not left half-applied
    again = await platform.orders.execute(ApplyReport(account_id=ACCOUNT, report=fill))
    assert again.filled_qty == 4
