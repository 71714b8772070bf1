"""Normalizers: every feed format becomes ``PriceUpdate`` records, or a ValidationError that says
which row and which field is wrong.

Rows are mappings from column name to value: text (CSV) or typed values (Parquet: str, int,
Decimal, datetime). Prices must be positive and exact at PRICE_SCALE; floats are refused because
they are not exact. Unknown symbols are rejected, not passed through: a price for a symbol Agora
does not list could not be traded, and its tick and lot sizes would be guesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from agora.core.errors import ValidationError
from agora.core.instruments import Instrument, InstrumentRegistry
from agora.core.money import PRICE_SCALE, AmountError, parse_units
from agora.marketdata.records import PriceUpdate

CODE = "invalid_market_data"


class FeedKind(StrEnum):
    """The shape of a feed's rows."""

    TRADES = "trades"
    QUOTES = "quotes"
    BARS = "bars"


REQUIRED_COLUMNS: Mapping[FeedKind, tuple[str, ...]] = {
    FeedKind.TRADES: ("timestamp", "symbol", "price", "size"),
    FeedKind.QUOTES: ("timestamp", "symbol", "bid", "ask", "bid_size", "ask_size"),
    FeedKind.BARS: ("timestamp", "symbol", "open", "high", "low", "close", "volume"),
}
"""Columns each kind needs; quotes may also carry ``last`` and ``volume``. Others are ignored."""

PRICE_COLUMNS = frozenset({"price", "bid", "ask", "last", "open", "high", "low", "close"})
SIZE_COLUMNS = frozenset({"size", "bid_size", "ask_size", "volume"})


def make_update(
    *,
    symbol: str,
    timestamp: datetime,
    source: str,
    bid: int | None = None,
    ask: int | None = None,
    bid_size: int = 0,
    ask_size: int = 0,
    last: int | None = None,
    volume: int = 0,
    where: str = "",
) -> PriceUpdate:
    """Check the invariants of a price update and build it; ``where`` prefixes any error."""
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValidationError(f"{where}timestamp has no UTC offset", code=CODE)
    if (bid is None) != (ask is None):
        raise ValidationError(f"{where}a quote needs both bid and ask", code=CODE)
    if bid is None and last is None:
        raise ValidationError(f"{where}an update needs a bid and ask, or a last price", code=CODE)
    for name, price in (("bid", bid), ("ask", ask), ("last", last)):
        if price is not None and price <= 0:
            raise ValidationError(f"{where}{name} must be positive", code=CODE)
    for name, size in (("bid_size", bid_size), ("ask_size", ask_size), ("volume", volume)):
        if size < 0:
            raise ValidationError(f"{where}{name} must not be negative", code=CODE)
    if bid is not None and ask is not None and bid > ask:
        raise ValidationError(f"{where}crossed quote: bid is above ask", code=CODE)
    return PriceUpdate(
        symbol=symbol,
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
        last=last,
        volume=volume,
        timestamp=timestamp.astimezone(UTC),
        source=source,
    )


def check_columns(kind: FeedKind, columns: Sequence[str]) -> None:
    """Raise ValidationError naming the columns ``kind`` needs that ``columns`` lacks."""
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in columns]
    if missing:
        needed = ", ".join(REQUIRED_COLUMNS[kind])
        raise ValidationError(
            f"missing columns: {', '.join(missing)} (a {kind} file needs {needed})", code=CODE
        )


def normalize_row(
    kind: FeedKind,
    row: Mapping[str, object],
    *,
    row_number: int,
    instruments: InstrumentRegistry,
    source: str,
    bar_seconds: int = 60,
) -> tuple[PriceUpdate, ...]:
    """Turn one row of a trades, quotes or bars feed into updates (a bar gives four)."""
    where = f"row {row_number}: "
    cells = _Cells(row, where)
    instrument = cells.instrument(instruments)
    try:
        if kind is FeedKind.TRADES:
            return (_trade(cells, instrument, source),)
        if kind is FeedKind.QUOTES:
            return (_quote(cells, instrument, source),)
        return _bar(cells, instrument, source, timedelta(seconds=bar_seconds))
    except OverflowError:  # a time at the ends of the calendar, shifted into UTC or by a bar
        raise ValidationError(f"{where}timestamp is out of range", code=CODE) from None


