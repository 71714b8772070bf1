"""Pre-trade risk: pure, enumerated rules run in order by a small engine."""

from __future__ import annotations

from agora.risk.engine import RiskEngine
from agora.risk.reservation import (
    cash_needed,
    notional_price,
    order_notional_cents,
    reserve_price,
)
from agora.risk.rules import default_rules
from agora.risk.types import (
    Denial,
    OrderIntent,
    PriceQuote,
    ReasonCode,
    RecentOrder,
    RiskContext,
    RiskLimits,
    RiskRule,
    TradingState,
)

__all__ = [
    "Denial",
    "OrderIntent",
    "PriceQuote",
    "ReasonCode",
    "RecentOrder",
    "RiskContext",
    "RiskEngine",
    "RiskLimits",
    "RiskRule",
    "TradingState",
    "cash_needed",
    "default_rules",
    "notional_price",
    "order_notional_cents",
    "reserve_price",
]
