"""Market-data records: the one canonical price update, candle intervals and candles.

Prices are ``int`` units of $0.0001 (``PRICE_SCALE``); sizes and volumes are ``int`` qty units of
the instrument; timestamps are timezone-aware UTC datetimes. Build updates through
``agora.marketdata.normalize.make_update``, which checks these invariants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import msgspec

from agora.core.errors import ValidationError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)

# rfc3339's memos: the text of the last whole second formatted, with its [start, end), and the
# six digits of fractions seen (a feed stamping whole milliseconds has 1,000 of them)
_last_second = (EPOCH, EPOCH, "")
_MAX_FRACTIONS = 10_000
_fractions: dict[int, str] = {}


class PriceUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Report one change in a symbol's market: a quote, a trade, or both.

    ``bid`` and ``ask`` are both set (a two-sided quote) or both None (a trade or a bar point);
    ``last`` is the last trade price, or None for a pure quote. ``volume`` is what traded in this
    update alone (0 for a quote), never a running total.
    """

    symbol: str
    bid: int | None = None
    ask: int | None = None
    bid_size: int = 0
    ask_size: int = 0
    last: int | None = None
    volume: int = 0
    timestamp: datetime
    source: str


class Interval(StrEnum):
    """A candle width, aligned to UTC boundaries."""

    ONE_MINUTE = "1m"
    FIVE_MINUTES = "5m"
    ONE_HOUR = "1h"

    @property
    def seconds(self) -> int:
        """Return the interval's length in seconds."""
        return _SECONDS[self]

    @property
    def length(self) -> timedelta:
        """Return the interval's length."""
        return _LENGTHS[self]


_SECONDS = {Interval.ONE_MINUTE: 60, Interval.FIVE_MINUTES: 300, Interval.ONE_HOUR: 3_600}
_LENGTHS = {interval: timedelta(seconds=seconds) for interval, seconds in _SECONDS.items()}

ALL_INTERVALS = (Interval.ONE_MINUTE, Interval.FIVE_MINUTES, Interval.ONE_HOUR)


class Candle(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Summarize one symbol's trades in one interval: OHLC prices and traded volume."""

    symbol: str
    interval: Interval
    start: datetime
    open: int
    high: int
    low: int
    close: int
    volume: int

    @property
    def end(self) -> datetime:
        """Return the first moment after this candle's interval."""
        return self.start + self.interval.length


def parse_interval(text: str) -> Interval:
    """Return the Interval named ``text`` (``1m``, ``5m`` or ``1h``) or raise ValidationError."""
    try:
        return Interval(text)
    except ValueError:
        shown = text if len(text) <= 8 else text[:8] + "…"
        raise ValidationError(
            f"interval must be one of 1m, 5m, 1h, got {shown!r}", code="invalid_interval"
        ) from None


def interval_start(moment: datetime, interval: Interval) -> datetime:
    """Return the start of the UTC-aligned ``interval`` that contains ``moment``."""
    micros = (moment - EPOCH) // _MICROSECOND
    return EPOCH + timedelta(microseconds=micros - micros % (_SECONDS[interval] * 1_000_000))


def unix_seconds(moment: datetime) -> int:
    """Return whole seconds since the epoch (rounded down)."""
    return (moment - EPOCH) // timedelta(seconds=1)


def from_unix_seconds(seconds: int) -> datetime:
    """Return the UTC datetime ``seconds`` after the epoch."""
    return EPOCH + timedelta(seconds=seconds)


def rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a Z."""
    global _last_second  # a one-entry memo, replaced as one tuple (atomic for threads)
    if moment.tzinfo is not UTC:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    # isoformat costs more than the rest of a price payload; a feed's timestamps come in order,
    # so the text of the last whole second is kept and only the fraction is added
    start, end, whole = _last_second
    if not start <= moment < end:
        start = moment.replace(microsecond=0)
        whole = start.isoformat().removesuffix("+00:00")
        _last_second = (start, start + _SECOND, whole)
    micros = moment.microsecond
    if not micros:  # as isoformat: no fraction at all, else six digits
        return whole + "Z"
    fraction = _fractions.get(micros)
    if fraction is None:
        fraction = str(1_000_000 + micros)[1:]
        if len(_fractions) < _MAX_FRACTIONS:
            _fractions[micros] = fraction
    return f"{whole}.{fraction}Z"
