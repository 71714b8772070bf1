"""Price freshness: fail closed without a recent last price."""

from __future__ import annotations

from datetime import timedelta

from agora.risk.types import Denial, OrderIntent, ReasonCode, RiskContext


class PriceFreshnessRule:
    """Deny any order when this symbol's last price is missing or older than the limit.

    Applies to every order type: the collar, notional, concentration and market reservation all
    depend on it. Boundary: age == ``price_max_age_ms`` passes; one millisecond more is stale.
    A quote stamped after ``now`` (clock skew) counts as fresh.
    """

    __slots__ = ()
    name: str = "price_freshness"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the last price of ``intent.symbol`` is missing or stale."""
        quote = ctx.last_price
        if quote is None:
            return Denial(
                self.name, ReasonCode.PRICE_UNAVAILABLE, f"no last price for {intent.symbol}"
            )
        age = ctx.now - quote.as_of
        max_age_ms = ctx.limits.price_max_age_ms
        if age <= timedelta(milliseconds=max_age_ms):
            return None
        age_ms = age // timedelta(milliseconds=1)
        return Denial(
            self.name,
            ReasonCode.PRICE_STALE,
            f"last price for {intent.symbol} is {age_ms} ms old; the limit is {max_age_ms} ms",
        )
