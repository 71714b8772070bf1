"""Two real processes share prices and rate limits through Redis.

The child is this module run as ``python -m tests.integration.test_redis_processes child URL
PREFIX``: a market-data writer, a web worker's limiter and a mirror, talking to the parent only
through Redis (and a line of JSON on stdout per step).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from agora.bus.redis_link import connect
from agora.marketdata.records import PriceUpdate
from agora.marketdata.redis_cache import RedisPriceMirror, RedisPriceWriter
from agora.risk import PriceQuote
from agora.web.redis_ratelimit import RedisRateLimiter
from tests.integration.redis_support import SHARED_URL, eventually, fresh_prefix, shared_client

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-01-05T14:30:00+00:00")
LIMIT = 4
STEP_TIMEOUT_SECONDS = 20.0


def trade(symbol: str, last: int) -> PriceUpdate:
    return PriceUpdate(symbol=symbol, last=last, volume=1, timestamp=T0, source="test")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = await shared_client()
    async with fresh_prefix(client) as prefix:
        yield prefix
    await client.aclose()


async def test_a_child_process_shares_prices_and_limits(prefix: str) -> None:
    commands, mirror_client = connect(SHARED_URL), connect(SHARED_URL)
    writer = RedisPriceWriter(commands, prefix=prefix)
    mirror = RedisPriceMirror(mirror_client, prefix=prefix)
    limiter = RedisRateLimiter(
        commands, LIMIT, window_seconds=60.0, prefix=prefix, timeout_seconds=5.0
    )
    await writer.start()
    assert await mirror.start(wait_seconds=5.0)
    assert await limiter.prepare()
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.integration.test_redis_processes"),
        *("child", SHARED_URL, prefix),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        first = json.loads(await asyncio.wait_for(child.stdout.readline(), STEP_TIMEOUT_SECONDS))
        assert first == {"remaining": [3, 2, 1]}  # the child spent 3 of the user's 4

        expected = PriceQuote(price=2_000_000, as_of=T0)  # written by the child
        await eventually(lambda: mirror.quote("AAPL") == expected)
        mine = [await limiter.check("shared") for _ in range(2)]
        assert [(d.allowed, d.remaining) for d in mine] == [(True, 0), (False, 0)]

        writer.on_price(trade("MSFT", 4_100_000))  # for the child's mirror
        second = json.loads(await asyncio.wait_for(child.stdout.readline(), STEP_TIMEOUT_SECONDS))
        assert second == {"MSFT": 4_100_000}
        assert await asyncio.wait_for(child.wait(), STEP_TIMEOUT_SECONDS) == 0
    except BaseException:
        if child.returncode is None:
            child.kill()
        _, errors = await child.communicate()
        print(errors.decode(errors="replace"), file=sys.stderr)
        raise
    finally:
        await mirror.stop()
        await writer.stop()
        await commands.aclose()
        await mirror_client.aclose()


async def child_main(url: str, prefix: str) -> None:
    """The other process: write a price, spend some of a limit, read the parent's price."""
    commands, mirror_client = connect(url), connect(url)
    writer = RedisPriceWriter(commands, prefix=prefix)
    mirror = RedisPriceMirror(mirror_client, prefix=prefix)
    limiter = RedisRateLimiter(
        commands, LIMIT, window_seconds=60.0, prefix=prefix, timeout_seconds=5.0
    )
    await writer.start()
    assert await mirror.start(wait_seconds=5.0)
    writer.on_price(trade("AAPL", 2_000_000))
    assert await writer.flush(5.0)
    remaining = [(await limiter.check("shared")).remaining for _ in range(3)]
    print(json.dumps({"remaining": remaining}), flush=True)
    await eventually(lambda: mirror.quote("MSFT") is not None, timeout_seconds=10.0)
    quote = mirror.quote("MSFT")
    assert quote is not None
    print(json.dumps({"MSFT": quote.price}), flush=True)
    await mirror.stop()
    await writer.stop()
    await commands.aclose()
    await mirror_client.aclose()


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    asyncio.run(child_main(sys.argv[2], sys.argv[3]))
