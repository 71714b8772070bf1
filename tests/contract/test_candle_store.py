"""The CandleStore contract, run against the memory and SQLite adapters.

``CandleStoreContract`` holds the tests; each adapter's class provides the ``store`` fixture.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from agora.core.errors import StorageError
from agora.marketdata.ports import CandleStore
from agora.marketdata.records import Candle, Interval
from agora.storage.candles_memory import MemoryCandleStore
from agora.storage.candles_sqlite import SqliteCandleStore

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
M1, M5, H1 = Interval.ONE_MINUTE, Interval.FIVE_MINUTES, Interval.ONE_HOUR


def candle(
    minutes: int = 0, interval: Interval = M1, symbol: str = "AAPL", close: int = 2_700_000
) -> Candle:
    """Return a candle starting ``minutes`` after T0."""
    return Candle(
        symbol=symbol,
        interval=interval,
        start=T0 + timedelta(minutes=minutes),
        open=2_699_000,
        high=2_701_000,
        low=2_698_000,
        close=close,
        volume=1_200,
    )


class CandleStoreContract:
    """What every CandleStore adapter does."""

    async def test_written_candles_read_back_exactly_oldest_first(self, store: CandleStore) -> None:
        await store.upsert([candle(2), candle(0), candle(1)])
        assert await store.query("AAPL", M1) == [candle(0), candle(1), candle(2)]

    async def test_a_write_replaces_the_candle_with_the_same_key(self, store: CandleStore) -> None:
        await store.upsert([candle(0, close=1)])
        await store.upsert([candle(0, close=2)])
        assert await store.query("AAPL", M1) == [candle(0, close=2)]

    async def test_queries_select_one_symbol_and_one_interval(self, store: CandleStore) -> None:
        await store.upsert([candle(0), candle(0, M5), candle(0, H1), candle(0, symbol="MSFT")])
        assert await store.query("AAPL", M5) == [candle(0, M5)]
        assert await store.query("MSFT", M1) == [candle(0, symbol="MSFT")]
        assert await store.query("SPY", M1) == []

    async def test_start_is_inclusive_and_end_exclusive(self, store: CandleStore) -> None:
        await store.upsert([candle(n) for n in range(5)])
        found = await store.query(
            "AAPL", M1, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)
        )
        assert found == [candle(1), candle(2)]
        between = T0 + timedelta(minutes=1, microseconds=1)
        assert await store.query("AAPL", M1, start=between, end=between) == []
        assert await store.query("AAPL", M1, end=between) == [candle(0), candle(1)]

    async def test_a_limit_keeps_the_newest_candles_in_order(self, store: CandleStore) -> None:
        await store.upsert([candle(n) for n in range(5)])
        assert await store.query("AAPL", M1, limit=2) == [candle(3), candle(4)]
        before = T0 + timedelta(minutes=3)
        assert await store.query("AAPL", M1, end=before, limit=2) == [candle(1), candle(2)]
        assert await store.query("AAPL", M1, limit=0) == []

    async def test_load_from_returns_every_symbol_from_a_start(self, store: CandleStore) -> None:
        older, newer = candle(0, symbol="MSFT"), candle(1, symbol="MSFT")
        await store.upsert([older, newer, candle(1), candle(2), candle(1, M5)])
        found = await store.load_from(M1, T0 + timedelta(minutes=1))
        assert found == [candle(1), newer, candle(2)]

    async def test_writing_nothing_is_fine(self, store: CandleStore) -> None:
        await store.upsert([])
        assert await store.query("AAPL", M1) == []


class TestMemoryCandleStore(CandleStoreContract):
    """MemoryCandleStore keeps the contract."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[CandleStore]:
        """An empty memory store."""
        made = MemoryCandleStore()
        yield made
        await made.close()


class TestSqliteCandleStore(CandleStoreContract):
    """SqliteCandleStore keeps the contract, durably."""

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[CandleStore]:
        """A store on a new database file."""
        made = await SqliteCandleStore.open(tmp_path / "agora.db")
        yield made
        await made.close()

    async def test_candles_survive_a_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "agora.db"
        first = await SqliteCandleStore.open(path)
        await first.upsert([candle(0), candle(0, H1)])
        await first.close()
        second = await SqliteCandleStore.open(path)
        assert await second.query("AAPL", H1) == [candle(0, H1)]
        await second.close()

    async def test_a_failed_write_writes_nothing(self, store: CandleStore) -> None:
        too_big = msgspec.structs.replace(candle(1), volume=2**63)
        with pytest.raises(StorageError, match="writing 2 candles failed"):
            await store.upsert([candle(0), too_big])
        assert await store.query("AAPL", M1) == []

    async def test_rows_hold_integers_and_epoch_seconds(self, tmp_path: Path) -> None:
        path = tmp_path / "agora.db"
        store = await SqliteCandleStore.open(path)
        await store.upsert([candle(0)])
        await store.close()
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute("SELECT * FROM candles").fetchall()
        assert rows == [
            ("AAPL", "1m", 1_764_599_400, 2_699_000, 2_701_000, 2_698_000, 2_700_000, 1_200)
        ]
