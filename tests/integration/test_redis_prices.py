"""The shared last-price cache on real Redis: a writer, mirrors in step, fail closed without it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agora.bootstrap import Platform
from agora.bus.redis_link import connect
from agora.core.clock import ManualClock
from agora.core.errors import RiskDeniedError
from agora.marketdata.records import PriceUpdate
from agora.marketdata.redis_cache import RedisPriceMirror, RedisPriceWriter, decode_stored
from agora.marketdata.views import price_payload
from agora.orders.commands import Deposit, OpenAccount, PlaceOrder
from agora.orders.model import Order, OrderType, Side, TimeInForce
from agora.risk import PriceQuote
from tests.integration.conftest import start
from tests.integration.redis_support import (
    SHARED_URL,
    SpareRedis,
    eventually,
    fresh_prefix,
    shared_client,
)

FAST = {"ping_interval_seconds": 0.1, "link_timeout_seconds": 0.5, "reconnect_max_seconds": 0.2}
T0 = datetime.fromisoformat("2026-01-05T14:30:00+00:00")
MS = timedelta(milliseconds=1)
MID = PriceQuote(price=2_000_000, as_of=T0 + 5 * MS)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = await shared_client()
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    async with fresh_prefix(redis) as prefix:
        yield prefix


@pytest.fixture
async def spare(tmp_path: Path) -> AsyncIterator[SpareRedis]:
    server = SpareRedis(tmp_path / "spare-redis")
    await server.start()
    yield server
    await server.stop()


def trade(symbol: str, last: int, at: datetime) -> PriceUpdate:
    return PriceUpdate(symbol=symbol, last=last, volume=1, timestamp=at, source="test")


def quote(symbol: str, bid: int, ask: int, at: datetime) -> PriceUpdate:
    return PriceUpdate(
        symbol=symbol, bid=bid, ask=ask, bid_size=5, ask_size=7, timestamp=at, source="test"
    )


class Parts:
    """Writers and mirrors, each on its own client (as in separate processes), closed at the end."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.clients: list[Redis] = []
        self.writers: list[RedisPriceWriter] = []
        self.mirrors: list[RedisPriceMirror] = []

    async def writer(self, **options: int) -> RedisPriceWriter:
        self.clients.append(client := connect(self.url))
        writer = RedisPriceWriter(client, prefix=self.prefix, reconnect_max_seconds=0.2, **options)
        await writer.start()
        self.writers.append(writer)
        return writer

    async def mirror(self) -> RedisPriceMirror:
        self.clients.append(client := connect(self.url))
        mirror = RedisPriceMirror(client, prefix=self.prefix, **FAST)
        assert await mirror.start(wait_seconds=5.0)
        self.mirrors.append(mirror)
        return mirror

    async def close(self) -> None:
        for mirror in self.mirrors:
            await mirror.stop()
        for writer in self.writers:
            await writer.stop(flush_seconds=0.1)
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def parts(prefix: str) -> AsyncIterator[Parts]:
    made = Parts(SHARED_URL, prefix)
    yield made
    await made.close()


@pytest.fixture
async def spare_parts(spare: SpareRedis) -> AsyncIterator[Parts]:
    made = Parts(spare.url, "agora:")
    yield made
    await made.close()


async def test_two_mirrors_see_what_the_writer_writes(parts: Parts) -> None:
    writer = await parts.writer()
    first, second = await parts.mirror(), await parts.mirror()
    writer.on_price(trade("AAPL", 2_000_000, T0))
    writer.on_price(quote("AAPL", 1_999_000, 2_001_000, T0 + 5 * MS))
    assert await writer.flush(5.0)
    for mirror in (first, second):
        await eventually(lambda m=mirror: m.quote("AAPL") == MID)
        got = mirror.quote("AAPL")
        assert got is not None
        assert (got.price, got.as_of) == (2_000_000, T0 + 5 * MS)  # the mid
        latest = mirror.latest("AAPL")
        assert latest is not None
        assert (latest.bid, latest.ask, latest.last) == (1_999_000, 2_001_000, 2_000_000)
    assert writer.stats.published == 2


