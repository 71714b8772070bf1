"""Order rate: at most N accepted orders per account per rolling second."""

from __future__ import annotations

from datetime import timedelta

from agora.risk.types import Denial, OrderIntent, ReasonCode, RiskContext

_ONE_SECOND = timedelta(seconds=1)


class OrderRateRule:
    """Deny an order when ``max_orders_per_second`` orders were accepted in the last second.

    The window is (now − 1 s, now]: an order exactly one second old no longer counts. Boundary:
    N − 1 orders in the window pass; N deny.
    """

    __slots__ = ()
    name: str = "throttle"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the account is over its order rate."""
        limit = ctx.limits.max_orders_per_second
        cutoff = ctx.now - _ONE_SECOND
        count = 0
        # Newest last: walk back and stop at the first time outside the window or at the limit.
        for at in reversed(ctx.recent_order_times):
            if count >= limit or at <= cutoff:
                break
            count += 1
        if count < limit:
            return None
        return Denial(
            self.name,
            ReasonCode.ORDER_RATE,
            f"{count} orders in the last second; the limit is {limit} per second",
        )
