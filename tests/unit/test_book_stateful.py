"""Ledger + orders against a simple reference model (hypothesis RuleBasedStateMachine).

The reference keeps, per order, what it expects in plain integers (status, filled, hold left)
and per account its cash and shares; after every step the book must agree with it, and every
ledger invariant must hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agora.core.errors import AgoraError, ConflictError, RiskDeniedError
from agora.core.money import notional_cents
from agora.ledger import customer_cash, customer_shares
from agora.orders.commands import ApplyReport, CancelOrder, Deposit, ReplaceOrder, Withdraw
from agora.orders.model import Order, Report, ReportKind, Side, Status
from tests.mothers import ACCOUNT, BookWorld

CASH = customer_cash(ACCOUNT)
SHARES = customer_shares(ACCOUNT, "AAPL")
PRICES = st.integers(190, 210).map(lambda dollars: dollars * 10_000)  # within the 10% collar


@dataclass
class Expected:
    """What the reference model expects of one order."""

    side: Side
    qty: int
    limit: int
    filled: int = 0
    notional: int = 0
    cash: int = 0
    hold: int = 0
    status: Status = Status.PENDING_NEW


class BookMachine(RuleBasedStateMachine):
    """Random deposits, withdrawals, orders, fills, cancels, replaces and retries."""

    def __init__(self) -> None:
        super().__init__()
        self.world = BookWorld()
        self.world.funded(cash="10000.00")
        self.cash = 1_000_000
        self.shares = 0
        self.deposits: dict[str, int] = {"seed": 1_000_000}
        self.orders: dict[str, Expected] = {}
        self.fill_seq = 0

    # -- reference helpers ------------------------------------------------------------------

    def available_cash(self) -> int:
        return self.cash - sum(e.hold for e in self.orders.values() if e.side is Side.BUY)

    def available_shares(self) -> int:
        return self.shares - sum(e.hold for e in self.orders.values() if e.side is Side.SELL)

    def open_ids(self) -> list[str]:
        return sorted(i for i, e in self.orders.items() if e.status in _WORKING)

    def report(self, order_id: str, kind: ReportKind, **kw: object) -> Order:
        report = Report(kind=kind, order_id=order_id, timestamp=self.world.clock.now(), **kw)  # type: ignore[arg-type]
        order: Order = self.world.do(ApplyReport(account_id=ACCOUNT, report=report))
        return order

    # -- rules ----------------------------------------------------------------------------

    @rule(key=st.sampled_from(["d1", "d2", "d3"]), cents=st.integers(1, 500_000))
    def deposit(self, key: str, cents: int) -> None:
        command = Deposit(account_id=ACCOUNT, transfer_id=key, amount=cents)
        first = self.deposits.get(key)
        if first is not None and first != cents:
            _expect_refusal(self.world, command, ConflictError)
            return
        self.world.do(command)
        if first is None:
            self.deposits[key] = cents
            self.cash += cents

    @rule(cents=st.integers(1, 2_000_000))
    def withdraw(self, cents: int) -> None:
        self.fill_seq += 1
        command = Withdraw(account_id=ACCOUNT, transfer_id=f"w{self.fill_seq}", amount=cents)
        if cents > self.available_cash():
            _expect_refusal(self.world, command, ConflictError)
            return
        self.world.do(command)
        self.cash -= cents

    @rule(side=st.sampled_from(Side), qty=st.integers(1, 40), limit=PRICES)
    def place(self, side: Side, qty: int, limit: int) -> None:
        self.world.tick()
        need = notional_cents(qty, 0, limit, round_up=True) if side is Side.BUY else qty
        room = self.available_cash() if side is Side.BUY else self.available_shares()
        dollars = f"{limit // 10_000}.00"
        if need > room:
            try:
                self.world.place(side, qty, dollars)
            except RiskDeniedError:
                return
            raise AssertionError("an order beyond buying power was accepted")
        self.fill_seq += 1
        client_id = f"c{self.fill_seq}"
        order = self.world.place(side, qty, dollars, client_order_id=client_id)
        again = self.world.place(side, qty, dollars, client_order_id=client_id)  # a retry
        assert again is order
        self.orders[order.order_id] = Expected(side, qty, limit, hold=need)

    @precondition(lambda self: self.open_ids())
    @rule(data=st.data())
    def venue_accepts(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.open_ids()))
        expected = self.orders[order_id]
        self.report(order_id, ReportKind.ACCEPTED)
        if expected.status is Status.PENDING_NEW:
            expected.status = Status.NEW

    @precondition(lambda self: self.open_ids())
    @rule(data=st.data(), retry=st.booleans())
    def venue_fills(self, data: st.DataObject, retry: bool) -> None:
        order_id = data.draw(st.sampled_from(self.open_ids()))
        e = self.orders[order_id]
        qty = data.draw(st.integers(1, e.qty - e.filled))
        price = data.draw(
            st.integers(e.limit - 50_000, e.limit)
            if e.side is Side.BUY
            else st.integers(e.limit, e.limit + 50_000)
        )
        self.fill_seq += 1
        fill_id = f"f{self.fill_seq}"
        for _ in range(2 if retry else 1):  # a redelivered report changes nothing
            self.report(order_id, ReportKind.FILL, fill_id=fill_id, qty=qty, price=price)
        e.filled += qty
        e.notional += qty * price
        cash = notional_cents(e.notional, 0, 1, round_up=False)
        moved, e.cash = cash - e.cash, cash
        if e.side is Side.BUY:
            self.cash -= moved
            self.shares += qty
            e.hold -= moved
        else:
            self.cash += moved
            self.shares -= qty
            e.hold -= qty
        if e.filled == e.qty:
            e.status, e.hold = Status.FILLED, 0
        else:
            e.status = Status.PARTIALLY_FILLED

    @precondition(lambda self: self.open_ids())
    @rule(data=st.data(), confirmed=st.booleans())
    def cancel(self, data: st.DataObject, confirmed: bool) -> None:
        order_id = data.draw(st.sampled_from(self.open_ids()))
        e = self.orders[order_id]
        self.world.do(CancelOrder(account_id=ACCOUNT, order_id=order_id))
        kind = ReportKind.CANCELED if confirmed else ReportKind.CANCEL_REJECTED
        self.report(order_id, kind)
        if confirmed:
            e.status, e.hold = Status.CANCELED, 0

    @precondition(lambda self: self.open_ids())
    @rule(data=st.data(), extra=st.integers(0, 20), limit=PRICES, confirmed=st.booleans())
    def replace(self, data: st.DataObject, extra: int, limit: int, confirmed: bool) -> None:
        self.world.tick()
        order_id = data.draw(st.sampled_from(self.open_ids()))
        old = self.orders[order_id]
        total = old.filled + 1 + extra
        qty = total - old.filled
        need = notional_cents(qty, 0, limit, round_up=True) if old.side is Side.BUY else qty
        room = (
            self.available_cash() if old.side is Side.BUY else self.available_shares()
        ) + old.hold
        command = ReplaceOrder(account_id=ACCOUNT, order_id=order_id, qty=total, limit_price=limit)
        if need > room:
            _expect_refusal(self.world, command, RiskDeniedError)
            return
        new: Order = self.world.do(command)
        if confirmed:
            self.report(order_id, ReportKind.REPLACED)
            old.status, old.hold = Status.REPLACED, 0
            self.orders[new.order_id] = Expected(old.side, qty, limit, hold=need, status=Status.NEW)
        else:
            self.report(order_id, ReportKind.REPLACE_REJECTED)
            self.orders[new.order_id] = Expected(old.side, qty, limit, status=Status.REJECTED)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def balances_agree(self) -> None:
        ledger = self.world.book.ledger
        assert ledger.posted(CASH) == self.cash
        assert ledger.posted(SHARES) == self.shares
        assert ledger.available(CASH) == self.available_cash()
        assert ledger.available(SHARES) == self.available_shares()

    @invariant()
    def orders_agree(self) -> None:
        for order_id, e in self.orders.items():
            order = self.world.book.orders[order_id]
            assert (order.status, order.filled_qty, order.qty) == (e.status, e.filled, e.qty)
            assert order.hold_remaining == e.hold

    @invariant()
    def ledger_verifies(self) -> None:
        report = self.world.verify()
        assert report.ok, [c for c in report.checks if not c.ok]


_WORKING = (Status.PENDING_NEW, Status.NEW, Status.PARTIALLY_FILLED)


def _expect_refusal(world: BookWorld, command: object, error: type[AgoraError]) -> None:
    try:
        world.do(command)
    except error:
        return
    raise AssertionError(f"{command!r} should have been refused")


BookMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBookAgainstReference = BookMachine.TestCase
