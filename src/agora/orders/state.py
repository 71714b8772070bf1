"""In-memory state of one account inside its lane."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agora.ledger import Transfer
from agora.orders.model import Order
from agora.orders.ports import AccountRecord
from agora.risk.types import RecentOrder, RiskLimits


@dataclass(slots=True)
class AccountState:
    """One account's settings, open orders, idempotency maps and recent activity."""

    record: AccountRecord
    open_orders: dict[str, Order] = field(default_factory=dict)
    client_order_ids: dict[str, str] = field(default_factory=dict)
    client_transfers: dict[str, Transfer] = field(default_factory=dict)
    recent: deque[tuple[str, RecentOrder]] = field(default_factory=deque)
    order_times: deque[datetime] = field(default_factory=deque)
    holdings: set[str] = field(default_factory=set)

    def limits(self, default: RiskLimits) -> RiskLimits:
        """Return the limits in force: the account's own or the platform's."""
        return self.record.limits or default

    def remember(self, order_id: str, recent: RecentOrder, limits: RiskLimits) -> None:
        """Record an accepted order for the duplicate guard and the throttle."""
        self.recent.append((order_id, recent))
        self.order_times.append(recent.at)
        self.forget_before(recent.at, limits)

    def forget_before(self, now: datetime, limits: RiskLimits) -> None:
        """Drop activity older than the duplicate window and the throttle's second."""
        horizon = now - timedelta(milliseconds=limits.duplicate_window_ms)
        while self.recent and self.recent[0][1].at < horizon:
            self.recent.popleft()
        second_ago = now - timedelta(seconds=1)
        while self.order_times and self.order_times[0] < second_ago:
            self.order_times.popleft()
