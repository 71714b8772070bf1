"""Candles in SQLite (the ``candles`` table of migration 0002), off the event loop."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from agora.marketdata.records import EPOCH, Candle, Interval, from_unix_seconds, unix_seconds
from agora.storage.sqlite_conn import SqliteConnection

DEFAULT_BUSY_TIMEOUT_MS = 5_000

_COLUMNS = "symbol, interval, start_unix_s, open, high, low, close, volume"
_UPSERT = (
    f"INSERT INTO candles ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (symbol, interval, start_unix_s) DO UPDATE SET"
    " open = excluded.open, high = excluded.high, low = excluded.low,"
    " close = excluded.close, volume = excluded.volume"
)
_Row = tuple[str, str, int, int, int, int, int, int]


class SqliteCandleStore:
    """The CandleStore port on SQLite: its own connection and thread, or a shared connection."""

    def __init__(self, connection: SqliteConnection) -> None:
        self._db = connection

    @classmethod
    async def open(
        cls, path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> SqliteCandleStore:
        """Open the database at ``path``, creating it and applying migrations as needed.

        Open it after (not concurrently with) any other store on the same file: each applies
        the migrations it lacks on open.
        """
        return cls(await SqliteConnection.open(path, busy_timeout_ms=busy_timeout_ms))

    async def upsert(self, candles: Sequence[Candle]) -> None:
        """Write ``candles`` in one transaction, replacing any with the same key."""
        rows = [_row(candle) for candle in candles]
        if rows:
            await self._db.write(f"writing {len(rows)} candles", partial(_upsert, rows=rows))

    async def query(
        self,
        symbol: str,
        interval: Interval,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Return ``symbol``'s candles in [start, end), oldest first; the newest ``limit``."""
        work = partial(
            _query,
            symbol=symbol,
            interval=interval,
            start_s=None if start is None else _ceil_seconds(start),
            end_s=None if end is None else _ceil_seconds(end),
            limit=limit,
        )
        return await self._db.read(f"reading {interval} candles of {symbol}", work)

    async def load_from(self, interval: Interval, start: datetime) -> list[Candle]:
        """Return every symbol's candles of ``interval`` starting at or after ``start``."""
        work = partial(_load_from, interval=interval, start_s=_ceil_seconds(start))
        return await self._db.read(f"reading open {interval} candles", work)

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()


def _ceil_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded up: candle starts are whole seconds."""
    return -((EPOCH - moment) // timedelta(seconds=1))


def _row(candle: Candle) -> _Row:
    return (
        candle.symbol,
        candle.interval.value,
        unix_seconds(candle.start),
        *(candle.open, candle.high, candle.low, candle.close, candle.volume),
    )


def _candle(row: _Row) -> Candle:
    symbol, interval, start_s, open_, high, low, close, volume = row
    return Candle(
        symbol=symbol,
        interval=Interval(interval),
        start=from_unix_seconds(start_s),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def _upsert(conn: sqlite3.Connection, rows: list[_Row]) -> None:
    conn.executemany(_UPSERT, rows)


def _query(
    conn: sqlite3.Connection,
    symbol: str,
    interval: Interval,
    start_s: int | None,
    end_s: int | None,
    limit: int | None,
) -> list[Candle]:
    sql = f"SELECT {_COLUMNS} FROM candles WHERE symbol = ? AND interval = ?"
    params: list[str | int] = [symbol, interval.value]
    if start_s is not None:
        sql += " AND start_unix_s >= ?"
        params.append(start_s)
    if end_s is not None:
        sql += " AND start_unix_s < ?"
        params.append(end_s)
    sql += " ORDER BY start_unix_s DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(max(limit, 0))
    rows = conn.execute(sql, params).fetchall()
    return [_candle(row) for row in reversed(rows)]


def _load_from(conn: sqlite3.Connection, interval: Interval, start_s: int) -> list[Candle]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM candles WHERE interval = ? AND start_unix_s >= ?"
        " ORDER BY start_unix_s, symbol",
        (interval.value, start_s),
    ).fetchall()
    return [_candle(row) for row in rows]
