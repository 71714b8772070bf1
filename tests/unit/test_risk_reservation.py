"""What an accepted order reserves, and the notional the limits see."""

from __future__ import annotations

from typing import Any

import pytest

from agora.risk import OrderIntent, cash_needed, notional_price, order_notional_cents, reserve_price

LAST = 1_000_000  # $100.0000


def make_intent(**overrides: Any) -> OrderIntent:
    """Return a limit buy of 10 AAPL at $100, overridden by ``overrides``."""
    fields: dict[str, Any] = {
        "account_id": "acc-1",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "limit",
        "qty": 10,
        "qty_scale": 0,
        "limit_price": LAST,
        "stop_price": None,
        "client_order_id": None,
    }
    fields.update(overrides)
    return OrderIntent(**fields)


@pytest.mark.parametrize(
    ("side", "order_type", "limit_price", "stop_price", "last", "expected"),
    [
        ("buy", "limit", 990_000, None, LAST, 990_000),
        ("buy", "limit", 990_000, None, None, 990_000),  # a limit needs no last
        ("buy", "stop_limit", 990_000, 1_020_000, None, 990_000),
        ("buy", "market", None, None, LAST, 1_100_000),
        ("buy", "market", None, None, 1_234_567, 1_358_024),  # 1,358,023.7 rounded up
        ("buy", "stop", None, 1_050_000, LAST, 1_155_000),
        ("buy", "stop", None, 950_000, LAST, 1_100_000),
        ("buy", "market", None, None, None, None),
        ("buy", "stop", None, 1_050_000, None, None),
        ("sell", "limit", 990_000, None, LAST, 990_000),
        ("sell", "market", None, None, LAST, LAST),
        ("sell", "stop", None, 950_000, LAST, LAST),
        ("sell", "market", None, None, None, None),
    ],
)
def test_reserve_price(
    side: str,
    order_type: str,
    limit_price: int | None,
    stop_price: int | None,
    last: int | None,
    expected: int | None,
) -> None:
    intent = make_intent(
        side=side, order_type=order_type, limit_price=limit_price, stop_price=stop_price
    )
    assert reserve_price(intent, last, 1_000) == expected


def test_cash_needed_rounds_up_to_the_cent() -> None:
    assert cash_needed(10, 0, LAST) == 100_000
    assert cash_needed(1, 0, 1_000_001) == 10_001  # $100.0001 → $100.01
    assert cash_needed(15, 1, LAST) == 15_000  # 1.5 shares


def test_order_notional_uses_the_limit_else_last() -> None:
    assert order_notional_cents(make_intent(limit_price=990_000), LAST) == 99_000
    market = make_intent(order_type="market", limit_price=None)
    assert order_notional_cents(market, LAST) == 100_000
    assert order_notional_cents(market, None) is None
    assert notional_price(make_intent(order_type="stop_limit", stop_price=LAST), None) == LAST
