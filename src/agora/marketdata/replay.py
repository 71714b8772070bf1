"""File replay: trades, quotes or bars from CSV or Parquet, at real speed or a multiple of it.

Sources re-read their file each time they are iterated, a few rows (CSV) or one batch of rows
(Parquet) at a time, and normalize every row (``normalize.normalize_row``), so a bad row stops
the replay with a ValidationError naming the file, the row and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]  # reason: pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # reason: as above

from agora.core.errors import ValidationError
from agora.core.instruments import InstrumentRegistry
from agora.marketdata.feeds import Pacer
from agora.marketdata.normalize import (
    CODE,
    PRICE_COLUMNS,
    REQUIRED_COLUMNS,
    SIZE_COLUMNS,
    FeedKind,
    check_columns,
    normalize_row,
)
from agora.marketdata.records import PriceUpdate

SOURCE = "replay"
PARQUET_BATCH_ROWS = 4_096
_OPTIONAL_COLUMNS = ("last", "volume")


def sample_file(name: str = "quotes.csv") -> Traversable:
    """Return a sample file shipped with Agora (``quotes.csv``: AAPL, MSFT, SPY for 3 minutes)."""
    return resources.files("agora.marketdata").joinpath("samples", name)


class _FileSource:
    def __init__(
        self,
        path: Path | Traversable,
        kind: FeedKind,
        instruments: InstrumentRegistry,
        *,
        source: str = SOURCE,
        bar_seconds: int = 60,
    ) -> None:
        self.path = path
        self.kind = kind
        self._instruments = instruments
        self._source = source
        self._bar_seconds = bar_seconds

    def _rows(self, rows: Iterable[Mapping[str, object]]) -> Iterator[PriceUpdate]:
        for number, row in enumerate(rows, start=1):
            yield from normalize_row(
                self.kind,
                row,
                row_number=number,
                instruments=self._instruments,
                source=self._source,
                bar_seconds=self._bar_seconds,
            )


@contextmanager
def _reading(path: Path | Traversable) -> Iterator[None]:
    """Name the file in every error, and turn read and decode failures into ValidationError."""
    try:
        yield
    except ValidationError as exc:
        raise ValidationError(f"{path.name}, {exc.message}", code=exc.code) from None
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as exc:
        raise ValidationError(f"cannot read {path.name}: {exc}", code=CODE) from exc


class CsvSource(_FileSource):
    """Read a CSV file with a header row; see ``normalize.REQUIRED_COLUMNS``."""

    def __iter__(self) -> Iterator[PriceUpdate]:
        """Yield the file's updates in file order."""
        # Traversable.open takes no newline argument; the csv module needs newline="".
        with (
            _reading(self.path),
            io.TextIOWrapper(self.path.open("rb"), encoding="utf-8", newline="") as handle,
        ):
            reader = csv.DictReader(handle, skipinitialspace=True)
            check_columns(self.kind, reader.fieldnames or ())
            yield from self._rows(reader)


class ParquetSource(_FileSource):
    """Read a Parquet file; prices as decimal or text columns, timestamps with a time zone."""

    def __iter__(self) -> Iterator[PriceUpdate]:
        """Yield the file's updates in file order."""
        with _reading(self.path), self.path.open("rb") as handle:
            parquet = pq.ParquetFile(handle)
            columns = _check_schema(self.kind, parquet.schema_arrow)
            yield from self._rows(_parquet_rows(parquet, columns))


def _check_schema(kind: FeedKind, schema: pa.Schema) -> list[str]:
    """Check the columns ``kind`` needs and their types; return the columns to read."""
    check_columns(kind, schema.names)
    wanted = list(REQUIRED_COLUMNS[kind])
    if kind is FeedKind.QUOTES:
        wanted.extend(name for name in _OPTIONAL_COLUMNS if name in schema.names)
    for name in wanted:
        column_type = schema.field(name).type
        if name in PRICE_COLUMNS | SIZE_COLUMNS and pa.types.is_floating(column_type):
            raise ValidationError(
                f"column {name} is {column_type}, which is not exact; "
                "store it as a decimal or a string column",
                code=CODE,
            )
        if name == "timestamp" and pa.types.is_timestamp(column_type) and column_type.tz is None:
            raise ValidationError("column timestamp has no time zone", code=CODE)
    return wanted


def _parquet_rows(parquet: pq.ParquetFile, columns: list[str]) -> Iterator[dict[str, object]]:
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
        stamps = batch.column("timestamp")
        if pa.types.is_timestamp(stamps.type) and stamps.type.unit == "ns":
            # Python datetimes hold microseconds; the nanoseconds are dropped, not rounded.
            micro = stamps.cast(pa.timestamp("us", tz=stamps.type.tz), safe=False)
            batch = batch.set_column(batch.schema.get_field_index("timestamp"), "timestamp", micro)
        yield from batch.to_pylist()


def open_source(
    path: Path,
    kind: FeedKind,
    instruments: InstrumentRegistry,
    *,
    source: str = SOURCE,
    bar_seconds: int = 60,
) -> CsvSource | ParquetSource:
    """Return the source for ``path`` by its suffix: ``.csv``, or ``.parquet`` / ``.pq``."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return CsvSource(path, kind, instruments, source=source, bar_seconds=bar_seconds)
    if suffix in {".parquet", ".pq"}:
        return ParquetSource(path, kind, instruments, source=source, bar_seconds=bar_seconds)
    raise ValidationError(f"cannot replay {path.name}: use a .csv or .parquet file", code=CODE)


class ReplayFeed:
    """Play a source's updates with their recorded spacing divided by ``speed`` (0: no waiting).

    With ``restamp`` each update is stamped with the clock's time as it is played, so live
    consumers (the last-price cache, candles) treat it as current; without it the recorded
    timestamps are kept (backfilling candles). ``repeat`` plays the source again at its end and
    needs ``restamp``, since recorded timestamps would go back in time.
    """

    def __init__(
        self,
        source: Iterable[PriceUpdate],
        pacer: Pacer,
        *,
        speed: float = 1.0,
        restamp: bool = False,
        repeat: bool = False,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or positive")
        if repeat and not restamp:
            raise ValueError("repeat needs restamp: recorded timestamps would go back in time")
        self._source = source
        self._pacer = pacer
        self._speed = speed
        self._restamp = restamp
        self._repeat = repeat

    async def updates(self) -> AsyncGenerator[PriceUpdate, None]:
        """Yield the source's updates, paced; once, or forever with ``repeat``."""
        while True:
            played = 0
            async for update in self._play_once():
                played += 1
                yield update
            if not self._repeat or played == 0:
                return

    async def _play_once(self) -> AsyncGenerator[PriceUpdate, None]:
        first_recorded = first_played = None
        for update in self._source:
            now = self._pacer.now()
            if first_recorded is None or first_played is None:
                first_recorded, first_played = update.timestamp, now
            due = now
            if self._speed > 0:
                due = first_played + (update.timestamp - first_recorded) / self._speed
            await self._pacer.wait_until(due)
            if self._restamp:
                update = msgspec.structs.replace(update, timestamp=self._pacer.now())
            yield update
