"""What an accepted order reserves and the notional the limits see; shared with the order lane."""

from __future__ import annotations

from agora.core.money import apply_bps, notional_cents
from agora.risk.types import BUY, LIMIT_PRICED, MARKET, OrderIntent


def reserve_price(intent: OrderIntent, last_price: int | None, collar_bps: int) -> int | None:
    """Return the per-unit price an order reserves at, or None when a needed last is missing.

    Buys: limit and stop-limit reserve at the limit; market at last × (1 + collar); stop at
    max(stop, last) × (1 + collar), both rounded up in PRICE_SCALE units. Sells reserve shares,
    not cash; for them this is the notional price (the limit, else last).
    """
    if intent.order_type in LIMIT_PRICED:
        return intent.limit_price
    if last_price is None:
        return None
    if intent.side != BUY:
        return last_price
    base = last_price
    if intent.order_type != MARKET and intent.stop_price is not None:
        base = max(intent.stop_price, last_price)
    return apply_bps(base, collar_bps, round_up=True)


def cash_needed(qty: int, qty_scale: int, reserve_price: int) -> int:
    """Return the cents a buy of ``qty`` at ``reserve_price`` holds, rounded up."""
    return notional_cents(qty, qty_scale, reserve_price, round_up=True)


def notional_price(intent: OrderIntent, last_price: int | None) -> int | None:
    """Return the per-unit price limits value an order at: the limit if it has one, else last."""
    if intent.order_type in LIMIT_PRICED:
        return intent.limit_price
    return last_price


def order_notional_cents(intent: OrderIntent, last_price: int | None) -> int | None:
    """Return the order's notional in cents (rounded up) for the limits, or None without a price."""
    price = notional_price(intent, last_price)
    if price is None:
        return None
    return notional_cents(intent.qty, intent.qty_scale, price, round_up=True)
