"""``agora bench ratelimit``: does a user at 10× its rate limit slow other users down?

A child ``agora serve`` with a per-user limit (default 50 requests/s). Well-behaved traders send
orders at a fixed total rate (open loop) twice: alone, then while one abusive trader sends ten
times its limit. Reported: the well-behaved traders' latency in both phases and the ratio, and
what the abuser got (mostly 429). The check: the well-behaved traders never got a 429, the
abuser was limited, the ledger verifies and no order is left open.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from agora.bench.ack import check, limit_prices, make_traders, open_loop, order_sender
from agora.bench.common import machine
from agora.bench.server import served


@dataclass(frozen=True, slots=True)
class IsolationConfig:
    """What the scenario runs."""

    limit_per_second: int = 50
    traders: int = 20
    rate: int = 200  # well-behaved orders per second, all traders together (10/s each)
    duration_seconds: float = 10.0


async def run_isolation(config: IsolationConfig) -> dict[str, Any]:
    """Measure the well-behaved traders alone and beside an abuser at 10× the limit."""
    with tempfile.TemporaryDirectory(prefix="agora-bench-") as folder:
        data = Path(folder) / "data"
        limit = str(config.limit_per_second)
        async with served(data, "--rate-limit", limit) as server:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                tokens = await make_traders(session, server, config.traders + 1)
                good, abuser = tokens[:-1], tokens[-1:]
                prices = await limit_prices(session, server, good[0])
                send = order_sender(session, server.url, good, prices)
                noisy = order_sender(session, server.url, abuser, prices)
                alone = await open_loop(send, config.rate, config.duration_seconds, _nothing)
                await asyncio.sleep(1.5)
                abuse_rate = 10 * config.limit_per_second
                beside, abused = await asyncio.gather(
                    open_loop(send, config.rate, config.duration_seconds, _nothing),
                    open_loop(noisy, abuse_rate, config.duration_seconds, _nothing),
                )
            async with aiohttp.ClientSession() as fresh:  # pooled connections may be reset
                verdict = await check(fresh, server, tokens)
    quiet, loud = alone.summary(), beside.summary()
    verdict["good_traders_limited"] = beside.statuses.get(429, 0) + alone.statuses.get(429, 0)
    verdict["abuser_limited"] = abused.statuses.get(429, 0)
    return {
        "scenario": "ratelimit",
        "config": {
            "limit_per_second": config.limit_per_second,
            "good_traders": config.traders,
            "good_rate": config.rate,
            "abuser_rate": 10 * config.limit_per_second,
            "duration_seconds": config.duration_seconds,
        },
        "machine": machine(),
        "alone": quiet,
        "beside_abuser": loud,
        "abuser": abused.summary(),
        "p99_ratio": round(loud["latency_ms"]["p99"] / max(quiet["latency_ms"]["p99"], 1e-9), 2),
        "check": verdict,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _nothing() -> None:
    return None
