"""Reading lane snapshots, orders, fills and the ledger back from PostgreSQL."""

from __future__ import annotations

from typing import Any

from agora.orders.model import Order
from agora.orders.ports import FillQuery, FillRecord, LaneSnapshot, OrderQuery
from agora.storage.ports import LedgerRecords
from agora.storage.postgres_driver import Connection
from agora.storage.records import (
    ACCOUNT_COLUMNS,
    CLIENT_TRANSFERS,
    FILL_COLUMNS,
    HOLD_COLUMNS,
    OPEN_HOLDS,
    OPEN_ORDERS,
    ORDER_COLUMNS,
    TRANSFER_COLUMNS,
    account_from_row,
    fill_from_row,
    hold_from_row,
    order_from_row,
    transfer_from_row,
)

_FILL_IDS = "ARRAY(SELECT fill_id FROM fills WHERE fills.order_id = orders.order_id)"
_ORDER_WITH_FILLS = f"SELECT {', '.join(ORDER_COLUMNS)}, {_FILL_IDS} FROM orders"
_ORDER_SELECT = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"
_HOLD_SELECT = f"SELECT {', '.join(HOLD_COLUMNS)} FROM holds"
_TRANSFER_SELECT = f"SELECT {', '.join(TRANSFER_COLUMNS)} FROM transfers"
_FILL_SELECT = f"SELECT {', '.join(FILL_COLUMNS)} FROM fills"
_CLOSED_ORDERS = f"NOT ({OPEN_ORDERS})"


def _order_with_fills(record: Any) -> Order:
    """Rebuild an order from a row of ``_ORDER_WITH_FILLS`` (its fill ids come last)."""
    values = tuple(record)
    return order_from_row(values[:-1], set(values[-1]))


async def read_snapshot(conn: Connection) -> LaneSnapshot:
    """Read accounts, posted balances, open holds and orders, and the client id maps.

    Run it in one REPEATABLE READ transaction, so every table is read at the same moment.
    """
    accounts = await conn.fetch(f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts")
    balances = await _posted_balances(conn)
    holds = await conn.fetch(f"{_HOLD_SELECT} WHERE {OPEN_HOLDS}")
    orders = await conn.fetch(f"{_ORDER_WITH_FILLS} WHERE {OPEN_ORDERS}")
    client_order_ids = await conn.fetch(
        "SELECT account_id, client_order_id, order_id FROM orders WHERE client_order_id IS NOT NULL"
    )
    transfers = await conn.fetch(f"{_TRANSFER_SELECT} WHERE {CLIENT_TRANSFERS} ORDER BY seq")
    return LaneSnapshot(
        accounts=[account_from_row(tuple(row)) for row in accounts],
        balances=balances,
        open_holds=[hold_from_row(tuple(row)) for row in holds],
        open_orders=[_order_with_fills(row) for row in orders],
        client_order_ids={(account, client): order for account, client, order in client_order_ids},
        client_transfers=[transfer_from_row(tuple(row)) for row in transfers],
    )


async def read_order(conn: Connection, order_id: str) -> Order | None:
    """Read one order with its fill ids, or None (one statement)."""
    row = await conn.fetchrow(f"{_ORDER_WITH_FILLS} WHERE order_id = $1", order_id)
    return None if row is None else _order_with_fills(row)


async def read_order_by_client_id(
    conn: Connection, account_id: str, client_order_id: str
) -> Order | None:
    """Read an account's order by its client order id, with its fill ids, or None."""
    row = await conn.fetchrow(
        f"{_ORDER_WITH_FILLS} WHERE account_id = $1 AND client_order_id = $2",
        account_id,
        client_order_id,
    )
    return None if row is None else _order_with_fills(row)


async def read_ledger(conn: Connection) -> LedgerRecords:
    """Read every transfer (in seq order), balance and hold, and open orders' needs.

    Run it in one REPEATABLE READ transaction, so the records agree with each other.
    """
    transfers = await conn.fetch(f"{_TRANSFER_SELECT} ORDER BY seq")
    balances = await _posted_balances(conn)
    pending = await conn.fetch("SELECT account, pending FROM balances")
    holds = await conn.fetch(f"{_HOLD_SELECT} ORDER BY hold_id")
    needs = await conn.fetch(
        "SELECT hold_id, hold_amount - hold_posted FROM orders"
        f" WHERE {OPEN_ORDERS} AND hold_id IS NOT NULL AND hold_amount - hold_posted > 0"
    )
    return LedgerRecords(
        transfers=[transfer_from_row(tuple(row)) for row in transfers],
        balances=balances,
        pending=dict(pending),
        holds=[hold_from_row(tuple(row)) for row in holds],
        hold_needs=dict(needs),
    )


async def _posted_balances(conn: Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT account, posted FROM balances")
    return dict(rows)


async def list_orders(conn: Connection, query: OrderQuery) -> list[Order]:
    """Read an account's orders, newest first (order ids are time-ordered), one page.

    As in SQLite, listed orders carry no fill ids (``get_order`` reads them).
    """
    sql = [f"{_ORDER_SELECT} WHERE account_id = $1"]
    params: list[object] = [query.account_id]
    if query.status == "open":
        sql.append(f"AND {OPEN_ORDERS}")
    elif query.status == "closed":
        sql.append(f"AND {_CLOSED_ORDERS}")
    if query.symbol is not None:
        params.append(query.symbol)
        sql.append(f"AND symbol = ${len(params)}")
    if query.after is not None:
        params.append(query.after)
        sql.append(f"AND order_id < ${len(params)}")
    params.append(max(query.limit, 0))
    sql.append(f"ORDER BY order_id DESC LIMIT ${len(params)}")
    rows = await conn.fetch(" ".join(sql), *params)
    return [order_from_row(tuple(row), set()) for row in rows]


async def list_fills(conn: Connection, query: FillQuery) -> list[FillRecord]:
    """Read an account's fills, newest first (ties: the later stored first), one page."""
    sql = [f"{_FILL_SELECT} WHERE account_id = $1"]
    params: list[object] = [query.account_id]
    if query.symbol is not None:
        params.append(query.symbol)
        sql.append(f"AND symbol = ${len(params)}")
    if query.after is not None:
        params.append(query.after)
        sql.append(f"AND timestamp > ${len(params)}")
    params.append(max(query.limit, 0))
    sql.append(f"ORDER BY timestamp DESC, seq DESC LIMIT ${len(params)}")
    rows = await conn.fetch(" ".join(sql), *params)
    return [fill_from_row(tuple(row)) for row in rows]
