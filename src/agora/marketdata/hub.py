"""The market-data hub: fans each price update out to observers that cannot hold each other up.

Every observer has its own bounded queue and its own task. ``publish`` never waits: it puts the
update on each queue, and when a queue is full it drops that queue's oldest update (the newest
price is the one worth having) and counts it in the observer's ``dropped``. An observer that
raises is logged (its first failure, then every ``LOG_EVERY_FAILURES``-th) and counted in
``failed``; it keeps receiving updates. Updates reach each observer in publish order, so each
sees every symbol's updates in feed order, less any it dropped. A handler may be a plain
function (it must be quick: it runs on the event loop) or a coroutine function.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from agora.marketdata.ports import Feed
from agora.marketdata.records import PriceUpdate

Handler = Callable[[PriceUpdate], Awaitable[None] | None]

DEFAULT_QUEUE_SIZE = 10_000
LOG_EVERY_FAILURES = 1_000

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ObserverStats:
    """What happened to one observer's updates so far."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    queued: int = 0


class _Observer:
    def __init__(self, name: str, handler: Handler, queue_size: int) -> None:
        self.name = name
        self.handler = handler
        self.queue: asyncio.Queue[PriceUpdate] = asyncio.Queue(maxsize=queue_size)
        self.stats = ObserverStats()
        self.task: asyncio.Task[None] | None = None

    def offer(self, update: PriceUpdate) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
            self.stats.dropped += 1
        self.queue.put_nowait(update)

    async def run(self) -> None:
        while True:
            update = await self.queue.get()
            try:
                result = self.handler(update)
                if inspect.isawaitable(result):
                    await result
                self.stats.delivered += 1
            except Exception:
                self.stats.failed += 1
                if self.stats.failed == 1 or self.stats.failed % LOG_EVERY_FAILURES == 0:
                    logger.exception(
                        "market-data observer %s failed on %s (%d failures so far)",
                        self.name,
                        update.symbol,
                        self.stats.failed,
                    )
            finally:
                self.queue.task_done()


class MarketDataHub:
    """Deliver every published update to every observer, each at its own pace."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._observers: dict[str, _Observer] = {}
        self._started = False
        self.published = 0

    def subscribe(self, name: str, handler: Handler, *, queue_size: int | None = None) -> None:
        """Add an observer under a unique ``name``; it receives updates published from now on."""
        if name in self._observers:
            raise ValueError(f"an observer named {name!r} is already subscribed")
        size = self._queue_size if queue_size is None else queue_size
        if size < 1:
            raise ValueError("queue_size must be at least 1")
        observer = _Observer(name, handler, size)
        self._observers[name] = observer
        if self._started:
            observer.task = asyncio.create_task(observer.run(), name=f"marketdata-{name}")

    async def unsubscribe(self, name: str) -> None:
        """Remove an observer, discarding updates it has not handled yet."""
        observer = self._observers.pop(name, None)
        if observer is not None and observer.task is not None:
            await _cancel(observer.task)

    async def start(self) -> None:
        """Start a task per observer (on the running loop)."""
        self._started = True
        for observer in self._observers.values():
            if observer.task is None:
                observer.task = asyncio.create_task(
                    observer.run(), name=f"marketdata-{observer.name}"
                )

    def publish(self, update: PriceUpdate) -> None:
        """Queue ``update`` for every observer; never waits."""
        self.published += 1
        for observer in self._observers.values():
            observer.offer(update)

    async def pump(self, feed: Feed) -> None:
        """Publish every update of ``feed`` until it ends (run it as a task; cancel to stop)."""
        async for update in feed.updates():
            self.publish(update)

    async def drain(self) -> None:
        """Wait until every observer has handled everything queued so far."""
        await asyncio.gather(*(o.queue.join() for o in self._observers.values() if o.task))

    def stats(self) -> dict[str, ObserverStats]:
        """Return a copy of each observer's counters."""
        result = {}
        for name, observer in self._observers.items():
            result[name] = replace(observer.stats, queued=observer.queue.qsize())
        return result

    async def stop(self, *, drain_timeout_s: float = 5.0) -> None:
        """Let observers finish their queues (up to ``drain_timeout_s``), then stop their tasks."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout=drain_timeout_s)
        for observer in self._observers.values():
            if observer.task is not None:
                await _cancel(observer.task)
                observer.task = None
        self._started = False


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task])  # unlike awaiting the task, a cancel of the caller still propagates
