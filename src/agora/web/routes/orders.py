"""Trader order endpoints: place, list, look up, replace and cancel the caller's own orders."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from agora.core.errors import AgoraError, NotFoundError, ValidationError
from agora.core.events import JsonValue
from agora.observability import correlation_id
from agora.orders.commands import CancelOrder, PlaceOrder, ReplaceOrder
from agora.orders.model import Order, OrderType, Side, TimeInForce
from agora.orders.ports import OrderQuery
from agora.orders.views import order_payload
from agora.web.bodies import OrderBody, ReplaceBody, body_schema, decode_body, read_json
from agora.web.context import WebContext
from agora.web.deps import Caller, Context, account_of, derived_id, json_payload
from agora.web.keyed import idempotency_key, keyed
from agora.web.routes.responses import BEARER, IDEMPOTENCY_KEY, ORDER, answers, array

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], dependencies=[BEARER])

MAX_CLIENT_ORDER_ID = 64
ORDER_EXAMPLE = {
    "symbol": "AAPL",
    "side": "buy",
    "qty": "10",
    "type": "limit",
    "time_in_force": "day",
    "limit_price": "199.50",
}


def place_command(context: WebContext, account_id: str, body: OrderBody) -> PlaceOrder:
    """Turn an order body into a command, amounts parsed exactly on the instrument's grid."""
    instruments = context.instruments
    symbol = instruments.get(body.symbol).symbol
    if body.client_order_id is not None:
        _check_client_order_id(body.client_order_id)
    return PlaceOrder(
        account_id=account_id,
        symbol=symbol,
        side=Side(body.side),
        order_type=OrderType(body.type),
        time_in_force=TimeInForce(body.time_in_force),
        qty=instruments.parse_qty(symbol, body.qty),
        limit_price=None
        if body.limit_price is None
        else instruments.parse_price(symbol, body.limit_price),
        stop_price=None
        if body.stop_price is None
        else instruments.parse_price(symbol, body.stop_price, field="stop_price"),
        client_order_id=body.client_order_id,
        correlation_id=correlation_id.get(),
    )


def _check_client_order_id(value: str) -> None:
    if not 0 < len(value) <= MAX_CLIENT_ORDER_ID or not value.isprintable():
        raise ValidationError(
            f"client_order_id must be 1 to {MAX_CLIENT_ORDER_ID} printable characters",
            code="invalid_client_order_id",
        )


