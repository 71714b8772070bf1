"""The migration runner and the schema it builds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest

from agora.core.errors import StorageError
from agora.orders.model import FINAL_STATUSES, Order
from agora.storage import SqliteStore
from agora.storage.migrate import Migration, load_migrations, migrate, schema_version
from agora.storage.records import (
    CLIENT_TRANSFERS,
    FINAL_STATUS_VALUES,
    OPEN_HOLDS,
    OPEN_ORDERS,
    ORDER_COLUMNS,
)

FIRST = Migration(1, "first", "CREATE TABLE first (x INTEGER NOT NULL) STRICT;")
SECOND = Migration(2, "second", "CREATE TABLE second (x INTEGER NOT NULL) STRICT;")


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    """Yield an autocommit connection to an empty in-memory database."""
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as connection:
        yield connection


@pytest.fixture
def migrated(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Return a connection to a database with every packaged migration applied."""
    migrate(conn)
    return conn


def tables(conn: sqlite3.Connection) -> set[str]:
    """Return the names of the database's own tables."""
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def test_packaged_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"
    assert "CREATE TABLE orders" in migrations[0].sql


def test_a_new_database_gets_every_migration(conn: sqlite3.Connection) -> None:
    assert migrate(conn) == [m.version for m in load_migrations()]
    assert schema_version(conn) == len(load_migrations())
    (applied_at,) = conn.execute("SELECT applied_at FROM schema_migrations").fetchone()
    assert datetime.fromisoformat(applied_at).tzinfo is not None
    assert {"orders", "fills", "transfers", "outbox", "projections"} <= tables(conn)


def test_an_up_to_date_database_applies_nothing(migrated: sqlite3.Connection) -> None:
    assert migrate(migrated) == []
    assert migrated.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
        load_migrations()
    )


def test_only_missing_migrations_are_applied(conn: sqlite3.Connection) -> None:
    assert migrate(conn, [FIRST]) == [1]
    assert migrate(conn, [SECOND, FIRST]) == [2]
    assert tables(conn) == {"schema_migrations", "first", "second"}


def test_a_failing_migration_leaves_no_trace(conn: sqlite3.Connection) -> None:
    broken = Migration(
        2, "broken", "CREATE TABLE half (x INTEGER) STRICT; INSERT INTO nowhere VALUES (1);"
    )
    with pytest.raises(StorageError, match="0002_broken"):
        migrate(conn, [FIRST, broken])

    assert tables(conn) == {"schema_migrations", "first"}
    assert schema_version(conn) == 1
    assert not conn.in_transaction


def test_a_database_newer_than_the_code_is_refused(conn: sqlite3.Connection) -> None:
    migrate(conn, [FIRST, SECOND])
    with pytest.raises(StorageError, match="newer"):
        migrate(conn, [FIRST])


async def test_the_store_refuses_a_newer_database(tmp_path: Path) -> None:
    path = tmp_path / "agora.db"
    await (await SqliteStore.open(path)).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("INSERT INTO schema_migrations VALUES (999, '2030-01-01T00:00:00+00:00')")
    with pytest.raises(StorageError, match="newer"):
        await SqliteStore.open(path)


def test_every_table_is_strict_and_money_is_never_real(migrated: sqlite3.Connection) -> None:
    listed = migrated.execute("SELECT name, strict FROM pragma_table_list WHERE schema = 'main'")
    strictness = {name: strict for name, strict in listed if not name.startswith("sqlite_")}
    assert set(strictness) == tables(migrated)
    assert all(strictness.values()), strictness
    types = migrated.execute(
        "SELECT DISTINCT upper(c.type) FROM sqlite_schema AS t, pragma_table_info(t.name) AS c"
        " WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%'"
    )
    assert {column_type for (column_type,) in types} == {"INTEGER", "TEXT", "BLOB"}


def test_the_orders_table_holds_every_order_field(migrated: sqlite3.Connection) -> None:
    columns = [name for (name,) in migrated.execute("SELECT name FROM pragma_table_info('orders')")]
    assert columns == list(ORDER_COLUMNS)
    assert set(ORDER_COLUMNS) == {f.name for f in fields(Order)} - {"fill_ids"}


def test_final_statuses_match_the_model() -> None:
    assert set(FINAL_STATUS_VALUES) == {status.value for status in FINAL_STATUSES}


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (f"SELECT * FROM orders WHERE {OPEN_ORDERS}", "orders_open"),
        (f"SELECT * FROM holds WHERE {OPEN_HOLDS}", "holds_open"),
        (
            f"SELECT * FROM transfers WHERE {CLIENT_TRANSFERS} ORDER BY seq",
            "transfers_client",
        ),
    ],
)
def test_snapshot_queries_use_their_partial_indexes(
    migrated: sqlite3.Connection, query: str, index: str
) -> None:
    plan = " ".join(str(row[-1]) for row in migrated.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert index in plan
