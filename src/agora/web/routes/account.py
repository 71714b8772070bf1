"""Trader account endpoints: balances, paper deposits and withdrawals, positions and fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from agora.core.errors import NotFoundError, ValidationError
from agora.core.events import JsonValue
from agora.core.money import CASH_SCALE, format_units, parse_units
from agora.orders.commands import Deposit, Withdraw
from agora.orders.ports import FillQuery
from agora.orders.settlement import cash_value, fill_payload
from agora.positions.model import Position
from agora.positions.projector import account_positions
from agora.positions.views import position_payload
from agora.web.bodies import AmountBody, body_schema, decode_body, read_json
from agora.web.context import WebContext
from agora.web.deps import Caller, Context, account_of, derived_id, json_payload
from agora.web.errors import ApiError
from agora.web.keyed import idempotency_key, keyed
from agora.web.routes.responses import (
    ACCOUNT,
    BEARER,
    FILL,
    IDEMPOTENCY_KEY,
    POSITION,
    TRANSFER,
    answers,
    array,
)

router = APIRouter(prefix="/api/v1", tags=["account"], dependencies=[BEARER])


async def account_summary(context: WebContext, account_id: str) -> dict[str, JsonValue]:
    """The account as ``GET /api/v1/account`` shows it, from its lane's books at one moment."""
    positions = await account_positions(context.store, account_id)  # the only await: first
    book = context.orders.lane_for(account_id).book
    state = book.account(account_id)
    ledger = book.ledger
    cash = ledger.posted(state.cash_account)
    held = ledger.pending(state.cash_account)
    market_value = 0
    for symbol in sorted(state.holdings):
        qty = ledger.posted(state.shares_account(symbol))
        quote = context.prices.quote(symbol)
        if qty and quote is not None:
            market_value += cash_value(qty, context.instruments.get(symbol).qty_scale, quote.price)
    return {
        "account_id": account_id,
        "currency": state.record.currency,
        "cash": format_units(cash, CASH_SCALE),
        "cash_held": format_units(held, CASH_SCALE),
        "buying_power": format_units(cash - held, CASH_SCALE),
        "long_market_value": format_units(market_value, CASH_SCALE),
        "equity": format_units(cash + market_value, CASH_SCALE),
        "realized_pl": format_units(sum(p.realized_cents for p in positions), CASH_SCALE),
        "trading_state": state.record.trading_state.value,
        "platform_trading_state": context.controls.trading_state.value,
    }


@router.get("/account", responses=answers(200, ACCOUNT, 401, 403, 429, 503))
async def get_account(user: Caller, context: Context) -> Response:
    """The caller's cash, held cash, buying power, market value, equity and P&L."""
    return json_payload(200, await account_summary(context, account_of(user)))


def parse_cash(amount: Decimal) -> int:
    """Parse a positive cash amount in cents, exactly."""
    cents = parse_units(amount, CASH_SCALE, field="amount")
    if cents <= 0:
        raise ValidationError("amount must be positive", code="invalid_amount")
    return cents


async def move_cash(
    request: Request, user: Caller, context: WebContext, account_id: str, *, deposit: bool
) -> Response:
    """Deposit or withdraw under the request's Idempotency-Key (201 with the new cash)."""
    raw = await read_json(request)
    key = idempotency_key(request)

    async def work() -> tuple[int, JsonValue]:
        cents = parse_cash(decode_body(raw, AmountBody).amount)
        transfer_id = derived_id("idem-", user, key) if key is not None else context.ids.new("trf")
        kind = Deposit if deposit else Withdraw
        await context.orders.execute(
            kind(account_id=account_id, transfer_id=transfer_id, amount=cents)
        )
        book = context.orders.lane_for(account_id).book
        cash = book.ledger.posted(book.account(account_id).cash_account)
        return 201, {
            "transfer_id": transfer_id,
            "amount": format_units(cents, CASH_SCALE),
            "cash": format_units(cash, CASH_SCALE),
        }

    return await keyed(request, user, context, work)


@router.post(
    "/account/deposits",
    status_code=201,
    openapi_extra={"requestBody": body_schema(AmountBody, {"amount": "250.00"}), **IDEMPOTENCY_KEY},
    responses=answers(201, TRANSFER, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def deposit(request: Request, user: Caller, context: Context) -> Response:
    """Add paper money to the caller's account (when the server allows it)."""
    if not context.settings.paper_deposits:
        raise ApiError(403, "paper deposits are turned off", code="deposits_disabled")
    return await move_cash(request, user, context, account_of(user), deposit=True)


@router.post(
    "/account/withdrawals",
    status_code=201,
    openapi_extra={"requestBody": body_schema(AmountBody, {"amount": "250.00"}), **IDEMPOTENCY_KEY},
    responses=answers(201, TRANSFER, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def withdraw(request: Request, user: Caller, context: Context) -> Response:
    """Take available cash out; 422 ``insufficient_funds`` when there is not enough."""
    return await move_cash(request, user, context, account_of(user), deposit=False)


def _shown(context: WebContext, position: Position) -> dict[str, JsonValue]:
    quote = context.prices.quote(position.symbol)
    return position_payload(position, None if quote is None else quote.price)


@router.get("/positions", responses=answers(200, array(POSITION), 401, 403, 429, 503))
async def list_positions(user: Caller, context: Context) -> Response:
    """The caller's open positions, valued at the last price."""
    positions = await account_positions(context.store, account_of(user))
    return json_payload(200, [_shown(context, p) for p in positions if p.qty != 0])


@router.get("/positions/{symbol}", responses=answers(200, POSITION, 401, 403, 404, 422, 429, 503))
async def get_position(symbol: str, user: Caller, context: Context) -> Response:
    """One open position; 404 when flat."""
    for position in await account_positions(context.store, account_of(user)):
        if position.symbol == symbol and position.qty != 0:
            return json_payload(200, _shown(context, position))
    raise NotFoundError(f"no open position in {symbol[:16]!r}", code="position_not_found")


def _stored_time(text: str | None) -> str | None:
    """An RFC 3339 time as fills store it (UTC, isoformat), or a 422."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("after must be an RFC 3339 time", code="invalid_time") from None
    if moment.tzinfo is None:
        raise ValidationError("after must carry a UTC offset", code="invalid_time")
    return moment.astimezone(UTC).isoformat()


@router.get("/fills", responses=answers(200, array(FILL), 401, 403, 422, 429, 503))
async def list_fills(
    user: Caller,
    context: Context,
    symbol: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The caller's fills, newest first; ``after`` keeps those after an RFC 3339 time."""
    query = FillQuery(
        account_id=account_of(user), symbol=symbol, after=_stored_time(after), limit=limit
    )
    fills = await context.store.list_fills(query)
    return json_payload(
        200,
        [fill_payload(fill, context.instruments.get(fill.symbol).qty_scale) for fill in fills],
    )
