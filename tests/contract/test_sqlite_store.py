"""The storage contract against the SQLite adapter, plus what only a file-backed store can do."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from agora.bus.ports import ProjectionTx
from agora.core.errors import StorageError
from agora.ledger import TransferKind, customer_cash, venue_account
from agora.orders.ports import LaneBatch
from agora.storage import SqliteStore

from .storage_contract import (
    Store,
    StoreContract,
    account,
    event,
    everything,
    fill,
    full_order,
    hold,
    opened,
    order,
    transfer,
)


class TestSqliteStore(StoreContract):
    """SqliteStore keeps the storage contract."""

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        """Yield a store on a fresh database file."""
        store = await SqliteStore.open(tmp_path / "agora.db")
        yield store
        await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """Yield a store on a fresh database file."""
    store = await SqliteStore.open(tmp_path / "agora.db")
    yield store
    await store.close()


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """Open a second, plain connection to the database file."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def big_batch(size: int, prefix: str = "") -> LaneBatch:
    """Return a batch shaped like a busy lane's: ``size`` new orders with holds and events."""
    orders = [
        order(f"{prefix}ord_{n}", client_order_id=f"{prefix}c{n}", hold_id=f"{prefix}h{n}")
        for n in range(size)
    ]
    return LaneBatch(
        accounts=[account()],
        orders=orders,
        transfers=[
            transfer(
                f"{prefix}h{n}",
                reason="order",
                kind=TransferKind.PENDING,
                debit_account=customer_cash("acc_1"),
                credit_account=venue_account("USD"),
                order_id=o.order_id,
            )
            for n, o in enumerate(orders)
        ],
        holds=[hold(f"{prefix}h{n}", order_id=o.order_id) for n, o in enumerate(orders)],
        balance_deltas={customer_cash(f"acc_{n}"): (0, 1_000) for n in range(size)},
        events=[event(f"{prefix}e{n}") for n in range(2 * size)],
    )


async def test_reopening_the_file_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "agora.db"
    store = await SqliteStore.open(path)
    stored = full_order()
    await store.commit(
        LaneBatch(
            accounts=[account()],
            orders=[stored],
            fills=[fill(stored.order_id, "fill_a"), fill(stored.order_id, "fill_b")],
            transfers=[transfer("acc_1:d1", reason="deposit")],
            balance_deltas={customer_cash("acc_1"): (1_000, 0)},
            holds=[hold("hold_full")],
            events=[event("e1"), event("e2")],
        )
    )
    await store.mark_published(1)
    await store.apply("positions", 7, lambda tx: tx.put("positions", "acc_1", b"\x00\x01"))
    before = await everything(store)
    await store.close()

    store = await SqliteStore.open(path)
    try:
        assert await everything(store) == before
        assert await store.get_order(stored.order_id) == stored
        assert await store.published_seq() == 1
        assert await store.checkpoint("positions") == 7
        found: list[bytes | None] = []
        await store.apply("positions", 8, lambda tx: found.append(tx.get("positions", "acc_1")))
        assert found == [b"\x00\x01"]
        await store.commit(LaneBatch(events=[event("e3")]))
        assert [seq for seq, _ in await store.fetch_after(0, 10)] == [1, 2, 3]
    finally:
        await store.close()


async def test_work_runs_on_the_store_thread(sqlite_store: SqliteStore) -> None:
    threads: list[threading.Thread] = []

    def note_thread(tx: ProjectionTx) -> None:
        threads.append(threading.current_thread())

    await sqlite_store.apply("probe", 1, note_thread)
    assert threads[0] is not threading.current_thread()
    assert threads[0].name.startswith("agora-sqlite")


async def test_the_event_loop_keeps_running_during_a_commit(sqlite_store: SqliteStore) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await sqlite_store.commit(big_batch(1_000))
    during = ticks - before
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert during > 0


async def test_thousand_order_batches_commit_whole(sqlite_store: SqliteStore) -> None:
    # How fast is for benchmarks/bench_lanes.py; here: large batches arrive complete.
    await sqlite_store.commit(big_batch(1_000, prefix="warm_"))
    await sqlite_store.commit(big_batch(1_000))
    snapshot = await sqlite_store.load_snapshot()
    assert len(snapshot.open_orders) == 2_000
    assert len(snapshot.open_holds) == 2_000
    assert len(await sqlite_store.fetch_after(0, 10_000)) == 4_000


async def test_the_connection_is_durable_and_checks_references(sqlite_store: SqliteStore) -> None:
    def pragmas(conn: sqlite3.Connection) -> list[object]:
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        return [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names]

    # Only the store's own thread may touch its connection, so ask through it.
    found = await sqlite_store._db.read("reading pragmas", pragmas)
    assert found == ["wal", 2, 1, 5_000]  # synchronous 2 is FULL


async def test_a_locked_database_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "agora.db"
    store = await SqliteStore.open(path, busy_timeout_ms=50)
    try:
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageError, match="committing a lane batch"):
                await store.commit(opened("acc_1"))
            other.execute("ROLLBACK")
        await store.commit(opened("acc_1"))
        assert [found.account_id for found in (await store.load_snapshot()).accounts] == ["acc_1"]
    finally:
        await store.close()


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agora.db"
    path.write_bytes(b"this is not a database, just a text file of some length " * 100)
    with pytest.raises(StorageError, match="opening"):
        await SqliteStore.open(path)


async def test_the_database_uses_wal_and_strict_integer_money(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    await sqlite_store.commit(opened("acc_1"))
    with raw(tmp_path / "agora.db") as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(sqlite3.IntegrityError, match="REAL"):
            other.execute("INSERT INTO balances VALUES ('x:y:USD', 'USD', 1.5, 0)")


def _writer_pid(store: SqliteStore) -> int:
    process = store._writer._process  # the test looks inside on purpose: it kills the child
    assert process is not None
    return process.pid


async def test_a_killed_writer_is_replaced(sqlite_store: SqliteStore) -> None:
    await sqlite_store.commit(big_batch(5, prefix="before_"))
    pid = _writer_pid(sqlite_store)
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    await sqlite_store.commit(big_batch(5, prefix="after_"))
    assert _writer_pid(sqlite_store) != pid
    assert len((await sqlite_store.load_snapshot()).open_orders) == 10


async def test_the_writer_ignores_ctrl_c_and_stops_with_the_store(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "w.db")
    await store.commit(big_batch(3))
    pid = _writer_pid(store)
    os.kill(pid, signal.SIGINT)  # a terminal's Ctrl-C must not abort a commit
    await asyncio.sleep(0.2)
    await store.commit(big_batch(3, prefix="more_"))
    assert _writer_pid(store) == pid
    await store.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
