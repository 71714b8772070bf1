"""The in-process bus: every subscriber follows the outbox from its own checkpoint.

Delivery is at least once (a failed chunk is retried), effects exactly once: a chunk of events
and the subscriber's new checkpoint are written in one transaction, and events at or below the
checkpoint are never applied again. A failing subscriber backs off alone; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from agora.bus.ports import CheckpointStore, OutboxStore, ProjectionTx
from agora.core.events import Event

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """A consumer of events whose effects live in the store (a read model, a projection)."""

    name: str

    def wants(self, event: Event) -> bool:
        """Whether this subscriber applies ``event``."""
        ...

    def apply(self, event: Event, tx: ProjectionTx) -> None:
        """Apply one event inside the transaction that also moves the checkpoint."""
        ...


class InProcessBus:
    """Dispatches committed outbox events to subscribers, each at its own pace."""

    def __init__(
        self,
        outbox: OutboxStore,
        checkpoints: CheckpointStore,
        subscribers: tuple[Subscriber, ...],
        *,
        chunk: int = 500,
        poll_seconds: float = 0.5,
    ) -> None:
        self._outbox = outbox
        self._checkpoints = checkpoints
        self._subscribers = subscribers
        self._chunk = chunk
        self._poll_seconds = poll_seconds
        self._wakeups = [asyncio.Event() for _ in subscribers]
        self._tasks: list[asyncio.Task[None]] = []

    def notify(self) -> None:
        """Tell every subscriber that new events were committed."""
        for wakeup in self._wakeups:
            wakeup.set()

    def start(self) -> None:
        """Start one task per subscriber."""
        for subscriber, wakeup in zip(self._subscribers, self._wakeups, strict=True):
            task = asyncio.create_task(
                self._follow(subscriber, wakeup), name=f"bus-{subscriber.name}"
            )
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop every subscriber task (what was committed stays; the rest is redelivered)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def drain(self) -> None:
        """Apply everything committed so far to every subscriber (for tests and shutdown)."""
        for subscriber in self._subscribers:
            position = await self._checkpoints.checkpoint(subscriber.name)
            while (moved := await self._step(subscriber, position)) != position:
                position = moved

    async def _follow(self, subscriber: Subscriber, wakeup: asyncio.Event) -> None:
        position = await self._checkpoints.checkpoint(subscriber.name)
        backoff = 0.05
        while True:
            try:
                moved = await self._step(subscriber, position)
            except Exception:
                log.exception("subscriber %s failed; retrying in %.2fs", subscriber.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                position = await self._checkpoints.checkpoint(subscriber.name)
                continue
            backoff = 0.05
            if moved == position:
                wakeup.clear()
                await _wait(wakeup, self._poll_seconds)
            position = moved

    async def _step(self, subscriber: Subscriber, position: int) -> int:
        """Apply the next chunk after ``position``; return the new position."""
        events = await self._outbox.fetch_after(position, self._chunk)
        if not events:
            return position
        wanted = [event for _, event in events if subscriber.wants(event)]
        last = events[-1][0]

        def effect(tx: ProjectionTx) -> None:
            for event in wanted:
                subscriber.apply(event, tx)

        await self._checkpoints.apply(subscriber.name, last, effect)
        return last


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``; a cancellation always goes through."""
    # Not asyncio.wait_for: on 3.11 it can lose a cancellation that races the inner wait.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
