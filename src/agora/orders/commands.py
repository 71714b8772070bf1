"""Commands to the order service: imperative, frozen, already parsed into minor units."""

from __future__ import annotations

from dataclasses import dataclass

from agora.orders.model import OrderType, Report, Side, TimeInForce
from agora.risk.types import RiskLimits, TradingState


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAccount:
    """Open a customer account (idempotent by account id)."""

    account_id: str
    currency: str = "USD"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deposit:
    """Move cash from the external bank into the account."""

    account_id: str
    transfer_id: str
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw:
    """Move available cash out to the external bank."""

    account_id: str
    transfer_id: str
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    """Place a new order; quantities and prices already in minor units."""

    account_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: int
    limit_price: int | None = None
    stop_price: int | None = None
    client_order_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    """Ask for an open order to be canceled."""

    account_id: str
    order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceOrder:
    """Replace an open order; ``qty`` is the new total including what has filled."""

    account_id: str
    order_id: str
    qty: int | None = None
    limit_price: int | None = None
    stop_price: int | None = None
    time_in_force: TimeInForce | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyReport:
    """Apply a venue's execution report to an account's order."""

    account_id: str
    report: Report


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAccountControls:
    """Set an account's trading state and/or risk limits (None leaves it as it is)."""

    account_id: str
    trading_state: TradingState | None = None
    limits: RiskLimits | None = None


Command = (
    OpenAccount
    | Deposit
    | Withdraw
    | PlaceOrder
    | CancelOrder
    | ReplaceOrder
    | ApplyReport
    | SetAccountControls
)
