"""Request bodies: decoded with msgspec, so JSON numbers arrive as exact Decimals, never floats.

Each body is a frozen struct that refuses unknown fields. ``body_schema`` gives the OpenAPI
schema for a body, with every amount documented as a decimal string or a JSON number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, TypeVar

import msgspec

from agora.core.errors import ValidationError

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_T = TypeVar("_T")

Amount = Decimal
"""A decimal string ("12.50") or a JSON number, read exactly from its text."""


class OrderBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/orders``."""

    symbol: str
    side: Literal["buy", "sell"]
    qty: Amount
    type: Literal["market", "limit", "stop", "stop_limit"] = "market"
    time_in_force: Literal["day", "gtc", "ioc", "fok", "opg", "cls"] = "day"
    limit_price: Amount | None = None
    stop_price: Amount | None = None
    client_order_id: str | None = msgspec.field(default=None)


class ReplaceBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PATCH /api/v1/orders/{order_id}``: any of the fields; qty is the new total."""

    qty: Amount | None = None
    limit_price: Amount | None = None
    stop_price: Amount | None = None
    time_in_force: Literal["day", "gtc", "ioc", "fok", "opg", "cls"] | None = None
    client_order_id: str | None = None


class AmountBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A deposit or withdrawal."""

    amount: Amount


class UserBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/admin/users``."""

    name: str
    role: Literal["trader", "admin"] = "trader"


class TradingStateBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/admin/trading-state``."""

    state: Literal["active", "reducing", "halted"]
    account_id: str | None = None


class LimitsBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /api/v1/admin/accounts/{account_id}/limits``: fields left out keep their value."""

    max_order_notional: Amount | None = None
    max_order_qty: int | None = None
    price_collar_bps: int | None = None
    max_concentration_bps: int | None = None
    duplicate_window_ms: int | None = None
    max_orders_per_second: int | None = None
    price_max_age_ms: int | None = None
    restricted_symbols: list[str] | None = None


MAX_BODY_BYTES = 64 * 1024


def decode_body(raw: bytes, kind: type[_T]) -> _T:
    """Decode a JSON body into ``kind`` or raise a ValidationError saying what is wrong."""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("the request body is too large", code="body_too_large")
    if not raw.strip():
        raise ValidationError("a JSON body is required", code="invalid_request")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as error:
        raise ValidationError(str(error), code="invalid_request") from None
    except msgspec.DecodeError as error:
        raise ValidationError(f"the body is not valid JSON: {error}", code="invalid_json") from None


def body_schema(kind: type[Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` for a body struct, amounts as strings or numbers."""
    _, definitions = msgspec.json.schema_components([kind])
    inline = definitions[kind.__name__]
    for field in inline.get("properties", {}).values():
        _decimal_as_text_or_number(field)
    return {"required": True, "content": {"application/json": {"schema": inline}}}


def _decimal_as_text_or_number(field: dict[str, Any]) -> None:
    options = field.get("anyOf", [field])
    for option in options:
        if option.get("format") == "decimal":
            option.pop("format")
            option.pop("type")
            option["anyOf"] = [
                {"type": "string", "pattern": DECIMAL_PATTERN},
                {"type": "number"},
            ]
