"""The market-data hub: fans each price update out to observers that cannot hold each other up.

Every observer has its own bounded queue and its own task. ``publish`` and ``publish_many`` never
wait: they append to each queue, and when a queue is full its oldest updates are dropped (the
newest price is the one worth having) and counted in the observer's ``dropped``. An observer that
raises is logged (its first failure, then every ``LOG_EVERY_FAILURES``-th) and counted in
``failed``; it keeps receiving updates. Updates reach each observer in publish order, so each
sees every symbol's updates in feed order, less any it dropped.

Handlers are classified once, when they subscribe. A coroutine function gets its updates one at
a time and is awaited for each; a slow one only fills its own queue. A plain function (it must
be quick: it runs on the event loop) gets, each time its task wakes, everything queued for it
(up to ``MAX_BATCH``), called once per update without yielding in between. A batch handler
(``subscribe_batches``) is called once with that whole list; when it raises, the hub cannot tell
which of the updates it handled, so the whole batch counts as failed. Batching is what makes the
fan-out cheap: a feed that publishes many updates before it yields wakes each observer once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from agora.marketdata.ports import Feed
from agora.marketdata.records import PriceUpdate

Handler = Callable[[PriceUpdate], Awaitable[None] | None]
BatchHandler = Callable[[Sequence[PriceUpdate]], None]

DEFAULT_QUEUE_SIZE = 10_000
LOG_EVERY_FAILURES = 1_000
MAX_BATCH = 2_048
"""The most updates an observer handles before it lets other tasks run."""

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ObserverStats:
    """What happened to one observer's updates so far."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    queued: int = 0


class _Observer:
    """One observer's queue, task and counters; how it is called is decided once, at subscribe."""

    def __init__(
        self,
        name: str,
        queue_size: int,
        *,
        each: Handler | None = None,
        batch: BatchHandler | None = None,
    ) -> None:
        self.name = name
        self.size = queue_size
        self.queue: deque[PriceUpdate] = deque(maxlen=queue_size)
        self.stats = ObserverStats()
        self.task: asyncio.Task[None] | None = None
        self.busy = False  # handling updates it took off the queue
        self._each = each
        self._batch = batch
        self._wakeup: asyncio.Future[None] | None = None
        self._drained: list[asyncio.Future[None]] = []
        if batch is not None:
            self._deliver = self._deliver_batch
        elif _is_coroutine_function(each):
            self._deliver = self._deliver_awaiting
        else:
            self._deliver = self._deliver_each

    def offer(self, update: PriceUpdate) -> None:
        if len(self.queue) == self.size:
            self.stats.dropped += 1  # the deque drops its oldest on append
        self.queue.append(update)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def offer_many(self, updates: Sequence[PriceUpdate]) -> None:
        overflow = len(self.queue) + len(updates) - self.size
        if overflow > 0:
            self.stats.dropped += overflow
        self.queue.extend(updates)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    @property
    def idle(self) -> bool:
        return not self.queue and not self.busy

    def wait_drained(self) -> asyncio.Future[None]:
        waiter = asyncio.get_running_loop().create_future()
        self._drained.append(waiter)
        return waiter

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                for waiter in self._drained:
                    if not waiter.done():
                        waiter.set_result(None)
                self._drained.clear()
                self._wakeup = loop.create_future()
                try:
                    await self._wakeup
                finally:
                    self._wakeup = None
                continue
            self.busy = True
            try:
                await self._deliver()
            finally:
                self.busy = False
            if self.queue:
                await asyncio.sleep(0)  # more than a batch queued: let the feed and others run

    def _take(self) -> list[PriceUpdate]:
        queue = self.queue
        if len(queue) <= MAX_BATCH:
            batch = list(queue)
            queue.clear()
            return batch
        return [queue.popleft() for _ in range(MAX_BATCH)]

    async def _deliver_each(self) -> None:
        handler = self._each
        assert handler is not None
        batch = self._take()
        failed = 0
        for update in batch:
            try:
                result = handler(update)
                if result is not None and inspect.isawaitable(result):
                    await result  # a plain function that returned an awaitable after all
            except Exception:
                failed += 1
                self._failed(update.symbol)
        self.stats.delivered += len(batch) - failed

    async def _deliver_awaiting(self) -> None:
        assert self._each is not None
        update = self.queue.popleft()
        try:
            result = self._each(update)
            if result is not None:
                await result
        except Exception:
            self._failed(update.symbol)
        else:
            self.stats.delivered += 1

    async def _deliver_batch(self) -> None:
        assert self._batch is not None
        batch = self._take()
        try:
            self._batch(batch)
        except Exception:
            self._failed(f"a batch of {len(batch)} updates", len(batch))
        else:
            self.stats.delivered += len(batch)

    def _failed(self, what: str, count: int = 1) -> None:
        before, self.stats.failed = self.stats.failed, self.stats.failed + count
        if before == 0 or before // LOG_EVERY_FAILURES != self.stats.failed // LOG_EVERY_FAILURES:
            logger.exception(
                "market-data observer %s failed on %s (%d failures so far)",
                self.name,
                what,
                self.stats.failed,
            )


def _is_coroutine_function(handler: object) -> bool:
    """Tell whether calling ``handler`` makes a coroutine (an async function or ``__call__``)."""
    call = getattr(type(handler), "__call__", None)  # noqa: B004  # reason: not a callable test
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


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
        self._add(_Observer(name, self._size(queue_size), each=handler))

    def subscribe_batches(
        self, name: str, handler: BatchHandler, *, queue_size: int | None = None
    ) -> None:
        """Add an observer that takes a list of updates per call (see the module docstring)."""
        self._add(_Observer(name, self._size(queue_size), batch=handler))

    def _size(self, queue_size: int | None) -> int:
        size = self._queue_size if queue_size is None else queue_size
        if size < 1:
            raise ValueError("queue_size must be at least 1")
        return size

    def _add(self, observer: _Observer) -> None:
        if observer.name in self._observers:
            raise ValueError(f"an observer named {observer.name!r} is already subscribed")
        self._observers[observer.name] = observer
        if self._started:
            observer.task = asyncio.create_task(observer.run(), name=f"marketdata-{observer.name}")

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

    def publish_many(self, updates: Sequence[PriceUpdate]) -> None:
        """Queue ``updates``, in order, for every observer; never waits."""
        if not updates:
            return
        self.published += len(updates)
        for observer in self._observers.values():
            observer.offer_many(updates)

    async def pump(self, feed: Feed) -> None:
        """Publish every update of ``feed`` until it ends (run it as a task; cancel to stop).

        Observers wake when the feed yields to the event loop, so whatever the feed produced
        in between reaches each of them as one batch.
        """
        async for update in feed.updates():
            self.publish(update)

    async def drain(self) -> None:
        """Wait until every observer has handled everything queued so far."""
        waiting = [o.wait_drained() for o in self._observers.values() if o.task and not o.idle]
        if waiting:
            await asyncio.gather(*waiting)

    def stats(self) -> dict[str, ObserverStats]:
        """Return a copy of each observer's counters."""
        result = {}
        for name, observer in self._observers.items():
            result[name] = replace(observer.stats, queued=len(observer.queue))
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