async def test_a_mirror_started_later_reads_the_snapshot(parts: Parts) -> None:
    writer = await parts.writer()
    writer.on_price(trade("MSFT", 4_100_000, T0))
    writer.on_price(quote("MSFT", 4_099_000, 4_101_000, T0 + timedelta(seconds=1)))
    assert await writer.flush(5.0)
    mirror = await parts.mirror()  # no update is published after it subscribed
    got = mirror.quote("MSFT")
    assert got is not None
    assert (got.price, got.as_of) == (4_100_000, T0 + timedelta(seconds=1))
    latest = mirror.latest("MSFT")
    assert latest is not None
    assert (latest.bid, latest.last) == (4_099_000, 4_100_000)


async def test_an_older_write_never_moves_a_price_back(parts: Parts, redis: Redis) -> None:
    new_writer, old_writer = await parts.writer(), await parts.writer()
    mirror = await parts.mirror()
    new_writer.on_price(trade("AAPL", 2_100_000, T0 + timedelta(seconds=2)))
    assert await new_writer.flush(5.0)
    old_writer.on_price(trade("AAPL", 1_900_000, T0))  # a late writer, say before a failover
    assert await old_writer.flush(5.0)
    raw = await redis.hget(f"{parts.prefix}prices", "AAPL")
    assert raw is not None
    assert decode_stored(raw).price == 2_100_000
    late = await parts.mirror()
    for each in (mirror, late):
        await eventually(lambda m=each: m.quote("AAPL") is not None)
        got = each.quote("AAPL")
        assert got is not None
        assert got.price == 2_100_000


async def funded(platform: Platform) -> None:
    await platform.orders.execute(OpenAccount(account_id="acc_redis"))
    await platform.orders.execute(
        Deposit(account_id="acc_redis", transfer_id="seed", amount=10_000_000)
    )


def buy(client_order_id: str) -> PlaceOrder:
    return PlaceOrder(
        account_id="acc_redis",
        symbol="AAPL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        qty=1,
        limit_price=2_000_000,
        client_order_id=client_order_id,
    )


