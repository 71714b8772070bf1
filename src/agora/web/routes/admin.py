"""Admin endpoints: users, deposits, per-account limits, the kill switch, ledger verification."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from agora.core.errors import NotFoundError, ValidationError
from agora.core.events import JsonValue
from agora.core.money import CASH_SCALE, format_units, parse_units
from agora.ledger import verify_ledger
from agora.orders.commands import OpenAccount, SetAccountControls
from agora.orders.model import Order
from agora.risk import RiskLimits, TradingState
from agora.web.auth import Role, User, new_token
from agora.web.bodies import (
    AmountBody,
    LimitsBody,
    TradingStateBody,
    UserBody,
    body_schema,
    decode_body,
    read_json,
)
from agora.web.context import WebContext
from agora.web.deps import Admin, Context, json_payload
from agora.web.keyed import keyed
from agora.web.routes.account import move_cash
from agora.web.routes.orders import cancel_open_orders
from agora.web.routes.responses import (
    BEARER,
    IDEMPOTENCY_KEY,
    LEDGER_REPORT,
    LIMITS,
    NEW_USER,
    TRADING_STATE_SET,
    TRANSFER,
    answers,
)

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[BEARER])

PLATFORM = "platform"
CONTROLS = "controls"
MAX_NAME = 100


async def create_user(
    context: WebContext, name: str, role: Role, *, account_id: str | None = None
) -> tuple[User, str]:
    """Create a user (a trader gets a fresh account) and return it with its token."""
    if role is Role.TRADER:
        account_id = account_id or context.ids.new("acc")
        await context.orders.execute(OpenAccount(account_id=account_id))
    user = User(user_id=context.ids.new("usr"), name=name, role=role, account_id=account_id)
    token = new_token()
    await context.users.add(user, token)
    return user, token


@router.post(
    "/users",
    status_code=201,
    openapi_extra={
        "requestBody": body_schema(UserBody, {"name": "carol", "role": "trader"}),
        **IDEMPOTENCY_KEY,
    },
    responses=answers(201, NEW_USER, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def add_user(request: Request, admin: Admin, context: Context) -> Response:
    """Create a trader (with a new account) or an admin; the token is shown only here."""
    raw = await read_json(request)

    async def work() -> tuple[int, JsonValue]:
        body = decode_body(raw, UserBody)
        name = body.name.strip()
        if not 0 < len(name) <= MAX_NAME or not name.isprintable():
            raise ValidationError(f"name must be 1 to {MAX_NAME} characters", code="invalid_name")
        user, token = await create_user(context, name, Role(body.role))
        return 201, {"user_id": user.user_id, "account_id": user.account_id, "token": token}

    return await keyed(request, admin, context, work)


def _known_account(context: WebContext, account_id: str) -> str:
    book = context.orders.lane_for(account_id).book
    if account_id not in book.accounts:
        raise NotFoundError(f"account {account_id[:40]} not found", code="account_not_found")
    return account_id


@router.post(
    "/accounts/{account_id}/deposits",
    status_code=201,
    openapi_extra={"requestBody": body_schema(AmountBody, {"amount": "500.00"}), **IDEMPOTENCY_KEY},
    responses=answers(201, TRANSFER, 401, 403, 404, 409, 413, 415, 422, 429, 503),
)
async def admin_deposit(
    account_id: str, request: Request, admin: Admin, context: Context
) -> Response:
    """Deposit into any account."""
    return await move_cash(
        request, admin, context, _known_account(context, account_id), deposit=True
    )


def limits_payload(limits: RiskLimits) -> dict[str, JsonValue]:
    """Risk limits as the API shows them."""
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


def merged_limits(current: RiskLimits, body: LimitsBody) -> RiskLimits:
    """Apply the fields a limits body gives to the limits in force, checked."""
    changes: dict[str, object] = {}
    if body.max_order_notional is not None:
        cents = parse_units(body.max_order_notional, CASH_SCALE, field="max_order_notional")
        changes["max_order_notional_cents"] = cents
    for name in (
        "max_order_qty",
        "price_collar_bps",
        "max_concentration_bps",
        "duplicate_window_ms",
        "max_orders_per_second",
        "price_max_age_ms",
    ):
        value = getattr(body, name)
        if value is not None:
            changes[name] = value
    if body.restricted_symbols is not None:
        changes["restricted_symbols"] = frozenset(body.restricted_symbols)
    for name, value in changes.items():
        if isinstance(value, int) and value <= 0:
            raise ValidationError(f"{name} must be positive", code="invalid_limit")
    return msgspec.structs.replace(current, **changes)


@router.put(
    "/accounts/{account_id}/limits",
    openapi_extra={
        "requestBody": body_schema(
            LimitsBody, {"max_order_qty": 500, "restricted_symbols": ["NVDA"]}
        )
    },
    responses=answers(200, LIMITS, 401, 403, 404, 413, 415, 422, 429, 503),
)
async def set_limits(account_id: str, request: Request, admin: Admin, context: Context) -> Response:
    """Set an account's risk limits (fields left out keep their value); 200 the limits in force."""
    _known_account(context, account_id)
    body = decode_body(await read_json(request), LimitsBody)
    state = context.orders.lane_for(account_id).book.account(account_id)
    current = state.record.limits or context.controls.default_limits
    limits = merged_limits(current, body)
    for symbol in limits.restricted_symbols:
        context.instruments.get(symbol)
    await context.orders.execute(SetAccountControls(account_id=account_id, limits=limits))
    return json_payload(200, limits_payload(limits))


