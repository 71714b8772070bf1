"""The storage contract: what every LaneStore / OutboxStore / CheckpointStore adapter must do.

Each adapter's test module subclasses ``StoreContract`` and provides the ``store`` fixture.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
import pytest

from agora.bus.ports import AccountOutbox, CheckpointStore, DocumentSource, ProjectionTx
from agora.core.errors import StorageError
from agora.core.events import Event
from agora.ledger import Hold, Transfer, TransferKind, customer_cash, external_bank, venue_account
from agora.orders.model import FINAL_STATUSES, Order, OrderType, Side, Status, TimeInForce
from agora.orders.ports import (
    AccountRecord,
    FillQuery,
    FillRecord,
    LaneBatch,
    LaneSnapshot,
    LaneStore,
    OrderQuery,
    OrderReads,
)
from agora.risk.types import RiskLimits, TradingState
from agora.storage import LedgerRecords, LedgerRecordsSource
from agora.storage.ports import DocumentStore

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)


class Store(
    LaneStore,
    AccountOutbox,
    CheckpointStore,
    LedgerRecordsSource,
    DocumentSource,
    OrderReads,
    DocumentStore,
    Protocol,
):
    """Every port a storage adapter implements."""


# -- object mothers ---------------------------------------------------------------------------


def account(account_id: str = "acc_1", **changes: Any) -> AccountRecord:
    """Return an active USD account with limits of its own."""
    record = AccountRecord(
        account_id=account_id,
        currency="USD",
        trading_state=TradingState.ACTIVE,
        limits=RiskLimits(max_order_qty=7, restricted_symbols=frozenset({"GME", "AMC"})),
    )
    return replace(record, **changes)


def order(order_id: str = "ord_1", account_id: str = "acc_1", **changes: Any) -> Order:
    """Return a working limit buy; ``changes`` override any field."""
    made = Order(
        order_id=order_id,
        account_id=account_id,
        client_order_id=None,
        symbol="AAPL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        qty=10,
        qty_scale=0,
        limit_price=1_500_000,
        stop_price=None,
        reserve_price=1_500_000,
        created_at=T0,
        updated_at=T0,
        status=Status.NEW,
    )
    return replace(made, **changes)


def full_order(order_id: str = "ord_full") -> Order:
    """Return an order of acc_1 whose every field differs from its default and from None."""
    return order(
        order_id,
        client_order_id="client-1",
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        time_in_force=TimeInForce.GTC,
        stop_price=1_450_000,
        updated_at=T0 + timedelta(seconds=3, microseconds=250),
        status=Status.PENDING_CANCEL,
        prior_status=Status.PARTIALLY_FILLED,
        filled_qty=4,
        filled_notional=5_960_000,
        filled_cash=59_600,
        last_fill_cash=29_800,
        replace_base_filled=1,
        hold_id="hold_full",
        hold_amount=10,
        hold_posted=4,
        hold_seq=4,
        reject_reason="kept anyway",
        replaces="ord_0",
        replaced_by="ord_2",
        venue_order_id="venue-9",
        fill_ids={"fill_a", "fill_b"},
    )


_FILL = FillRecord(
    fill_id="f",
    order_id="ord_1",
    account_id="acc_1",
    symbol="AAPL",
    side="buy",
    qty=5,
    price=1_490_000,
    fee_cents=100,
    cash_cents=74_500,
    timestamp=T0.isoformat(),
)
_TRANSFER = Transfer(
    transfer_id="t",
    kind=TransferKind.POSTED,
    debit_account=venue_account("USD"),
    credit_account=customer_cash("acc_1"),
    asset="USD",
    amount=1_000,
    order_id="ord_1",
    reason="fill",
    timestamp=T0,
)
_HOLD = Hold(
    hold_id="h",
    debit_account=customer_cash("acc_1"),
    credit_account=venue_account("USD"),
    asset="USD",
    amount=1_000,
    order_id="ord_1",
)


def fill(order_id: str, fill_id: str) -> FillRecord:
    """Return one fill of ``order_id`` (an acc_1 order)."""
    return replace(_FILL, order_id=order_id, fill_id=fill_id)


def transfer(transfer_id: str, **changes: Any) -> Transfer:
    """Return a posted fill transfer from the venue to acc_1's cash."""
    return msgspec.structs.replace(_TRANSFER, transfer_id=transfer_id, **changes)


