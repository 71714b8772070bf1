"""Replay from events alone: orders, posted balances and positions come out as the book has them."""

from __future__ import annotations

from typing import Any

import pytest

from agora.audit.replay import Views, compare, rebuild, rebuild_balances
from agora.core.errors import RiskDeniedError
from agora.core.events import Event
from agora.core.instruments import InstrumentRegistry
from agora.orders.commands import ApplyReport, CancelOrder, PlaceOrder, ReplaceOrder, Withdraw
from agora.orders.model import Order, OrderType, Report, ReportKind, Side, TimeInForce
from agora.orders.views import order_payload
from agora.positions.model import Position
from tests.mothers import ACCOUNT, BookWorld, price, usd


class Recorded:
    """A book whose committed changes are kept: the events, and the posted balances."""

    def __init__(self) -> None:
        self.world = BookWorld()
        self.events: list[tuple[int, Event]] = []
        self.posted: dict[str, int] = {}

    def do(self, command: Any) -> Any:
        """Apply a command and commit what it changed (a denial commits its event)."""
        self.world.tick()
        try:
            return self.world.do(command)
        finally:
            self.commit()

    def commit(self) -> None:
        changes = self.world.book.take_changes()
        for event in changes.events:
            self.events.append((len(self.events) + 1, event))
        for account, (posted, _) in changes.balance_deltas.items():
            self.posted[account] = self.posted.get(account, 0) + posted

    def report(self, order: Order, kind: ReportKind, **fields: Any) -> Order:
        report = Report(
            kind=kind, order_id=order.order_id, timestamp=self.world.clock.now(), **fields
        )
        result: Order = self.do(ApplyReport(account_id=order.account_id, report=report))
        return result


@pytest.fixture
def session() -> Recorded:
    recorded = Recorded()
    recorded.world.set_price("AAPL", "33.33")
    recorded.world.funded()
    recorded.commit()
    return recorded


def place(session: Recorded, side: str, qty: int, limit: str) -> Order:
    order: Order = session.do(
        PlaceOrder(
            account_id=ACCOUNT,
            symbol="AAPL",
            side=Side(side),
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.DAY,
            qty=qty,
            limit_price=price(limit),
        )
    )
    return order


def play(session: Recorded) -> None:
    """Fills with odd prices and fees, a partly filled cancel, a replace, a withdrawal, a denial."""
    # 33.335 → 3334¢ and 166.655 → 16666¢ one by one, but 199.99 → 19999¢ together: the
    # second fill moves 16665¢ (the order's cumulative notional is what is rounded)
    buy = place(session, "buy", 6, "33.34")
    session.report(buy, ReportKind.ACCEPTED)
    session.report(buy, ReportKind.FILL, fill_id="f1", qty=1, price=price("33.335"), fee_cents=5)
    session.report(buy, ReportKind.FILL, fill_id="f2", qty=5, price=price("33.331"), fee_cents=3)
    sell = place(session, "sell", 5, "33.00")
    session.report(sell, ReportKind.ACCEPTED)
    session.report(sell, ReportKind.FILL, fill_id="f1", qty=1, price=price("33.0005"), fee_cents=1)
    session.do(CancelOrder(account_id=ACCOUNT, order_id=sell.order_id))
    session.report(sell, ReportKind.CANCELED)
    resting = place(session, "buy", 5, "30.00")
    session.report(resting, ReportKind.ACCEPTED)
    new = session.do(
        ReplaceOrder(account_id=ACCOUNT, order_id=resting.order_id, qty=6, limit_price=price("31"))
    )
    session.report(resting, ReportKind.REPLACED)
    session.report(new, ReportKind.FILL, fill_id="f1", qty=2, price=price("30.9999"), fee_cents=2)
    session.do(Withdraw(account_id=ACCOUNT, transfer_id="w1", amount=usd("100.00")))
    with pytest.raises(RiskDeniedError):
        place(session, "buy", 1_000_000, "30.00")


def test_posted_balances_come_back_from_deposits_withdrawals_and_fills(session: Recorded) -> None:
    play(session)
    rebuilt = rebuild_balances((e for _, e in session.events), InstrumentRegistry.default())
    assert {a: v for a, v in rebuilt.items() if v} == {a: v for a, v in session.posted.items() if v}


def test_orders_come_back_as_their_latest_payload(session: Recorded) -> None:
    play(session)
    rebuilt = rebuild(session.events, InstrumentRegistry.default())
    live = {o.order_id: order_payload(o) for o in session.world.book.orders.values()}
    views = Views(orders=live, balances=session.posted, positions=rebuilt.views.positions)
    assert compare(rebuilt.views, views) == []
    assert rebuilt.denied == 1
    assert len(rebuilt.views.orders) == 4
    statuses = sorted(payload["status"] for payload in rebuilt.views.orders.values())
    assert statuses == ["canceled", "filled", "partially_filled", "replaced"]


def test_positions_come_back_from_the_fills(session: Recorded) -> None:
    play(session)
    rebuilt = rebuild(session.events, InstrumentRegistry.default())
    ((key, position),) = rebuilt.views.positions.items()
    assert key == (ACCOUNT, "AAPL")
    assert (position.qty, position.fills, position.fees_cents) == (6 - 1 + 2, 4, 11)


def test_compare_names_every_difference() -> None:
    position = Position(account_id=ACCOUNT, symbol="AAPL", qty_scale=0, qty=3)
    audit = Views(
        orders={"o1": {"order_id": "o1", "status": "filled", "event": "fill"}},
        balances={"customer_cash:acc:USD": 5},
        positions={(ACCOUNT, "AAPL"): position},
    )
    live = Views(
        orders={"o1": {"order_id": "o1", "status": "new"}, "o2": {"order_id": "o2"}},
        balances={"customer_cash:acc:USD": 5, "bank:external:USD": 1},
        positions={},
    )
    assert [(d.view, d.key, d.field) for d in compare(audit, live)] == [
        ("order", "o1", "status"),
        ("order", "o2", "*"),
        ("balance", "bank:external:USD", "posted"),
        ("position", f"{ACCOUNT}|AAPL", "*"),
    ]
