"""Normalizers: trades, quotes and bars rows become exact PriceUpdates or say what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from agora.core.errors import ValidationError
from agora.core.instruments import InstrumentRegistry
from agora.marketdata.normalize import FeedKind, check_columns, make_update, normalize_row
from agora.marketdata.records import PriceUpdate

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
INSTRUMENTS = InstrumentRegistry.default()

QUOTE_ROW = {
    "timestamp": "2025-12-01T14:30:00.250Z",
    "symbol": "AAPL",
    "bid": "269.95",
    "ask": "269.97",
    "bid_size": "300",
    "ask_size": "900",
}


def normalize(kind: FeedKind, row: dict[str, object], number: int = 7) -> tuple[PriceUpdate, ...]:
    """Normalize one row as row ``number`` of a file."""
    return normalize_row(kind, row, row_number=number, instruments=INSTRUMENTS, source="test")


def test_a_quote_row_becomes_an_exact_update() -> None:
    (update,) = normalize(FeedKind.QUOTES, {**QUOTE_ROW, "last": "269.96", "volume": "200"})
    assert update == PriceUpdate(
        symbol="AAPL",
        bid=2_699_500,
        ask=2_699_700,
        bid_size=300,
        ask_size=900,
        last=2_699_600,
        volume=200,
        timestamp=datetime(2025, 12, 1, 14, 30, 0, 250_000, tzinfo=UTC),
        source="test",
    )


def test_a_quote_without_last_or_volume_has_none_and_zero() -> None:
    (update,) = normalize(FeedKind.QUOTES, {**QUOTE_ROW, "last": "", "volume": ""})
    assert (update.last, update.volume) == (None, 0)


def test_a_trade_row_has_a_last_price_and_volume_but_no_quote() -> None:
    row = {"timestamp": "2025-12-01T09:30:01-05:00", "symbol": "MSFT", "price": "480.1234"}
    (update,) = normalize(FeedKind.TRADES, {**row, "size": "35"})
    assert (update.bid, update.ask, update.last, update.volume) == (None, None, 4_801_234, 35)
    assert update.timestamp == datetime(2025, 12, 1, 14, 30, 1, tzinfo=UTC)
    assert update.timestamp.tzinfo is UTC


def test_a_rising_bar_replays_as_open_low_high_close_with_its_volume_at_the_close() -> None:
    row = {"timestamp": "2025-12-01T14:30:00Z", "symbol": "SPY", "open": "670.00"}
    row.update(high="671.00", low="669.50", close="670.75", volume="12000")
    updates = normalize(FeedKind.BARS, row)
    assert [(u.last, u.volume) for u in updates] == [
        (6_700_000, 0),
        (6_695_000, 0),
        (6_710_000, 0),
        (6_707_500, 12_000),
    ]
    assert [u.timestamp - T0 for u in updates] == [
        timedelta(0),
        timedelta(seconds=15),
        timedelta(seconds=30),
        timedelta(seconds=45),
    ]


def test_a_falling_bar_visits_the_high_first() -> None:
    row = {"timestamp": "2025-12-01T14:30:00Z", "symbol": "SPY", "open": "670"}
    row.update(high="671", low="669", close="669.5", volume="0")
    assert [u.last for u in normalize(FeedKind.BARS, row)] == [
        6_700_000,
        6_710_000,
        6_690_000,
        6_695_000,
    ]


def test_parquet_typed_values_are_accepted() -> None:
    row: dict[str, object] = {
        "timestamp": datetime(2025, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
        "symbol": "AAPL",
        "price": Decimal("269.9600"),
        "size": 100,
    }
    (update,) = normalize(FeedKind.TRADES, row)
    assert (update.last, update.volume, update.timestamp) == (2_699_600, 100, T0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bid": "abc"}, "row 7: bid must be a decimal number, got 'abc'"),
        ({"bid": "269.95001"}, "row 7: bid has more than 4 decimal places: '269.95001'"),
        ({"bid": "0"}, "row 7: bid must be positive"),
        ({"ask": "-1"}, "row 7: ask must be positive"),
        ({"bid_size": "-100"}, "row 7: bid_size must not be negative"),
        ({"ask_size": "1.5"}, "row 7: ask_size has more than 0 decimal places: '1.5'"),
        ({"bid": "269.98"}, "row 7: crossed quote: bid is above ask"),
        ({"timestamp": "2025-12-01T14:30:00"}, "row 7: timestamp has no UTC offset"),
        ({"timestamp": "yesterday"}, "row 7: timestamp is not ISO 8601: 'yesterday'"),
        ({"symbol": "ZZZZ"}, "row 7: unknown symbol ZZZZ"),
        ({"ask": ""}, "row 7: ask is empty"),
        ({"bid": 269.95}, "row 7: bid is a float, which is not exact"),
        ({"bid": True}, "row 7: bid must be a decimal number"),
    ],
)
def test_bad_quote_rows_are_refused_with_the_row_and_the_field(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize(FeedKind.QUOTES, {**QUOTE_ROW, **changes})
    assert caught.value.message.startswith(message)
    expected = "unknown_symbol" if "symbol" in changes else "invalid_market_data"
    assert caught.value.code == expected


def test_a_locked_quote_is_accepted() -> None:
    (update,) = normalize(FeedKind.QUOTES, {**QUOTE_ROW, "bid": "269.97"})
    assert update.bid == update.ask == 2_699_700


def test_a_bar_outside_its_range_is_refused() -> None:
    row = {"timestamp": "2025-12-01T14:30:00Z", "symbol": "SPY", "open": "672"}
    row.update(high="671", low="669", close="670", volume="10")
    with pytest.raises(ValidationError, match=r"^row 7: bar needs low <= open, close <= high$"):
        normalize(FeedKind.BARS, row)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValidationError) as caught:
        check_columns(FeedKind.QUOTES, ["timestamp", "symbol", "bid", "bid_size"])
    assert caught.value.message == (
        "missing columns: ask, ask_size"
        " (a quotes file needs timestamp, symbol, bid, ask, bid_size, ask_size)"
    )


def test_make_update_checks_what_the_normalizers_check() -> None:
    with pytest.raises(ValidationError, match=r"^a quote needs both bid and ask$"):
        make_update(symbol="AAPL", timestamp=T0, source="x", bid=1)
    with pytest.raises(ValidationError, match=r"^an update needs a bid and ask, or a last price$"):
        make_update(symbol="AAPL", timestamp=T0, source="x")
    with pytest.raises(ValidationError, match=r"^timestamp has no UTC offset$"):
        make_update(symbol="AAPL", timestamp=datetime(2025, 1, 2), source="x", last=1)
    with pytest.raises(ValidationError, match=r"^volume must not be negative$"):
        make_update(symbol="AAPL", timestamp=T0, source="x", last=1, volume=-1)
