"""The account book: money effects of deposits, orders, fills, cancels and replaces."""

from __future__ import annotations

import pytest

from agora.core.errors import ConflictError, NotFoundError, RiskDeniedError, ValidationError
from agora.core.events import EventType
from agora.ledger import customer_cash, customer_shares
from agora.orders.commands import (
    ApplyReport,
    CancelOrder,
    Deposit,
    OpenAccount,
    ReplaceOrder,
    SetAccountControls,
    Withdraw,
)
from agora.orders.model import Order, Report, ReportKind, Status
from agora.risk import RiskLimits, TradingState
from tests.mothers import ACCOUNT, BookWorld, price, usd

CASH = customer_cash(ACCOUNT)
AAPL = customer_shares(ACCOUNT, "AAPL")


@pytest.fixture
def world() -> BookWorld:
    w = BookWorld()
    w.funded()
    return w


def venue(world: BookWorld, order: Order, kind: ReportKind, **kw: object) -> Order:
    report = Report(kind=kind, order_id=order.order_id, timestamp=world.clock.now(), **kw)  # type: ignore[arg-type]
    result: Order = world.do(ApplyReport(account_id=order.account_id, report=report))
    return result


def fill(world: BookWorld, order: Order, fill_id: str, qty: int, at: str, fee: str = "0") -> Order:
    return venue(
        world, order, ReportKind.FILL, fill_id=fill_id, qty=qty, price=price(at), fee_cents=usd(fee)
    )


def test_deposit_is_idempotent_and_refuses_reuse(world: BookWorld) -> None:
    first = world.do(Deposit(account_id=ACCOUNT, transfer_id="d1", amount=usd("50.00")))
    again = world.do(Deposit(account_id=ACCOUNT, transfer_id="d1", amount=usd("50.00")))
    assert again.transfer is first.transfer
    assert world.book.ledger.posted(CASH) == usd("100050.00")
    with pytest.raises(ConflictError) as refused:
        world.do(Deposit(account_id=ACCOUNT, transfer_id="d1", amount=usd("51.00")))
    assert refused.value.code == "transfer_id_conflict"
    assert world.verify().ok


def test_withdraw_cannot_overdraw(world: BookWorld) -> None:
    with pytest.raises(ConflictError) as refused:
        world.do(Withdraw(account_id=ACCOUNT, transfer_id="w1", amount=usd("100000.01")))
    assert refused.value.code == "insufficient_funds"
    world.do(Withdraw(account_id=ACCOUNT, transfer_id="w2", amount=usd("100000.00")))
    assert world.book.ledger.posted(CASH) == 0
    assert world.verify().ok


def test_unknown_account_and_bad_amount(world: BookWorld) -> None:
    with pytest.raises(NotFoundError):
        world.do(Deposit(account_id="acc_nobody", transfer_id="d", amount=1))
    with pytest.raises(ValidationError):
        world.do(Deposit(account_id=ACCOUNT, transfer_id="d", amount=0))


def test_limit_buy_reserves_then_fills_and_releases_the_rest(world: BookWorld) -> None:
    order = world.buy(10, "199.00")
    assert order.status is Status.PENDING_NEW
    assert world.book.ledger.available(CASH) == usd("100000.00") - usd("1990.00")
    venue(world, order, ReportKind.ACCEPTED)
    fill(world, order, "f1", 4, "198.50")
    assert order.status is Status.PARTIALLY_FILLED
    fill(world, order, "f2", 6, "198.00")
    assert order.status is Status.FILLED
    spent = usd("794.00") + usd("1188.00")
    assert world.book.ledger.posted(CASH) == usd("100000.00") - spent
    assert world.book.ledger.available(CASH) == world.book.ledger.posted(CASH)
    assert world.book.ledger.posted(AAPL) == 10
    assert world.verify().ok


def test_duplicate_fill_changes_nothing(world: BookWorld) -> None:
    order = world.buy(10, "199.00")
    fill(world, order, "f1", 4, "199.00")
    cash = world.book.ledger.posted(CASH)
    fill(world, order, "f1", 4, "199.00")
    assert (order.filled_qty, world.book.ledger.posted(CASH)) == (4, cash)
    assert world.verify().ok


