"""Positions by the average-cost method, kept exactly in integers.

A position's ``cost`` and ``realized`` are in *price × quantity units*: a price in units of
$0.0001 (``PRICE_SCALE``) times a quantity in the instrument's qty units. Nothing is rounded while
fills are applied; rounding to cents happens only when a figure is shown (half-even).

Average cost: a fill that adds to a position (or opens one) adds its price × qty to the cost; a
fill that reduces it takes out the average cost of the quantity it closes and realizes the
difference with the fill price. When the cost does not divide evenly, the removed share is rounded
toward zero and the remainder stays with what is left, so a position closed in full has given up
exactly its whole cost. A fill that crosses through zero closes the position and opens the rest on
the other side at the fill's price. Fees are kept apart (``fees_cents``); realized P&L excludes
them.
"""

from __future__ import annotations

import msgspec

from agora.core.money import CASH_SCALE, PRICE_SCALE


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution as the position service sees it: signed by side, in minor units."""

    fill_id: str
    order_id: str
    account_id: str
    symbol: str
    side: str  # "buy" | "sell"
    qty: int
    price: int
    fee_cents: int
    qty_scale: int
    timestamp: str

    @property
    def key(self) -> str:
        """The fill's platform-wide identity: venue fill ids are unique only per order."""
        return f"{self.order_id}:{self.fill_id}"

    @property
    def signed_qty(self) -> int:
        """The quantity with its sign: positive for a buy, negative for a sell."""
        return self.qty if self.side == "buy" else -self.qty


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """One account's holding of one symbol, with its cost and realized P&L."""

    account_id: str
    symbol: str
    qty_scale: int
    qty: int = 0
    cost: int = 0
    realized: int = 0
    fees_cents: int = 0
    fills: int = 0
    bought_qty: int = 0
    sold_qty: int = 0
    last_fill_at: str | None = None

    def apply(self, fill: Fill) -> Position:
        """Return this position after ``fill``."""
        qty, cost, realized = self.qty, self.cost, self.realized
        delta = fill.signed_qty
        if qty == 0 or (qty > 0) == (delta > 0):
            qty, cost = qty + delta, cost + delta * fill.price
        else:
            closing = min(abs(delta), abs(qty))
            removed = _share(cost, closing, abs(qty))
            sign = 1 if qty > 0 else -1
            realized += sign * closing * fill.price - removed
            qty, cost = qty - sign * closing, cost - removed
            opening = abs(delta) - closing
            if opening:
                qty, cost = -sign * opening, -sign * opening * fill.price
        return msgspec.structs.replace(
            self,
            qty=qty,
            cost=cost,
            realized=realized,
            fees_cents=self.fees_cents + fill.fee_cents,
            fills=self.fills + 1,
            bought_qty=self.bought_qty + (fill.qty if fill.side == "buy" else 0),
            sold_qty=self.sold_qty + (fill.qty if fill.side == "sell" else 0),
            last_fill_at=fill.timestamp,
        )

    @property
    def cost_cents(self) -> int:
        """The cost basis in cents (half-even)."""
        return to_cents(self.cost, self.qty_scale)

    @property
    def realized_cents(self) -> int:
        """Realized P&L in cents (half-even), fees excluded."""
        return to_cents(self.realized, self.qty_scale)

    def average_price(self) -> int | None:
        """The average entry price in price units (half-even), or None when flat."""
        if self.qty == 0:
            return None
        return _divide_half_even(self.cost, self.qty)

    def market_value_cents(self, last_price: int) -> int:
        """What the position is worth at ``last_price``, in cents (half-even)."""
        return to_cents(self.qty * last_price, self.qty_scale)

    def unrealized_cents(self, last_price: int) -> int:
        """Unrealized P&L at ``last_price`` in cents (half-even)."""
        return to_cents(self.qty * last_price - self.cost, self.qty_scale)


def _share(cost: int, part: int, whole: int) -> int:
    """Return ``cost × part / whole`` rounded toward zero (``whole`` > 0)."""
    magnitude = abs(cost) * part // whole
    return magnitude if cost >= 0 else -magnitude


def _divide_half_even(numerator: int, denominator: int) -> int:
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    quotient, remainder = divmod(abs(numerator), abs(denominator))
    twice = remainder * 2
    if twice > abs(denominator) or (twice == abs(denominator) and quotient % 2 == 1):
        quotient += 1
    return sign * quotient


def to_cents(price_qty_units: int, qty_scale: int) -> int:
    """Convert price × qty units to cents, half-even."""
    return _divide_half_even(price_qty_units, 10 ** (PRICE_SCALE + qty_scale - CASH_SCALE))


def replay(fills: list[Fill]) -> dict[tuple[str, str], Position]:
    """Rebuild every position from fills in order, skipping repeated fills."""
    positions: dict[tuple[str, str], Position] = {}
    seen: set[str] = set()
    for fill in fills:
        if fill.key in seen:
            continue
        seen.add(fill.key)
        key = (fill.account_id, fill.symbol)
        current = positions.get(key) or Position(
            account_id=fill.account_id, symbol=fill.symbol, qty_scale=fill.qty_scale
        )
        positions[key] = current.apply(fill)
    return positions