@router.post(
    "",
    status_code=202,
    openapi_extra={"requestBody": body_schema(OrderBody, ORDER_EXAMPLE), **IDEMPOTENCY_KEY},
    responses=answers(202, ORDER, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def place_order(request: Request, user: Caller, context: Context) -> Response:
    """Place an order: 202 once durably accepted; 422 with ``code`` and ``rule`` when denied."""
    account_id = account_of(user)
    raw = await read_json(request)
    key = idempotency_key(request)

    async def work() -> tuple[int, JsonValue]:
        command = place_command(context, account_id, decode_body(raw, OrderBody))
        if key is not None and command.client_order_id is None:
            command = _with_client_id(command, derived_id("idem-", user, key))
        order: Order = await context.orders.execute(command)
        return 202, order_payload(order)

    return await keyed(request, user, context, work)


def _with_client_id(command: PlaceOrder, client_order_id: str) -> PlaceOrder:
    return replace(command, client_order_id=client_order_id)


@router.get("", responses=answers(200, array(ORDER), 401, 403, 422, 429, 503))
async def list_orders(
    user: Caller,
    context: Context,
    status: Literal["open", "closed", "all"] = "open",
    symbol: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: str | None = None,
) -> Response:
    """The caller's orders, newest first; ``after`` is the last order id of the previous page."""
    query = OrderQuery(
        account_id=account_of(user), status=status, symbol=symbol, after=after, limit=limit
    )
    orders = await context.store.list_orders(query)
    return json_payload(200, [order_payload(order) for order in orders])


@router.get(
    "/by-client-id/{client_order_id}",
    responses=answers(200, ORDER, 401, 403, 404, 422, 429, 503),
)
async def order_by_client_id(client_order_id: str, user: Caller, context: Context) -> Response:
    """One of the caller's orders by its client order id."""
    order = await context.store.get_order_by_client_id(account_of(user), client_order_id)
    if order is None:
        raise NotFoundError("order not found", code="order_not_found")
    return json_payload(200, order_payload(order))


@router.get("/{order_id}", responses=answers(200, ORDER, 401, 403, 404, 422, 429, 503))
async def get_order(order_id: str, user: Caller, context: Context) -> Response:
    """One of the caller's orders (another account's id answers 404)."""
    return json_payload(200, order_payload(await _own_order(context, account_of(user), order_id)))


@router.patch(
    "/{order_id}",
    status_code=202,
    openapi_extra={
        "requestBody": body_schema(ReplaceBody, {"qty": "12", "limit_price": "199.25"}),
        **IDEMPOTENCY_KEY,
    },
    responses=answers(202, ORDER, 401, 403, 404, 409, 413, 415, 422, 429, 503),
)
async def replace_order(
    order_id: str, request: Request, user: Caller, context: Context
) -> Response:
    """Replace an open order; 202 with the new order (``replaces`` is the old id)."""
    account_id = account_of(user)
    raw = await read_json(request)

    async def work() -> tuple[int, JsonValue]:
        body = decode_body(raw, ReplaceBody)
        old = await _own_order(context, account_id, order_id)
        instruments = context.instruments
        if body.client_order_id is not None:
            _check_client_order_id(body.client_order_id)
        command = ReplaceOrder(
            account_id=account_id,
            order_id=order_id,
            qty=None if body.qty is None else instruments.parse_qty(old.symbol, body.qty),
            limit_price=None
            if body.limit_price is None
            else instruments.parse_price(old.symbol, body.limit_price),
            stop_price=None
            if body.stop_price is None
            else instruments.parse_price(old.symbol, body.stop_price, field="stop_price"),
            time_in_force=None if body.time_in_force is None else TimeInForce(body.time_in_force),
            client_order_id=body.client_order_id,
        )
        new: Order = await context.orders.execute(command)
        return 202, order_payload(new)

    return await keyed(request, user, context, work)


@router.delete(
    "/{order_id}",
    status_code=202,
    openapi_extra=IDEMPOTENCY_KEY,
    responses=answers(202, ORDER, 401, 403, 404, 409, 422, 429, 503),
)
async def cancel_order(order_id: str, request: Request, user: Caller, context: Context) -> Response:
    """Cancel an open order: 202 (``pending_cancel`` or ``canceled``); 422 when already final."""
    account_id = account_of(user)

    async def work() -> tuple[int, JsonValue]:
        await _own_order(context, account_id, order_id)
        order: Order = await context.orders.execute(
            CancelOrder(account_id=account_id, order_id=order_id)
        )
        return 202, order_payload(order)

    return await keyed(request, user, context, work)


@router.delete("", status_code=202, responses=answers(202, array(ORDER), 401, 403, 429, 503))
async def cancel_all(user: Caller, context: Context) -> Response:
    """Cancel every open order of the caller's account."""
    canceled = await cancel_open_orders(context, account_of(user))
    return json_payload(202, [order_payload(order) for order in canceled])


async def cancel_open_orders(context: WebContext, account_id: str) -> list[Order]:
    """Ask for every open order of an account to be canceled; return them as they now stand."""
    book = context.orders.lane_for(account_id).book
    state = book.accounts.get(account_id)
    if state is None:
        return []
    results: list[Order] = []
    for order_id in list(state.open_orders):
        order = book.orders.get(order_id)
        if order is None or order.status.value in ("pending_cancel", "pending_replace"):
            continue
        try:
            results.append(
                await context.orders.execute(CancelOrder(account_id=account_id, order_id=order_id))
            )
        except AgoraError:  # an order that closed meanwhile must not stop the others
            continue
    return results


async def _own_order(context: WebContext, account_id: str, order_id: str) -> Order:
    order = await context.store.get_order(order_id)
    if order is None or order.account_id != account_id:
        raise NotFoundError("order not found", code="order_not_found")
    return order