async def test_redis_down_denies_orders_serves_reads_and_recovers(
    spare: SpareRedis, spare_parts: Parts, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    writer = await spare_parts.writer()
    mirror = await spare_parts.mirror()
    platform = await start(tmp_path / "data", clock, mirror)  # the lanes' PriceSource is the mirror
    try:
        await funded(platform)
        writer.on_price(trade("AAPL", 2_000_000, clock.now()))
        await eventually(lambda: mirror.quote("AAPL") is not None)
        assert isinstance(await platform.orders.execute(buy("before")), Order)

        await spare.kill()
        lost_at = time.monotonic()
        await eventually(lambda: mirror.quote("AAPL") is None, timeout_seconds=2.0)
        assert time.monotonic() - lost_at < 1.0  # within the link timeout (0.5 s), plus slack
        with pytest.raises(RiskDeniedError) as denied:
            await platform.orders.execute(buy("while-down"))
        assert (denied.value.rule, denied.value.code) == ("price_freshness", "price_unavailable")
        assert mirror.is_stale("AAPL", clock.now())
        latest = mirror.latest("AAPL")  # reads still answer, with their feed time
        assert latest is not None
        assert price_payload(latest)["timestamp"] == "2026-01-05T14:30:00Z"
        clock.advance(timedelta(seconds=1))
        writer.on_price(trade("AAPL", 2_000_100, clock.now()))  # the feed goes on meanwhile

        await spare.start()  # back, empty: the writer rewrites what it knows, the mirror resyncs
        news = PriceQuote(price=2_000_100, as_of=clock.now())
        await eventually(lambda: mirror.quote("AAPL") == news, timeout_seconds=5.0)
        assert isinstance(await platform.orders.execute(buy("after")), Order)
    finally:
        await platform.close()


async def test_a_frozen_redis_closes_the_gate_within_the_link_timeout(
    spare: SpareRedis, spare_parts: Parts
) -> None:
    writer = await spare_parts.writer()
    mirror = await spare_parts.mirror()
    writer.on_price(trade("AAPL", 2_000_000, T0))
    await eventually(lambda: mirror.quote("AAPL") is not None)
    spare.pause()  # no reset, no error: only silence
    paused_at = time.monotonic()
    try:
        await eventually(lambda: mirror.quote("AAPL") is None, timeout_seconds=2.0)
        assert time.monotonic() - paused_at < 0.5 + 0.2  # the link timeout, plus a ping
        assert mirror.latest("AAPL") is not None
    finally:
        spare.resume()
    await eventually(lambda: mirror.quote("AAPL") is not None, timeout_seconds=5.0)


async def test_the_writer_queue_is_bounded_and_the_newest_price_wins(
    spare: SpareRedis, spare_parts: Parts
) -> None:
    writer = await spare_parts.writer(max_pending_updates=5)
    await spare.kill()
    for n in range(20):
        writer.on_price(trade("AAPL", 2_000_000 + n, T0 + timedelta(milliseconds=n)))
    await eventually(lambda: writer.stats.failures > 0)
    assert writer.stats.dropped >= 15
    await spare.start()
    assert await writer.flush(5.0)
    mirror = await spare_parts.mirror()
    got = mirror.quote("AAPL")
    assert got is not None
    assert got.price == 2_000_019


async def test_a_symbol_whose_updates_were_dropped_still_reaches_subscribed_mirrors(
    parts: Parts,
) -> None:
    writer = await parts.writer(max_pending_updates=5)
    mirror = await parts.mirror()
    writer.on_price(trade("MSFT", 4_100_500, T0))
    writer.on_price(quote("MSFT", 4_099_000, 4_101_000, T0 + MS))  # a pure quote: the mid counts
    for n in range(10):  # the hub hands these over before the writer runs: MSFT's are dropped
        writer.on_price(trade("AAPL", 2_000_000 + n, T0 + n * MS))
    assert writer.stats.dropped == 7
    assert await writer.flush(5.0)
    mid = PriceQuote(price=4_100_000, as_of=T0 + MS)
    await eventually(lambda: mirror.quote("MSFT") == mid)  # from its state, published instead
    latest = mirror.latest("MSFT")
    assert latest is not None
    assert (latest.bid, latest.ask, latest.last) == (4_099_000, 4_101_000, 4_100_500)


async def test_a_restart_between_two_writes_is_noticed_and_repaired(
    spare: SpareRedis, spare_parts: Parts
) -> None:
    writer = await spare_parts.writer()
    writer.on_price(trade("AAPL", 2_000_000, T0))
    writer.on_price(trade("MSFT", 4_100_000, T0))
    assert await writer.flush(5.0)
    await spare.kill()
    await spare.start()  # empty again, and the writer was idle: it saw nothing fail
    writer.on_price(trade("AAPL", 2_000_100, T0 + MS))
    assert await writer.flush(5.0)
    assert writer.stats.failures == 0
    mirror = await spare_parts.mirror()
    await eventually(lambda: mirror.quote("MSFT") == PriceQuote(price=4_100_000, as_of=T0))


async def test_a_mirror_meeting_a_frozen_redis_keeps_trying_and_links_when_it_thaws(
    spare: SpareRedis, spare_parts: Parts
) -> None:
    writer = await spare_parts.writer()
    writer.on_price(trade("AAPL", 2_000_000, T0))
    assert await writer.flush(5.0)
    spare.pause()  # the kernel still accepts connections: the handshake never gets an answer
    try:
        spare_parts.clients.append(client := connect(spare_parts.url))
        mirror = RedisPriceMirror(client, prefix=spare_parts.prefix, **FAST)
        spare_parts.mirrors.append(mirror)
        assert not await mirror.start(wait_seconds=1.5)
        assert mirror.quote("AAPL") is None
        assert mirror.link.reconnects >= 1  # not stuck in the first attempt
    finally:
        spare.resume()
    await eventually(lambda: mirror.quote("AAPL") == PriceQuote(price=2_000_000, as_of=T0))