def _trade(cells: _Cells, instrument: Instrument, source: str) -> PriceUpdate:
    return make_update(
        symbol=instrument.symbol,
        timestamp=cells.timestamp(),
        source=source,
        last=cells.price("price"),
        volume=cells.size("size", instrument),
        where=cells.where,
    )


def _quote(cells: _Cells, instrument: Instrument, source: str) -> PriceUpdate:
    return make_update(
        symbol=instrument.symbol,
        timestamp=cells.timestamp(),
        source=source,
        bid=cells.price("bid"),
        ask=cells.price("ask"),
        bid_size=cells.size("bid_size", instrument),
        ask_size=cells.size("ask_size", instrument),
        last=cells.price("last") if cells.present("last") else None,
        volume=cells.size("volume", instrument) if cells.present("volume") else 0,
        where=cells.where,
    )


def _bar(
    cells: _Cells, instrument: Instrument, source: str, length: timedelta
) -> tuple[PriceUpdate, ...]:
    """Replay a bar as four trades inside it: open, the nearer extreme, the other, close."""
    start = cells.timestamp()
    open_, high, low, close = (cells.price(name) for name in ("open", "high", "low", "close"))
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise ValidationError(f"{cells.where}bar needs low <= open, close <= high", code=CODE)
    volume = cells.size("volume", instrument)
    path = (open_, low, high, close) if close >= open_ else (open_, high, low, close)
    offsets = (timedelta(0), length / 4, length / 2, length * 3 / 4)
    return tuple(
        make_update(
            symbol=instrument.symbol,
            timestamp=start + offset,
            source=source,
            last=price,
            volume=volume if step == 3 else 0,
            where=cells.where,
        )
        for step, (price, offset) in enumerate(zip(path, offsets, strict=True))
    )


class _Cells:
    """Read typed fields out of one row, raising errors that name the row and the column."""

    def __init__(self, row: Mapping[str, object], where: str) -> None:
        self.row = row
        self.where = where

    def present(self, column: str) -> bool:
        value = self.row.get(column)
        return value is not None and value != ""

    def _value(self, column: str) -> object:
        if not self.present(column):
            raise ValidationError(f"{self.where}{column} is empty", code=CODE)
        return self.row[column]

    def instrument(self, instruments: InstrumentRegistry) -> Instrument:
        symbol = self._value("symbol")
        if not isinstance(symbol, str):
            raise ValidationError(f"{self.where}symbol must be text", code=CODE)
        try:
            return instruments.get(symbol)
        except ValidationError as exc:
            raise ValidationError(f"{self.where}{exc.message}", code=exc.code) from None

    def price(self, column: str) -> int:
        units = self._number(column, PRICE_SCALE)
        if units <= 0:
            raise ValidationError(f"{self.where}{column} must be positive", code=CODE)
        return units

    def size(self, column: str, instrument: Instrument) -> int:
        units = self._number(column, instrument.qty_scale)
        if units < 0:
            raise ValidationError(f"{self.where}{column} must not be negative", code=CODE)
        return units

    def _number(self, column: str, scale: int) -> int:
        value = self._value(column)
        if isinstance(value, float):
            raise ValidationError(
                f"{self.where}{column} is a float, which is not exact; "
                "write decimal text or use a decimal column",
                code=CODE,
            )
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValidationError(f"{self.where}{column} must be a decimal number", code=CODE)
        try:
            return parse_units(value, scale, field=column)
        except AmountError as exc:
            raise ValidationError(f"{self.where}{exc.message}", code=CODE) from None

    def timestamp(self) -> datetime:
        value = self._value("timestamp")
        if isinstance(value, str):
            value = _parse_time(value, self.where)
        if not isinstance(value, datetime):
            raise ValidationError(f"{self.where}timestamp must be a date and time", code=CODE)
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"{self.where}timestamp has no UTC offset (write 2025-11-28T14:30:00Z)", code=CODE
            )
        return value.astimezone(UTC)


def _parse_time(text: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValidationError(f"{where}timestamp is not ISO 8601: {shown!r}", code=CODE) from None
