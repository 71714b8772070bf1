"""Duplicate orders: the same order twice within a short window is probably a double click."""

from __future__ import annotations

from datetime import timedelta

from agora.risk.types import Denial, OrderIntent, ReasonCode, RecentOrder, RiskContext


class DuplicateOrderRule:
    """Deny an order matching one accepted within ``duplicate_window_ms``.

    A match has the same symbol, side, qty, limit_price and stop_price, unless both orders carry a
    client_order_id and the ids differ (the client says they are distinct). Boundary: an order
    exactly ``duplicate_window_ms`` old still matches; one millisecond older does not.
    """

    __slots__ = ()
    name: str = "duplicate"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if ``intent`` repeats a recent order."""
        if not ctx.recent_orders:
            return None
        cutoff = ctx.now - timedelta(milliseconds=ctx.limits.duplicate_window_ms)
        for recent in ctx.recent_orders:
            if recent.at >= cutoff and _same_order(intent, recent):
                return Denial(
                    self.name,
                    ReasonCode.DUPLICATE_ORDER,
                    f"same {intent.side} {intent.symbol} order was accepted"
                    f" within {ctx.limits.duplicate_window_ms} ms",
                )
        return None


def _same_order(intent: OrderIntent, recent: RecentOrder) -> bool:
    if (
        recent.symbol != intent.symbol
        or recent.qty != intent.qty
        or recent.side != intent.side
        or recent.limit_price != intent.limit_price
        or recent.stop_price != intent.stop_price
    ):
        return False
    ours, theirs = intent.client_order_id, recent.client_order_id
    return ours is None or theirs is None or ours == theirs
