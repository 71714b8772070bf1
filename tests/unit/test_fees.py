"""Venue fee schedules: exact integer fees per fill, rounded half up to the cent."""

from __future__ import annotations

import pytest

from agora.core.errors import ValidationError
from agora.execution.venues.reports import FeeSchedule

PRICE = 1_000_100  # $100.01


def test_the_default_schedule_charges_nothing() -> None:
    schedule = FeeSchedule()
    assert not schedule.charges
    assert schedule.fee_cents(1_000, PRICE) == 0


@pytest.mark.parametrize(
    ("schedule", "qty", "price", "fee_cents"),
    [
        # $0.003 a share × 100 shares = $0.30
        (FeeSchedule(per_share_price_units=30), 100, PRICE, 30),
        # $0.0035 a share × 1 share = 0.35¢ → 0¢ (no minimum)
        (FeeSchedule(per_share_price_units=35), 1, PRICE, 0),
        # $0.0035 × 3 = 1.05¢ → 1¢; × 10 = 3.5¢ → 4¢ (half up)
        (FeeSchedule(per_share_price_units=35), 3, PRICE, 1),
        (FeeSchedule(per_share_price_units=35), 10, PRICE, 4),
        # 10 bps of 100 × $100.01 = $10.001 → 1000¢
        (FeeSchedule(notional_bps=10), 100, PRICE, 1_000),
        # 1 bp of $50.00 = 0.5¢ → 1¢ (half up); of $49.9999 = 0.499999¢ → 0¢
        (FeeSchedule(notional_bps=1), 1, 500_000, 1),
        (FeeSchedule(notional_bps=1), 1, 499_999, 0),
        # both, summed before rounding: 30¢ + 100.01¢ = 130.01¢ → 130¢
        (FeeSchedule(per_share_price_units=30, notional_bps=1), 100, PRICE, 130),
        # 0.25¢ + 0.25¢ = 0.5¢ → 1¢, where rounding each part would give 0¢
        (FeeSchedule(per_share_price_units=25, notional_bps=1), 1, 250_000, 1),
    ],
)
def test_fees_are_exact_and_round_half_up(
    schedule: FeeSchedule, qty: int, price: int, fee_cents: int
) -> None:
    assert schedule.fee_cents(qty, price) == fee_cents


def test_the_minimum_applies_per_fill_when_the_schedule_charges() -> None:
    schedule = FeeSchedule(per_share_price_units=30, minimum_cents=100)
    assert schedule.fee_cents(10, PRICE) == 100  # 3¢ raised to the $1 minimum
    assert schedule.fee_cents(1, PRICE) == 100  # 0.3¢ rounds to 0¢, still a charged fill
    assert schedule.fee_cents(1_000, PRICE) == 300  # above the minimum


@pytest.mark.parametrize(
    "fields",
    [
        {"per_share_price_units": -1},
        {"notional_bps": -1},
        {"per_share_price_units": 1, "minimum_cents": -1},
        {"minimum_cents": 100},  # a minimum with no rate would never apply
    ],
)
def test_a_schedule_refuses_negatives_and_a_minimum_without_a_rate(
    fields: dict[str, int],
) -> None:
    with pytest.raises(ValidationError) as raised:
        FeeSchedule(**fields)
    assert raised.value.code == "invalid_fee"
