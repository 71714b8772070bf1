"""Trading state: nothing trades while halted; only closing sells while reducing."""

from __future__ import annotations

from agora.core.money import format_units
from agora.risk.types import SELL, Denial, OrderIntent, ReasonCode, RiskContext, TradingState

_HALTED = ReasonCode.TRADING_HALTED


class TradingStateRule:
    """Deny every order while halted; while reducing, allow only sells within the long position.

    The platform state is checked before the account's, and halted before reducing. Boundary
    (reducing): a sell of exactly ``position_qty`` passes; one qty unit more denies.
    """

    __slots__ = ()
    name: str = "trading_state"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the platform or account state forbids ``intent``."""
        platform, account = ctx.platform_state, ctx.account_state
        if platform is TradingState.ACTIVE and account is TradingState.ACTIVE:
            return None
        if platform is TradingState.HALTED:
            return Denial(self.name, _HALTED, "trading is halted platform-wide")
        if account is TradingState.HALTED:
            return Denial(self.name, _HALTED, "trading is halted for this account")
        if intent.side == SELL and intent.qty <= ctx.position_qty:
            return None
        scope = "platform" if platform is TradingState.REDUCING else "account"
        held = format_units(max(ctx.position_qty, 0), intent.qty_scale)
        return Denial(
            self.name,
            ReasonCode.REDUCING_ONLY,
            f"{scope} is reducing only: {intent.side} {format_units(intent.qty, intent.qty_scale)}"
            f" {intent.symbol} does not reduce the {held} held",
        )
