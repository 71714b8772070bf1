"""The order state table: every status × every report, duplicates, and fill arithmetic."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora.orders.model import (
    FINAL_STATUSES,
    TRANSITIONS,
    IllegalTransitionError,
    Order,
    OrderType,
    Report,
    ReportKind,
    Side,
    Status,
    TimeInForce,
)

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def make_order(status: Status = Status.PENDING_NEW, qty: int = 10, side: Side = Side.BUY) -> Order:
    order = Order(
        order_id="ord_1",
        account_id="acc_1",
        client_order_id=None,
        symbol="AAPL",
        side=side,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        qty=qty,
        qty_scale=0,
        limit_price=2_000_000,
        stop_price=None,
        reserve_price=2_000_000 if side is Side.BUY else None,
        created_at=T0,
        updated_at=T0,
        hold_amount=qty * 20_000 if side is Side.BUY else qty,
    )
    order.status = status
    if status in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
        order.prior_status = Status.NEW
    return order


def report(kind: ReportKind, fill_id: str | None = None, qty: int = 0, price: int = 0) -> Report:
    return Report(kind=kind, order_id="ord_1", timestamp=T0, fill_id=fill_id, qty=qty, price=price)


def fill(fill_id: str = "f1", qty: int = 4, price: int = 1_990_000) -> Report:
    return report(ReportKind.FILL, fill_id, qty, price)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("kind", list(ReportKind))
def test_every_status_and_report(status: Status, kind: ReportKind) -> None:
    order = make_order(status)
    event = fill() if kind is ReportKind.FILL else report(kind)
    legal = (status, kind) in TRANSITIONS
    if legal:
        assert order.apply(event) is True
        if status in FINAL_STATUSES:
            pytest.fail("a final status has a transition")
    else:
        before = (order.status, order.filled_qty, order.prior_status)
        try:
            changed = order.apply(event)
        except IllegalTransitionError:
            changed = False
        assert changed is False
        assert (order.status, order.filled_qty, order.prior_status) == before


def test_final_statuses_have_no_way_out() -> None:
    assert not [pair for pair in TRANSITIONS if pair[0] in FINAL_STATUSES]


def test_fill_grows_and_completes() -> None:
    order = make_order(Status.NEW)
    assert order.apply(fill("f1", 4))
    assert (order.status, order.filled_qty) == (Status.PARTIALLY_FILLED, 4)
    assert order.apply(fill("f2", 6))
    assert (order.status, order.filled_qty) == (Status.FILLED, 10)


def test_duplicate_fill_id_changes_nothing() -> None:
    order = make_order(Status.NEW)
    order.apply(fill("f1", 4))
    assert order.apply(fill("f1", 4)) is False
    assert order.filled_qty == 4


def test_overfill_is_refused_without_change() -> None:
    order = make_order(Status.NEW)
    order.apply(fill("f1", 8))
    with pytest.raises(IllegalTransitionError):
        order.apply(fill("f2", 3))
    assert order.filled_qty == 8
    assert "f2" not in order.fill_ids


def test_buy_fill_above_reserved_price_is_refused() -> None:
    order = make_order(Status.NEW)
    with pytest.raises(IllegalTransitionError):
        order.apply(fill("f1", 1, 2_000_100))
    assert order.filled_qty == 0


def test_fill_while_pending_cancel_keeps_pending_then_restores_partial() -> None:
    order = make_order(Status.NEW)
    order.apply(report(ReportKind.CANCEL_REQUESTED))
    order.apply(fill("f1", 4))
    assert order.status is Status.PENDING_CANCEL
    order.apply(report(ReportKind.CANCEL_REJECTED))
    assert order.status is Status.PARTIALLY_FILLED


def test_full_fill_while_pending_cancel_is_filled() -> None:
    order = make_order(Status.NEW)
    order.apply(report(ReportKind.CANCEL_REQUESTED))
    order.apply(fill("f1", 10))
    assert order.status is Status.FILLED


def test_cumulative_cash_rounding_never_exceeds_the_hold() -> None:
    order = make_order(Status.NEW, qty=3)
    order.hold_amount = 1  # 3 × $0.00005 rounds to 1 cent in total
    order.reserve_price = 1
    for n in range(3):
        order.apply(fill(f"f{n}", 1, 1))
    assert order.filled_cash == 0  # 3 × 0.0001 = 0.0003 USD → 0 cents, half-even
    assert order.hold_posted <= order.hold_amount


_reports = st.lists(
    st.one_of(
        st.sampled_from([k for k in ReportKind if k is not ReportKind.FILL]).map(report),
        st.builds(
            fill,
            st.sampled_from(["f1", "f2", "f3", "f4"]),
            st.integers(1, 6),
            st.integers(1_900_000, 2_000_000),
        ),
    ),
    max_size=25,
)


@given(_reports)
def test_random_report_sequences_keep_the_invariants(reports: list[Report]) -> None:
    order = make_order(Status.PENDING_NEW)
    for event in reports:
        was = order.status
        filled = order.filled_qty
        with contextlib.suppress(IllegalTransitionError):
            order.apply(event)
        assert order.filled_qty >= filled
        assert order.filled_qty <= order.qty
        assert order.hold_posted <= order.hold_amount
        if was in FINAL_STATUSES:
            assert order.status is was


def test_sell_fill_below_the_limit_is_refused() -> None:
    order = make_order(Status.NEW, side=Side.SELL)
    with pytest.raises(IllegalTransitionError):
        order.apply(fill("f1", 1, 1_999_900))
    assert order.filled_qty == 0
