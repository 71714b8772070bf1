"""Fuzz every parser that takes outside input: only Agora's own errors may escape.

Amounts (``parse_units``), symbols, prices and quantities (``InstrumentRegistry``), venue session
files (``load_session``) and market-data replay files (CSV through ``CsvSource``, and single rows
of every feed kind through ``normalize_row``, typed as Parquet gives them) get generated input:
well-formed, nearly well-formed and garbage. Each must return a value that obeys its contract or
raise an ``AgoraError`` (a ``ValidationError``): never ``OverflowError``, ``TypeError``,
``InvalidOperation``, ``KeyError``…

Crashes found and fixed (docs/reliability.md): B5, a timestamp within a day of ``datetime.min`` /
``datetime.max`` makes ``normalize_row`` raise ``OverflowError``; B6, a session line holding a JSON
value that is not an object followed by more text (``0 x``) makes ``load_session`` raise
``msgspec.DecodeError``. Both now raise ValidationError; the properties here include such
inputs again, and ``test_known_bugs.py`` pins them as regression tests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agora.core.errors import AgoraError
from agora.core.instruments import InstrumentRegistry
from agora.core.money import MAX_UNITS, format_units, parse_units, to_decimal
from agora.execution.venues.replay_session import (
    RECORD_KINDS,
    Session,
    SessionRecord,
    load_session,
)
from agora.marketdata.normalize import REQUIRED_COLUMNS, FeedKind, normalize_row
from agora.marketdata.replay import CsvSource
from tests.chaos.harness import env_int

T = TypeVar("T")
REGISTRY = InstrumentRegistry.default()
SYMBOLS = [i.symbol for i in REGISTRY.all()]
EXAMPLES = settings(  # AGORA_FUZZ_EXAMPLES scales the long form (scripts/battery)
    max_examples=env_int("AGORA_FUZZ_EXAMPLES", 400),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- generators ---------------------------------------------------------------------------------

DECIMAL_TEXT = st.from_regex(
    r"\A[+-]?[0-9]{0,25}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,20})?\Z", fullmatch=True
)
NUMBER_TEXT = st.one_of(
    DECIMAL_TEXT,
    st.sampled_from(
        [
            "NaN",
            "-nan",
            "sNaN",
            "Infinity",
            "-Inf",
            "1_000",
            " 1",
            "1 ",
            "",
            "٣",
            "1e999999999999999999",
            "1e-999999999999999999",
            "0x10",
            "1/2",
        ]
    ),
    st.text(max_size=70),
)
AMOUNTS: st.SearchStrategy[Any] = st.one_of(
    NUMBER_TEXT,
    st.integers(min_value=-(2**80), max_value=2**80),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=8, min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
SYMBOL_TEXT = st.one_of(
    st.sampled_from(SYMBOLS),  # listed symbols half the time: the rest of a row gets parsed
    st.sampled_from(SYMBOLS),
    st.sampled_from(SYMBOLS),
    st.sampled_from(SYMBOLS).map(str.lower),
    st.from_regex(r"\A[A-Z][A-Z0-9.]{0,11}\Z", fullmatch=True),
    st.text(max_size=40),
)
EDGE_TIMES = st.one_of(  # the ends of time, with offsets that push past them
    st.datetimes(max_value=datetime(1, 1, 1, 12), timezones=st.timezones()),
    st.datetimes(min_value=datetime(9999, 12, 31, 12), timezones=st.timezones()),
).map(datetime.isoformat)
TIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    EDGE_TIMES,
    st.datetimes().map(datetime.isoformat),  # no offset
    st.sampled_from(["2025-12-01T14:30:00Z", "2025-12-01", "14:30", "yesterday", ""]),
    st.text(max_size=40),
)
CELLS = {
    "timestamp": TIMES,
    "symbol": SYMBOL_TEXT,
}


_TYPED_RECORD: msgspec.json.Decoder[SessionRecord] = msgspec.json.Decoder(SessionRecord)


def only_agora_errors(work: Callable[[], T]) -> T | AgoraError:
    """Run ``work``; return its value or the AgoraError it raised (anything else propagates)."""
    try:
        return work()
    except AgoraError as error:
        return error


# -- amounts ------------------------------------------------------------------------------------


@EXAMPLES
@given(value=AMOUNTS, scale=st.integers(0, 8))
def test_parse_units_returns_exact_units_or_refuses(value: Any, scale: int) -> None:
    units = only_agora_errors(lambda: parse_units(value, scale))
    if isinstance(units, AgoraError):
        assert units.code == "invalid_amount"
        return
    assert type(units) is int
    assert abs(units) <= MAX_UNITS
    assert parse_units(format_units(units, scale), scale) == units  # round trip
    if isinstance(value, str | Decimal) and not isinstance(value, bool):
        assert to_decimal(units, scale) == Decimal(value)  # exact: never rounded


# -- instruments --------------------------------------------------------------------------------


@EXAMPLES
@given(symbol=SYMBOL_TEXT, value=AMOUNTS)
def test_symbols_prices_and_quantities_parse_or_refuse(symbol: str, value: Any) -> None:
    found = only_agora_errors(lambda: REGISTRY.get(symbol))
    assert isinstance(found, AgoraError) or found.symbol == symbol
    price = only_agora_errors(lambda: REGISTRY.parse_price(symbol, value))
    if not isinstance(price, AgoraError):
        assert price > 0
        assert price % REGISTRY.get(symbol).tick_size == 0
    qty = only_agora_errors(lambda: REGISTRY.parse_qty(symbol, value))
    if not isinstance(qty, AgoraError):
        assert qty > 0
        assert qty % REGISTRY.get(symbol).lot_size == 0


# -- venue session files ------------------------------------------------------------------------

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
ORDER_IDS = st.sampled_from(["o1", "o2", "o3", ""]) | st.text(max_size=4)
STAMPS = st.one_of(st.sampled_from(["2025-12-01T14:30:00Z"]), st.text(max_size=30), st.integers())
VENUE_ORDER = st.fixed_dictionaries(
    {"order_id": ORDER_IDS, "symbol": SYMBOL_TEXT, "side": st.sampled_from(["buy", "sell", "x"]),
     "order_type": st.sampled_from(["market", "limit", "?"]), "time_in_force": st.just("day"),
     "qty": st.integers(-5, 2**70)},
    optional={"limit_price": st.integers() | st.none(), "protection_price": JSON},
)  # fmt: skip
REPORT = st.fixed_dictionaries(
    {"kind": st.sampled_from(["accepted", "fill", "canceled", "bogus"]), "order_id": ORDER_IDS,
     "timestamp": STAMPS},
    optional={"fill_id": st.text(max_size=4), "qty": st.integers(), "price": st.integers(),
              "seq": st.integers(), "extra": JSON},
)  # fmt: skip
RECORD = st.fixed_dictionaries(
    {"kind": st.sampled_from([*RECORD_KINDS, "bogus"]) | st.integers()},
    optional={"order": VENUE_ORDER, "order_id": ORDER_IDS, "new": VENUE_ORDER,
              "symbol": SYMBOL_TEXT, "reports": st.lists(REPORT, max_size=3), "quote": JSON},
)  # fmt: skip
HEADER = st.one_of(
    st.just({"format": "agora.venue-session", "version": 1}),
    st.fixed_dictionaries({"format": st.text(max_size=20), "version": st.integers() | JSON}),
    JSON,
)
SESSION_LINES = st.lists(
    st.one_of(
        RECORD.map(msgspec.json.encode),
        JSON.map(msgspec.json.encode),
        st.binary(max_size=30),
        st.just(b""),
    ),
    max_size=6,
)


@EXAMPLES
@given(header=HEADER.map(msgspec.json.encode) | st.binary(max_size=40), lines=SESSION_LINES,
       ending=st.sampled_from([b"\n", b"\r\n", b"\r"]))  # fmt: skip
def test_session_files_load_or_name_their_bad_line(
    header: bytes, lines: list[bytes], ending: bytes
) -> None:
    raw = ending.join([header, *lines])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session.jsonl"
        path.write_bytes(raw)
        loaded = only_agora_errors(lambda: load_session(path))
    if isinstance(loaded, AgoraError):
        assert loaded.code == "invalid_session"
        assert "line" in loaded.message or "cannot read" in loaded.message
    else:
        assert isinstance(loaded, Session)
        assert len(loaded.lines) == len(loaded.records)


# -- market data: rows and CSV files ------------------------------------------------------------


def _cell(column: str) -> st.SearchStrategy[Any]:
    return CELLS.get(column, st.one_of(NUMBER_TEXT, st.just("")))


TYPED_CELLS: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=5),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.text(max_size=12),
)


def _row(kind: FeedKind, typed: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A row with every column most of the time (so parsing goes deep), some left out."""
    columns = [*REQUIRED_COLUMNS[kind], "last", "volume"]
    cells = {c: (st.one_of(_cell(c), TYPED_CELLS) if typed else _cell(c)) for c in columns}
    dropped = st.sets(st.sampled_from(columns), max_size=2) | st.just(set())
    return st.tuples(st.fixed_dictionaries(cells), dropped).map(
        lambda drawn: {k: v for k, v in drawn[0].items() if k not in drawn[1]}
    )