@router.post(
    "/trading-state",
    openapi_extra={
        "requestBody": body_schema(TradingStateBody, {"state": "active"}),
        **IDEMPOTENCY_KEY,
    },
    responses=answers(200, TRADING_STATE_SET, 401, 403, 404, 409, 413, 415, 422, 429, 503),
)
async def set_trading_state(request: Request, admin: Admin, context: Context) -> Response:
    """Set the platform's (or one account's) trading state; ``halted`` cancels open orders."""
    raw = await read_json(request)

    async def work() -> tuple[int, JsonValue]:
        body = decode_body(raw, TradingStateBody)
        canceled = await apply_trading_state(context, TradingState(body.state), body.account_id)
        return 200, {"state": body.state, "account_id": body.account_id, "canceled": len(canceled)}

    return await keyed(request, admin, context, work)


async def apply_trading_state(
    context: WebContext, state: TradingState, account_id: str | None
) -> list[Order]:
    """Set the platform's (or one account's) trading state; halting cancels the open orders."""
    if account_id is not None:
        _known_account(context, account_id)
        await context.orders.execute(SetAccountControls(account_id=account_id, trading_state=state))
        halted = state is TradingState.HALTED
        return await cancel_open_orders(context, account_id) if halted else []
    await set_platform_state(context, state)
    return await cancel_everything(context) if state is TradingState.HALTED else []


async def set_platform_state(context: WebContext, state: TradingState) -> None:
    """Set the platform trading state and keep it across restarts."""
    context.controls.trading_state = state
    await context.store.put_document(PLATFORM, CONTROLS, msgspec.json.encode({"state": state}))


async def load_platform_state(context: WebContext) -> None:
    """Restore the platform trading state saved by ``set_platform_state``."""
    stored = await context.store.get_document(PLATFORM, CONTROLS)
    if stored is not None:
        context.controls.trading_state = TradingState(msgspec.json.decode(stored)["state"])


async def cancel_everything(context: WebContext) -> list[Order]:
    """Cancel every open order of every account."""
    canceled: list[Order] = []
    for lane in context.orders.lanes:
        for account_id in list(lane.book.accounts):
            canceled.extend(await cancel_open_orders(context, account_id))
    return canceled


@router.get("/ledger/verify", responses=answers(200, LEDGER_REPORT, 401, 403, 429, 503))
async def ledger_verify(admin: Admin, context: Context) -> Response:
    """Check every ledger invariant from the stored records."""
    records = await context.store.ledger_records()
    report = verify_ledger(
        transfers=records.transfers,
        balances=records.balances,
        holds=records.holds,
        hold_needs=records.hold_needs,
        pending=records.pending,
    )
    checks = [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks]
    return json_payload(200, {"ok": report.ok, "checks": checks})
