"""Writing lane batches to PostgreSQL: one transaction, shared rows locked in a fixed order.

Rows are laid out by ``records.py``, as for SQLite. Two things are PostgreSQL's own:

- **No deadlocks between lanes.** Lanes share ledger rows (the venue's cash, fee income, the
  bank), so two transactions may add to the same balances at once. Every transaction upserts
  its keyed rows sorted by key, so they lock them in one global order and wait, never cycle.
- **Outbox numbers in commit order.** Events are numbered from the one-row ``outbox_counter``
  by the last statement of the transaction; its row lock is held until COMMIT, so a transaction
  numbers its events only after the previous numbering one has committed and become visible. A
  reader therefore never sees seq n+1 before seq n (ADR 14).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from agora.core.errors import StorageError
from agora.core.events import Event, encode_event
from agora.ledger import Hold, Transfer
from agora.orders.ports import LaneBatch
from agora.storage.postgres_driver import DRIVER_ERRORS, Connection, is_retryable
from agora.storage.records import (
    ACCOUNT_COLUMNS,
    BALANCE_COLUMNS,
    FILL_COLUMNS,
    HOLD_COLUMNS,
    ORDER_COLUMNS,
    TRANSFER_COLUMNS,
    Row,
    account_to_row,
    balance_rows,
    fill_to_row,
    hold_to_row,
    order_to_row,
    transfer_to_row,
)


def numbered(count: int, first: int = 1) -> str:
    """Return ``$first, …`` for ``count`` parameters."""
    return ", ".join(f"${n}" for n in range(first, first + count))


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({numbered(len(columns))})"


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
    " posted = balances.posted + excluded.posted, pending = balances.pending + excluded.pending"
)
UPSERT_HOLD = _upsert("holds", HOLD_COLUMNS)
INSERT_EVENTS = (
    "WITH counter AS ("
    " UPDATE outbox_counter SET seq = seq + cardinality($1::text[]) WHERE id = 1"
    " RETURNING seq - cardinality($1::text[]) AS base)"
    " INSERT INTO outbox (seq, event_id, type, account_id, body)"
    " SELECT counter.base + e.n, e.event_id, e.type, e.account_id, e.body"
    " FROM counter, unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
    " WITH ORDINALITY AS e (event_id, type, account_id, body, n)"
)
"""Number a batch's events after the last seq handed out, in batch order, in one statement."""


@dataclass(frozen=True, slots=True)
class PgBatch:
    """A lane batch with its mutable records already laid out as rows."""

    accounts: list[Row]
    orders: list[Row]
    fills: list[Row]
    balances: dict[str, tuple[int, int]]  # ledger account → (posted, pending) deltas
    transfers: list[Transfer]  # frozen records: laid out at commit time
    holds: list[Hold]
    events: list[Event]

    @staticmethod
    def merge(batches: Sequence[PgBatch]) -> PgBatch:
        """Concatenate frozen batches, in order; balance deltas add up."""
        if len(batches) == 1:
            return batches[0]
        balances: dict[str, tuple[int, int]] = {}
        for batch in batches:
            for account, (posted, pending) in batch.balances.items():
                old_posted, old_pending = balances.get(account, (0, 0))
                balances[account] = (old_posted + posted, old_pending + pending)
        return PgBatch(
            accounts=[row for b in batches for row in b.accounts],
            orders=[row for b in batches for row in b.orders],
            fills=[row for b in batches for row in b.fills],
            balances=balances,
            transfers=[t for b in batches for t in b.transfers],
            holds=[h for b in batches for h in b.holds],
            events=[e for b in batches for e in b.events],
        )


def freeze_batch(batch: LaneBatch) -> PgBatch:
    """Copy a batch into rows now, before the lane mutates its orders and accounts again."""
    return PgBatch(
        accounts=[account_to_row(record) for record in batch.accounts],
        orders=[order_to_row(order) for order in batch.orders],
        fills=[fill_to_row(fill) for fill in batch.fills],
        balances=dict(batch.balance_deltas),
        transfers=list(batch.transfers),
        holds=list(batch.holds),
        events=list(batch.events),
    )


def latest_by_key(rows: Sequence[Row]) -> list[Row]:
    """Keep each key's last row (a later batch's state wins), sorted by key (the lock order)."""
    latest = {row[0]: row for row in rows}
    return [latest[key] for key in sorted(latest)]


async def write_batch(conn: Connection, batch: PgBatch) -> None:
    """Write every row of ``batch`` inside the caller's READ COMMITTED transaction."""
    steps: tuple[tuple[str, str, list[Row]], ...] = (
        ("accounts", UPSERT_ACCOUNT, latest_by_key(batch.accounts)),
        ("orders", UPSERT_ORDER, latest_by_key(batch.orders)),
        ("fills", INSERT_FILL, batch.fills),
        ("transfers", INSERT_TRANSFER, [transfer_to_row(t) for t in batch.transfers]),
        ("balances", ADD_BALANCE, balance_rows(dict(sorted(batch.balances.items())))),
        ("holds", UPSERT_HOLD, latest_by_key([hold_to_row(hold) for hold in batch.holds])),
    )
    for label, sql, rows in steps:
        if rows:
            await _guarded(label, conn.executemany(sql, rows))
    if batch.events:  # last: the counter's row lock is held only from here to COMMIT
        events = batch.events
        await _guarded(
            "events",
            conn.execute(
                INSERT_EVENTS,
                [event.event_id for event in events],
                [event.type for event in events],
                [event.account_id for event in events],
                [encode_event(event) for event in events],
            ),
        )


async def _guarded(label: str, statement: Awaitable[object]) -> None:
    """Await ``statement``; name the step in a non-retryable driver error."""
    try:
        await statement
    except DRIVER_ERRORS as exc:
        if is_retryable(exc):
            raise  # the caller reruns the whole transaction
        raise StorageError(f"committing a lane batch failed writing {label}: {exc}") from exc
