"""Public shapes of orders, accounts and transfers: decimal strings, RFC 3339 times."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from agora.core.events import JsonValue
from agora.core.money import CASH_SCALE, PRICE_SCALE, format_units
from agora.ledger import Transfer
from agora.orders.model import Order
from agora.orders.ports import AccountRecord

_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)


def rfc3339(moment: datetime) -> str:
    """Format a UTC datetime as RFC 3339 with a Z."""
    return moment.isoformat().replace("+00:00", "Z")


def _price(units: int | None) -> str | None:
    return None if units is None else format_units(units, PRICE_SCALE)


def average_price(order: Order) -> str | None:
    """The volume-weighted fill price, to 4 decimals, or None before any fill."""
    if order.filled_qty == 0:
        return None
    exact = Decimal(order.filled_notional) / Decimal(order.filled_qty)
    return str((exact / 10**PRICE_SCALE).quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN))


def order_payload(order: Order, event: str | None = None) -> dict[str, JsonValue]:
    """The API's order object (plus the event kind when given)."""
    created = rfc3339(order.created_at)
    payload: dict[str, JsonValue] = {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "account_id": order.account_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "qty": format_units(order.qty, order.qty_scale),
        "limit_price": _price(order.limit_price),
        "stop_price": _price(order.stop_price),
        "protection_price": _price(order.reserve_price),
        "status": order.status.value,
        "filled_qty": format_units(order.filled_qty, order.qty_scale),
        "filled_avg_price": average_price(order),
        "reject_reason": order.reject_reason,
        "replaces": order.replaces,
        "replaced_by": order.replaced_by,
        "created_at": created,
        "updated_at": created
        if order.updated_at == order.created_at
        else rfc3339(order.updated_at),
    }
    if event is not None:
        payload["event"] = event
    return payload


def account_payload(record: AccountRecord) -> dict[str, JsonValue]:
    """An account's settings as an event payload."""
    return {
        "account_id": record.account_id,
        "currency": record.currency,
        "trading_state": record.trading_state.value,
        "limits": None if record.limits is None else _limits(record),
    }


def _limits(record: AccountRecord) -> dict[str, JsonValue]:
    assert record.limits is not None
    limits = record.limits
    return {
        "max_order_notional": format_units(limits.max_order_notional_cents, CASH_SCALE),
        "max_order_qty": limits.max_order_qty,
        "price_collar_bps": limits.price_collar_bps,
        "max_concentration_bps": limits.max_concentration_bps,
        "duplicate_window_ms": limits.duplicate_window_ms,
        "max_orders_per_second": limits.max_orders_per_second,
        "price_max_age_ms": limits.price_max_age_ms,
        "restricted_symbols": sorted(limits.restricted_symbols),
    }


def transfer_payload(transfer: Transfer, client_id: str, cash: int) -> dict[str, JsonValue]:
    """A deposit or withdrawal as an event payload."""
    return {
        "transfer_id": client_id,
        "kind": transfer.reason,
        "amount": format_units(transfer.amount, CASH_SCALE),
        "cash": format_units(cash, CASH_SCALE),
    }
