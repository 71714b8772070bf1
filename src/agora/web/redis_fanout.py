"""SSE fan-out across web workers through Redis pub/sub (the scaled shape).

**Prices.** The market-data process's ``RedisPriceWriter`` publishes every update on
``P price:SYMBOL`` (see ``agora.marketdata.redis_cache``). Each web worker runs one
``RedisFanout``: one connection subscribed to ``P price:*`` that hands each update to the
worker's ``PriceStream``, which offers it to the connections following that symbol. Every worker
gets every symbol (a pattern, not a subscription per symbol): the stream ignores symbols nobody
follows with one dict lookup, and no subscribe/unsubscribe has to track clients coming and going.

**Orders.** The order stream already follows the outbox, the system of record, and uses outbox
sequence numbers as SSE ids, so ``Last-Event-ID`` resumes without gaps or repeats in any worker.
Redis carries only the wake-up: ``CommitSignal.notify`` (an ``OrderService.on_commit`` listener
in the process that runs the lanes) publishes on ``P orders:committed``, and every worker's
fan-out calls its ``OrderStream.notify``, so an order event reaches its clients in milliseconds
instead of the follower's half-second poll. A lost signal costs latency, never an event.

**Reconnects.** When the link drops, the fan-out reconnects with a capped backoff, subscribes
again, then republishes the newest price of every symbol from ``P prices`` (what clients missed
collapses into the current price; older updates still in flight are dropped, not shown after it)
and wakes the order stream (which catches up from the outbox).

**Bounded buffers.** The writer's queue is a bounded deque (oldest dropped, counted). Redis bounds
what it buffers for a subscriber (``client-output-buffer-limit pubsub``): a worker that cannot
keep up is disconnected, reconnects and resumes from the snapshot: the oldest updates are the ones
lost. Each SSE connection has its own bounded queue (``streams.QUEUE_LIMIT``); a slow client
overflows and is dropped, the others never wait. The reader yields to the event loop every
``YIELD_EVERY_MESSAGES`` messages so a burst cannot starve the requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import msgspec
from redis.asyncio import Redis

from agora.bus.redis_link import (
    REDIS_DOWN,
    Backoff,
    Subscription,
    as_bytes,
    cancel_and_wait,
)
from agora.core.events import JsonValue
from agora.marketdata.records import PriceUpdate
from agora.marketdata.redis_cache import DEFAULT_PREFIX, PriceKeys, decode_messages, decode_stored
from agora.marketdata.views import price_payload

log = logging.getLogger(__name__)


def commit_channel(prefix: str) -> str:
    """The channel that says an account lane committed (new outbox events)."""
    return f"{prefix}orders:committed"


class PricePublisher(Protocol):
    """Where the fan-out hands price updates (a ``PriceStream``)."""

    def publish(self, symbol: str, price: dict[str, JsonValue]) -> None:
        """Offer one price update to the connections that follow ``symbol``."""
        ...


class RedisFanout:
    """Feed this worker's price stream, and wake its order stream, from Redis pub/sub."""

    def __init__(
        self,
        client: Redis,
        prices: PricePublisher,
        *,
        on_orders_committed: Callable[[], None] | None = None,
        prefix: str = DEFAULT_PREFIX,
        ping_interval_seconds: float = 0.25,
        link_timeout_seconds: float = 1.0,
        reconnect_max_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = PriceKeys(prefix)
        self._client = client
        self._prices = prices
        self._on_orders_committed = on_orders_committed
        self._commit_channel = commit_channel(prefix).encode()
        self._floor: dict[str, datetime] = {}  # per symbol: the snapshot's time after a resync
        self.stale_dropped = 0
        self.link = Subscription(
            client,
            name="sse-fanout",
            channels=(commit_channel(prefix),),
            patterns=(self.keys.pattern,),
            on_message=self._on_message,
            on_subscribed=self._resync,
            ping_interval_seconds=ping_interval_seconds,
            link_timeout_seconds=link_timeout_seconds,
            reconnect_max_seconds=reconnect_max_seconds,
            monotonic=monotonic,
        )

    async def start(self, *, wait_seconds: float = 0.0) -> bool:
        """Start following Redis; wait up to ``wait_seconds`` for the first sync."""
        await self.link.start()
        return await self.link.wait_live(wait_seconds) if wait_seconds > 0 else self.link.live

    async def stop(self) -> None:
        """Stop following Redis."""
        await self.link.stop()

    def _on_message(self, channel: bytes, data: bytes) -> None:
        if channel == self._commit_channel:
            self._wake_orders()
            return
        for message in decode_messages(data):
            self._publish(message.update)

    def _publish(self, update: PriceUpdate) -> None:
        floor = self._floor.get(update.symbol)
        if floor is not None:
            if update.timestamp < floor:  # published before the snapshot, delivered after it
                self.stale_dropped += 1
                return
            del self._floor[update.symbol]
        self._prices.publish(update.symbol, price_payload(update))

    async def _resync(self) -> None:
        stored = await self._client.hgetall(self.keys.prices)
        self._floor.clear()
        for raw in stored.values():
            try:
                latest = decode_stored(as_bytes(raw)).latest
            except msgspec.DecodeError:
                continue
            self._prices.publish(latest.symbol, price_payload(latest))
            self._floor[latest.symbol] = latest.timestamp
        self._wake_orders()

    def _wake_orders(self) -> None:
        if self._on_orders_committed is not None:
            self._on_orders_committed()


class CommitSignal:
    """Tell every web worker that the lanes committed (an ``OrderService.on_commit`` listener)."""

    def __init__(
        self, client: Redis, *, prefix: str = DEFAULT_PREFIX, reconnect_max_seconds: float = 1.0
    ) -> None:
        self.channel = commit_channel(prefix)
        self.published = 0
        self.failures = 0
        self._client = client
        self._reconnect_max = reconnect_max_seconds
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Signal a commit (never waits; a burst of commits is one message)."""
        self._wakeup.set()

    async def start(self) -> None:
        """Start the task that publishes the signals."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="redis-commit-signal")

    async def stop(self) -> None:
        """Stop publishing."""
        self._stopping = True  # ends the loop even if a driver call swallows the cancellation
        self._wakeup.set()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        backoff = Backoff(cap_seconds=self._reconnect_max)
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._stopping:
                return
            try:
                async with asyncio.timeout(1.0):
                    await self._client.publish(self.channel, b"")
            except REDIS_DOWN as exc:  # the workers' outbox polls still find the events
                self.failures += 1
                if self.failures == 1 or self.failures % 1_000 == 0:
                    log.warning("commit signal: Redis unavailable (%s)", exc)
                await asyncio.sleep(backoff.next())
                continue
            self.published += 1
            backoff.reset()
