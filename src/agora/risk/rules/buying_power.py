"""Buying power: buys need the cash they reserve; sells need the shares (no shorting)."""

from __future__ import annotations

from agora.core.money import CASH_SCALE, format_units
from agora.risk.reservation import cash_needed, reserve_price
from agora.risk.types import BUY, Denial, OrderIntent, ReasonCode, RiskContext


class BuyingPowerRule:
    """Deny a buy whose hold exceeds ``cash_available``, or a sell over ``shares_available``.

    The buy's hold is cash_needed(qty, scale, reserve_price(...)), the exact amount the lane will
    reserve. Boundary: needed == available passes; one cent (or one qty unit) more denies.
    Fails closed when a needed last price is missing.
    """

    __slots__ = ()
    name: str = "buying_power"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the account cannot fund or deliver ``intent``."""
        if intent.side == BUY:
            return self._check_buy(intent, ctx)
        available = ctx.shares_available
        if intent.qty <= available:
            return None
        scale = intent.qty_scale
        return Denial(
            self.name,
            ReasonCode.INSUFFICIENT_SHARES,
            f"needs {format_units(intent.qty, scale)} {intent.symbol},"
            f" {format_units(max(available, 0), scale)} available",
        )

    def _check_buy(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        quote = ctx.last_price
        last = None if quote is None else quote.price
        price = reserve_price(intent, last, ctx.limits.price_collar_bps)
        if price is None:
            return Denial(
                self.name, ReasonCode.PRICE_UNAVAILABLE, f"no price to reserve {intent.symbol}"
            )
        needed = cash_needed(intent.qty, intent.qty_scale, price)
        if needed <= ctx.cash_available:
            return None
        return Denial(
            self.name,
            ReasonCode.INSUFFICIENT_BUYING_POWER,
            f"needs {format_units(needed, CASH_SCALE)} USD,"
            f" {format_units(ctx.cash_available, CASH_SCALE)} available",
        )