def hold(hold_id: str, **changes: Any) -> Hold:
    """Return an open hold of 1,000 cents on acc_1's cash."""
    return msgspec.structs.replace(_HOLD, hold_id=hold_id, **changes)


def event(event_id: str, kind: str = "order.updated", account_id: str | None = "acc_1") -> Event:
    """Return an event with a small nested payload."""
    payload: dict[str, Any] = {"qty": "10", "nested": {"ok": True}, "ids": [1, 2]}
    return Event(
        event_id=event_id,
        type=kind,
        account_id=account_id,
        correlation_id="corr",
        timestamp=T0,
        payload=payload,
        version=2,
    )


def opened(*account_ids: str) -> LaneBatch:
    """Return a batch opening ``account_ids``."""
    return LaneBatch(accounts=[account(account_id) for account_id in account_ids])


def _by_id(snapshot: LaneSnapshot) -> LaneSnapshot:
    """Put a snapshot's lists in a fixed order, so snapshots compare by content."""
    return replace(
        snapshot,
        accounts=sorted(snapshot.accounts, key=lambda record: record.account_id),
        open_holds=sorted(snapshot.open_holds, key=lambda item: item.hold_id),
        open_orders=sorted(snapshot.open_orders, key=lambda item: item.order_id),
        client_transfers=sorted(snapshot.client_transfers, key=lambda item: item.transfer_id),
    )


async def everything(store: Store) -> tuple[object, ...]:
    """Return all a store shows through its ports, comparable by content."""
    records = await store.ledger_records()
    records = replace(records, holds=sorted(records.holds, key=lambda item: item.hold_id))
    snapshot = _by_id(await store.load_snapshot())
    return snapshot, records, await store.fetch_after(0, 1_000_000)


SPOILERS: dict[str, tuple[str, object]] = {
    "stored transfer id": ("transfers", transfer("t0")),
    "stored event id": ("events", event("e0")),
    "transfer id twice": ("transfers", transfer("t1")),
    "event id twice": ("events", event("e1")),
    "stored fill": ("fills", fill("ord_0", "f0")),
    "another order's client order id": ("orders", order("ord_9", client_order_id="taken")),
    "order of an unknown account": ("orders", order("ord_9", account_id="acc_nobody")),
    "fill of an unknown order": ("fills", fill("ord_nobody", "f9")),
}
"""Bad rows for a batch, by what is wrong with them: each makes the whole commit fail."""


