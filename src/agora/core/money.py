"""Money and quantities as integers in minor units, with a declared scale per asset.

Amounts cross the boundary as decimal strings (or exact JSON numbers already parsed from their
text); inside Agora they are ``int`` counts of minor units. A value that would need rounding to
fit its scale is refused, never rounded: "1.50" fits scale 2 and scale 1, "1.505" fits neither.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

from agora.core.errors import ValidationError

CASH_SCALE = 2
"""USD cash in cents."""

PRICE_SCALE = 4
"""Prices in 1/10,000 of a dollar, so sub-penny prices below $1 are representable."""

MAX_UNITS = 2**63 - 1
"""Every amount fits a signed 64-bit integer (SQLite INTEGER, PostgreSQL BIGINT)."""

_MAX_DIGITS = 19
_CONTEXT = Context(prec=40)


class AmountError(ValidationError):
    """Raise when an amount is not a finite decimal that fits its scale."""

    code = "invalid_amount"


def parse_units(value: str | int | Decimal, scale: int, *, field: str = "amount") -> int:
    """Parse a decimal string (or int, or Decimal) into minor units at ``scale``, exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AmountError(f"{field} must be a decimal string, got {type(value).__name__}")
    if isinstance(value, int):
        return _checked(value * 10**scale if abs(value) < 10**_MAX_DIGITS else MAX_UNITS + 1, field)
    decimal = _to_decimal(value, field) if isinstance(value, str) else value
    if not decimal.is_finite():
        raise AmountError(f"{field} must be finite, got {value!r}")
    exponent = decimal.as_tuple().exponent
    assert isinstance(exponent, int)  # finite decimals have an int exponent
    if decimal.adjusted() >= _MAX_DIGITS:
        raise AmountError(f"{field} is too large: {value!r}")
    if exponent < -scale and decimal != decimal.quantize(
        Decimal(1).scaleb(-scale), context=_CONTEXT
    ):
        raise AmountError(f"{field} has more than {scale} decimal places: {value!r}")
    units = decimal.scaleb(scale, context=_CONTEXT)
    return _checked(int(units), field)


def _to_decimal(text: str, field: str) -> Decimal:
    if not text or len(text) > 64 or text != text.strip():
        raise AmountError(f"{field} must be a decimal number, got {text!r}")
    if "_" in text:
        raise AmountError(f"{field} must be a decimal number, got {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise AmountError(f"{field} must be a decimal number, got {text!r}") from None


def _checked(units: int, field: str) -> int:
    if abs(units) > MAX_UNITS:
        raise AmountError(f"{field} is too large")
    return units


def format_units(units: int, scale: int) -> str:
    """Format minor units as a decimal string with exactly ``scale`` decimal places."""
    if scale == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**scale)
    return f"{sign}{whole}.{fraction:0{scale}d}"


def to_decimal(units: int, scale: int) -> Decimal:
    """Return the exact Decimal value of ``units`` at ``scale``."""
    return Decimal(units).scaleb(-scale)


def notional_cents(qty_units: int, qty_scale: int, price_units: int, *, round_up: bool) -> int:
    """Value of qty × price in cents, rounded up (for holds) or half-even (for fills)."""
    raw = qty_units * price_units
    divisor: int = 10 ** (qty_scale + PRICE_SCALE - CASH_SCALE)
    if round_up:
        return -(-raw // divisor)
    quotient, remainder = divmod(raw, divisor)
    twice = remainder * 2
    if twice > divisor or (twice == divisor and quotient % 2 == 1):
        quotient += 1
    return quotient


def apply_bps(units: int, bps: int, *, round_up: bool) -> int:
    """Return ``units`` × (1 + bps / 10,000), rounded up or down."""
    raw: int = units * (10_000 + bps)
    return -(-raw // 10_000) if round_up else raw // 10_000
