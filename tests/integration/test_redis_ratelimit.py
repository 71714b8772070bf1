"""Rate limits shared by web workers through a real Redis, and what happens when it goes away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agora.bus.redis_link import connect
from agora.web.ratelimit import RateDecision, SlidingWindowLimiter
from agora.web.redis_ratelimit import (
    InProcessRateLimiter,
    OnUnavailable,
    RedisRateLimiter,
    refusal,
    unavailable_policy,
)
from tests.integration.redis_support import SHARED_URL, SpareRedis, fresh_prefix, shared_client

DENY, LOCAL = OnUnavailable.DENY, OnUnavailable.LOCAL


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


@pytest.fixture
async def workers() -> AsyncIterator[list[Redis]]:
    """Clients of two web workers (each its own connection pool), closed at the end."""
    clients: list[Redis] = []
    yield clients
    for client in clients:
        await client.aclose()


def worker(
    clients: list[Redis], url: str, prefix: str, limit: int, **kw: float
) -> RedisRateLimiter:
    clients.append(client := connect(url))
    return RedisRateLimiter(client, limit, prefix=prefix, **kw)


def code(decision: RateDecision) -> str:
    return str(getattr(decision, "code", ""))


async def test_the_window_allows_the_limit_then_refuses(workers: list[Redis], prefix: str) -> None:
    limiter = worker(workers, SHARED_URL, prefix, 3)
    decisions = [await limiter.check("u1") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [code(d) for d in decisions] == ["ok", "ok", "ok", "rate_limited"]
    assert decisions[0].limit == 3
    assert decisions[0].reset_seconds == 1
    assert (decisions[0].retry_after_seconds, decisions[3].retry_after_seconds) == (0, 1)
    assert refusal(decisions[3]) == (429, "rate_limited", "more than 3 requests per second")


async def test_two_workers_share_each_users_budget(workers: list[Redis], prefix: str) -> None:
    # 50 concurrent checks open up to 50 connections at once: generous timeouts, and a minute's
    # window, as on a busy machine the burst may take longer than a second to count
    first, second = (
        worker(workers, SHARED_URL, prefix, 10, timeout_seconds=5.0, window_seconds=60.0)
        for _ in "ab"
    )
    assert await first.prepare()
    results = await asyncio.gather(
        *(limiter.check("shared") for _ in range(25) for limiter in (first, second))
    )
    assert {getattr(d, "source", None) for d in results} == {"redis"}
    assert sum(d.allowed for d in results) == 10
    other = await second.check("someone-else")
    assert (other.allowed, other.remaining) == (True, 9)


async def test_the_window_slides(workers: list[Redis], prefix: str) -> None:
    limiter = worker(workers, SHARED_URL, prefix, 2, window_seconds=1.0)
    assert [(await limiter.check("u")).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(1.05)
    assert (await limiter.check("u")).allowed


async def test_idle_users_cost_nothing(workers: list[Redis], prefix: str, redis: Redis) -> None:
    limiter = worker(workers, SHARED_URL, prefix, 5, window_seconds=30.0)
    assert code(await limiter.check("idle")) == "ok"
    ttl_ms = await redis.pttl(limiter.key("idle"))
    assert 0 < ttl_ms <= 31_000  # the window and a second: then the key is gone


async def test_redis_down_fails_closed_for_orders_and_locally_for_reads(
    spare: SpareRedis, workers: list[Redis]
) -> None:
    limiter = worker(workers, spare.url, "agora:", 3, cooldown_seconds=0.2)
    assert code(await limiter.check("u")) == "ok"
    await spare.kill()

    started = time.monotonic()
    order = await limiter.check("u", on_unavailable=DENY)
    assert time.monotonic() - started < 0.3
    assert (order.allowed, code(order), order.retry_after_seconds) == (
        False,
        "rate_limiter_unavailable",
        1,
    )
    assert refusal(order)[:2] == (503, "rate_limiter_unavailable")
    reads = [await limiter.check("u", on_unavailable=LOCAL) for _ in range(4)]
    assert [r.allowed for r in reads] == [True, True, True, False]  # still limited, per worker
    assert code(reads[3]) == "rate_limited"
    assert not limiter.available

    await spare.start()
    await asyncio.sleep(0.25)  # the cooldown ends: the next check asks Redis again
    back = await limiter.check("u", on_unavailable=DENY)
    assert (back.allowed, code(back), getattr(back, "source", None)) == (True, "ok", "redis")


async def test_a_frozen_redis_holds_a_request_at_most_the_timeout(
    spare: SpareRedis, workers: list[Redis]
) -> None:
    limiter = worker(workers, spare.url, "agora:", 3, timeout_seconds=0.3, cooldown_seconds=5.0)
    assert await limiter.prepare()
    assert (await limiter.check("u")).allowed
    spare.pause()
    try:
        started = time.monotonic()
        first = await limiter.check("u")
        assert time.monotonic() - started < 0.3 + 0.3  # the timeout, and slack for a busy machine
        started = time.monotonic()
        second = await limiter.check("u")  # cooling down: Redis is not asked at all
        assert time.monotonic() - started < 0.05
        assert code(first) == code(second) == "rate_limiter_unavailable"
    finally:
        spare.resume()


@pytest.mark.parametrize(
    ("method", "path", "policy"),
    [
        ("POST", "/api/v1/orders", DENY),
        ("PATCH", "/api/v1/orders/ord_1", DENY),
        ("POST", "/api/v1/account/withdrawals", DENY),
        ("POST", "/api/v1/admin/users", DENY),
        ("GET", "/api/v1/orders", LOCAL),
        ("GET", "/api/v1/quotes/AAPL", LOCAL),
        ("GET", "/api/v1/stream/prices", LOCAL),
        ("DELETE", "/api/v1/orders/ord_1", LOCAL),
        ("DELETE", "/api/v1/orders", LOCAL),
        ("POST", "/api/v1/admin/trading-state", LOCAL),
    ],
)
def test_which_requests_fail_closed(method: str, path: str, policy: OnUnavailable) -> None:
    assert unavailable_policy(method, path) is policy


async def test_the_embedded_limiter_answers_through_the_same_interface() -> None:
    limiter = InProcessRateLimiter(SlidingWindowLimiter(2))
    decisions = [await limiter.check("u") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert refusal(decisions[2])[0] == 429
