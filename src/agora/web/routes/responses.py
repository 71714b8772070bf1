"""What the routes answer, for the OpenAPI document: payload shapes, headers and error statuses.

The routes encode their JSON themselves (msgspec), so FastAPI cannot infer what they answer; the
shapes are declared here once and checked against real answers by ``tests/web/test_fuzz.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from fastapi.security import HTTPBearer

from agora.web.bodies import DECIMAL_PATTERN
from agora.web.errors import ERROR_SCHEMA

Schema = dict[str, Any]
Responses = dict[int | str, dict[str, Any]]

BEARER = Depends(
    HTTPBearer(auto_error=False, description="A token from `POST /api/v1/admin/users`.")
)
"""Documents the bearer token; ``deps.current_user`` is what checks it."""

IDEMPOTENCY_KEY: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "The same key and body return the first answer; another body, 409.",
            "schema": {"type": "string", "maxLength": 200, "pattern": "^[!-~]([ -~]*[!-~])?$"},
        }
    ]
}
"""The ``openapi_extra`` of a route that honours ``Idempotency-Key``."""

TEXT: Schema = {"type": "string"}
DECIMAL: Schema = {"type": "string", "pattern": DECIMAL_PATTERN}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
COUNT: Schema = {"type": "integer", "minimum": 0}
TRADING_STATE: Schema = {"enum": ["active", "reducing", "halted"]}


def nullable(schema: Schema) -> Schema:
    """``schema`` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def record(**properties: Schema) -> Schema:
    """A JSON object with exactly these fields."""
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


def array(items: Schema) -> Schema:
    """A JSON array of ``items``."""
    return {"type": "array", "items": items}


_SIDE: Schema = {"enum": ["buy", "sell"]}
_STATUSES = (
    "pending_new accepted new partially_filled filled pending_cancel canceled pending_replace "
    "replaced rejected expired"
)

ORDER = record(
    order_id=TEXT,
    client_order_id=nullable(TEXT),
    account_id=TEXT,
    symbol=TEXT,
    side=_SIDE,
    type={"enum": ["market", "limit", "stop", "stop_limit"]},
    time_in_force={"enum": ["day", "gtc", "ioc", "fok", "opg", "cls"]},
    qty=DECIMAL,
    limit_price=nullable(DECIMAL),
    stop_price=nullable(DECIMAL),
    protection_price=nullable(DECIMAL),
    status={"enum": _STATUSES.split()},
    filled_qty=DECIMAL,
    filled_avg_price=nullable(DECIMAL),
    reject_reason=nullable(TEXT),
    replaces=nullable(TEXT),
    replaced_by=nullable(TEXT),
    created_at=TIMESTAMP,
    updated_at=TIMESTAMP,
)
ACCOUNT = record(
    account_id=TEXT,
    currency=TEXT,
    cash=DECIMAL,
    cash_held=DECIMAL,
    buying_power=DECIMAL,
    long_market_value=DECIMAL,
    equity=DECIMAL,
    realized_pl=DECIMAL,
    trading_state=TRADING_STATE,
    platform_trading_state=TRADING_STATE,
)
TRANSFER = record(transfer_id=TEXT, amount=DECIMAL, cash=DECIMAL)
POSITION = record(
    symbol=TEXT,
    qty=DECIMAL,
    avg_entry_price=nullable(DECIMAL),
    cost_basis=DECIMAL,
    current_price=nullable(DECIMAL),
    market_value=nullable(DECIMAL),
    unrealized_pl=nullable(DECIMAL),
    realized_pl=DECIMAL,
    fees=DECIMAL,
)
FILL = record(
    fill_id=TEXT,
    order_id=TEXT,
    symbol=TEXT,
    side=_SIDE,
    qty=DECIMAL,
    price=DECIMAL,
    fee=DECIMAL,
    timestamp=TIMESTAMP,
)
INSTRUMENT = record(
    symbol=TEXT, name=TEXT, tick_size=DECIMAL, lot_size=DECIMAL, tradable={"type": "boolean"}
)
QUOTE = record(
    symbol=TEXT,
    bid=nullable(DECIMAL),
    ask=nullable(DECIMAL),
    last=nullable(DECIMAL),
    timestamp=TIMESTAMP,
)
CANDLE = record(
    start=TIMESTAMP, open=DECIMAL, high=DECIMAL, low=DECIMAL, close=DECIMAL, volume=DECIMAL
)
CLOCK = record(
    timestamp=TIMESTAMP,
    is_open={"type": "boolean"},
    next_open=nullable(TIMESTAMP),
    next_close=nullable(TIMESTAMP),
)
_POSITIVE: Schema = {"type": "integer", "minimum": 1}
LIMITS = record(
    max_order_notional=DECIMAL,
    max_order_qty=_POSITIVE,
    price_collar_bps=_POSITIVE,
    max_concentration_bps=_POSITIVE,
    duplicate_window_ms=_POSITIVE,
    max_orders_per_second=_POSITIVE,
    price_max_age_ms=_POSITIVE,
    restricted_symbols=array(TEXT),
)
NEW_USER = record(user_id=TEXT, account_id=nullable(TEXT), token=TEXT)
TRADING_STATE_SET = record(state=TRADING_STATE, account_id=nullable(TEXT), canceled=COUNT)
LEDGER_REPORT = record(
    ok={"type": "boolean"},
    checks=array(record(name=TEXT, ok={"type": "boolean"}, detail=TEXT)),
)
HEALTH = record(status={"enum": ["ok"]}, trading_state=TRADING_STATE)

_ERRORS = {
    401: "No bearer token, or an unknown one (`unauthorized`).",
    403: "The caller may not do this (`forbidden`, `no_account`, `deposits_disabled`).",
    404: "Not found, or not the caller's (`order_not_found`, `account_not_found`, …).",
    409: "The Idempotency-Key was used with another request (`idempotency_key_reused`).",
    413: "The body is larger than the API takes (`body_too_large`).",
    415: "The body is not sent as `application/json` (`unsupported_media_type`).",
    422: "Bad input, or denied (`invalid_request`, `invalid_json`, risk denials with `rule`).",
    429: "Over the caller's rate limit (`rate_limited`); retry after `Retry-After` seconds.",
    503: "The store is unavailable; nothing was done (`storage_unavailable`).",
}
_RATE_HEADERS: Schema = {
    name: {"description": description, "required": True, "schema": COUNT}
    for name, description in (
        ("X-RateLimit-Limit", "Requests allowed per window."),
        ("X-RateLimit-Remaining", "Requests left in the window."),
        ("X-RateLimit-Reset", "Seconds until the window has room again."),
    )
}
_OWN_HEADERS: dict[int, Schema] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
}


def answers(status: int, schema: Schema | None, *errors: int, media_type: str = "") -> Responses:
    """The ``responses=`` of an authenticated route: its answer, then the errors it can give."""
    success: dict[str, Any] = {"headers": _RATE_HEADERS}
    if schema is not None:
        success["content"] = {media_type or "application/json": {"schema": schema}}
    return {status: success, **error_answers(*errors)}


def error_answers(*statuses: int) -> Responses:
    """Documented error answers: the error body, with the headers each status carries."""
    documented: Responses = {}
    for status in statuses:
        headers = {} if status == 401 else dict(_RATE_HEADERS)
        headers.update(_OWN_HEADERS.get(status, {}))
        documented[status] = {
            "description": _ERRORS[status],
            "headers": headers,
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
    return documented
