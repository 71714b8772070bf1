"""Request bodies: decoded with msgspec, so JSON numbers arrive as exact Decimals, never floats.

Each body is a frozen struct that refuses unknown fields. ``read_json`` takes a body only as
JSON and within its size; ``body_schema`` gives the OpenAPI schema for a body, with every amount
documented as a decimal string or a JSON number.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, get_args, get_type_hints

import msgspec
from starlette.requests import Request

from agora.core.errors import ValidationError
from agora.web.errors import ApiError

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL_TEXT = re.compile(DECIMAL_PATTERN)
_JSON_MEDIA_TYPE = re.compile(r"application/([a-z0-9.-]+\+)?json")
_T = TypeVar("_T")
_decode_fields = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode  # numbers left as text
_AMOUNT_FIELDS: dict[type[Any], tuple[str, ...]] = {}  # body struct → its decimal fields

Amount = Decimal
"""A decimal string ("12.50") or a JSON number, read exactly from its text."""

Limit = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
"""A positive risk limit that fits in 64 bits (stores and event logs hold int64)."""


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
    max_order_qty: Limit | None = None
    price_collar_bps: Limit | None = None
    max_concentration_bps: Limit | None = None
    duplicate_window_ms: Limit | None = None
    max_orders_per_second: Limit | None = None
    price_max_age_ms: Limit | None = None
    restricted_symbols: list[str] | None = None


MAX_BODY_BYTES = 64 * 1024


async def read_json(request: Request) -> bytes:
    """The request's body: 415 unless it is sent as JSON, 413 when larger than we take."""
    media_type = request.headers.get("content-type", "application/json").partition(";")[0]
    if not _JSON_MEDIA_TYPE.fullmatch(media_type.strip().lower()):
        raise ApiError(415, "send the body as application/json", code="unsupported_media_type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before it is read
        raise _too_large()
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    return raw


def _too_large() -> ApiError:
    return ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")


def decode_body(raw: bytes, kind: type[_T]) -> _T:
    """Decode a JSON body into ``kind`` or raise a ValidationError saying what is wrong."""
    if not raw.strip():
        raise ValidationError("a JSON body is required", code="invalid_request")
    try:
        body = msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as error:
        raise ValidationError(str(error), code="invalid_request") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # bad UTF-8 in a string: Unicode
        raise ValidationError(f"the body is not valid JSON: {error}", code="invalid_json") from None
    _check_decimal_text(raw, _amount_fields(kind))
    return body


def _amount_fields(kind: type[Any]) -> tuple[str, ...]:
    names = _AMOUNT_FIELDS.get(kind)
    if names is None:
        hints = get_type_hints(kind)
        names = tuple(name for name, hint in hints.items() if Decimal in (hint, *get_args(hint)))
        _AMOUNT_FIELDS[kind] = names
    return names


def _check_decimal_text(raw: bytes, names: tuple[str, ...]) -> None:
    """Refuse amounts given as strings other than plain decimals (msgspec takes "1e2", "١٠")."""
    if not names:
        return
    fields = _decode_fields(raw)  # an object: it decoded into a struct already
    for name in names:
        text = bytes(fields.get(name, b""))
        if not text.startswith(b'"'):
            continue  # a JSON number (read exactly by msgspec), null, or absent
        value: str = msgspec.json.decode(text)
        if not _DECIMAL_TEXT.fullmatch(value):
            raise ValidationError(
                f'{name} must be a decimal string such as "12.50", got {value[:32]!r}',
                code="invalid_amount",
            )


def body_schema(kind: type[Any], example: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` for a body struct and an example; amounts: strings or numbers."""
    _, definitions = msgspec.json.schema_components([kind])
    inline = definitions[kind.__name__]
    for field in inline.get("properties", {}).values():
        _decimal_as_text_or_number(field)
    media = {"schema": inline, "example": example}
    return {"required": True, "content": {"application/json": media}}


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
