"""The SQLite adapter: every storage port on one WAL database file, off the event loop.

Lane batches are committed by a writer process (``sqlite_writer``) on its own connection, so the
binding work does not compete with the event loop for the GIL; reads, subscriber checkpoints and
the relay position use the store's own connection on its thread. WAL lets both work at once:
readers see every committed batch, and the two writers take turns on SQLite's write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from agora.core.errors import StorageError
from agora.core.events import Event
from agora.orders.model import Order
from agora.orders.ports import FillQuery, FillRecord, LaneBatch, LaneSnapshot, OrderQuery
from agora.storage import sqlite_bus
from agora.storage.ports import Effect, LedgerRecords
from agora.storage.sqlite_batch import BatchRows, batch_rows
from agora.storage.sqlite_conn import SqliteConnection
from agora.storage.sqlite_read import (
    list_fills,
    list_orders,
    read_ledger,
    read_order,
    read_order_by_client_id,
    read_snapshot,
)
from agora.storage.sqlite_writer import WriterProcess

DEFAULT_BUSY_TIMEOUT_MS = 5_000
"""How long a write waits for another process's lock before failing."""


class SqliteStore:
    """LaneStore, OutboxStore, CheckpointStore and LedgerRecordsSource on one SQLite file."""

    def __init__(self, connection: SqliteConnection, writer: WriterProcess) -> None:
        self._db = connection
        self._writer = writer
        self._closed = False

    @classmethod
    async def open(
        cls, path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> SqliteStore:
        """Open the database at ``path``, creating it and applying migrations as needed."""
        connection = await SqliteConnection.open(path, busy_timeout_ms=busy_timeout_ms)
        return cls(connection, WriterProcess(path, busy_timeout_ms))

    def freeze(self, batch: LaneBatch) -> BatchRows:
        """Lay the batch out as rows now, before the lane changes its orders again."""
        return batch_rows(batch)

    async def commit_frozen(self, batches: Sequence[BatchRows]) -> None:
        """Write frozen batches in one transaction, or raise StorageError and write nothing."""
        if self._closed:
            raise StorageError("committing a lane batch failed: the store is closed")
        await self._writer.commit(BatchRows.merge(batches))

    async def commit(self, batch: LaneBatch) -> None:
        """Write the whole batch in one transaction, or raise StorageError and write nothing."""
        await self.commit_frozen([self.freeze(batch)])

    async def load_snapshot(self) -> LaneSnapshot:
        """Read what the lanes rebuild their in-memory state from."""
        return await self._db.read("loading the lane snapshot", read_snapshot)

    async def get_order(self, order_id: str) -> Order | None:
        """Read one order (any status) with its fill ids, or None."""
        return await self._db.read(
            f"reading order {order_id}", partial(read_order, order_id=order_id)
        )

    async def list_orders(self, query: OrderQuery) -> list[Order]:
        """Return a page of an account's orders, newest first."""
        return await self._db.read("listing orders", partial(list_orders, query=query))

    async def get_order_by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        """Return an account's order by its client order id, or None."""
        work = partial(
            read_order_by_client_id, account_id=account_id, client_order_id=client_order_id
        )
        return await self._db.read(f"reading order {client_order_id}", work)

    async def list_fills(self, query: FillQuery) -> list[FillRecord]:
        """Return a page of an account's fills, newest first."""
        return await self._db.read("listing fills", partial(list_fills, query=query))

    async def ledger_records(self) -> LedgerRecords:
        """Read every transfer, posted balance and hold, and what open orders still reserve."""
        return await self._db.read("reading the ledger", read_ledger)

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Return up to ``limit`` outbox events after ``seq``, in order."""
        work = partial(sqlite_bus.fetch_events, seq=seq, limit=limit)
        return await self._db.read("reading the outbox", work)

    async def fetch_account_after(
        self, account_id: str, seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        """Return up to ``limit`` of an account's outbox events after ``seq``, in order."""
        work = partial(sqlite_bus.fetch_account_events, account_id=account_id, seq=seq, limit=limit)
        return await self._db.read(f"reading {account_id}'s events", work)

    async def mark_published(self, up_to_seq: int) -> None:
        """Record that every event up to ``up_to_seq`` was handed to the bus."""
        work = partial(sqlite_bus.mark_published, up_to_seq=up_to_seq)
        await self._db.write("moving the relay position", work)

    async def published_seq(self) -> int:
        """Return the highest sequence number marked published (0 when none)."""
        return await self._db.read("reading the relay position", sqlite_bus.published_seq)

    async def checkpoint(self, subscriber: str) -> int:
        """Return the last sequence number ``subscriber`` applied (0 when none)."""
        work = partial(sqlite_bus.read_checkpoint, subscriber=subscriber)
        return await self._db.read(f"reading checkpoint {subscriber}", work)

    async def apply(self, subscriber: str, seq: int, effect: Effect) -> bool:
        """Run ``effect`` and move the checkpoint in one transaction; False if already applied."""
        work = partial(sqlite_bus.apply_effect, subscriber=subscriber, seq=seq, effect=effect)
        return await self._db.write(f"applying {subscriber} at {seq}", work)

    async def documents(self, collection: str, prefix: str) -> list[tuple[str, bytes]]:
        """Read a read model's documents whose keys start with ``prefix``, by key."""
        work = partial(sqlite_bus.read_documents, collection=collection, prefix=prefix)
        return await self._db.read(f"reading {collection}", work)

    async def get_document(self, collection: str, key: str) -> bytes | None:
        """Read one committed document, or None."""
        work = partial(sqlite_bus.read_document, collection=collection, key=key)
        return await self._db.read(f"reading {collection}/{key}", work)

    async def put_document(
        self, collection: str, key: str, value: bytes, *, only_if_absent: bool = False
    ) -> bool:
        """Write one document durably; with ``only_if_absent``, False when the key exists."""
        work = partial(
            sqlite_bus.write_document,
            collection=collection,
            key=key,
            value=value,
            only_if_absent=only_if_absent,
        )
        return await self._db.write(f"writing {collection}/{key}", work)

    async def close(self) -> None:
        """Stop the writer after its last batch, then close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._writer.close()
        await self._db.close()
