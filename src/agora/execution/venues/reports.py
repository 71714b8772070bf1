"""Venue-side records: the order a venue works, the quote it matches against, what it reports.

Prices are ``int`` units of $0.0001 (``agora.core.money.PRICE_SCALE``); quantities are ``int`` qty
units; fees are ``int`` cents (``agora.core.money.CASH_SCALE``). Report kinds are the strings of
``agora.orders.model.ReportKind``.

``FeeSchedule`` is what a venue charges per fill, computed exactly in integers:

    fee = per_share_price_units × qty / 100  +  qty × price × notional_bps / 1,000,000   (cents)

summed before rounding, rounded half up to the cent, then raised to ``minimum_cents`` when the
schedule has a rate. All zero (the default) charges nothing; a minimum without a rate is refused.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from agora.core.errors import ValidationError

# A fee's exact value in units of $0.00000001: cents × 1,000,000.
_FEE_DIVISOR = 1_000_000
_PER_SHARE_FACTOR = 10_000  # price units ($0.0001) → $0.00000001


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Describe one order as a venue works it."""

    order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit"
    time_in_force: str  # "day" | "gtc" | "ioc" | "fok" | "opg" | "cls"
    qty: int
    limit_price: int | None = None
    stop_price: int | None = None
    # Buys without a limit: the most a fill may cost (a market buy is a marketable limit here).
    protection_price: int | None = None


class Quote(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Describe the top of the book for one symbol; its sizes are fresh liquidity."""

    symbol: str
    bid: int
    ask: int
    bid_size: int
    ask_size: int
    last: int
    timestamp: datetime


class VenueReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Report one thing a venue did to one order."""

    kind: str
    order_id: str
    timestamp: datetime
    fill_id: str | None = None
    qty: int = 0
    price: int = 0
    fee_cents: int = 0
    reason: str | None = None
    venue_order_id: str | None = None
    # The report's place in its order's execution reports (1, 2, …), stamped by the venue so
    # that a receiver can restore their order and drop repeats; 0 for unsequenced answers.
    seq: int = 0


class RestingOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Show an order a venue is still working and how much of it is left."""

    order: VenueOrder
    venue_order_id: str
    remaining: int
    triggered: bool


class FeeSchedule(msgspec.Struct, frozen=True, kw_only=True):
    """Say what a venue charges per fill; all zero charges nothing."""

    per_share_price_units: int = 0  # $0.0001 per share: 30 is $0.003 a share
    notional_bps: int = 0  # basis points of qty × price
    minimum_cents: int = 0  # the least a charged fill costs

    def __post_init__(self) -> None:
        """Refuse negative amounts and a minimum without a rate."""
        if min(self.per_share_price_units, self.notional_bps, self.minimum_cents) < 0:
            raise ValidationError(f"fee amounts must not be negative: {self!r}", code="invalid_fee")
        if self.minimum_cents and not self.charges:
            message = "a minimum fee needs a per-share or notional rate"
            raise ValidationError(message, code="invalid_fee")

    @property
    def charges(self) -> bool:
        """Tell whether fills cost anything under this schedule."""
        return bool(self.per_share_price_units or self.notional_bps)

    def fee_cents(self, qty: int, price: int) -> int:
        """Return the fee in cents for a fill of ``qty`` at ``price`` (price units)."""
        if not self.charges:
            return 0
        exact = qty * (self.per_share_price_units * _PER_SHARE_FACTOR + price * self.notional_bps)
        rounded = (exact + _FEE_DIVISOR // 2) // _FEE_DIVISOR  # half up: fees are never negative
        return max(rounded, self.minimum_cents)
