"""One module per pre-trade rule, and the default order bootstrap registers."""

from __future__ import annotations

from agora.risk.rules.buying_power import BuyingPowerRule
from agora.risk.rules.collar import PriceCollarRule
from agora.risk.rules.concentration import ConcentrationRule
from agora.risk.rules.duplicate import DuplicateOrderRule
from agora.risk.rules.notional import MaxNotionalRule
from agora.risk.rules.price_freshness import PriceFreshnessRule
from agora.risk.rules.quantity import MaxQuantityRule
from agora.risk.rules.restricted import RestrictedSymbolRule
from agora.risk.rules.throttle import OrderRateRule
from agora.risk.rules.trading_state import TradingStateRule
from agora.risk.types import RiskRule

__all__ = [
    "BuyingPowerRule",
    "ConcentrationRule",
    "DuplicateOrderRule",
    "MaxNotionalRule",
    "MaxQuantityRule",
    "OrderRateRule",
    "PriceCollarRule",
    "PriceFreshnessRule",
    "RestrictedSymbolRule",
    "TradingStateRule",
    "default_rules",
]


def default_rules() -> tuple[RiskRule, ...]:
    """Return the default rules in the order they run (cheap, state-wide checks first)."""
    return (
        TradingStateRule(),
        RestrictedSymbolRule(),
        MaxQuantityRule(),
        PriceFreshnessRule(),
        PriceCollarRule(),
        MaxNotionalRule(),
        BuyingPowerRule(),
        ConcentrationRule(),
        DuplicateOrderRule(),
        OrderRateRule(),
    )
