"""Price collar: a limit price may not stray too far from the last price."""

from __future__ import annotations

from agora.core.money import PRICE_SCALE, format_units
from agora.risk.types import LIMIT_PRICED, Denial, OrderIntent, ReasonCode, RiskContext


class PriceCollarRule:
    """Deny a limit or stop-limit order whose limit is more than the collar away from last.

    Either direction counts. Boundary: |limit − last| × 10,000 == collar_bps × last passes (exactly
    on the collar); one price unit further denies. Market and stop orders are not collared here
    (their reservation carries the collar instead). Fails closed without a last price.
    """

    __slots__ = ()
    name: str = "price_collar"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the limit price of ``intent`` is outside the collar."""
        limit_price = intent.limit_price
        if limit_price is None or intent.order_type not in LIMIT_PRICED:
            return None
        quote = ctx.last_price
        if quote is None:
            return Denial(
                self.name, ReasonCode.PRICE_UNAVAILABLE, f"no last price for {intent.symbol}"
            )
        last, collar_bps = quote.price, ctx.limits.price_collar_bps
        if abs(limit_price - last) * 10_000 <= collar_bps * last:
            return None
        return Denial(
            self.name,
            ReasonCode.PRICE_COLLAR,
            f"limit {format_units(limit_price, PRICE_SCALE)} is more than"
            f" {format_units(collar_bps, 2)}% from last {format_units(last, PRICE_SCALE)}",
        )
