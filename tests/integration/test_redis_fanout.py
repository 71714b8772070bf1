"""SSE fan-out across web workers through a real Redis: prices, order wake-ups, reconnects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agora.bus.redis_link import connect
from agora.marketdata.records import PriceUpdate
from agora.marketdata.redis_cache import PriceKeys, PriceMessage, RedisPriceWriter, encode
from agora.web.redis_fanout import CommitSignal, RedisFanout
from agora.web.streams import Connection, PriceStream
from tests.integration.redis_support import (
    SHARED_URL,
    SpareRedis,
    eventually,
    fresh_prefix,
    shared_client,
)

FAST = {"ping_interval_seconds": 0.1, "link_timeout_seconds": 0.5, "reconnect_max_seconds": 0.2}
T0 = datetime.fromisoformat("2026-01-05T14:30:00+00:00")


def trade(symbol: str, last: int, at: datetime) -> PriceUpdate:
    return PriceUpdate(symbol=symbol, last=last, volume=1, timestamp=at, source="test")


def drain(connection: Connection) -> list[dict[str, object]]:
    """The price payloads queued for one SSE connection so far."""
    got = []
    while not connection.queue.empty():
        message = connection.queue.get_nowait()
        assert message.event == "price"
        got.append(json.loads(message.data))
    return got


class Tier:
    """A market-data writer and web workers (stream + fan-out), each on its own client."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.clients: list[Redis] = []
        self.fanouts: list[RedisFanout] = []
        self.stoppers: list[RedisPriceWriter | CommitSignal] = []

    def client(self) -> Redis:
        self.clients.append(client := connect(self.url))
        return client

    async def writer(self) -> RedisPriceWriter:
        writer = RedisPriceWriter(self.client(), prefix=self.prefix, reconnect_max_seconds=0.2)
        await writer.start()
        self.stoppers.append(writer)
        return writer

    async def worker(self, woken: list[int] | None = None) -> tuple[PriceStream, RedisFanout]:
        stream = PriceStream(lambda symbol: None)
        fanout = RedisFanout(
            self.client(),
            stream,
            prefix=self.prefix,
            on_orders_committed=None if woken is None else lambda: woken.append(1),
            **FAST,
        )
        assert await fanout.start(wait_seconds=5.0)
        self.fanouts.append(fanout)
        return stream, fanout

    async def close(self) -> None:
        for fanout in self.fanouts:
            await fanout.stop()
        for stopper in self.stoppers:
            await stopper.stop()
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = await shared_client()
    async with fresh_prefix(client) as prefix:
        yield prefix
    await client.aclose()


@pytest.fixture
async def tier(prefix: str) -> AsyncIterator[Tier]:
    made = Tier(SHARED_URL, prefix)
    yield made
    await made.close()


@pytest.fixture
async def spare(tmp_path: Path) -> AsyncIterator[SpareRedis]:
    server = SpareRedis(tmp_path / "spare-redis")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def spare_tier(spare: SpareRedis) -> AsyncIterator[Tier]:
    made = Tier(spare.url, "agora:")
    yield made
    await made.close()


async def test_every_worker_feeds_its_own_clients(tier: Tier) -> None:
    writer = await tier.writer()
    (stream_a, _), (stream_b, _) = await tier.worker(), await tier.worker()
    aapl_a, _ = stream_a.attach(["AAPL"])
    aapl_b, _ = stream_b.attach(["AAPL"])
    msft_b, _ = stream_b.attach(["MSFT"])
    for n in range(3):
        writer.on_price(trade("AAPL", 2_000_000 + n, T0 + timedelta(milliseconds=n)))
    writer.on_price(trade("MSFT", 4_000_000, T0))
    assert await writer.flush(5.0)
    got: dict[str, list[dict[str, object]]] = {"a": [], "b": [], "m": []}

    def all_arrived() -> bool:
        got["a"] += drain(aapl_a)
        got["b"] += drain(aapl_b)
        got["m"] += drain(msft_b)
        return len(got["a"]) == 3 and len(got["b"]) == 3 and len(got["m"]) == 1

    await eventually(all_arrived)
    assert [p["last"] for p in got["a"]] == ["200.0000", "200.0001", "200.0002"]
    assert got["a"] == got["b"]
    assert got["m"][0]["symbol"] == "MSFT"


async def test_a_commit_wakes_every_workers_order_stream(tier: Tier) -> None:
    woken_a: list[int] = []
    woken_b: list[int] = []
    await tier.worker(woken_a)
    await tier.worker(woken_b)
    before = (len(woken_a), len(woken_b))  # each resync wakes its stream once
    signal = CommitSignal(tier.client(), prefix=tier.prefix)
    await signal.start()
    tier.stoppers.append(signal)
    signal.notify()
    await eventually(lambda: len(woken_a) > before[0] and len(woken_b) > before[1])


async def test_an_update_older_than_the_snapshot_is_not_shown_after_it(tier: Tier) -> None:
    writer = await tier.writer()
    writer.on_price(trade("AAPL", 2_000_100, T0 + timedelta(seconds=1)))
    assert await writer.flush(5.0)
    stream, fanout = await tier.worker()  # resyncs: the snapshot's time is the floor
    connection, _ = stream.attach(["AAPL"])
    late = encode([PriceMessage(trade("AAPL", 1_999_900, T0))])  # in flight across the resync
    await tier.clients[0].publish(PriceKeys(tier.prefix).channel("AAPL"), late)
    writer.on_price(trade("AAPL", 2_000_200, T0 + timedelta(seconds=2)))
    assert await writer.flush(5.0)
    got: list[dict[str, object]] = []
    await eventually(lambda: bool(got.extend(drain(connection))) or len(got) == 1)
    assert got[0]["last"] == "200.0200"
    assert fanout.stale_dropped == 1


async def test_a_worker_reconnects_and_catches_up_from_the_snapshot(
    spare: SpareRedis, spare_tier: Tier
) -> None:
    writer = await spare_tier.writer()
    stream, fanout = await spare_tier.worker()
    connection, _ = stream.attach(["AAPL"])
    writer.on_price(trade("AAPL", 2_000_000, T0))
    await eventually(lambda: len(drain(connection)) == 1)

    await spare.kill()
    await eventually(lambda: not fanout.link.live, timeout_seconds=2.0)
    writer.on_price(trade("AAPL", 2_000_300, T0 + timedelta(seconds=3)))  # missed by the clients
    await spare.start()

    got: list[dict[str, object]] = []

    def caught_up() -> bool:
        got.extend(drain(connection))
        return any(p["last"] == "200.0300" for p in got)

    await eventually(caught_up, timeout_seconds=5.0)
    assert fanout.link.live
    writer.on_price(trade("AAPL", 2_000_400, T0 + timedelta(seconds=4)))
    await eventually(lambda: any(p["last"] == "200.0400" for p in drain(connection)))


async def test_slow_clients_stay_bounded(tier: Tier) -> None:
    writer = await tier.writer()
    stream, _ = await tier.worker()
    slow, _ = stream.attach(["AAPL"])
    limit = slow.queue.maxsize
    for n in range(limit + 10):
        writer.on_price(trade("AAPL", 2_000_000 + n, T0 + timedelta(microseconds=n)))
    assert await writer.flush(5.0)
    await eventually(lambda: slow.overflowed)
    assert slow.queue.qsize() == limit  # the rest was never buffered for it
