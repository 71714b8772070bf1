"""What the venue is sent: a ``VenueOrder`` from an order event's payload or an order."""

from __future__ import annotations

from agora.core.events import JsonValue
from agora.core.instruments import InstrumentRegistry
from agora.core.money import PRICE_SCALE, parse_units
from agora.execution.venues.reports import VenueOrder
from agora.orders.model import Order

_INSTRUMENTS = InstrumentRegistry.default()


def _price(value: JsonValue) -> int | None:
    return None if value is None else parse_units(str(value), PRICE_SCALE, field="price")


def order_from_payload(payload: dict[str, JsonValue]) -> VenueOrder:
    """The venue order for an ``order.submitted`` (or replace) payload: what is left to work."""
    symbol = str(payload["symbol"])
    scale = _INSTRUMENTS.get(symbol).qty_scale
    qty = parse_units(str(payload["qty"]), scale, field="qty")
    filled = parse_units(str(payload["filled_qty"]), scale, field="filled_qty")
    return VenueOrder(
        order_id=str(payload["order_id"]),
        symbol=symbol,
        side=str(payload["side"]),
        order_type=str(payload["type"]),
        time_in_force=str(payload["time_in_force"]),
        qty=qty - filled,
        limit_price=_price(payload["limit_price"]),
        stop_price=_price(payload["stop_price"]),
        protection_price=_price(payload["protection_price"]),
    )


def order_from_model(order: Order) -> VenueOrder:
    """The venue order for an open order: what it still has to work."""
    return VenueOrder(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side.value,
        order_type=order.order_type.value,
        time_in_force=order.time_in_force.value,
        qty=order.qty - order.filled_qty,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        protection_price=order.reserve_price,
    )
