"""Every storage port in plain dicts: for tests and for a quick start without a database."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import replace

from agora.core.errors import StorageError
from agora.core.events import Event
from agora.ledger import Hold, Transfer
from agora.orders.model import Order
from agora.orders.ports import (
    AccountRecord,
    FillQuery,
    FillRecord,
    LaneBatch,
    LaneSnapshot,
    OrderQuery,
)
from agora.storage.ports import Effect, LedgerRecords

_CLIENT_REASONS = frozenset({"deposit", "withdrawal"})


class MemoryStore:
    """LaneStore, OutboxStore, CheckpointStore and LedgerRecordsSource held in memory."""

    def __init__(self) -> None:
        self._accounts: dict[str, AccountRecord] = {}
        self._orders: dict[str, Order] = {}  # private copies, fill_ids left empty
        self._fill_ids: dict[str, set[str]] = {}
        self._fills: dict[tuple[str, str], FillRecord] = {}
        self._client_order_ids: dict[tuple[str, str], str] = {}
        self._transfers: dict[str, Transfer] = {}  # in commit order
        self._balances: dict[str, tuple[int, int]] = {}  # account → (posted, pending)
        self._holds: dict[str, Hold] = {}
        self._outbox: list[Event] = []  # seq n is self._outbox[n - 1]
        self._event_ids: set[str] = set()
        self._published = 0
        self._checkpoints: dict[str, int] = {}
        self._projections: dict[tuple[str, str], bytes] = {}
        self._closed = False

    def freeze(self, batch: LaneBatch) -> LaneBatch:
        """Copy the batch's mutable records now, before the lane changes them again."""
        return replace(
            batch,
            accounts=[replace(record) for record in batch.accounts],
            orders=[order.snapshot() for order in batch.orders],
        )

    async def commit_frozen(self, batches: Sequence[LaneBatch]) -> None:
        """Write frozen batches as one, or raise StorageError and write nothing."""
        await self.commit(LaneBatch.merge(batches))

    async def commit(self, batch: LaneBatch) -> None:
        """Write the whole batch, or raise StorageError and write nothing."""
        self._check_open()
        self._check_batch(batch)
        for record in batch.accounts:
            self._accounts[record.account_id] = replace(record)
        for order in batch.orders:
            self._store_order(order)
        for fill in batch.fills:
            self._fills[fill.order_id, fill.fill_id] = fill
            self._fill_ids.setdefault(fill.order_id, set()).add(fill.fill_id)
        self._transfers.update((transfer.transfer_id, transfer) for transfer in batch.transfers)
        for account, (posted, pending) in batch.balance_deltas.items():
            old_posted, old_pending = self._balances.get(account, (0, 0))
            self._balances[account] = (old_posted + posted, old_pending + pending)
        self._holds.update((hold.hold_id, hold) for hold in batch.holds)
        self._outbox.extend(batch.events)
        self._event_ids.update(event.event_id for event in batch.events)

    async def load_snapshot(self) -> LaneSnapshot:
        """Return copies of what the lanes rebuild from."""
        self._check_open()
        return LaneSnapshot(
            accounts=[replace(record) for record in self._accounts.values()],
            balances={account: posted for account, (posted, _) in self._balances.items()},
            open_holds=[hold for hold in self._holds.values() if hold.is_open],
            open_orders=[
                self._read(order) for order in self._orders.values() if not order.is_final
            ],
            client_order_ids=dict(self._client_order_ids),
            client_transfers=[t for t in self._transfers.values() if t.reason in _CLIENT_REASONS],
        )

    async def get_order(self, order_id: str) -> Order | None:
        """Return a copy of one order, or None."""
        self._check_open()
        order = self._orders.get(order_id)
        return None if order is None else self._read(order)

    async def list_orders(self, query: OrderQuery) -> list[Order]:
        """Return a page of an account's orders, newest first."""
        self._check_open()
        found = [
            self._read(order)
            for order_id, order in sorted(self._orders.items(), reverse=True)
            if order.account_id == query.account_id
            and (query.status == "all" or order.is_final == (query.status == "closed"))
            and query.symbol in (None, order.symbol)
            and (query.after is None or order_id < query.after)
        ]
        return found[: query.limit]

    async def get_order_by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        """Return an account's order by its client order id, or None."""
        order_id = self._client_order_ids.get((account_id, client_order_id))
        return None if order_id is None else await self.get_order(order_id)

    async def list_fills(self, query: FillQuery) -> list[FillRecord]:
        """Return a page of an account's fills, newest first."""
        self._check_open()
        found = [
            fill
            for fill in reversed(self._fills.values())
            if fill.account_id == query.account_id
            and query.symbol in (None, fill.symbol)
            and (query.after is None or fill.timestamp > query.after)
        ]
        found.sort(key=lambda fill: fill.timestamp, reverse=True)
        return found[: query.limit]

    async def ledger_records(self) -> LedgerRecords:
        """Return every transfer, posted balance and hold, and what open orders still reserve."""
        self._check_open()
        return LedgerRecords(
            transfers=list(self._transfers.values()),
            balances={account: posted for account, (posted, _) in self._balances.items()},
            pending={account: pending for account, (_, pending) in self._balances.items()},
            holds=list(self._holds.values()),
            hold_needs={
                order.hold_id: order.hold_remaining
                for order in self._orders.values()
                if not order.is_final and order.hold_id is not None and order.hold_remaining > 0
            },
        )

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Return up to ``limit`` events after ``seq``, with their sequence numbers."""
        self._check_open()
        start = max(seq, 0)
        events = self._outbox[start : start + max(limit, 0)]
        return list(enumerate(events, start=start + 1))

    async def fetch_account_after(
        self, account_id: str, seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        """Return up to ``limit`` of an account's outbox events after ``seq``, in order."""
        self._check_open()
        found = [
            (number, event)
            for number, event in enumerate(self._outbox[seq:], start=seq + 1)
            if event.account_id == account_id
        ]
        return found[: max(limit, 0)]

    async def mark_published(self, up_to_seq: int) -> None:
        """Record the relay's position; it never moves backwards."""
        self._check_open()
        self._published = max(self._published, up_to_seq)

    async def published_seq(self) -> int:
        """Return the relay's position (0 when none)."""
        self._check_open()
        return self._published

    async def checkpoint(self, subscriber: str) -> int:
        """Return the subscriber's last applied sequence number (0 when none)."""
        self._check_open()
        return self._checkpoints.get(subscriber, 0)

    async def apply(self, subscriber: str, seq: int, effect: Effect) -> bool:
        """Run ``effect`` and move the checkpoint together; False if ``seq`` was applied."""
        self._check_open()
        if seq <= self._checkpoints.get(subscriber, 0):
            return False
        tx = _MemoryTx(self._projections)
        effect(tx)  # raising leaves the staged writes unmerged: nothing happened
        tx.merge()
        self._checkpoints[subscriber] = seq
        return True

    async def documents(self, collection: str, prefix: str) -> list[tuple[str, bytes]]:
        """Return the documents of ``collection`` whose keys start with ``prefix``, by key."""
        self._check_open()
        found = [
            (key, value)
            for (name, key), value in self._projections.items()
            if name == collection and key.startswith(prefix)
        ]
        return sorted(found)

    async def get_document(self, collection: str, key: str) -> bytes | None:
        """Read one document, or None."""
        self._check_open()
        return self._projections.get((collection, key))

    async def put_document(
        self, collection: str, key: str, value: bytes, *, only_if_absent: bool = False
    ) -> bool:
        """Write one document; with ``only_if_absent``, False when the key exists."""
        self._check_open()
        if only_if_absent and (collection, key) in self._projections:
            return False
        self._projections[collection, key] = bytes(value)
        return True

    async def close(self) -> None:
        """Refuse further use."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the memory store is closed")

    def _check_batch(self, batch: LaneBatch) -> None:
        _check_new("transfer id", (t.transfer_id for t in batch.transfers), self._transfers)
        _check_new("event id", (event.event_id for event in batch.events), self._event_ids)
        _check_new("fill", ((f.order_id, f.fill_id) for f in batch.fills), self._fills)
        accounts = self._accounts.keys() | {record.account_id for record in batch.accounts}
        for order in batch.orders:
            if order.account_id not in accounts:
                raise StorageError(
                    f"order {order.order_id} names unknown account {order.account_id}"
                )
        orders = self._orders.keys() | {order.order_id for order in batch.orders}
        for fill in batch.fills:
            if fill.order_id not in orders:
                raise StorageError(f"fill {fill.fill_id} names unknown order {fill.order_id}")
        self._check_client_order_ids(batch.orders)

    def _check_client_order_ids(self, orders: Iterable[Order]) -> None:
        claimed: dict[tuple[str, str], str] = {}
        for order in orders:
            if order.client_order_id is None:
                continue
            key = (order.account_id, order.client_order_id)
            owner = claimed.get(key, self._client_order_ids.get(key))
            if owner is not None and owner != order.order_id:
                raise StorageError(f"client order id {key} already belongs to {owner}")
            claimed[key] = order.order_id

    def _store_order(self, order: Order) -> None:
        old = self._orders.get(order.order_id)
        if old is not None and old.client_order_id is not None:
            del self._client_order_ids[old.account_id, old.client_order_id]
        self._orders[order.order_id] = replace(order, fill_ids=set())
        if order.client_order_id is not None:
            self._client_order_ids[order.account_id, order.client_order_id] = order.order_id

    def _read(self, order: Order) -> Order:
        return replace(order, fill_ids=set(self._fill_ids.get(order.order_id, ())))


def _check_new(what: str, keys: Iterable[Hashable], stored: Collection[Hashable]) -> None:
    """Raise StorageError if a key is already stored or repeats within the batch."""
    seen: set[Hashable] = set()
    for key in keys:
        if key in stored or key in seen:
            raise StorageError(f"{what} {key} is already stored")
        seen.add(key)


class _MemoryTx:
    """Projection writes staged until the effect returns."""

    def __init__(self, documents: dict[tuple[str, str], bytes]) -> None:
        self._documents = documents
        self._staged: dict[tuple[str, str], bytes | None] = {}  # None: deleted

    def get(self, collection: str, key: str) -> bytes | None:
        """Read one document, seeing this transaction's own writes."""
        if (collection, key) in self._staged:
            return self._staged[collection, key]
        return self._documents.get((collection, key))

    def put(self, collection: str, key: str, value: bytes) -> None:
        """Stage one document."""
        self._staged[collection, key] = bytes(value)

    def delete(self, collection: str, key: str) -> None:
        """Stage the removal of one document."""
        self._staged[collection, key] = None

    def merge(self) -> None:
        """Apply the staged writes."""
        for address, value in self._staged.items():
            if value is None:
                self._documents.pop(address, None)
            else:
                self._documents[address] = value
        self._staged = {}