class StoreContract:
    """The behaviour every storage adapter shares."""

    @pytest.fixture
    async def store(self) -> Store:
        """Provide an empty store, closed afterwards (each adapter's subclass overrides this)."""
        raise NotImplementedError

    async def test_an_empty_store_has_nothing(self, store: Store) -> None:
        snapshot, records, events = await everything(store)
        assert all(not getattr(snapshot, f.name) for f in fields(LaneSnapshot))
        assert records == LedgerRecords(
            transfers=[], balances={}, pending={}, holds=[], hold_needs={}
        )
        assert events == []
        assert await store.get_order("ord_1") is None
        assert await store.published_seq() == 0

    async def test_every_record_kind_round_trips(self, store: Store) -> None:
        stored = full_order()
        defaulted = [f.name for f in fields(Order) if getattr(stored, f.name) in (f.default, None)]
        assert defaulted == []  # so the round trip covers every column
        deposit = transfer("acc_1:dep-1", reason="deposit", debit_account=external_bank("USD"))
        batch = LaneBatch(
            accounts=[account(), account("acc_2", limits=None, trading_state=TradingState.HALTED)],
            orders=[stored],
            fills=[fill(stored.order_id, "fill_a"), fill(stored.order_id, "fill_b")],
            transfers=[deposit],
            balance_deltas={customer_cash("acc_1"): (1_000, 9), external_bank("USD"): (-1_000, 0)},
            holds=[hold("hold_full", amount=10, posted=4, order_id=stored.order_id)],
            events=[event("evt_1"), event("evt_2", "platform.settings_changed", None)],
        )
        await store.commit(batch)

        snapshot = _by_id(await store.load_snapshot())
        assert snapshot.accounts == batch.accounts
        assert snapshot.balances == {customer_cash("acc_1"): 1_000, external_bank("USD"): -1_000}
        assert snapshot.open_holds == batch.holds
        assert snapshot.open_orders == [stored]
        assert snapshot.client_order_ids == {("acc_1", "client-1"): stored.order_id}
        assert snapshot.client_transfers == [deposit]
        assert await store.get_order(stored.order_id) == stored
        assert [found for _, found in await store.fetch_after(0, 10)] == batch.events

    async def test_an_empty_batch_changes_nothing(self, store: Store) -> None:
        await store.commit(LaneBatch(accounts=[account()], events=[event("e1")]))
        before = await everything(store)
        await store.commit(LaneBatch())
        assert await everything(store) == before

    async def test_fill_ids_come_from_stored_fills(self, store: Store) -> None:
        await store.commit(replace(opened("acc_1"), orders=[order(fill_ids={"never_stored"})]))
        await store.commit(LaneBatch(fills=[fill("ord_1", "f1")]))
        await store.commit(LaneBatch(fills=[fill("ord_1", "f2")]))

        found = await store.get_order("ord_1")
        assert found is not None
        assert found.fill_ids == {"f1", "f2"}
        assert (await store.load_snapshot()).open_orders[0].fill_ids == {"f1", "f2"}

    async def test_orders_are_upserted(self, store: Store) -> None:
        await store.commit(replace(opened("acc_1"), orders=[order(), order("ord_2")]))
        done = order(status=Status.FILLED, filled_qty=10, updated_at=T0 + timedelta(seconds=1))
        await store.commit(LaneBatch(orders=[done]))

        assert await store.get_order("ord_1") == done
        assert [found.order_id for found in (await store.load_snapshot()).open_orders] == ["ord_2"]

    async def test_balance_deltas_accumulate_across_commits_and_lanes(self, store: Store) -> None:
        cash_1, cash_2, venue = customer_cash("acc_1"), customer_cash("acc_2"), venue_account("USD")
        await store.commit(LaneBatch(balance_deltas={cash_1: (1_000, 0), venue: (-1_000, 0)}))
        await store.commit(LaneBatch(balance_deltas={cash_1: (-100, -50), cash_2: (0, 70)}))
        lanes = [LaneBatch(balance_deltas={venue: (-1, 0), cash_2: (1, 0)}) for _ in range(20)]
        await asyncio.gather(*(store.commit(batch) for batch in lanes))

        balances = (await store.load_snapshot()).balances
        assert balances == {cash_1: 900, venue: -1_020, cash_2: 20}
        records = await store.ledger_records()
        assert records.balances == balances
        assert records.pending == {cash_1: -50, venue: 0, cash_2: 70}

    async def test_holds_are_upserted_and_only_open_ones_load(self, store: Store) -> None:
        await store.commit(LaneBatch(holds=[hold("h1"), hold("h2"), hold("h3")]))
        await store.commit(LaneBatch(holds=[hold("h1", posted=400), hold("h2", voided=True)]))
        await store.commit(LaneBatch(holds=[hold("h3", posted=1_000)]))

        assert (await store.load_snapshot()).open_holds == [hold("h1", posted=400)]
        final = sorted((await store.ledger_records()).holds, key=lambda item: item.hold_id)
        assert final == [hold("h1", posted=400), hold("h2", voided=True), hold("h3", posted=1_000)]

    async def test_only_open_orders_load_but_every_client_id_does(self, store: Store) -> None:
        orders = {
            status: order(f"ord_{status}", client_order_id=f"c_{status}", status=status)
            for status in Status
        }
        await store.commit(replace(opened("acc_1"), orders=list(orders.values())))
        await store.commit(LaneBatch(fills=[fill("ord_partially_filled", "f1")]))

        snapshot = await store.load_snapshot()
        loaded = {found.status: found for found in snapshot.open_orders}
        assert set(loaded) == set(Status) - FINAL_STATUSES
        assert loaded[Status.PARTIALLY_FILLED].fill_ids == {"f1"}
        assert loaded[Status.NEW] == orders[Status.NEW]
        assert snapshot.client_order_ids == {("acc_1", f"c_{s}"): f"ord_{s}" for s in Status}
        assert await store.get_order("ord_filled") == orders[Status.FILLED]

    async def test_client_transfers_are_deposits_and_withdrawals(self, store: Store) -> None:
        deposit = transfer("acc_1:d1", reason="deposit")
        withdrawal = transfer("acc_1:w1", reason="withdrawal", amount=5)
        others = [transfer("t_fill", reason="fill"), transfer("t_fee", reason="fee")]
        await store.commit(LaneBatch(transfers=[deposit, *others]))
        await store.commit(LaneBatch(transfers=[withdrawal]))

        found = (await store.load_snapshot()).client_transfers
        assert sorted(found, key=lambda item: item.transfer_id) == [deposit, withdrawal]

    @pytest.mark.parametrize("spoiler", SPOILERS)
    async def test_a_failing_commit_writes_nothing(self, store: Store, spoiler: str) -> None:
        await store.commit(
            replace(
                opened("acc_1"),
                orders=[order("ord_0", client_order_id="taken")],
                fills=[fill("ord_0", "f0")],
                transfers=[transfer("t0")],
                events=[event("e0")],
            )
        )
        before = await everything(store)
        valid = LaneBatch(
            accounts=[account("acc_2")],
            orders=[order("ord_1", client_order_id="fresh", hold_id="h1", hold_amount=1_000)],
            fills=[fill("ord_1", "f1")],
            transfers=[transfer("t1"), transfer("t2")],
            balance_deltas={customer_cash("acc_1"): (1_000, 0), venue_account("USD"): (-1_000, 0)},
            holds=[hold("h1")],
            events=[event("e1"), event("e2")],
        )
        kind, bad_row = SPOILERS[spoiler]  # placed after the valid rows of its kind
        with pytest.raises(StorageError):
            await store.commit(replace(valid, **{kind: [*getattr(valid, kind), bad_row]}))

        assert await everything(store) == before
        assert await store.get_order("ord_1") is None
        await store.commit(valid)  # the store is still usable, and the valid rows were fine
        assert await store.get_order("ord_1") is not None

    async def test_a_frozen_batch_is_what_is_written(self, store: Store) -> None:
        # A lane freezes its batch, then goes on changing the same orders before the commit.
        await store.commit(opened("acc_1"))
        working = order(account_id="acc_1", client_order_id="c1")
        expected = replace(working, fill_ids=set())
        frozen = store.freeze(LaneBatch(orders=[working]))
        working.status, working.filled_qty, working.hold_posted = Status.FILLED, 10, 5
        second = store.freeze(
            LaneBatch(orders=[replace(working, order_id="ord_2", client_order_id=None)])
        )
        await store.commit_frozen([frozen, second])  # two frozen batches, one transaction

        assert await store.get_order("ord_1") == expected
        stored_second = await store.get_order("ord_2")
        assert stored_second is not None
        assert stored_second.status is Status.FILLED

    async def test_a_later_mutation_does_not_change_what_was_stored(self, store: Store) -> None:
        working, record = order(client_order_id="c1"), account()
        expected_order, expected_account = replace(working, fill_ids=set()), replace(record)
        await store.commit(LaneBatch(accounts=[record], orders=[working]))
        working.status, working.filled_qty, working.client_order_id = Status.FILLED, 10, "c2"
        working.fill_ids.add("f9")
        record.trading_state = TradingState.HALTED
        read = await store.get_order("ord_1")
        assert read is not None
        read.status = Status.CANCELED
        read.fill_ids.add("f8")

        snapshot = await store.load_snapshot()
        assert snapshot.open_orders == [expected_order]
        assert snapshot.accounts == [expected_account]
        assert snapshot.client_order_ids == {("acc_1", "c1"): "ord_1"}
        assert await store.get_order("ord_1") == expected_order

    async def test_the_outbox_keeps_commit_order(self, store: Store) -> None:
        await store.commit(LaneBatch(events=[event("e1"), event("e2")]))
        await asyncio.gather(
            store.commit(LaneBatch(events=[event("a1"), event("a2"), event("a3")])),
            store.commit(LaneBatch(events=[event("b1"), event("b2")])),
        )
        await store.commit(LaneBatch(events=[event("e3", account_id=None)]))

        stored = await store.fetch_after(0, 100)
        seqs, ids = [seq for seq, _ in stored], [found.event_id for _, found in stored]
        assert seqs == sorted(set(seqs))
        assert seqs[0] > 0
        assert ids[:2] == ["e1", "e2"]
        assert ids[-1] == "e3"
        assert "".join(ids[2:7]) in ("a1a2a3b1b2", "b1b2a1a2a3")  # each batch contiguous
        assert stored[-1][1] == event("e3", account_id=None)
        assert await store.fetch_after(seqs[1], 2) == stored[2:4]
        assert await store.fetch_after(seqs[-1], 10) == []

    async def test_an_accounts_events_are_read_alone_in_order(self, store: Store) -> None:
        events = [
            event("e1"),
            event("x1", account_id="acc_2"),
            event("e2"),
            event("n", account_id=None),
        ]
        await store.commit(LaneBatch(events=events))
        everything = await store.fetch_after(0, 100)
        mine = await store.fetch_account_after("acc_1", 0, 100)
        assert mine == [pair for pair in everything if pair[1].account_id == "acc_1"]
        assert [found.event_id for _, found in mine] == ["e1", "e2"]
        assert await store.fetch_account_after("acc_1", mine[0][0], 100) == mine[1:]
        assert await store.fetch_account_after("acc_1", 0, 1) == mine[:1]
        assert await store.fetch_account_after("acc_9", 0, 100) == []

    async def test_the_relay_position_never_moves_backwards(self, store: Store) -> None:
        await store.commit(LaneBatch(events=[event("e1"), event("e2"), event("e3")]))
        seqs = [seq for seq, _ in await store.fetch_after(0, 10)]
        assert await store.published_seq() == 0
        await store.mark_published(seqs[1])
        assert await store.published_seq() == seqs[1]
        await store.mark_published(seqs[0])
        assert await store.published_seq() == seqs[1]
        await store.mark_published(seqs[2])
        assert await store.published_seq() == seqs[2]

    async def test_a_checkpoint_moves_once_per_seq(self, store: Store) -> None:
        calls: list[int] = []

        def count(tx: ProjectionTx) -> None:
            calls.append(1)
            tx.put("counts", "k", str(len(calls)).encode())

        assert await store.checkpoint("positions") == 0
        assert await store.apply("positions", 5, count) is True
        assert await store.apply("positions", 5, count) is False
        assert await store.apply("positions", 3, count) is False
        assert await store.checkpoint("positions") == 5
        assert await store.checkpoint("audit") == 0
        assert await store.apply("audit", 1, count) is True
        assert len(calls) == 2

    async def test_a_raising_effect_changes_nothing(self, store: Store) -> None:
        def doomed(tx: ProjectionTx) -> None:
            tx.put("positions", "acc_1", b"written before the error")
            raise ValueError("subscriber bug")

        await store.apply("positions", 1, lambda tx: tx.put("positions", "acc_1", b"v1"))
        with pytest.raises(ValueError, match="subscriber bug"):
            await store.apply("positions", 2, doomed)

        assert await store.checkpoint("positions") == 1
        assert await _read(store, "positions", "positions", "acc_1", seq=2) == b"v1"

    async def test_projections_are_visible_to_later_applies(self, store: Store) -> None:
        def bump(tx: ProjectionTx) -> None:
            value = tx.get("totals", "acc_1")
            tx.put("totals", "acc_1", str(int(value or b"0") + 1).encode())
            assert tx.get("totals", "acc_1") == str(int(value or b"0") + 1).encode()

        for seq in (1, 2, 3):
            await store.apply("totals", seq, bump)
        assert await _read(store, "totals", "totals", "acc_1", seq=4) == b"3"
        await store.apply("totals", 5, lambda tx: tx.delete("totals", "acc_1"))
        await store.apply("totals", 6, lambda tx: tx.delete("totals", "never_there"))
        assert await _read(store, "totals", "totals", "acc_1", seq=7) is None

    async def test_documents_list_by_key_prefix_and_only_committed(self, store: Store) -> None:
        def write(tx: ProjectionTx) -> None:
            for key in ("acc_1|MSFT", "acc_1|AAPL", "acc_10|AAPL", "acc_2|AAPL"):
                tx.put("positions", key, key.encode())
            tx.put("other", "acc_1|AAPL", b"elsewhere")

        def doomed(tx: ProjectionTx) -> None:
            tx.put("positions", "acc_1|ZZZ", b"never committed")
            raise ValueError("subscriber bug")

        await store.apply("positions", 1, write)
        with pytest.raises(ValueError, match="subscriber bug"):
            await store.apply("positions", 2, doomed)

        found = await store.documents("positions", "acc_1|")
        assert found == [("acc_1|AAPL", b"acc_1|AAPL"), ("acc_1|MSFT", b"acc_1|MSFT")]
        assert len(await store.documents("positions", "")) == 4
        assert await store.documents("positions", "acc_3|") == []

    async def test_orders_list_newest_first_by_status_symbol_and_page(self, store: Store) -> None:
        orders = [
            order("ord_1"),
            order("ord_2", status=Status.FILLED),
            order("ord_3", symbol="MSFT", client_order_id="mine"),
            order("ord_4", status=Status.CANCELED, symbol="MSFT"),
            order("ord_5", account_id="acc_2"),
        ]
        await store.commit(replace(opened("acc_1", "acc_2"), orders=orders))

        async def ids(**query: Any) -> list[str]:
            found = await store.list_orders(OrderQuery(account_id="acc_1", **query))
            return [item.order_id for item in found]

        assert await ids() == ["ord_4", "ord_3", "ord_2", "ord_1"]
        assert await ids(status="open") == ["ord_3", "ord_1"]
        assert await ids(status="closed") == ["ord_4", "ord_2"]
        assert await ids(symbol="MSFT") == ["ord_4", "ord_3"]
        assert await ids(after="ord_3", limit=1) == ["ord_2"]
        found = await store.get_order_by_client_id("acc_1", "mine")
        assert found is not None
        assert found.order_id == "ord_3"
        assert await store.get_order_by_client_id("acc_2", "mine") is None

    async def test_fills_list_newest_first_after_a_time(self, store: Store) -> None:
        times = [(T0 + timedelta(seconds=n)).isoformat() for n in range(3)]
        fills = [
            replace(fill("ord_1", f"f{n}"), timestamp=times[n], symbol=symbol)
            for n, symbol in enumerate(("AAPL", "MSFT", "AAPL"))
        ]
        await store.commit(replace(opened("acc_1"), orders=[order("ord_1")], fills=fills))

        async def ids(**query: Any) -> list[str]:
            found = await store.list_fills(FillQuery(account_id="acc_1", **query))
            return [item.fill_id for item in found]

        assert await ids() == ["f2", "f1", "f0"]
        assert await ids(symbol="AAPL") == ["f2", "f0"]
        assert await ids(after=times[0]) == ["f2", "f1"]
        assert await ids(limit=1) == ["f2"]
        assert await store.list_fills(FillQuery(account_id="acc_2")) == []
        (first,) = await store.list_fills(FillQuery(account_id="acc_1", limit=1))
        assert first == fills[2]

    async def test_documents_are_written_durably_and_only_if_absent_when_asked(
        self, store: Store
    ) -> None:
        assert await store.get_document("users", "u1") is None
        assert await store.put_document("users", "u1", b"first", only_if_absent=True) is True
        assert await store.put_document("users", "u1", b"second", only_if_absent=True) is False
        assert await store.get_document("users", "u1") == b"first"
        assert await store.put_document("users", "u1", b"third") is True
        assert await store.get_document("users", "u1") == b"third"
        assert await store.documents("users", "u") == [("u1", b"third")]

    async def test_ledger_records_hold_every_transfer_and_open_needs(self, store: Store) -> None:
        orders = [
            order("ord_open", hold_id="h_open", hold_amount=1_000, hold_posted=300),
            order("ord_done", hold_id="h_done", hold_amount=1_000, status=Status.FILLED),
            order("ord_spent", hold_id="h_spent", hold_amount=500, hold_posted=500),
            order("ord_no_hold"),
        ]
        first = [transfer("t3"), transfer("t1")]
        await store.commit(replace(opened("acc_1"), orders=orders, transfers=first))
        await store.commit(LaneBatch(transfers=[transfer("t2")], holds=[hold("h_open")]))

        records = await store.ledger_records()
        assert [found.transfer_id for found in records.transfers] == ["t3", "t1", "t2"]
        assert records.transfers[0] == transfer("t3")
        assert records.holds == [hold("h_open")]
        assert records.hold_needs == {"h_open": 700}

    async def test_a_closed_store_refuses_work(self, store: Store) -> None:
        await store.close()
        with pytest.raises(StorageError):
            await store.commit(LaneBatch(events=[event("e1")]))
        with pytest.raises(StorageError):
            await store.load_snapshot()
        await store.close()  # closing twice is fine


async def _read(store: Store, subscriber: str, collection: str, key: str, *, seq: int) -> Any:
    """Read one projection document through an apply (the only way in)."""
    found: list[bytes | None] = []
    assert await store.apply(subscriber, seq, lambda tx: found.append(tx.get(collection, key)))
    return found[0]
