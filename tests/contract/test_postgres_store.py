"""The storage contract against the PostgreSQL adapter, plus what only a shared server can do.

Each test gets a database of its own (``postgres_server.fresh_database``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # reason: asyncpg ships no type hints
import pytest

from agora.bus.ports import ProjectionTx
from agora.core.errors import StorageError
from agora.core.events import encode_event
from agora.ledger import TransferKind, customer_cash, fee_income, venue_account
from agora.orders.ports import LaneBatch
from agora.storage.postgres import PostgresStore
from agora.storage.postgres_conn import PgDatabase, RetryPolicy
from agora.storage.postgres_migrate import load_migrations

from .postgres_server import fresh_database
from .storage_contract import (
    Store,
    StoreContract,
    account,
    event,
    everything,
    fill,
    full_order,
    hold,
    order,
    transfer,
)


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    """Yield the DSN of a new, empty database (dropped afterwards)."""
    async with fresh_database() as made:
        yield made


class TestPostgresStore(StoreContract):
    """PostgresStore keeps the storage contract."""

    @pytest.fixture
    async def store(self, dsn: str) -> AsyncIterator[Store]:
        """Yield a store on a fresh database."""
        store = await PostgresStore.open(dsn)
        yield store
        await store.close()


@pytest.fixture
async def pg_store(dsn: str) -> AsyncIterator[PostgresStore]:
    """Yield a store on a fresh database."""
    store = await PostgresStore.open(dsn)
    yield store
    await store.close()


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


# -- durability and the schema ----------------------------------------------------------------


async def test_reopening_the_database_keeps_everything(dsn: str) -> None:
    store = await PostgresStore.open(dsn)
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

    store = await PostgresStore.open(dsn)
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


async def test_migrations_apply_once_even_when_openers_race(dsn: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(dsn) for _ in range(4)))
    for store in stores:
        await store.close()
    conn = await asyncpg.connect(dsn)
    try:
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [row["version"] for row in versions] == [m.version for m in load_migrations()]


async def test_a_database_newer_than_the_code_is_refused(dsn: str) -> None:
    await (await PostgresStore.open(dsn)).close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    finally:
        await conn.close()
    with pytest.raises(StorageError, match="newer than this code"):
        await PostgresStore.open(dsn)


async def test_money_is_bigint_and_text_compares_as_bytes(
    pg_store: PostgresStore, dsn: str
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        floating = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
            " AND data_type IN ('numeric', 'real', 'double precision', 'money')"
        )
        not_c = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = 'text'"
            " AND table_name <> 'schema_migrations' AND collation_name IS DISTINCT FROM 'C'"
        )
        amount_type = await conn.fetchval(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'balances' AND column_name = 'posted'"
        )
        open_index = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'orders_open'"
        )
        by_account = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_account_seq'"
        )
    finally:
        await conn.close()
    assert floating == []
    assert not_c == []
    assert amount_type == "bigint"
    assert "WHERE" in open_index
    assert "(account_id, seq)" in by_account


async def test_unicode_keys_and_prefixes_compare_as_bytes(pg_store: PostgresStore) -> None:
    keys = ["a|Z", "a|_", "a|a", "a|é", "a|\U0001f600", "a||", "b|a", "A|a"]
    for key in keys:
        await pg_store.put_document("docs", key, key.encode())
    found = [key for key, _ in await pg_store.documents("docs", "a|")]
    assert found == sorted(key for key in keys if key.startswith("a|"))  # code point order


# -- group commit: order, deadlocks, retries, errors ------------------------------------------


async def test_seqs_wait_for_an_earlier_open_transaction(pg_store: PostgresStore, dsn: str) -> None:
    # Another writer numbers an event and has not committed yet: a later commit must not take a
    # number past it and become visible first, or a follower would skip the earlier event.
    other = await asyncpg.connect(dsn)
    try:
        slow = other.transaction()
        await slow.start()
        await other.execute(
            "WITH c AS (UPDATE outbox_counter SET seq = seq + 1 RETURNING seq)"
            " INSERT INTO outbox (seq, event_id, type, account_id, body)"
            " SELECT c.seq, 'slow', 'order.updated', 'acc_1', $1 FROM c",
            encode_event(event("slow")),
        )
        fast = asyncio.create_task(pg_store.commit(LaneBatch(events=[event("fast")])))
        await asyncio.sleep(0.3)
        assert not fast.done()  # waiting for the earlier numbering transaction
        assert await pg_store.fetch_after(0, 10) == []
        await slow.commit()
        await fast
    finally:
        await other.close()
    stored = await pg_store.fetch_after(0, 10)
    assert [(seq, found.event_id) for seq, found in stored] == [(1, "slow"), (2, "fast")]


async def test_two_lanes_on_shared_balances_never_deadlock(dsn: str) -> None:
    # Two stores (as two processes) commit 200 batches each at once, adding to the same ledger
    # accounts in opposite key orders; a follower reads the outbox meanwhile.
    rounds = 200
    first, second = await PostgresStore.open(dsn), await PostgresStore.open(dsn)
    cash_a, cash_b = customer_cash("acc_a"), customer_cash("acc_b")
    venue, fees = venue_account("USD"), fee_income("USD")
    try:

        async def lane(store: PostgresStore, name: str, keys: list[str]) -> None:
            for n in range(rounds):
                deltas = {
                    key: (amount, -amount) for key, amount in zip(keys, (7, -3, -4, 0), strict=True)
                }
                events = [event(f"{name}{n}.{k}", account_id=f"acc_{name}") for k in range(3)]
                await store.commit(LaneBatch(balance_deltas=deltas, events=events))

        seen: list[int] = []

        async def follower() -> None:
            position = 0
            while position < 2 * rounds * 3:
                for seq, _ in await first.fetch_after(position, 50):
                    assert seq == position + 1  # never a gap, so nothing is ever skipped
                    position = seq
                    seen.append(seq)
                await asyncio.sleep(0)

        started = time.perf_counter()
        await asyncio.gather(
            lane(first, "a", [cash_a, cash_b, venue, fees]),
            lane(second, "b", [fees, venue, cash_b, cash_a]),
            follower(),
        )
        elapsed = time.perf_counter() - started
        balances = (await first.ledger_records()).balances
        pending = (await first.ledger_records()).pending
        batches = {found.event_id.split(".")[0] for _, found in await first.fetch_after(0, 9999)}
        retries = first.database.retries + second.database.retries
    finally:
        await first.close()
        await second.close()
    assert balances == {
        cash_a: rounds * (7 + 0),
        cash_b: rounds * (-3 - 4),
        venue: rounds * (-4 - 3),
        fees: rounds * (0 + 7),
    }
    assert pending == {key: -amount for key, amount in balances.items()}
    assert seen == list(range(1, 2 * rounds * 3 + 1))
    assert len(batches) == 2 * rounds
    assert retries == 0  # keys locked in one order: nothing to retry
    assert elapsed < 60


async def test_a_deadlocked_transaction_is_retried_whole(pg_store: PostgresStore) -> None:
    database = pg_store.database
    attempts = 0

    async def work(conn: Any) -> str:
        nonlocal attempts
        attempts += 1
        await conn.execute(
            "INSERT INTO projections (collection, key, value) VALUES ('c', $1, 'x')",
            f"k{attempts}",
        )
        if attempts < 3:  # a real server error, as the deadlock detector raises it
            await conn.execute("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$")
        return "done"

    assert await database.write("testing retries", work) == "done"
    assert attempts == 3
    assert database.retries == 2
    assert await pg_store.documents("c", "") == [("k3", b"x")]  # the failed attempts left nothing


async def test_retries_are_bounded(dsn: str) -> None:
    database = await PgDatabase.open(dsn, retry=RetryPolicy(attempts=3, first_delay_s=0.001))
    attempts = 0

    async def doomed(conn: Any) -> None:
        nonlocal attempts
        attempts += 1
        await conn.execute("DO $$ BEGIN RAISE EXCEPTION 'again' USING ERRCODE = '40001'; END $$")

    try:
        with pytest.raises(StorageError, match="testing retries failed: again"):
            await database.write("testing retries", doomed)
    finally:
        await database.close()
    assert attempts == 3


async def test_a_connection_cut_mid_commit_writes_nothing_and_the_next_commit_works(
    pg_store: PostgresStore, dsn: str
) -> None:
    await pg_store.commit(LaneBatch(accounts=[account()], events=[event("e1")]))
    other = await asyncpg.connect(dsn)
    try:
        blocker = other.transaction()
        await blocker.start()
        await other.execute("UPDATE outbox_counter SET seq = seq")  # hold the counter's lock
        cut = asyncio.create_task(
            pg_store.commit(LaneBatch(accounts=[account("acc_2")], events=[event("e2")]))
        )
        await asyncio.sleep(0.3)  # the commit wrote its account and waits for the counter
        killed = await other.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        assert killed == 1
        with pytest.raises(StorageError, match="committing a lane batch failed"):
            await cut
        await blocker.rollback()
    finally:
        await other.close()
    await pg_store.commit(LaneBatch(events=[event("e3")]))  # on a new connection
    assert [found.event_id for _, found in await pg_store.fetch_after(0, 10)] == ["e1", "e3"]
    assert [found.account_id for found in (await pg_store.load_snapshot()).accounts] == ["acc_1"]


async def test_a_cancelled_commit_still_commits_whole(dsn: str) -> None:
    store = await PostgresStore.open(dsn)
    task = asyncio.create_task(store.commit(big_batch(300)))
    await asyncio.sleep(0)  # the commit has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # waits for the write in progress

    store = await PostgresStore.open(dsn)
    try:
        assert len((await store.load_snapshot()).open_orders) == 300
        assert len(await store.fetch_after(0, 10_000)) == 600
    finally:
        await store.close()


async def test_thousand_order_batches_commit_whole(pg_store: PostgresStore) -> None:
    await pg_store.commit(big_batch(1_000, prefix="warm_"))
    started = time.perf_counter()
    await pg_store.commit_frozen(
        [pg_store.freeze(big_batch(500, prefix=p)) for p in ("x_", "y_")]  # two lanes' batches
    )
    elapsed = time.perf_counter() - started
    snapshot = await pg_store.load_snapshot()
    assert len(snapshot.open_orders) == 2_000
    assert len(snapshot.open_holds) == 2_000
    assert len(await pg_store.fetch_after(0, 10_000)) == 4_000
    assert elapsed < 5  # about 0.1 s here; bench the speed in benchmarks/, not here


async def test_a_batch_that_touches_one_order_twice_keeps_the_last(pg_store: PostgresStore) -> None:
    await pg_store.commit(LaneBatch(accounts=[account()]))
    working = order()
    first = pg_store.freeze(LaneBatch(orders=[working], holds=[hold("h1")]))
    working.filled_qty = 4
    second = pg_store.freeze(LaneBatch(orders=[working], holds=[hold("h1", posted=400)]))
    await pg_store.commit_frozen([first, second])
    stored = await pg_store.get_order("ord_1")
    assert stored is not None
    assert stored.filled_qty == 4
    assert (await pg_store.ledger_records()).holds == [hold("h1", posted=400)]


# -- subscribers' effects ---------------------------------------------------------------------


async def test_effects_run_on_a_worker_thread(pg_store: PostgresStore) -> None:
    threads: list[threading.Thread] = []
    kept: list[ProjectionTx] = []

    def note_thread(tx: ProjectionTx) -> None:
        threads.append(threading.current_thread())
        kept.append(tx)
        assert tx.get("probe", "k") is None

    await pg_store.apply("probe", 1, note_thread)
    assert threads[0] is not threading.current_thread()
    assert threads[0].name.startswith("agora-pg-effect")
    with pytest.raises(StorageError, match="after its apply"):
        kept[0].put("probe", "k", b"late")


async def test_concurrent_applies_of_one_subscriber_run_once(pg_store: PostgresStore) -> None:
    calls: list[int] = []

    def count(tx: ProjectionTx) -> None:
        calls.append(1)
        tx.put("counts", "k", str(len(calls)).encode())

    results = await asyncio.gather(*(pg_store.apply("positions", 5, count) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert calls == [1]
