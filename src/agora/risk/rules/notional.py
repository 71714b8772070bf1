"""Maximum order notional."""

from __future__ import annotations

from agora.core.money import CASH_SCALE, format_units
from agora.risk.reservation import order_notional_cents
from agora.risk.types import Denial, OrderIntent, ReasonCode, RiskContext


class MaxNotionalRule:
    """Deny an order whose notional exceeds ``limits.max_order_notional_cents``.

    Notional is qty × (limit price if the order has one, else last), rounded up to the cent.
    Boundary: notional == limit passes; anything over (even a fraction of a cent) denies.
    Fails closed without a price.
    """

    __slots__ = ()
    name: str = "max_notional"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the notional of ``intent`` is over the limit."""
        quote = ctx.last_price
        notional = order_notional_cents(intent, None if quote is None else quote.price)
        if notional is None:
            return Denial(
                self.name, ReasonCode.PRICE_UNAVAILABLE, f"no price to value {intent.symbol}"
            )
        limit = ctx.limits.max_order_notional_cents
        if notional <= limit:
            return None
        return Denial(
            self.name,
            ReasonCode.MAX_NOTIONAL,
            f"order notional {format_units(notional, CASH_SCALE)} USD exceeds the limit of"
            f" {format_units(limit, CASH_SCALE)} USD",
        )
