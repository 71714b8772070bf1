"""Candles in PostgreSQL (the ``candles`` table of migrations_pg/0002), the SQLite rows' twin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from agora.marketdata.records import EPOCH, Candle, Interval, from_unix_seconds, unix_seconds
from agora.storage.postgres_conn import PgDatabase
from agora.storage.postgres_driver import Connection

_COLUMNS = "symbol, interval, start_unix_s, open, high, low, close, volume"
_UPSERT = (
    f"INSERT INTO candles ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (symbol, interval, start_unix_s) DO UPDATE SET"
    " open = excluded.open, high = excluded.high, low = excluded.low,"
    " close = excluded.close, volume = excluded.volume"
)
_Row = tuple[str, str, int, int, int, int, int, int]


class PostgresCandleStore:
    """The CandleStore port on PostgreSQL: its own pool, or one shared with a PostgresStore."""

    def __init__(self, database: PgDatabase, *, owns_database: bool = True) -> None:
        self._db = database
        self._owns_database = owns_database

    @classmethod
    async def open(
        cls, dsn: str, *, min_connections: int = 1, max_connections: int = 4
    ) -> PostgresCandleStore:
        """Connect to the database at ``dsn`` and apply the migrations it lacks."""
        database = await PgDatabase.open(
            dsn, min_connections=min_connections, max_connections=max_connections
        )
        return cls(database)

    async def upsert(self, candles: Sequence[Candle]) -> None:
        """Write ``candles`` in one transaction, replacing any with the same key."""
        latest = {row[:3]: row for row in map(_row, candles)}  # one write per key, the last
        rows = [latest[key] for key in sorted(latest)]  # key order: concurrent writers never cycle
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
        return await self._db.fetch(f"reading {interval} candles of {symbol}", work)

    async def load_from(self, interval: Interval, start: datetime) -> list[Candle]:
        """Return every symbol's candles of ``interval`` starting at or after ``start``."""
        work = partial(_load_from, interval=interval, start_s=_ceil_seconds(start))
        return await self._db.fetch(f"reading open {interval} candles", work)

    async def close(self) -> None:
        """Close the pool, unless it is shared."""
        if self._owns_database:
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


async def _upsert(conn: Connection, rows: list[_Row]) -> None:
    await conn.executemany(_UPSERT, rows)


async def _query(
    conn: Connection,
    symbol: str,
    interval: Interval,
    start_s: int | None,
    end_s: int | None,
    limit: int | None,
) -> list[Candle]:
    sql = f"SELECT {_COLUMNS} FROM candles WHERE symbol = $1 AND interval = $2"
    params: list[str | int] = [symbol, interval.value]
    if start_s is not None:
        params.append(start_s)
        sql += f" AND start_unix_s >= ${len(params)}"
    if end_s is not None:
        params.append(end_s)
        sql += f" AND start_unix_s < ${len(params)}"
    sql += " ORDER BY start_unix_s DESC"
    if limit is not None:
        params.append(max(limit, 0))
        sql += f" LIMIT ${len(params)}"
    rows = await conn.fetch(sql, *params)
    return [_candle(tuple(row)) for row in reversed(rows)]


async def _load_from(conn: Connection, interval: Interval, start_s: int) -> list[Candle]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM candles WHERE interval = $1 AND start_unix_s >= $2"
        " ORDER BY start_unix_s, symbol",
        interval.value,
        start_s,
    )
    return [_candle(tuple(row)) for row in rows]
