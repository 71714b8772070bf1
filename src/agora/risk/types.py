"""The risk vocabulary: reason codes, limits, the order intent, the per-order context, denials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import msgspec

from agora.core.errors import RiskDeniedError

BUY = "buy"
SELL = "sell"
MARKET = "market"
LIMIT = "limit"
STOP = "stop"
STOP_LIMIT = "stop_limit"
LIMIT_PRICED = frozenset({LIMIT, STOP_LIMIT})
"""Order types that carry a limit price."""


class ReasonCode(StrEnum):
    """Why a rule denied an order; the values are the public API's ``code``."""

    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
    INSUFFICIENT_SHARES = "insufficient_shares"
    MAX_NOTIONAL = "max_notional_exceeded"
    MAX_QTY = "max_qty_exceeded"
    PRICE_COLLAR = "price_outside_collar"
    CONCENTRATION = "concentration_limit_exceeded"
    RESTRICTED_SYMBOL = "restricted_symbol"
    DUPLICATE_ORDER = "duplicate_order"
    ORDER_RATE = "order_rate_exceeded"
    TRADING_HALTED = "trading_halted"
    REDUCING_ONLY = "reducing_only"
    PRICE_UNAVAILABLE = "price_unavailable"
    PRICE_STALE = "price_stale"


class TradingState(StrEnum):
    """Whether an account (or the whole platform) may open, only reduce, or not trade at all."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Platform default limits; a per-account override is a whole RiskLimits."""

    max_order_notional_cents: int = 100_000_000  # $1,000,000
    max_order_qty: int = 100_000  # in qty units
    price_collar_bps: int = 1_000  # also the market-order reservation margin
    max_concentration_bps: int = 2_000  # of equity, in one name, after the order
    duplicate_window_ms: int = 2_000
    max_orders_per_second: int = 50
    price_max_age_ms: int = 5_000  # an older last price is stale
    restricted_symbols: frozenset[str] = frozenset()


class PriceQuote(msgspec.Struct, frozen=True):
    """A last price in PRICE_SCALE units and when it was observed."""

    price: int
    as_of: datetime


class RecentOrder(msgspec.Struct, frozen=True):
    """An order this account had accepted recently, as the duplicate rule compares it."""

    symbol: str
    side: str
    qty: int
    limit_price: int | None
    stop_price: int | None
    client_order_id: str | None
    at: datetime


class OrderIntent(msgspec.Struct, frozen=True, kw_only=True):
    """An order as submitted, before acceptance; prices in PRICE_SCALE, qty at ``qty_scale``."""

    account_id: str
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit"
    qty: int
    qty_scale: int
    limit_price: int | None
    stop_price: int | None
    client_order_id: str | None
    replaces: str | None = None  # id of the order being replaced, if this is a replace


class RiskContext:
    """Hold what rules may read about the account and market; the lane builds one per order."""

    __slots__ = (
        "account_state",
        "cash_available",
        "equity_cents",
        "last_price",
        "limits",
        "now",
        "open_buy_qty",
        "platform_state",
        "position_qty",
        "recent_order_times",
        "recent_orders",
        "shares_available",
    )

    now: datetime
    limits: RiskLimits
    account_state: TradingState
    platform_state: TradingState
    cash_available: int  # cents: posted − pending holds (+ the replaced order's hold)
    shares_available: int  # qty units of this symbol: posted − pending (+ replaced order's hold)
    position_qty: int  # qty units held (posted) in this symbol
    open_buy_qty: int  # qty units on open buys in this symbol, excluding the replaced order
    equity_cents: int | None  # cash + holdings at fresh prices; None if any price is not fresh
    last_price: PriceQuote | None  # for this symbol
    recent_orders: Sequence[RecentOrder]  # within the duplicate window: at least every lookalike
    recent_order_times: Sequence[datetime]  # accepted orders' times, newest last

    def __init__(
        self,
        *,
        now: datetime,
        limits: RiskLimits,
        account_state: TradingState,
        platform_state: TradingState,
        cash_available: int,
        shares_available: int,
        position_qty: int,
        open_buy_qty: int,
        equity_cents: int | None,
        last_price: PriceQuote | None,
        recent_orders: Sequence[RecentOrder],
        recent_order_times: Sequence[datetime],
    ) -> None:
        self.now = now
        self.limits = limits
        self.account_state = account_state
        self.platform_state = platform_state
        self.cash_available = cash_available
        self.shares_available = shares_available
        self.position_qty = position_qty
        self.open_buy_qty = open_buy_qty
        self.equity_cents = equity_cents
        self.last_price = last_price
        self.recent_orders = recent_orders
        self.recent_order_times = recent_order_times


class Denial(msgspec.Struct, frozen=True):
    """A rule's refusal: which rule, the enumerated reason and a human message with numbers."""

    rule: str
    code: ReasonCode
    message: str

    def to_error(self) -> RiskDeniedError:
        """Return the RiskDeniedError that carries this denial."""
        return RiskDeniedError(self.message, code=self.code.value, rule=self.rule)


class RiskRule(Protocol):
    """A pure pre-trade check: return a Denial, or None to let the order through."""

    name: str

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Return a Denial if ``intent`` breaks this rule in ``ctx``, else None."""
        ...
