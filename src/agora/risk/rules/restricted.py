"""Restricted symbols: names this account (or the platform) may not trade."""

from __future__ import annotations

from agora.risk.types import Denial, OrderIntent, ReasonCode, RiskContext


class RestrictedSymbolRule:
    """Deny any order in a symbol listed in ``limits.restricted_symbols``.

    Boundary: membership is exact (case-sensitive symbol match); buys and sells alike.
    """

    __slots__ = ()
    name: str = "restricted_symbol"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if ``intent.symbol`` is restricted."""
        if intent.symbol in ctx.limits.restricted_symbols:
            return Denial(self.name, ReasonCode.RESTRICTED_SYMBOL, f"{intent.symbol} is restricted")
        return None
