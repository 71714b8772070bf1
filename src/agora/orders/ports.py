"""Ports the order service owns: what its lanes need from storage and from market data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agora.core.events import Event
from agora.ledger import Hold, Transfer
from agora.orders.model import Order
from agora.risk.types import PriceQuote, RiskLimits, TradingState


@dataclass(slots=True, kw_only=True)
class AccountRecord:
    """An account's stored settings."""

    account_id: str
    currency: str
    trading_state: TradingState
    limits: RiskLimits | None  # None: the platform defaults


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderQuery:
    """Which of an account's orders to list: newest first, a page at a time."""

    account_id: str
    status: str = "all"  # "open" | "closed" | "all"
    symbol: str | None = None
    after: str | None = None  # an order id: list the orders placed before it
    limit: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class FillQuery:
    """Which of an account's fills to list: newest first."""

    account_id: str
    symbol: str | None = None
    after: str | None = None  # an RFC 3339 time: only fills after it
    limit: int = 100


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One execution, stored once by fill id."""

    fill_id: str
    order_id: str
    account_id: str
    symbol: str
    side: str
    qty: int
    price: int
    fee_cents: int
    cash_cents: int
    timestamp: str


@dataclass(slots=True, kw_only=True)
class LaneBatch:
    """Everything one group commit writes: live orders until ``LaneStore.freeze`` copies them."""

    accounts: list[AccountRecord] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    balance_deltas: dict[str, tuple[int, int]] = field(default_factory=dict)
    holds: list[Hold] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def is_empty(self) -> bool:
        """Whether there is nothing to write."""
        return not (self.accounts or self.orders or self.fills or self.transfers or self.events)

    @staticmethod
    def merge(batches: Sequence[LaneBatch]) -> LaneBatch:
        """Concatenate batches into one, summing balance deltas."""
        if len(batches) == 1:
            return batches[0]
        merged = LaneBatch()
        for batch in batches:
            merged.accounts.extend(batch.accounts)
            merged.orders.extend(batch.orders)
            merged.fills.extend(batch.fills)
            merged.transfers.extend(batch.transfers)
            merged.holds.extend(batch.holds)
            merged.events.extend(batch.events)
            for account, (posted, pending) in batch.balance_deltas.items():
                old_posted, old_pending = merged.balance_deltas.get(account, (0, 0))
                merged.balance_deltas[account] = (old_posted + posted, old_pending + pending)
        return merged


@dataclass(slots=True, kw_only=True)
class LaneSnapshot:
    """What lanes rebuild their state from on start."""

    accounts: list[AccountRecord]
    balances: dict[str, int]
    open_holds: list[Hold]
    open_orders: list[Order]
    client_order_ids: dict[tuple[str, str], str]  # (account id, client order id) → order id
    client_transfers: list[Transfer]  # deposits and withdrawals, for idempotent retries


class LaneStore(Protocol):
    """Durable storage for the account lanes."""

    def freeze(self, batch: LaneBatch) -> Any:
        """Copy a batch into the store's own form now, before the lane changes its orders again.

        The result is opaque to callers: it only goes back to ``commit_frozen``.
        """
        ...

    async def commit_frozen(self, batches: Sequence[Any]) -> None:
        """Write frozen batches in one transaction, or nothing (raise StorageError)."""
        ...

    async def commit(self, batch: LaneBatch) -> None:
        """Freeze and write one batch (for callers that do not batch batches)."""
        ...

    async def load_snapshot(self) -> LaneSnapshot:
        """Read what the lanes need to rebuild their in-memory state."""
        ...

    async def get_order(self, order_id: str) -> Order | None:
        """Read one order (any status), or None."""
        ...

    async def close(self) -> None:
        """Release the store's resources."""
        ...


class OrderReads(Protocol):
    """Committed orders and fills, as the API lists them."""

    async def list_orders(self, query: OrderQuery) -> list[Order]:
        """Return a page of an account's orders, newest first."""
        ...

    async def get_order_by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        """Return an account's order by its client order id, or None."""
        ...

    async def list_fills(self, query: FillQuery) -> list[FillRecord]:
        """Return a page of an account's fills, newest first."""
        ...


class PriceSource(Protocol):
    """The last-price cache as the risk checks see it."""

    def quote(self, symbol: str) -> PriceQuote | None:
        """Return the last price for ``symbol``, or None when there is none."""
        ...


class PlatformControls:
    """Platform-wide trading state and default limits, shared by every lane in a process."""

    def __init__(self, *, limits: RiskLimits | None = None) -> None:
        self.trading_state = TradingState.ACTIVE
        self.default_limits = limits or RiskLimits()
