"""Concentration: no single name may exceed a share of equity after a buy."""

from __future__ import annotations

from agora.core.money import CASH_SCALE, PRICE_SCALE, format_units
from agora.risk.reservation import notional_price
from agora.risk.types import BUY, Denial, OrderIntent, ReasonCode, RiskContext


class ConcentrationRule:
    """Deny a buy that would put more than ``max_concentration_bps`` of equity in one name.

    Exposure is (position_qty + open_buy_qty + qty) × the order's notional price (limit if it has
    one, else last), compared exactly (no rounding) with equity_cents × bps / 10,000. Boundary:
    exposure == the cap passes; any amount over denies. Sells always pass. Fails closed: when
    equity is unknown (None: a held name lacks a fresh price) or there is no price, the buy is
    denied with PRICE_UNAVAILABLE; equity <= 0 denies any buy with CONCENTRATION.
    """

    __slots__ = ()
    name: str = "concentration"

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a denial if the buy would breach the concentration cap."""
        if intent.side != BUY:
            return None
        quote = ctx.last_price
        price = notional_price(intent, None if quote is None else quote.price)
        equity = ctx.equity_cents
        if price is None or equity is None:
            return Denial(
                self.name,
                ReasonCode.PRICE_UNAVAILABLE,
                "equity is unknown: a price is missing or stale",
            )
        total_qty = ctx.position_qty + ctx.open_buy_qty + intent.qty
        exposure = total_qty * price  # at qty_scale + PRICE_SCALE decimal places
        divisor = 10 ** (intent.qty_scale + PRICE_SCALE - CASH_SCALE)
        bps = ctx.limits.max_concentration_bps
        if exposure * 10_000 <= bps * equity * divisor:
            return None
        return Denial(
            self.name,
            ReasonCode.CONCENTRATION,
            f"{intent.symbol} would be {format_units(-(-exposure // divisor), CASH_SCALE)} USD,"
            f" over {format_units(bps, 2)}% of equity {format_units(equity, CASH_SCALE)} USD"
            f" ({format_units(bps * equity // 10_000, CASH_SCALE)} USD)",
        )
