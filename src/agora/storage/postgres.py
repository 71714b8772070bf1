"""The PostgreSQL adapter: every storage port on one database, through an asyncpg pool.

The scaled shape's system of record (one database per shard). Lane batches are group-committed
in one READ COMMITTED transaction, rerun whole after a deadlock or serialization failure; shared
balance rows are locked in key order, and outbox events are numbered in commit order (ADR 14).
Driver errors become StorageError at this edge, and a failed commit writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from agora.core.events import Event
from agora.orders.model import Order
from agora.orders.ports import FillQuery, FillRecord, LaneBatch, LaneSnapshot, OrderQuery
from agora.storage import postgres_bus
from agora.storage.ports import Effect, LedgerRecords
from agora.storage.postgres_batch import PgBatch, freeze_batch, write_batch
from agora.storage.postgres_conn import PgDatabase, RetryPolicy
from agora.storage.postgres_read import (
    list_fills,
    list_orders,
    read_ledger,
    read_order,
    read_order_by_client_id,
    read_snapshot,
)

EFFECT_THREADS = 4
"""Worker threads that run subscribers' effects (one per apply in progress)."""


class PostgresStore:
    """LaneStore, OrderReads, the outbox, checkpoints, documents and the ledger on PostgreSQL."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database
        self._effects = ThreadPoolExecutor(EFFECT_THREADS, thread_name_prefix="agora-pg-effect")

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        retry: RetryPolicy | None = None,
    ) -> PostgresStore:
        """Connect to the database at ``dsn`` and apply the migrations it lacks."""
        database = await PgDatabase.open(
            dsn, min_connections=min_connections, max_connections=max_connections, retry=retry
        )
        return cls(database)

    @property
    def database(self) -> PgDatabase:
        """The connection pool (a candle store may share it)."""
        return self._db

    def freeze(self, batch: LaneBatch) -> PgBatch:
        """Lay the batch out as rows now, before the lane changes its orders again."""
        return freeze_batch(batch)

    async def commit_frozen(self, batches: Sequence[PgBatch]) -> None:
        """Write frozen batches in one transaction, or raise StorageError and write nothing."""
        merged = PgBatch.merge(batches)
        await self._db.write("committing a lane batch", partial(write_batch, batch=merged))

    async def commit(self, batch: LaneBatch) -> None:
        """Write the whole batch in one transaction, or raise StorageError and write nothing."""
        await self.commit_frozen([self.freeze(batch)])

    async def load_snapshot(self) -> LaneSnapshot:
        """Read what the lanes rebuild their in-memory state from, at one moment."""
        return await self._db.read("loading the lane snapshot", read_snapshot)

    async def get_order(self, order_id: str) -> Order | None:
        """Read one order (any status) with its fill ids, or None."""
        return await self._db.fetch(
            f"reading order {order_id}", partial(read_order, order_id=order_id)
        )

    async def list_orders(self, query: OrderQuery) -> list[Order]:
        """Return a page of an account's orders, newest first."""
        return await self._db.fetch("listing orders", partial(list_orders, query=query))

    async def get_order_by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        """Return an account's order by its client order id, or None."""
        work = partial(
            read_order_by_client_id, account_id=account_id, client_order_id=client_order_id
        )
        return await self._db.fetch(f"reading order {client_order_id}", work)

    async def list_fills(self, query: FillQuery) -> list[FillRecord]:
        """Return a page of an account's fills, newest first."""
        return await self._db.fetch("listing fills", partial(list_fills, query=query))

    async def ledger_records(self) -> LedgerRecords:
        """Read every transfer, posted balance and hold, and what open orders still reserve."""
        return await self._db.read("reading the ledger", read_ledger)

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Return up to ``limit`` outbox events after ``seq``, in order."""
        work = partial(postgres_bus.fetch_events, seq=seq, limit=limit)
        return await self._db.fetch("reading the outbox", work)

    async def fetch_account_after(
        self, account_id: str, seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        """Return up to ``limit`` of an account's outbox events after ``seq``, in order."""
        work = partial(
            postgres_bus.fetch_account_events, account_id=account_id, seq=seq, limit=limit
        )
        return await self._db.fetch(f"reading {account_id}'s events", work)

    async def mark_published(self, up_to_seq: int) -> None:
        """Record that every event up to ``up_to_seq`` was handed to the bus."""
        work = partial(postgres_bus.mark_published, up_to_seq=up_to_seq)
        await self._db.write("moving the relay position", work)

    async def published_seq(self) -> int:
        """Return the highest sequence number marked published (0 when none)."""
        return await self._db.fetch("reading the relay position", postgres_bus.published_seq)

    async def checkpoint(self, subscriber: str) -> int:
        """Return the last sequence number ``subscriber`` applied (0 when none)."""
        work = partial(postgres_bus.read_checkpoint, subscriber=subscriber)
        return await self._db.fetch(f"reading checkpoint {subscriber}", work)

    async def apply(self, subscriber: str, seq: int, effect: Effect) -> bool:
        """Run ``effect`` and move the checkpoint in one transaction; False if already applied.

        The effect runs on a worker thread. After a deadlock the transaction is rerun, and the
        effect with it: effects must start over cleanly (they only write through ``tx``).
        """
        work = partial(
            postgres_bus.apply_effect,
            subscriber=subscriber,
            seq=seq,
            effect=effect,
            effects=self._effects,
        )
        return await self._db.write(f"applying {subscriber} at {seq}", work)

    async def documents(self, collection: str, prefix: str) -> list[tuple[str, bytes]]:
        """Read a read model's documents whose keys start with ``prefix``, by key."""
        work = partial(postgres_bus.read_documents, collection=collection, prefix=prefix)
        return await self._db.fetch(f"reading {collection}", work)

    async def get_document(self, collection: str, key: str) -> bytes | None:
        """Read one committed document, or None."""
        work = partial(postgres_bus.read_document, collection=collection, key=key)
        return await self._db.fetch(f"reading {collection}/{key}", work)

    async def put_document(
        self, collection: str, key: str, value: bytes, *, only_if_absent: bool = False
    ) -> bool:
        """Write one document durably; with ``only_if_absent``, False when the key exists."""
        work = partial(
            postgres_bus.write_document,
            collection=collection,
            key=key,
            value=value,
            only_if_absent=only_if_absent,
        )
        return await self._db.write(f"writing {collection}/{key}", work)

    async def close(self) -> None:
        """Finish the writes in progress, then close the pool and the effect threads."""
        try:
            await self._db.close()
        finally:
            self._effects.shutdown(wait=True)
