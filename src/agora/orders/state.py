"""In-memory state of one account inside its lane."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agora.ledger import Transfer, customer_cash, customer_shares
from agora.orders.model import Order, Side
from agora.orders.ports import AccountRecord
from agora.risk.types import RecentOrder, RiskLimits


@dataclass(slots=True)
class AccountState:
    """One account's settings, open orders, idempotency maps and recent activity."""

    record: AccountRecord
    open_orders: dict[str, Order] = field(default_factory=dict)
    client_order_ids: dict[str, str] = field(default_factory=dict)
    client_transfers: dict[str, Transfer] = field(default_factory=dict)
    recent: deque[RecentOrder] = field(default_factory=deque)
    recent_ids: deque[str] = field(default_factory=deque)  # the order id of each recent entry
    order_times: deque[datetime] = field(default_factory=deque)
    holdings: set[str] = field(default_factory=set)
    buy_leaves: dict[str, int] = field(default_factory=dict)  # open buy order id → leaves qty
    open_buy_qty: dict[str, int] = field(default_factory=dict)  # symbol → Σ open buy leaves

    def track(self, order: Order) -> None:
        """Keep the open-order map and the open buy quantity per symbol in step with ``order``."""
        if order.is_final:
            self.open_orders.pop(order.order_id, None)
        else:
            self.open_orders[order.order_id] = order
        if order.side is not Side.BUY:
            return
        before = self.buy_leaves.pop(order.order_id, 0)
        after = order.leaves_qty
        if after:
            self.buy_leaves[order.order_id] = after
        if after != before:
            total = self.open_buy_qty.get(order.symbol, 0) + after - before
            self.open_buy_qty[order.symbol] = total

    _shares_accounts: dict[str, str] = field(default_factory=dict)
    _cash_account: str = ""

    @property
    def cash_account(self) -> str:
        """The ledger account of this account's cash."""
        if not self._cash_account:
            self._cash_account = customer_cash(self.record.account_id, self.record.currency)
        return self._cash_account

    def shares_account(self, symbol: str) -> str:
        """The ledger account of this account's shares of ``symbol``."""
        name = self._shares_accounts.get(symbol)
        if name is None:
            name = self._shares_accounts[symbol] = customer_shares(self.record.account_id, symbol)
        return name

    def limits(self, default: RiskLimits) -> RiskLimits:
        """Return the limits in force: the account's own or the platform's."""
        return self.record.limits or default

    def remember(self, order_id: str, recent: RecentOrder) -> None:
        """Record an accepted order for the duplicate guard and the throttle."""
        self.recent.append(recent)
        self.recent_ids.append(order_id)
        self.order_times.append(recent.at)

    def forget_before(self, now: datetime, limits: RiskLimits) -> None:
        """Drop activity older than the duplicate window and the throttle's second."""
        horizon = now - timedelta(milliseconds=limits.duplicate_window_ms)
        while self.recent and self.recent[0].at < horizon:
            self.recent.popleft()
            self.recent_ids.popleft()
        second_ago = now - timedelta(seconds=1)
        while self.order_times and self.order_times[0] < second_ago:
            self.order_times.popleft()