@EXAMPLES
@given(data=st.data(), kind=st.sampled_from(FeedKind), typed=st.booleans())
def test_market_data_rows_normalize_or_name_their_problem(
    data: st.DataObject, kind: FeedKind, typed: bool
) -> None:
    row = data.draw(_row(kind, typed))
    updates = only_agora_errors(
        lambda: normalize_row(kind, row, row_number=7, instruments=REGISTRY, source="fuzz")
    )
    if isinstance(updates, AgoraError):
        assert updates.message.startswith("row 7: "), updates.message
        return
    assert len(updates) == (4 if kind is FeedKind.BARS else 1)
    for update in updates:
        assert update.symbol in SYMBOLS
        assert update.timestamp.tzinfo is UTC
        prices = [p for p in (update.bid, update.ask, update.last) if p is not None]
        assert prices
        assert all(p > 0 for p in prices)


def _csv_text(rows: list[dict[str, Any]], header: list[str]) -> str:
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(str(row.get(column, "")) for column in header))
    return "\n".join(lines)


@EXAMPLES
@given(
    data=st.data(),
    kind=st.sampled_from(FeedKind),
    mangle=st.sampled_from(["none", "drop", "bytes"]),
)
def test_csv_replay_files_yield_updates_or_one_clear_error(
    data: st.DataObject, kind: FeedKind, mangle: str
) -> None:
    header = list(REQUIRED_COLUMNS[kind])
    if mangle == "drop":
        header = data.draw(st.lists(st.sampled_from([*header, "last", "junk"]), max_size=8))
    rows = data.draw(st.lists(_row(kind, typed=False), max_size=4))
    raw = _csv_text(rows, header).encode()
    if mangle == "bytes":
        raw = (
            data.draw(st.binary(max_size=200)) if data.draw(st.booleans()) else raw + b"\xff\x00,\n"
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.csv"
        path.write_bytes(raw)
        source = CsvSource(path, kind, REGISTRY)
        read = only_agora_errors(lambda: list(source))
    if isinstance(read, AgoraError):
        assert read.code in ("invalid_market_data", "unknown_symbol"), read.code
        assert "feed.csv" in read.message
