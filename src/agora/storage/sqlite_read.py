"""Reading lane snapshots, orders and the ledger back from SQLite."""

from __future__ import annotations

import sqlite3

from agora.orders.model import Order
from agora.orders.ports import FillQuery, FillRecord, LaneSnapshot, OrderQuery
from agora.storage.ports import LedgerRecords
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

_ORDER_SELECT = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"
_HOLD_SELECT = f"SELECT {', '.join(HOLD_COLUMNS)} FROM holds"
_TRANSFER_SELECT = f"SELECT {', '.join(TRANSFER_COLUMNS)} FROM transfers"


def read_snapshot(conn: sqlite3.Connection) -> LaneSnapshot:
    """Read accounts, posted balances, open holds and orders, and the client id maps."""
    accounts = conn.execute(f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts")
    client_order_ids = conn.execute(
        "SELECT account_id, client_order_id, order_id FROM orders WHERE client_order_id IS NOT NULL"
    )
    transfers = conn.execute(f"{_TRANSFER_SELECT} WHERE {CLIENT_TRANSFERS} ORDER BY seq")
    return LaneSnapshot(
        accounts=[account_from_row(row) for row in accounts],
        balances=_posted_balances(conn),
        open_holds=[
            hold_from_row(row) for row in conn.execute(f"{_HOLD_SELECT} WHERE {OPEN_HOLDS}")
        ],
        open_orders=_open_orders(conn),
        client_order_ids={(account, client): order for account, client, order in client_order_ids},
        client_transfers=[transfer_from_row(row) for row in transfers],
    )


def read_order(conn: sqlite3.Connection, order_id: str) -> Order | None:
    """Read one order with its fill ids, or None."""
    row = conn.execute(f"{_ORDER_SELECT} WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        return None
    fills = conn.execute("SELECT fill_id FROM fills WHERE order_id = ?", (order_id,))
    return order_from_row(row, {fill_id for (fill_id,) in fills})


def read_ledger(conn: sqlite3.Connection) -> LedgerRecords:
    """Read every transfer (in seq order), posted balance and hold, and open orders' needs."""
    transfers = conn.execute(f"{_TRANSFER_SELECT} ORDER BY seq")
    needs = conn.execute(
        "SELECT hold_id, hold_amount - hold_posted FROM orders"
        f" WHERE {OPEN_ORDERS} AND hold_id IS NOT NULL AND hold_amount - hold_posted > 0"
    )
    return LedgerRecords(
        transfers=[transfer_from_row(row) for row in transfers],
        balances=_posted_balances(conn),
        pending=dict(conn.execute("SELECT account, pending FROM balances").fetchall()),
        holds=[hold_from_row(row) for row in conn.execute(f"{_HOLD_SELECT} ORDER BY hold_id")],
        hold_needs=dict(needs.fetchall()),
    )


def _posted_balances(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT account, posted FROM balances").fetchall())


def _open_orders(conn: sqlite3.Connection) -> list[Order]:
    fill_ids: dict[str, set[str]] = {}
    fills = conn.execute(
        "SELECT fills.order_id, fills.fill_id FROM orders JOIN fills USING (order_id)"
        f" WHERE {OPEN_ORDERS}"
    )
    for order_id, fill_id in fills:
        fill_ids.setdefault(order_id, set()).add(fill_id)
    rows = conn.execute(f"{_ORDER_SELECT} WHERE {OPEN_ORDERS}")
    return [order_from_row(row, fill_ids.get(row[0], set())) for row in rows]


_FILL_SELECT = f"SELECT {', '.join(FILL_COLUMNS)} FROM fills"
_CLOSED_ORDERS = f"NOT ({OPEN_ORDERS})"


def list_orders(conn: sqlite3.Connection, query: OrderQuery) -> list[Order]:
    """Read an account's orders, newest first (order ids are time-ordered), one page."""
    sql = [f"{_ORDER_SELECT} WHERE account_id = ?"]
    params: list[object] = [query.account_id]
    if query.status == "open":
        sql.append(f"AND {OPEN_ORDERS}")
    elif query.status == "closed":
        sql.append(f"AND {_CLOSED_ORDERS}")
    if query.symbol is not None:
        sql.append("AND symbol = ?")
        params.append(query.symbol)
    if query.after is not None:
        sql.append("AND order_id < ?")
        params.append(query.after)
    sql.append("ORDER BY order_id DESC LIMIT ?")
    params.append(query.limit)
    return [order_from_row(row, set()) for row in conn.execute(" ".join(sql), params)]


def read_order_by_client_id(
    conn: sqlite3.Connection, account_id: str, client_order_id: str
) -> Order | None:
    """Read an account's order by its client order id, or None."""
    row = conn.execute(
        "SELECT order_id FROM orders WHERE account_id = ? AND client_order_id = ?",
        (account_id, client_order_id),
    ).fetchone()
    return None if row is None else read_order(conn, row[0])


def list_fills(conn: sqlite3.Connection, query: FillQuery) -> list[FillRecord]:
    """Read an account's fills, newest first, one page."""
    sql = [f"{_FILL_SELECT} WHERE account_id = ?"]
    params: list[object] = [query.account_id]
    if query.symbol is not None:
        sql.append("AND symbol = ?")
        params.append(query.symbol)
    if query.after is not None:
        sql.append("AND timestamp > ?")
        params.append(query.after)
    sql.append("ORDER BY timestamp DESC, rowid DESC LIMIT ?")
    params.append(query.limit)
    return [fill_from_row(row) for row in conn.execute(" ".join(sql), params)]
