"""Writing one LaneBatch to SQLite: one ``executemany`` per row kind, in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from agora.core.errors import StorageError
from agora.core.events import Event
from agora.ledger import Hold, Transfer
from agora.orders.ports import LaneBatch
from agora.storage.records import (
    ACCOUNT_COLUMNS,
    BALANCE_COLUMNS,
    EVENT_COLUMNS,
    FILL_COLUMNS,
    HOLD_COLUMNS,
    ORDER_COLUMNS,
    TRANSFER_COLUMNS,
    Row,
    account_to_row,
    balance_rows,
    event_to_row,
    fill_to_row,
    hold_to_row,
    order_to_row,
    placeholders,
    transfer_to_row,
)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(columns)})"


def _upsert(table: str, columns: Sequence[str]) -> str:
    """Insert a row, or overwrite every column but the first (the key) of the stored one."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns[1:])
    return f"{_insert(table, columns)} ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"


UPSERT_ACCOUNT = _upsert("accounts", ACCOUNT_COLUMNS)
UPSERT_ORDER = _upsert("orders", ORDER_COLUMNS)
INSERT_FILL = _insert("fills", FILL_COLUMNS)
INSERT_TRANSFER = _insert("transfers", TRANSFER_COLUMNS)
ADD_BALANCE = (
    f"{_insert('balances', BALANCE_COLUMNS)} ON CONFLICT (account) DO UPDATE SET"
    " posted = posted + excluded.posted, pending = pending + excluded.pending"
)
UPSERT_HOLD = _upsert("holds", HOLD_COLUMNS)
INSERT_EVENT = _insert("outbox", EVENT_COLUMNS)


@dataclass(frozen=True, slots=True)
class BatchRows:
    """A batch with its mutable records already laid out as rows."""

    accounts: list[Row]
    orders: list[Row]
    fills: list[Row]
    balances: list[Row]
    transfers: list[Transfer]  # frozen records: laid out on the database thread
    holds: list[Hold]
    events: list[Event]

    @staticmethod
    def merge(batches: Sequence[BatchRows]) -> BatchRows:
        """Concatenate frozen batches (balance rows add up: each is a delta)."""
        if len(batches) == 1:
            return batches[0]
        return BatchRows(
            accounts=[row for b in batches for row in b.accounts],
            orders=[row for b in batches for row in b.orders],
            fills=[row for b in batches for row in b.fills],
            balances=[row for b in batches for row in b.balances],
            transfers=[t for b in batches for t in b.transfers],
            holds=[h for b in batches for h in b.holds],
            events=[e for b in batches for e in b.events],
        )


def batch_rows(batch: LaneBatch) -> BatchRows:
    """Copy a batch into rows now, before the lane mutates its orders and accounts again."""
    return BatchRows(
        accounts=[account_to_row(record) for record in batch.accounts],
        orders=[order_to_row(order) for order in batch.orders],
        fills=[fill_to_row(fill) for fill in batch.fills],
        balances=balance_rows(batch.balance_deltas),
        transfers=list(batch.transfers),
        holds=list(batch.holds),
        events=list(batch.events),
    )


STEPS: tuple[tuple[str, str], ...] = (
    ("accounts", UPSERT_ACCOUNT),
    ("orders", UPSERT_ORDER),
    ("fills", INSERT_FILL),
    ("transfers", INSERT_TRANSFER),
    ("balances", ADD_BALANCE),
    ("holds", UPSERT_HOLD),
    ("events", INSERT_EVENT),
)
"""What a batch writes, in order: a label for errors and the statement for its rows."""


def encoded_rows(rows: BatchRows) -> list[list[Row]]:
    """Every table's rows, in STEPS order (frozen records are laid out here, off the loop)."""
    return [
        rows.accounts,
        rows.orders,
        rows.fills,
        [transfer_to_row(t) for t in rows.transfers],
        rows.balances,
        [hold_to_row(hold) for hold in rows.holds],
        [event_to_row(event) for event in rows.events],
    ]


def write_batch(conn: sqlite3.Connection, rows: BatchRows) -> None:
    """Write every row of a batch inside the caller's transaction."""
    for (label, sql), values in zip(STEPS, encoded_rows(rows), strict=True):
        if not values:
            continue
        try:
            conn.executemany(sql, values)
        except (sqlite3.Error, OverflowError) as exc:
            raise StorageError(f"committing a lane batch failed writing {label}: {exc}") from exc
