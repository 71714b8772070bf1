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
    recent: deque[tuple[str, RecentOrder]] = field(default_factory=deque)  # oldest first
    recent_by_key: dict[tuple[object, ...], deque[tuple[str, RecentOrder]]] = field(
        default_factory=dict
    )  # the same entries, grouped by what makes two orders duplicates
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
        entry = (order_id, recent)
        self.recent.append(entry)
        self.recent_by_key.setdefault(duplicate_key(recent), deque()).append(entry)
        self.order_times.append(recent.at)

    def duplicate_candidates(self, recent: RecentOrder, excluding: str | None) -> list[RecentOrder]:
        """Recent orders that look like ``recent`` (the duplicate rule decides), bar one id."""
        same = self.recent_by_key.get(duplicate_key(recent), ())
        return [r for order_id, r in same if order_id != excluding]

    def forget_before(self, now: datetime, limits: RiskLimits) -> None:
        """Drop activity older than the duplicate window and the throttle's second."""
        horizon = now - timedelta(milliseconds=limits.duplicate_window_ms)
        while self.recent and self.recent[0][1].at < horizon:
            _, old = self.recent.popleft()
            key = duplicate_key(old)
            same = self.recent_by_key[key]
            same.popleft()  # time order within a key follows the global time order
            if not same:
                del self.recent_by_key[key]
        second_ago = now - timedelta(seconds=1)
        while self.order_times and self.order_times[0] < second_ago:
            self.order_times.popleft()


def duplicate_key(order: RecentOrder) -> tuple[object, ...]:
    """What two orders must share to be duplicates (the duplicate rule's fields)."""
    return (order.symbol, order.side, order.qty, order.limit_price, order.stop_price)
