"""Tradable instruments: symbol, tick size and lot scale, and the default US equity universe."""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec

from agora.core.errors import ValidationError
from agora.core.money import PRICE_SCALE, parse_units

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")


class UnknownSymbolError(ValidationError):
    """Raise when a symbol is not a listed instrument."""

    code = "unknown_symbol"


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One listed instrument; prices at PRICE_SCALE, quantities at ``qty_scale``."""

    symbol: str
    name: str
    tick_size: int = 100  # $0.01 at PRICE_SCALE
    qty_scale: int = 0  # whole shares
    lot_size: int = 1  # in qty units
    tradable: bool = True


_DEFAULT = (
    ("AAPL", "Apple Inc."),
    ("MSFT", "Microsoft Corporation"),
    ("NVDA", "NVIDIA Corporation"),
    ("AMZN", "Amazon.com, Inc."),
    ("GOOGL", "Alphabet Inc. Class A"),
    ("META", "Meta Platforms, Inc."),
    ("TSLA", "Tesla, Inc."),
    ("BRK.B", "Berkshire Hathaway Inc. Class B"),
    ("JPM", "JPMorgan Chase & Co."),
    ("V", "Visa Inc."),
    ("UNH", "UnitedHealth Group Incorporated"),
    ("XOM", "Exxon Mobil Corporation"),
    ("JNJ", "Johnson & Johnson"),
    ("WMT", "Walmart Inc."),
    ("PG", "Procter & Gamble Company"),
    ("MA", "Mastercard Incorporated"),
    ("HD", "The Home Depot, Inc."),
    ("KO", "The Coca-Cola Company"),
    ("PEP", "PepsiCo, Inc."),
    ("SPY", "SPDR S&P 500 ETF Trust"),
)


class InstrumentRegistry:
    """The instruments Agora lists, looked up by symbol."""

    def __init__(self, instruments: tuple[Instrument, ...]) -> None:
        self._by_symbol = {instrument.symbol: instrument for instrument in instruments}

    @classmethod
    def default(cls) -> InstrumentRegistry:
        """Return the default universe of 20 liquid US equities."""
        return cls(tuple(Instrument(symbol=s, name=n) for s, n in _DEFAULT))

    def get(self, symbol: str) -> Instrument:
        """Return the instrument for ``symbol`` or raise UnknownSymbolError."""
        instrument = self._by_symbol.get(symbol)
        if instrument is None:
            shown = symbol if SYMBOL_PATTERN.match(symbol) else repr(symbol[:16])
            raise UnknownSymbolError(f"unknown symbol {shown}")
        return instrument

    def all(self) -> tuple[Instrument, ...]:
        """Return every instrument, in listing order."""
        return tuple(self._by_symbol.values())

    def parse_price(
        self, symbol: str, value: str | int | Decimal, *, field: str = "limit_price"
    ) -> int:
        """Parse a positive price on the instrument's tick grid into PRICE_SCALE units."""
        instrument = self.get(symbol)
        units = parse_units(value, PRICE_SCALE, field=field)
        if units <= 0:
            raise ValidationError(f"{field} must be positive", code="invalid_price")
        if units % instrument.tick_size:
            raise ValidationError(
                f"{field} must be a multiple of the tick size", code="invalid_price"
            )
        return units

    def parse_qty(self, symbol: str, value: str | int | Decimal) -> int:
        """Parse a positive quantity in whole lots into qty units."""
        instrument = self.get(symbol)
        units = parse_units(value, instrument.qty_scale, field="qty")
        if units <= 0:
            raise ValidationError("qty must be positive", code="invalid_qty")
        if units % instrument.lot_size:
            raise ValidationError("qty must be a whole number of lots", code="invalid_qty")
        return units
