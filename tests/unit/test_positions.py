"""The average-cost position model: exact figures, crossing zero, rebuilds and duplicates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agora.positions.model import Fill, Position, replay, to_cents
from agora.positions.views import position_payload

DOLLAR = 10_000  # price units per dollar


def fill(
    side: str, qty: int, price: int, *, fill_id: str = "f", order_id: str = "o", fee: int = 0
) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id=order_id,
        account_id="acc_1",
        symbol="AAPL",
        side=side,
        qty=qty,
        price=price,
        fee_cents=fee,
        qty_scale=0,
        timestamp="2025-01-02T15:30:00+00:00",
    )


def flat() -> Position:
    return Position(account_id="acc_1", symbol="AAPL", qty_scale=0)


def test_buys_average_their_prices() -> None:
    position = flat().apply(fill("buy", 10, 100 * DOLLAR)).apply(fill("buy", 10, 101 * DOLLAR))
    assert position.qty == 20
    assert position.average_price() == 1_005_000  # $100.50
    assert position.cost_cents == 201_000
    assert position.realized_cents == 0


def test_a_sell_realizes_against_the_average_cost() -> None:
    position = flat().apply(fill("buy", 10, 100 * DOLLAR)).apply(fill("buy", 10, 101 * DOLLAR))
    position = position.apply(fill("sell", 5, 102 * DOLLAR))
    assert position.qty == 15
    assert position.realized_cents == 750  # (102 - 100.50) × 5
    assert position.average_price() == 1_005_000  # selling does not move the average
    assert position.cost_cents == 150_750


def test_an_uneven_cost_is_given_up_exactly_when_the_position_closes() -> None:
    position = flat().apply(fill("buy", 1, 10_000)).apply(fill("buy", 2, 10_001))  # cost 3.0002
    position = position.apply(fill("sell", 1, 20_000))
    assert (position.qty, position.cost, position.realized) == (2, 20_002, 10_000)
    position = position.apply(fill("sell", 2, 20_000))
    assert (position.qty, position.cost) == (0, 0)
    assert position.realized == 60_000 - 30_002  # proceeds minus cost, to the last unit
    assert position.average_price() is None


def test_a_fill_through_zero_opens_the_rest_at_its_price() -> None:
    position = flat().apply(fill("buy", 10, 100 * DOLLAR)).apply(fill("sell", 15, 110 * DOLLAR))
    assert position.qty == -5
    assert position.realized_cents == 10_000  # 10 × $10
    assert position.average_price() == 110 * DOLLAR
    covered = position.apply(fill("buy", 5, 105 * DOLLAR))
    assert covered.qty == 0
    assert covered.realized_cents == 10_000 + 2_500  # short 5 at 110, covered at 105


def test_unrealized_pnl_and_market_value_follow_the_last_price() -> None:
    position = flat().apply(fill("buy", 10, 100 * DOLLAR)).apply(fill("buy", 10, 101 * DOLLAR))
    assert position.market_value_cents(101 * DOLLAR) == 202_000
    assert position.unrealized_cents(101 * DOLLAR) == 1_000
    assert position.unrealized_cents(99 * DOLLAR) == -3_000


def test_fees_are_kept_apart_from_realized_pnl() -> None:
    position = flat().apply(fill("buy", 10, 100 * DOLLAR, fee=100))
    position = position.apply(fill("sell", 10, 100 * DOLLAR, fee=150, fill_id="g"))
    assert (position.realized_cents, position.fees_cents, position.fills) == (0, 250, 2)
    assert (position.bought_qty, position.sold_qty) == (10, 10)


def test_cents_round_half_even_only_when_shown() -> None:
    assert to_cents(50, 0) == 0  # $0.005 → 0
    assert to_cents(150, 0) == 2  # $0.015 → 2
    assert to_cents(-150, 0) == -2


def test_replay_skips_a_fill_it_has_seen() -> None:
    fills = [
        fill("buy", 10, 100 * DOLLAR, fill_id="sim-1", order_id="o1"),
        fill("buy", 10, 100 * DOLLAR, fill_id="sim-1", order_id="o1"),
        fill("buy", 5, 100 * DOLLAR, fill_id="sim-1", order_id="o2"),  # same venue id, new order
    ]
    (position,) = replay(fills).values()
    assert (position.qty, position.fills) == (15, 2)


sides = st.sampled_from(["buy", "sell"])
fills_strategy = st.lists(
    st.tuples(sides, st.integers(1, 500), st.integers(1, 5_000_000)), min_size=1, max_size=40
)


@given(fills_strategy)
def test_quantity_is_the_sum_of_signed_fills_and_pnl_adds_up(
    steps: list[tuple[str, int, int]],
) -> None:
    position = flat()
    cash = 0  # price × qty units: what the fills paid (negative) or received
    for index, (side, qty, price) in enumerate(steps):
        position = position.apply(fill(side, qty, price, fill_id=f"f{index}"))
        cash += -qty * price if side == "buy" else qty * price
    expected_qty = sum(q if s == "buy" else -q for s, q, _ in steps)
    assert position.qty == expected_qty
    # Realized plus what the open position cost equals the cash that moved, to the unit.
    assert position.realized - position.cost == cash
    if position.qty == 0:
        assert position.cost == 0


def test_the_public_shape_uses_decimal_strings_and_nulls_without_a_price() -> None:
    position = flat().apply(fill("buy", 10, 100 * DOLLAR)).apply(fill("buy", 10, 101 * DOLLAR))
    shown = position_payload(position, 101 * DOLLAR)
    assert shown == {
        "symbol": "AAPL",
        "qty": "20",
        "avg_entry_price": "100.5000",
        "cost_basis": "2010.00",
        "current_price": "101.0000",
        "market_value": "2020.00",
        "unrealized_pl": "10.00",
        "realized_pl": "0.00",
        "fees": "0.00",
    }
    unpriced = position_payload(position, None)
    assert (unpriced["current_price"], unpriced["unrealized_pl"]) == (None, None)