def test_market_buy_reserves_last_plus_collar(world: BookWorld) -> None:
    world.buy(10)  # last 200.00, collar 10% → 220.00 per share
    assert world.book.ledger.pending(CASH) == usd("2200.00")


def test_sell_reserves_shares_so_they_cannot_be_sold_twice(world: BookWorld) -> None:
    buy = world.buy(10, "200.00")
    fill(world, buy, "f1", 10, "200.00")
    world.sell(6, "200.00")
    with pytest.raises(RiskDeniedError) as denied:
        world.sell(5, "200.00")
    assert denied.value.code == "insufficient_shares"
    assert world.verify().ok


def test_sell_fill_pays_cash_and_fee(world: BookWorld) -> None:
    buy = world.buy(10, "200.00")
    fill(world, buy, "f1", 10, "200.00")
    sell = world.sell(10, "200.00")
    fill(world, sell, "f2", 10, "201.00", fee="1.00")
    assert world.book.ledger.posted(CASH) == usd("100000.00") + usd("10.00") - usd("1.00")
    assert world.book.ledger.posted(AAPL) == 0
    assert world.verify().ok


def test_denial_is_recorded_as_an_event(world: BookWorld) -> None:
    world.book.take_changes()
    with pytest.raises(RiskDeniedError) as denied:
        world.buy(1000, "200.00")  # 200,000 > 100,000 cash
    assert (denied.value.code, denied.value.rule) == ("insufficient_buying_power", "buying_power")
    events = world.book.take_changes().events
    assert [e.type for e in events] == [EventType.ORDER_DENIED]
    assert world.book.ledger.pending(CASH) == 0


def test_client_order_id_is_idempotent(world: BookWorld) -> None:
    first = world.buy(10, "199.00", client_order_id="c-1")
    again = world.buy(10, "199.00", client_order_id="c-1")
    assert again is first
    assert world.book.ledger.pending(CASH) == usd("1990.00")
    with pytest.raises(ConflictError) as refused:
        world.buy(11, "199.00", client_order_id="c-1")
    assert refused.value.code == "client_order_id_conflict"


def test_cancel_releases_the_hold_when_the_venue_confirms(world: BookWorld) -> None:
    order = world.buy(10, "199.00")
    venue(world, order, ReportKind.ACCEPTED)
    world.do(CancelOrder(account_id=ACCOUNT, order_id=order.order_id))
    assert order.status is Status.PENDING_CANCEL
    assert world.book.ledger.pending(CASH) == usd("1990.00")
    venue(world, order, ReportKind.CANCELED)
    assert order.status is Status.CANCELED
    assert world.book.ledger.pending(CASH) == 0
    with pytest.raises(ConflictError) as refused:
        world.do(CancelOrder(account_id=ACCOUNT, order_id=order.order_id))
    assert refused.value.code == "not_cancelable"
    assert world.verify().ok


def test_cancel_of_a_queued_order_is_immediate(world: BookWorld) -> None:
    order = world.buy(10, "199.00")
    venue(world, order, ReportKind.QUEUED)
    world.do(CancelOrder(account_id=ACCOUNT, order_id=order.order_id))
    assert order.status is Status.CANCELED
    assert world.book.ledger.pending(CASH) == 0


def test_another_accounts_order_is_not_found(world: BookWorld) -> None:
    order = world.buy(10, "199.00")
    world.funded("acc_bob")
    with pytest.raises(NotFoundError):
        world.do(CancelOrder(account_id="acc_bob", order_id=order.order_id))


def test_replace_resizes_the_hold_on_confirmation(world: BookWorld) -> None:
    old = world.buy(10, "199.00")
    venue(world, old, ReportKind.ACCEPTED)
    fill(world, old, "f1", 4, "199.00")
    new = world.do(
        ReplaceOrder(account_id=ACCOUNT, order_id=old.order_id, qty=20, limit_price=price("198.00"))
    )
    assert (old.status, new.status, new.qty, new.replaces) == (
        Status.PENDING_REPLACE,
        Status.PENDING_NEW,
        16,
        old.order_id,
    )
    assert world.verify().ok
    venue(world, old, ReportKind.REPLACED)
    assert (old.status, new.status) == (Status.REPLACED, Status.NEW)
    assert world.book.ledger.pending(CASH) == usd("198.00") * 16
    assert world.verify().ok


