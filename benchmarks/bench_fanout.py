"""Time the market-data fan-out: updates through the hub to every observer `agora serve` uses.

Usage: python benchmarks/bench_fanout.py [--updates N] [--batch N] [--subscribers N]
       [--per-update] [--json]
Target (issue 4): >= 200k updates/s through all observers, in one process.
Observers, as in agora serve: the last-price cache, the candle recorder (aggregator; its store is
the memory store and no flush runs during the timing), the simulated venue's quote converter
(into a sink instead of a venue thread) and the SSE price broadcaster with ``--subscribers``
connections each following every symbol. They subscribe as batch observers
(``hub.subscribe_batches``: one call per batch of updates; the SSE one formats nothing while no
connection is attached); ``--per-update`` subscribes them as per-update handlers
(``hub.subscribe``, as ``agora.embedded`` does at the time of writing) instead. Updates are
generated beforehand (seeded synthetic feed) and published with ``hub.publish_many`` in batches
of ``--batch`` (default 500), yielding to the loop between batches as a feed task does.
Throughput counts from the first publish until every observer has handled every update, on the
wall clock and (``updates_per_cpu_second``, less disturbed when other processes compete for the
cores) on this process's CPU time. The check at the end: nothing dropped or failed, each observer
saw every update, the cache holds the last price of each symbol.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from common import machine, peak_rss_mib

from agora.core.instruments import InstrumentRegistry
from agora.execution.venues.reports import Quote
from agora.marketdata.cache import LastPriceCache
from agora.marketdata.candles import CandleAggregator
from agora.marketdata.hub import MarketDataHub
from agora.marketdata.quotes import quote_batch_observer, quote_observer
from agora.marketdata.recorder import CandleRecorder
from agora.marketdata.records import PriceUpdate
from agora.marketdata.synthetic import SyntheticMarket
from agora.marketdata.views import price_payload
from agora.storage.candles_memory import MemoryCandleStore
from agora.web.streams import PriceStream

START = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)


def updates(count: int) -> list[PriceUpdate]:
    """Pre-generate ``count`` seeded synthetic updates, 1 ms apart."""
    instruments = InstrumentRegistry.default().all()
    market = SyntheticMarket(instruments, seed=1, seconds_per_update=0.001)
    return [market.next(START + timedelta(milliseconds=n)) for n in range(count)]


def subscribe(
    hub: MarketDataHub,
    cache: LastPriceCache,
    recorder: CandleRecorder,
    quotes: list[Quote],
    stream: PriceStream,
    *,
    per_update: bool,
) -> None:
    """Subscribe the four observers, per update or per batch."""
    instruments = InstrumentRegistry.default()
    if per_update:
        hub.subscribe("prices", cache.on_price)
        hub.subscribe("candles", recorder.on_price)
        hub.subscribe("venue", quote_observer(quotes.append, instruments))
        hub.subscribe("sse", lambda u: stream.publish(u.symbol, price_payload(u)))
        return

    def publish_prices(updates: Sequence[PriceUpdate]) -> None:
        if not stream.subscribers():  # nobody is connected: format nothing
            return
        for update in updates:
            stream.publish(update.symbol, price_payload(update))

    hub.subscribe_batches("prices", cache.on_prices)
    hub.subscribe_batches("candles", recorder.on_prices)
    hub.subscribe_batches("venue", quote_batch_observer(quotes.append, instruments))
    hub.subscribe_batches("sse", publish_prices)


async def run(count: int, batch: int, subscribers: int, *, per_update: bool) -> dict[str, object]:
    """Publish every update and wait until all observers handled them."""
    made = updates(count)
    instruments = InstrumentRegistry.default()
    cache = LastPriceCache(max_age=timedelta(days=1))
    recorder = CandleRecorder(MemoryCandleStore(), CandleAggregator())
    quotes: list[Quote] = []
    stream = PriceStream(lambda symbol: None)
    symbols = [i.symbol for i in instruments.all()]
    connections = [stream.attach(symbols)[0] for _ in range(subscribers)]
    received = [0] * subscribers

    async def read(index: int) -> None:  # an SSE writer without the socket
        queue = connections[index].queue
        while True:
            await queue.get()
            received[index] += 1

    readers = [asyncio.create_task(read(n)) for n in range(subscribers)]
    hub = MarketDataHub(queue_size=batch * 2)
    subscribe(hub, cache, recorder, quotes, stream, per_update=per_update)
    await hub.start()
    gc.collect()
    gc.freeze()
    started, started_cpu = time.perf_counter(), time.process_time()
    for offset in range(0, count, batch):
        hub.publish_many(made[offset : offset + batch])
        await asyncio.sleep(0)
        await hub.drain()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    await asyncio.sleep(0)
    stats = hub.stats()
    await hub.stop()
    for reader in readers:
        reader.cancel()
    last = {u.symbol: u for u in made}
    ok = (
        all(s.delivered == count and s.dropped == 0 and s.failed == 0 for s in stats.values())
        and all(cache.latest(symbol) == update for symbol, update in last.items())
        and len(quotes) == count
        and received == [count] * subscribers
        and not any(c.overflowed for c in connections)
    )
    return {
        "scenario": "fanout",
        "config": {
            "updates": count,
            "batch": batch,
            "sse_subscribers": subscribers,
            "observers": "per update" if per_update else "batch",
        },
        "machine": machine(),
        "updates_per_second": round(count / elapsed),
        "seconds": round(elapsed, 3),
        "updates_per_cpu_second": round(count / cpu),
        "observers": {name: s.delivered for name, s in stats.items()},
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "check": "ok" if ok else "FAILED",
    }


def main() -> int:
    """Parse options, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--per-update", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    report = asyncio.run(
        run(options.updates, options.batch, options.subscribers, per_update=options.per_update)
    )
    print(json.dumps(report, indent=None if options.json else 2))
    return 0 if report["check"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
