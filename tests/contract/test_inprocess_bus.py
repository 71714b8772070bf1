"""The bus contract against the in-process bus (on SQLite, the embedded shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from agora.bus.inprocess import InProcessBus, Subscriber
from agora.bus.ports import CheckpointStore, Effect, EventBus
from agora.storage import SqliteStore

from .bus_contract import BusContract, BusHarness, HarnessFactory, Store


class Forgetful:
    """A subscriber's checkpoints as seen after it lost its position: always 0."""

    def __init__(self, inner: CheckpointStore) -> None:
        self._inner = inner

    async def checkpoint(self, subscriber: str) -> int:
        """Report no position at all."""
        return 0

    async def apply(self, subscriber: str, seq: int, effect: Effect) -> bool:
        """Apply through the real store, which knows what was applied."""
        return await self._inner.apply(subscriber, seq, effect)


class InProcessHarness:
    """The in-process bus; a repeat delivery is a second bus that lost its positions."""

    def __init__(self, store: Store, subscribers: Sequence[Subscriber]) -> None:
        self._store = store
        self._subscribers = tuple(subscribers)
        self.bus: EventBus = InProcessBus(
            store, store, self._subscribers, chunk=7, poll_seconds=0.05
        )

    def start(self) -> None:
        """Start the bus."""
        self.bus.start()

    async def stop(self) -> None:
        """Stop the bus."""
        await self.bus.stop()

    def notify(self) -> None:
        """Wake the bus."""
        self.bus.notify()

    async def redeliver(self) -> None:
        """Deliver every chunk again, from seq 0, to every subscriber."""
        again = InProcessBus(self._store, Forgetful(self._store), self._subscribers, chunk=3)
        await again.drain()


class TestInProcessBus(BusContract):
    """InProcessBus keeps the bus contract."""

    patience_s = 15.0

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        """Yield a store on a fresh SQLite file."""
        store = await SqliteStore.open(tmp_path / "agora.db")
        yield store
        await store.close()

    @pytest.fixture
    async def make_harness(self) -> AsyncIterator[HarnessFactory]:
        """Build harnesses, stopping each at the end of the test."""
        made: list[InProcessHarness] = []

        def make(store: Store, subscribers: Sequence[Subscriber]) -> BusHarness:
            harness = InProcessHarness(store, subscribers)
            made.append(harness)
            return harness

        yield make
        for harness in made:
            await harness.stop()
