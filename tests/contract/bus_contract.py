"""The bus contract: what every EventBus must do for the subscribers it delivers to.

Each bus's test module subclasses ``BusContract`` and provides two fixtures: ``store`` (an empty
store, closed afterwards) and ``make_harness`` (builds a ``BusHarness`` over the store for some
subscribers, with whatever the bus needs in front of it, e.g. the outbox relay, and stops it at
the end of the test). Waiting is by observation: a test polls the subscribers' committed
documents until they show what it expects, so the same test fits a bus that applies at once and
one that goes through a broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import pytest

from agora.bus.inprocess import Subscriber
from agora.bus.ports import CheckpointStore, DocumentSource, EventBus, OutboxStore, ProjectionTx
from agora.core.events import Event, EventType
from agora.orders.ports import LaneBatch

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
SEEN = "bus_contract.seen"
"""The recorders' collection: ``<subscriber>|<account>`` → comma-separated event ids, in order."""


class Store(OutboxStore, CheckpointStore, DocumentSource, Protocol):
    """What the contract needs of a store: the outbox, checkpoints, documents and commits."""

    async def commit(self, batch: LaneBatch) -> None:
        """Write a batch (here: only events) in one transaction."""
        ...


class BusHarness(EventBus, Protocol):
    """A bus as a test drives it, with whatever it needs in front (the relay)."""

    async def redeliver(self) -> None:
        """Deliver everything again from the start, as after positions lost and a republish."""
        ...


HarnessFactory = Callable[[Store, Sequence[Subscriber]], BusHarness]


# -- object mothers ---------------------------------------------------------------------------


def event(event_id: str, account_id: str = "acc_1", kind: str = EventType.ORDER_UPDATED) -> Event:
    """Return an event of ``kind`` for ``account_id``."""
    return Event(
        event_id=event_id,
        type=kind,
        account_id=account_id,
        correlation_id=None,
        timestamp=T0,
        payload={"n": event_id},
    )


class Recorder:
    """Appends each applied event id to its account's document: repeats and reorders show."""

    def __init__(self, name: str, *, types: frozenset[str] | None = None) -> None:
        self.name = name
        self.types = types
        self.broken = False
        self.failures = 0

    def wants(self, event: Event) -> bool:
        """Take every event, or only the given types."""
        return self.types is None or event.type in self.types

    def apply(self, event: Event, tx: ProjectionTx) -> None:
        """Record the event id after the ones applied before it (raise while broken)."""
        if self.broken:
            self.failures += 1
            raise RuntimeError(f"{self.name} is broken")
        key = f"{self.name}|{event.account_id}"
        seen = tx.get(SEEN, key)
        tx.put(SEEN, key, (seen + b"," if seen else b"") + event.event_id.encode())


async def applied(store: Store, subscriber: str) -> dict[str, list[str]]:
    """Return what a recorder applied: account id → event ids in the order applied."""
    found = await store.documents(SEEN, f"{subscriber}|")
    return {key.split("|", 1)[1]: value.decode().split(",") for key, value in found}


def by_account(events: Sequence[Event]) -> dict[str, list[str]]:
    """Return the expected record of ``events``: account id → event ids in commit order."""
    expected: dict[str, list[str]] = {}
    for item in events:
        expected.setdefault(str(item.account_id), []).append(item.event_id)
    return expected


async def wait_applied(
    store: Store, subscriber: str, expected: dict[str, list[str]], timeout_s: float
) -> None:
    """Wait until ``subscriber`` applied exactly ``expected``; fail with what it did apply."""
    deadline = time.monotonic() + timeout_s
    while (found := await applied(store, subscriber)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"{subscriber} applied {found}, expected {expected}")
        await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s}s: {what}")
        await asyncio.sleep(0.02)


# -- the contract -----------------------------------------------------------------------------


