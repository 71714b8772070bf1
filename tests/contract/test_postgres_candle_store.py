"""The CandleStore contract against the PostgreSQL adapter, each test on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]  # reason: asyncpg ships no type hints
import msgspec
import pytest

from agora.core.errors import StorageError
from agora.marketdata.ports import CandleStore
from agora.storage.postgres import PostgresStore
from agora.storage.postgres_candles import PostgresCandleStore

from .postgres_server import fresh_database
from .test_candle_store import H1, M1, CandleStoreContract, candle


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    """Yield the DSN of a new, empty database (dropped afterwards)."""
    async with fresh_database() as made:
        yield made


class TestPostgresCandleStore(CandleStoreContract):
    """PostgresCandleStore keeps the contract, durably."""

    @pytest.fixture
    async def store(self, dsn: str) -> AsyncIterator[CandleStore]:
        """A store on a new database."""
        made = await PostgresCandleStore.open(dsn)
        yield made
        await made.close()

    async def test_candles_survive_a_reopen(self, dsn: str) -> None:
        first = await PostgresCandleStore.open(dsn)
        await first.upsert([candle(0), candle(0, H1)])
        await first.close()
        second = await PostgresCandleStore.open(dsn)
        assert await second.query("AAPL", H1) == [candle(0, H1)]
        await second.close()

    async def test_a_failed_write_writes_nothing(self, store: CandleStore) -> None:
        too_big = msgspec.structs.replace(candle(1), volume=2**63)
        with pytest.raises(StorageError, match="writing 2 candles failed"):
            await store.upsert([candle(0), too_big])
        assert await store.query("AAPL", M1) == []

    async def test_one_batch_may_rewrite_a_candle(self, store: CandleStore) -> None:
        await store.upsert([candle(0, close=1), candle(0, close=2)])
        assert await store.query("AAPL", M1) == [candle(0, close=2)]

    async def test_rows_hold_integers_and_epoch_seconds(self, dsn: str) -> None:
        store = await PostgresCandleStore.open(dsn)
        await store.upsert([candle(0)])
        await store.close()
        conn = await asyncpg.connect(dsn)
        try:
            rows = [tuple(row) for row in await conn.fetch("SELECT * FROM candles")]
        finally:
            await conn.close()
        assert rows == [
            ("AAPL", "1m", 1_764_599_400, 2_699_000, 2_701_000, 2_698_000, 2_700_000, 1_200)
        ]

    async def test_a_candle_store_can_share_the_lane_store_pool(self, dsn: str) -> None:
        lanes = await PostgresStore.open(dsn)
        candles = PostgresCandleStore(lanes.database, owns_database=False)
        await candles.upsert([candle(0)])
        await candles.close()  # leaves the shared pool open
        assert await lanes.published_seq() == 0
        assert await candles.query("AAPL", M1) == [candle(0)]
        await lanes.close()
