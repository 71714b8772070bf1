"""Rows ↔ records: how the SQL adapters lay out orders, fills, ledger records and events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from agora.core.events import Event, encode_event
from agora.ledger import Hold, Transfer, TransferKind
from agora.orders.model import Order, OrderType, Side, Status, TimeInForce
from agora.orders.ports import AccountRecord, FillRecord
from agora.risk.types import RiskLimits, TradingState

Row = tuple[Any, ...]

FINAL_STATUS_VALUES = ("canceled", "expired", "filled", "rejected", "replaced")
"""Final order statuses, spelled as in the ``orders_open`` partial index of 0001_initial.sql."""

OPEN_ORDERS = " AND ".join(f"status <> '{status}'" for status in FINAL_STATUS_VALUES)
"""The open-order condition, identical to the ``orders_open`` index's so SQLite uses it."""

OPEN_HOLDS = "voided = 0 AND posted < amount"
"""The open-hold condition, identical to the ``holds_open`` index's."""

CLIENT_TRANSFERS = "reason IN ('deposit', 'withdrawal')"
"""Deposits and withdrawals, identical to the ``transfers_client`` index's condition."""

ACCOUNT_COLUMNS = ("account_id", "currency", "trading_state", "limits")
ORDER_COLUMNS = (
    *("order_id", "account_id", "client_order_id", "symbol", "side", "order_type"),
    *("time_in_force", "qty", "qty_scale", "limit_price", "stop_price", "reserve_price"),
    *("created_at", "updated_at", "status", "prior_status", "filled_qty", "filled_notional"),
    *("filled_cash", "last_fill_cash", "replace_base_filled", "hold_id", "hold_amount"),
    *("hold_posted", "hold_seq", "reject_reason", "replaces", "replaced_by", "venue_order_id"),
)
"""Every Order field but ``fill_ids`` (rebuilt from the fills table), in column order."""
FILL_COLUMNS = (
    *("order_id", "fill_id", "account_id", "symbol", "side", "qty", "price", "fee_cents"),
    *("cash_cents", "timestamp"),
)
TRANSFER_COLUMNS = (
    *("transfer_id", "kind", "debit_account", "credit_account", "asset", "amount"),
    *("pending_id", "order_id", "reason", "timestamp"),
)
HOLD_COLUMNS = (
    *("hold_id", "debit_account", "credit_account", "asset", "amount", "posted", "voided"),
    "order_id",
)
EVENT_COLUMNS = ("event_id", "type", "account_id", "body")
BALANCE_COLUMNS = ("account", "asset", "posted", "pending")

_LIMITS_DECODER = msgspec.json.Decoder(RiskLimits)


def account_to_row(record: AccountRecord) -> Row:
    """Lay out an account's settings as a row."""
    limits = None if record.limits is None else msgspec.json.encode(record.limits).decode()
    return (record.account_id, record.currency, record.trading_state.value, limits)


def account_from_row(row: Row) -> AccountRecord:
    """Rebuild an account's settings from a row."""
    account_id, currency, state, limits = row
    return AccountRecord(
        account_id=account_id,
        currency=currency,
        trading_state=TradingState(state),
        limits=None if limits is None else _LIMITS_DECODER.decode(limits),
    )


def order_to_row(o: Order) -> Row:
    """Lay out every field of an order (but its fill ids) as a row, in ORDER_COLUMNS order."""
    return (
        *(o.order_id, o.account_id, o.client_order_id, o.symbol, o.side.value),
        *(o.order_type.value, o.time_in_force.value, o.qty, o.qty_scale, o.limit_price),
        *(o.stop_price, o.reserve_price, o.created_at.isoformat(), o.updated_at.isoformat()),
        *(o.status.value, None if o.prior_status is None else o.prior_status.value),
        *(o.filled_qty, o.filled_notional, o.filled_cash, o.last_fill_cash),
        *(o.replace_base_filled, o.hold_id, o.hold_amount, o.hold_posted, o.hold_seq),
        *(o.reject_reason, o.replaces, o.replaced_by, o.venue_order_id),
    )


def order_from_row(row: Row, fill_ids: set[str]) -> Order:
    """Rebuild an order from its row and the ids of its stored fills."""
    values = dict(zip(ORDER_COLUMNS, row, strict=True))
    prior = values["prior_status"]
    values.update(
        side=Side(values["side"]),
        order_type=OrderType(values["order_type"]),
        time_in_force=TimeInForce(values["time_in_force"]),
        status=Status(values["status"]),
        prior_status=None if prior is None else Status(prior),
        created_at=datetime.fromisoformat(values["created_at"]),
        updated_at=datetime.fromisoformat(values["updated_at"]),
    )
    return Order(**values, fill_ids=fill_ids)


def fill_from_row(row: Row) -> FillRecord:
    """Rebuild a fill from its row."""
    return FillRecord(**dict(zip(FILL_COLUMNS, row, strict=True)))


def fill_to_row(fill: FillRecord) -> Row:
    """Lay out one fill as a row."""
    return (
        *(fill.order_id, fill.fill_id, fill.account_id, fill.symbol, fill.side, fill.qty),
        *(fill.price, fill.fee_cents, fill.cash_cents, fill.timestamp),
    )


def transfer_to_row(t: Transfer) -> Row:
    """Lay out one transfer as a row, in TRANSFER_COLUMNS order."""
    return (
        *(t.transfer_id, t.kind.value, t.debit_account, t.credit_account, t.asset, t.amount),
        *(t.pending_id, t.order_id, t.reason, t.timestamp.isoformat()),
    )


def transfer_from_row(row: Row) -> Transfer:
    """Rebuild a transfer from a row."""
    transfer_id, kind, debit, credit, asset, amount, pending_id, order_id, reason, at = row
    return Transfer(
        transfer_id=transfer_id,
        kind=TransferKind(kind),
        debit_account=debit,
        credit_account=credit,
        asset=asset,
        amount=amount,
        pending_id=pending_id,
        order_id=order_id,
        reason=reason,
        timestamp=datetime.fromisoformat(at),
    )


def hold_to_row(h: Hold) -> Row:
    """Lay out a hold's current state as a row."""
    return (
        *(h.hold_id, h.debit_account, h.credit_account, h.asset, h.amount, h.posted),
        *(int(h.voided), h.order_id),
    )


def hold_from_row(row: Row) -> Hold:
    """Rebuild a hold from a row."""
    hold_id, debit, credit, asset, amount, posted, voided, order_id = row
    return Hold(
        hold_id=hold_id,
        debit_account=debit,
        credit_account=credit,
        asset=asset,
        amount=amount,
        posted=posted,
        voided=bool(voided),
        order_id=order_id,
    )


def event_to_row(event: Event) -> Row:
    """Lay out one event for the outbox: its id, type, account and encoded body."""
    return (event.event_id, event.type, event.account_id, encode_event(event))


def balance_rows(deltas: dict[str, tuple[int, int]]) -> list[Row]:
    """Lay out balance deltas as rows; a ledger account id ends with its asset."""
    return [
        (account, account.rpartition(":")[2], posted, pending)
        for account, (posted, pending) in deltas.items()
    ]


def placeholders(columns: Sequence[str]) -> str:
    """Return ``?, ?, …`` for ``columns``."""
    return ", ".join("?" * len(columns))