class BusContract:
    """Every bus delivers committed events to each subscriber, each effect exactly once."""

    patience_s = 30.0
    """How long a delivery may take (a broker's group join takes seconds)."""

    async def commit(self, store: Store, bus: EventBus, events: Sequence[Event]) -> None:
        """Commit ``events`` in one transaction and tell the bus, as the lanes do."""
        await store.commit(LaneBatch(events=list(events)))
        bus.notify()

    async def until_applied(
        self, store: Store, subscriber: str, expected: dict[str, list[str]]
    ) -> None:
        """Wait until ``subscriber`` applied exactly ``expected`` (then nothing more arrives)."""

        await wait_applied(store, subscriber, expected, self.patience_s)

    async def test_committed_events_reach_every_subscriber(
        self, store: Store, make_harness: HarnessFactory
    ) -> None:
        everything = Recorder("everything")
        fills = Recorder("fills", types=frozenset({EventType.ORDER_FILLED}))
        kinds = (EventType.ORDER_UPDATED, EventType.ORDER_FILLED, EventType.TRANSFER_POSTED)
        events = [event(f"e{n}", f"acc_{n % 4}", kinds[n % len(kinds)]) for n in range(24)]
        harness = make_harness(store, [everything, fills])
        await self.commit(store, harness, events[:12])  # before the bus starts
        harness.start()
        await self.commit(store, harness, events[12:])  # while it runs
        wanted_fills = [item for item in events if item.type == EventType.ORDER_FILLED]

        async def everything_arrived() -> bool:
            found = await applied(store, "everything")
            return sorted(i for ids in found.values() for i in ids) == sorted(
                e.event_id for e in events
            )

        await eventually(everything_arrived, self.patience_s, "every event applied")
        await self.until_applied(store, "fills", by_account(wanted_fills))
        # One topic per event type on a broker: order holds per account within one type.
        found = await applied(store, "everything")
        for kind in kinds:
            of_kind = {e.event_id for e in events if e.type == kind}
            expected = by_account([e for e in events if e.type == kind])
            in_order = {a: [i for i in ids if i in of_kind] for a, ids in found.items()}
            assert {a: ids for a, ids in in_order.items() if ids} == expected

    async def test_an_accounts_events_are_applied_in_commit_order(
        self, store: Store, make_harness: HarnessFactory
    ) -> None:
        recorder = Recorder("ordered")
        harness = make_harness(store, [recorder])
        events = [event(f"o{n}", f"acc_{n % 5}") for n in range(200)]
        await self.commit(store, harness, events[:60])
        harness.start()
        for start in range(60, 200, 7):  # small commits, interleaving the accounts
            await self.commit(store, harness, events[start : start + 7])
        await self.until_applied(store, "ordered", by_account(events))

    async def test_effects_apply_once_when_delivery_repeats(
        self, store: Store, make_harness: HarnessFactory
    ) -> None:
        recorder = Recorder("once")
        harness = make_harness(store, [recorder])
        events = [event(f"r{n}", f"acc_{n % 4}") for n in range(40)]
        harness.start()
        await self.commit(store, harness, events)
        await self.until_applied(store, "once", by_account(events))
        await harness.redeliver()  # every event comes again
        # Markers after the repeats, on every account: once they are applied, so are the repeats.
        markers = [event(f"marker_{n}", f"acc_{n}") for n in range(4)]
        await self.commit(store, harness, markers)
        await self.until_applied(store, "once", by_account(events + markers))

    async def test_a_failing_subscriber_blocks_no_other_and_is_retried(
        self, store: Store, make_harness: HarnessFactory
    ) -> None:
        healthy, flaky = Recorder("healthy"), Recorder("flaky")
        flaky.broken = True
        harness = make_harness(store, [healthy, flaky])
        events = [event(f"f{n}", f"acc_{n % 3}") for n in range(30)]
        harness.start()
        await self.commit(store, harness, events)
        await self.until_applied(store, "healthy", by_account(events))

        async def failed_twice() -> bool:
            return flaky.failures >= 2

        await eventually(failed_twice, self.patience_s, "the broken subscriber was retried")
        assert await applied(store, "flaky") == {}  # a failed chunk leaves nothing behind
        flaky.broken = False
        await self.until_applied(store, "flaky", by_account(events))

    async def test_stop_and_start_resume_without_loss_or_repeat(
        self, store: Store, make_harness: HarnessFactory
    ) -> None:
        recorder = Recorder("resumed")
        first = make_harness(store, [recorder])
        before = [event(f"a{n}", f"acc_{n % 3}") for n in range(30)]
        first.start()
        await self.commit(store, first, before)
        await self.until_applied(store, "resumed", by_account(before))
        during = [event(f"b{n}", f"acc_{n % 3}") for n in range(60)]
        for start in range(0, 30, 5):
            await self.commit(store, first, during[start : start + 5])
        await first.stop()  # wherever delivery is
        for start in range(30, 60, 5):
            await self.commit(store, first, during[start : start + 5])  # while nothing runs
        second = make_harness(store, [recorder])  # a restarted process
        second.start()
        after = [event(f"c{n}", f"acc_{n % 3}") for n in range(9)]
        await self.commit(store, second, after)
        await self.until_applied(store, "resumed", by_account(before + during + after))