def test_fills_racing_a_replace_shrink_the_replacement(world: BookWorld) -> None:
    old = world.buy(10, "199.00")
    venue(world, old, ReportKind.ACCEPTED)
    new = world.do(
        ReplaceOrder(account_id=ACCOUNT, order_id=old.order_id, qty=10, limit_price=price("199.50"))
    )
    fill(world, old, "f1", 3, "199.00")  # the venue filled 3 before it swapped the orders
    venue(world, old, ReportKind.REPLACED)
    assert (new.status, new.qty) == (Status.NEW, 7)
    assert world.book.ledger.pending(CASH) == usd("199.50") * 7
    assert world.verify().ok


def test_rejected_replace_restores_the_old_order(world: BookWorld) -> None:
    old = world.buy(10, "199.00")
    venue(world, old, ReportKind.ACCEPTED)
    new = world.do(
        ReplaceOrder(account_id=ACCOUNT, order_id=old.order_id, limit_price=price("199.50"))
    )
    venue(world, old, ReportKind.REPLACE_REJECTED)
    assert (old.status, old.replaced_by, new.status) == (Status.NEW, None, Status.REJECTED)
    assert world.book.ledger.pending(CASH) == usd("1990.00")
    assert world.verify().ok


def test_halted_account_cannot_trade_but_can_cancel(world: BookWorld) -> None:
    order = world.buy(1, "199.00")
    world.do(SetAccountControls(account_id=ACCOUNT, trading_state=TradingState.HALTED))
    with pytest.raises(RiskDeniedError) as denied:
        world.buy(1, "198.00")
    assert denied.value.code == "trading_halted"
    world.do(CancelOrder(account_id=ACCOUNT, order_id=order.order_id))


def test_platform_halt_denies_every_account(world: BookWorld) -> None:
    world.controls.trading_state = TradingState.HALTED
    with pytest.raises(RiskDeniedError) as denied:
        world.buy(1, "199.00")
    assert denied.value.code == "trading_halted"


def test_account_limits_override_the_platform_defaults(world: BookWorld) -> None:
    world.do(
        SetAccountControls(
            account_id=ACCOUNT, limits=RiskLimits(max_order_qty=5, price_max_age_ms=3_600_000)
        )
    )
    with pytest.raises(RiskDeniedError) as denied:
        world.buy(6, "199.00")
    assert denied.value.code == "max_qty_exceeded"


def test_stale_price_fails_closed(world: BookWorld) -> None:
    world.tick(3_600_001)
    with pytest.raises(RiskDeniedError) as denied:
        world.buy(1, "199.00")
    assert denied.value.code == "price_stale"


def test_open_account_is_idempotent(world: BookWorld) -> None:
    record = world.do(OpenAccount(account_id=ACCOUNT))
    assert record.account_id == ACCOUNT


def test_closed_orders_are_evicted_oldest_first(world: BookWorld) -> None:
    orders = [world.buy(1, "199.00", client_order_id=f"e{n}") for n in range(5)]
    for order in orders:
        world.do(CancelOrder(account_id=ACCOUNT, order_id=order.order_id))
        venue(world, order, ReportKind.CANCELED)
    open_order = world.buy(1, "198.00", client_order_id="still-open")
    world.book.take_changes()
    world.book._evict_closed(keep=2)
    kept = set(world.book.orders)
    assert kept == {orders[3].order_id, orders[4].order_id, open_order.order_id}


def test_duplicate_guard_sees_lookalikes_only_within_the_window() -> None:
    world = BookWorld(RiskLimits(max_concentration_bps=1_000_000, price_max_age_ms=3_600_000))
    world.funded()
    world.buy(1, "199.00")
    world.buy(2, "199.00")  # another quantity: not a duplicate
    with pytest.raises(RiskDeniedError) as denied:
        world.buy(1, "199.00")
    assert denied.value.code == "duplicate_order"
    world.tick(2_001)  # past the 2 s window
    world.buy(1, "199.00")
    assert len(world.book.accounts[ACCOUNT].recent_by_key) == 1  # expired entries are gone
