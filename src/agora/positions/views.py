"""The public shape of a position: money and quantities as decimal strings."""

from __future__ import annotations

from agora.core.events import JsonValue
from agora.core.money import CASH_SCALE, PRICE_SCALE, format_units
from agora.positions.model import Position


def position_payload(position: Position, last_price: int | None) -> dict[str, JsonValue]:
    """Describe a position as ``GET /api/v1/positions`` shows it (prices null when unknown)."""
    average = position.average_price()
    payload: dict[str, JsonValue] = {
        "symbol": position.symbol,
        "qty": format_units(position.qty, position.qty_scale),
        "avg_entry_price": None if average is None else format_units(average, PRICE_SCALE),
        "cost_basis": format_units(position.cost_cents, CASH_SCALE),
        "current_price": None,
        "market_value": None,
        "unrealized_pl": None,
        "realized_pl": format_units(position.realized_cents, CASH_SCALE),
        "fees": format_units(position.fees_cents, CASH_SCALE),
    }
    if last_price is not None:
        payload["current_price"] = format_units(last_price, PRICE_SCALE)
        payload["market_value"] = format_units(position.market_value_cents(last_price), CASH_SCALE)
        payload["unrealized_pl"] = format_units(position.unrealized_cents(last_price), CASH_SCALE)
    return payload
