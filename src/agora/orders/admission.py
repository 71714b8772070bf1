"""What the order handlers check before they change anything: field shapes and the risk context."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from agora.core.errors import ValidationError
from agora.core.instruments import Instrument
from agora.orders import settlement
from agora.orders.model import Order, OrderType, Side, TimeInForce
from agora.orders.state import AccountState
from agora.risk import OrderIntent, PriceQuote, RecentOrder, RiskContext, RiskLimits

if TYPE_CHECKING:
    from agora.orders.book import AccountBook

_PRICED = {
    OrderType.MARKET: (False, False),
    OrderType.LIMIT: (True, False),
    OrderType.STOP: (False, True),
    OrderType.STOP_LIMIT: (True, True),
}


def validate_shape(
    instrument: Instrument,
    order_type: OrderType,
    tif: TimeInForce,
    qty: int,
    limit_price: int | None,
    stop_price: int | None,
) -> None:
    """Check an order's fields agree with each other and with the instrument."""
    if not instrument.tradable:
        raise ValidationError(f"{instrument.symbol} is not tradable", code="symbol_not_tradable")
    if qty <= 0 or qty % instrument.lot_size:
        raise ValidationError("qty must be a positive whole number of lots", code="invalid_qty")
    needs_limit, needs_stop = _PRICED[order_type]
    for name, price, needed in (
        ("limit_price", limit_price, needs_limit),
        ("stop_price", stop_price, needs_stop),
    ):
        if needed and price is None:
            raise ValidationError(f"a {order_type.value} order needs {name}", code="invalid_order")
        if not needed and price is not None:
            raise ValidationError(
                f"a {order_type.value} order takes no {name}", code="invalid_order"
            )
        if price is not None and (price <= 0 or price % instrument.tick_size):
            raise ValidationError(
                f"{name} must be positive and on the tick grid", code="invalid_price"
            )
    if tif in (TimeInForce.OPG, TimeInForce.CLS) and order_type not in (
        OrderType.MARKET,
        OrderType.LIMIT,
    ):
        raise ValidationError(f"{tif.value} takes market or limit orders", code="invalid_order")


def intent_of(order: Order) -> OrderIntent:
    """The order as the risk rules see it (a replacement names the order it replaces)."""
    return OrderIntent(
        account_id=order.account_id,
        symbol=order.symbol,
        side=order.side.value,
        order_type=order.order_type.value,
        qty=order.qty,
        qty_scale=order.qty_scale,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        client_order_id=order.client_order_id,
        replaces=order.replaces,
    )


def as_recent(intent: OrderIntent, now: datetime) -> RecentOrder:
    """The intent as the duplicate guard and the throttle remember it."""
    return RecentOrder(
        symbol=intent.symbol,
        side=intent.side,
        qty=intent.qty,
        limit_price=intent.limit_price,
        stop_price=intent.stop_price,
        client_order_id=intent.client_order_id,
        at=now,
    )


def risk_context(
    book: AccountBook,
    state: AccountState,
    intent: OrderIntent,
    limits: RiskLimits,
    quote: PriceQuote | None,
    now: datetime,
    replacing: Order | None,
) -> RiskContext:
    """The risk rules' view of an account and an order, at ``now``."""
    cash = state.cash_account
    shares = state.shares_account(intent.symbol)
    freed = replacing.hold_remaining if replacing is not None else 0
    open_buys = state.open_buy_qty.get(intent.symbol, 0)
    if replacing is not None and replacing.side is Side.BUY:
        open_buys -= replacing.leaves_qty
    excluding = replacing.order_id if replacing is not None else None
    recent = state.duplicate_candidates(as_recent(intent, now), excluding)
    return RiskContext(
        now=now,
        limits=limits,
        account_state=state.record.trading_state,
        platform_state=book.platform.trading_state,
        cash_available=book.ledger.available(cash) + (freed if intent.side == "buy" else 0),
        shares_available=book.ledger.available(shares) + (freed if intent.side == "sell" else 0),
        position_qty=book.ledger.posted(shares),
        open_buy_qty=open_buys,
        equity_cents=equity(book, state, now, limits),
        last_price=quote,
        recent_orders=recent,
        recent_order_times=state.order_times,
    )


def equity(book: AccountBook, state: AccountState, now: datetime, limits: RiskLimits) -> int | None:
    """Cash plus holdings at fresh last prices; None when a held name has no fresh price."""
    total = book.ledger.posted(state.cash_account)
    max_age = timedelta(milliseconds=limits.price_max_age_ms)
    for symbol in state.holdings:
        qty = book.ledger.posted(state.shares_account(symbol))
        if qty == 0:
            continue
        quote = book.prices.quote(symbol)
        if quote is None or now - quote.as_of > max_age:
            return None
        total += settlement.cash_value(qty, book.instruments.get(symbol).qty_scale, quote.price)
    return total
