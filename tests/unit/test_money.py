"""Money parsing and formatting: exact, bounded, never through float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora.core.money import (
    MAX_UNITS,
    AmountError,
    apply_bps,
    format_units,
    notional_cents,
    parse_units,
)


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("100000.00", 2, 10_000_000),
        ("1.5", 2, 150),
        ("1.50", 1, 15),  # trailing zeros fit: the value is exact
        ("0", 2, 0),
        ("-2.25", 2, -225),
        ("1e2", 2, 10_000),  # an exponent form that fits is a number like any other
        ("1.23E+1", 2, 1_230),
        ("0.0001", 4, 1),
    ],
)
def test_parses_exactly(text: str, scale: int, units: int) -> None:
    assert parse_units(text, scale) == units


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "nan",
        "sNaN",
        "inf",
        "-Infinity",
        "1.234",
        "1e-3",
        "1e999999",
        "9" * 30,
        "",
        " 1",
        "1 ",
        "1_000",
        "0x10",
        "1,5",
        "abc",
        "1.2.3",
        "--1",
    ],
)
def test_refuses(text: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_units(text, 2)
    assert refused.value.code == "invalid_amount"


def test_refuses_floats_and_bools() -> None:
    with pytest.raises(AmountError):
        parse_units(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        parse_units(True, 2)


def test_int_and_decimal_inputs() -> None:
    assert parse_units(7, 2) == 700
    assert parse_units(Decimal("7.01"), 2) == 701
    with pytest.raises(AmountError):
        parse_units(10**19, 2)


def test_bounds_are_signed_64_bit() -> None:
    assert parse_units(str(MAX_UNITS), 0) == MAX_UNITS
    with pytest.raises(AmountError):
        parse_units(str(MAX_UNITS + 1), 0)


@given(st.integers(-(10**15), 10**15), st.integers(0, 6))
def test_format_then_parse_round_trips(units: int, scale: int) -> None:
    text = format_units(units, scale)
    assert parse_units(text, scale) == units
    assert Decimal(text) == Decimal(units).scaleb(-scale)


def test_notional_rounding() -> None:
    # 3 shares at 0.3333 = 0.9999 USD: a hold rounds up to 1.00, a fill half-even to 1.00
    assert notional_cents(3, 0, 3_333, round_up=True) == 100
    assert notional_cents(1, 0, 50, round_up=False) == 0  # 0.5 cent → even → 0
    assert notional_cents(3, 0, 50, round_up=False) == 2  # 1.5 cents → even → 2
    assert apply_bps(1_000_000, 1_000, round_up=True) == 1_100_000
    assert apply_bps(1_001, 1, round_up=True) == 1_002
