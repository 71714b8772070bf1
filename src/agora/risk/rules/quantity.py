"""Maximum order quantity."""

from __future__ import annotations

from agora.core.money import format_units
from agora.risk.types import Denial, OrderIntent, ReasonCode, RiskContext


class MaxQuantityRule:
    """Deny an order whose qty exceeds ``limits.max_order_qty`` (qty units).

    Boundary: qty == max_order_qty passes; max_order_qty + 1 denies.
    """

    __slots__ = ()
    name: str = "max_qty"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if ``intent.qty`` is over the limit."""
        limit = ctx.limits.max_order_qty
        if intent.qty <= limit:
            return None
        scale = intent.qty_scale
        return Denial(
            self.name,
            ReasonCode.MAX_QTY,
            f"qty {format_units(intent.qty, scale)} exceeds the limit of"
            f" {format_units(limit, scale)}",
        )
