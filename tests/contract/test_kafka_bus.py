"""The bus contract against the Kafka bus behind the outbox relay (on PostgreSQL, the scaled
shape), plus what only the relay and the Kafka edge do: routing, acks before marks, topics.

One tansu broker serves the module; each test has topics and groups of its own (prefixes).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Hashable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]  # reason: no type hints

from agora.bus.errors import BusError
from agora.bus.inprocess import Subscriber
from agora.bus.kafka import KafkaBus
from agora.bus.kafka_client import ensure_topics
from agora.bus.kafka_config import KafkaSettings
from agora.bus.kafka_effect import ChunkEffect, Delivered, LogGap
from agora.bus.kafka_publisher import KafkaPublisher
from agora.bus.ports import EventBus, OutboundRecord
from agora.bus.relay import OutboxRelay
from agora.bus.routing import AUDIT_TOPIC, TOPICS
from agora.core.errors import ValidationError
from agora.core.events import EventType, decode_event
from agora.orders.ports import LaneBatch
from agora.storage import MemoryStore
from agora.storage.postgres import PostgresStore

from .bus_contract import (
    BusContract,
    BusHarness,
    HarnessFactory,
    Recorder,
    Store,
    applied,
    event,
)
from .kafka_server import KafkaServer, running_broker
from .postgres_server import fresh_database


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaServer]:
    """One tansu broker for the module's tests."""
    with running_broker() as server:
        yield server


def settings_for(broker: KafkaServer, **changes: Any) -> KafkaSettings:
    """Settings for tansu, with topics and groups no other test uses."""
    token = secrets.token_hex(4)
    settings = KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"t{token}.",
        group_prefix=f"g{token}.",
        partitions=3,
        replication_factor=1,  # one broker
        topic_configs={},
        enable_idempotence=False,  # tansu refuses producer ids (ECOSYSTEM.md)
        request_timeout_ms=5_000,
        linger_ms=0,
        session_timeout_ms=2_000,  # tansu's joins take about half of it
        heartbeat_interval_ms=300,
        metadata_max_age_ms=1_000,
    )
    return replace(settings, **changes)


@pytest.fixture
async def pg_store() -> AsyncIterator[PostgresStore]:
    """Yield a store on a fresh PostgreSQL database."""
    async with fresh_database() as dsn:
        store = await PostgresStore.open(dsn)
        try:
            yield store
        finally:
            await store.close()


class KafkaHarness:
    """The relay publishing to tansu and the Kafka bus consuming; a repeat delivery is a
    relay rewound to the start and consumers whose offsets are gone (new groups)."""

    def __init__(
        self, store: Store, subscribers: Sequence[Subscriber], settings: KafkaSettings
    ) -> None:
        self._store = store
        self._subscribers = subscribers
        self._settings = settings
        self.publisher = KafkaPublisher(settings)
        self.relay = OutboxRelay(store, self.publisher, chunk=50, poll_seconds=0.05)
        self.bus: EventBus = KafkaBus(store, subscribers, settings)

    def start(self) -> None:
        """Start the relay and the consumers."""
        self.relay.start()
        self.bus.start()

    async def stop(self) -> None:
        """Stop the consumers and the relay."""
        await self.bus.stop()
        await self.relay.stop()
        await self.publisher.close()

    def notify(self) -> None:
        """Wake the relay."""
        self.relay.notify()

    async def redeliver(self) -> None:
        """Publish everything again and consume it from the start in fresh groups."""
        await self.bus.stop()
        self.relay.rewind(0)
        again = replace(self._settings, group_prefix=self._settings.group_prefix + "again.")
        self.bus = KafkaBus(self._store, self._subscribers, again)
        self.bus.start()


class TestKafkaBus(BusContract):
    """The relay and KafkaBus keep the bus contract."""

    patience_s = 30.0

    @pytest.fixture
    async def store(self, pg_store: PostgresStore) -> Store:
        """Return a store on a fresh PostgreSQL database."""
        return pg_store

    @pytest.fixture
    async def make_harness(self, broker: KafkaServer) -> AsyncIterator[HarnessFactory]:
        """Build harnesses on topics of this test's own, stopping each at the end."""
        settings = settings_for(broker)
        made: list[KafkaHarness] = []

        def make(store: Store, subscribers: Sequence[Subscriber]) -> BusHarness:
            harness = KafkaHarness(store, subscribers, settings)
            made.append(harness)
            return harness

        yield make
        for harness in made:
            await harness.stop()


# -- the relay and the Kafka edge -------------------------------------------------------------


async def read_topic(settings: KafkaSettings, logical: str, count: int) -> list[Any]:
    """Read ``count`` records of a topic from the start (no group)."""
    consumer = AIOKafkaConsumer(
        settings.topic(logical),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(20):
            while len(found) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend(records)
    finally:
        await consumer.stop()
    return found


async def test_the_relay_routes_keys_and_marks_after_the_acks(
    broker: KafkaServer, pg_store: PostgresStore
) -> None:
    settings = settings_for(broker)
    events = [
        event("u1", "acc_1", EventType.ORDER_UPDATED),
        event("f1", "acc_2", EventType.ORDER_FILLED),
        event("u2", "acc_1", EventType.ORDER_UPDATED),
    ]
    await pg_store.commit(LaneBatch(events=events))
    publisher = KafkaPublisher(settings)
    try:
        assert await OutboxRelay(pg_store, publisher).publish_pending() == 3
    finally:
        await publisher.close()
    assert await pg_store.published_seq() == 3
    updated = await read_topic(settings, "order.updated", 2)
    filled = await read_topic(settings, "order.filled", 1)
    audit = await read_topic(settings, AUDIT_TOPIC, 3)
    assert [(r.key, decode_event(r.value).event_id) for r in updated] == [
        (b"acc_1", "u1"),
        (b"acc_1", "u2"),
    ]
    assert len({r.partition for r in updated}) == 1  # one key, one partition, in order
    assert [(r.key, dict(r.headers)["agora-seq"]) for r in filled] == [(b"acc_2", b"2")]
    assert sorted((r.key, decode_event(r.value).event_id) for r in audit) == [
        (b"order.filled", "f1"),
        (b"order.updated", "u1"),
        (b"order.updated", "u2"),
    ]


class FailingPublisher:
    """A broker that fails every publish."""

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Fail."""
        raise BusError("the broker is down")

    def ordering_unit(self, record: OutboundRecord) -> Hashable:
        """Order by topic and key."""
        return record.topic, record.key


async def test_nothing_is_marked_published_without_the_acks(pg_store: PostgresStore) -> None:
    await pg_store.commit(LaneBatch(events=[event("x1"), event("x2")]))
    with pytest.raises(BusError):
        await OutboxRelay(pg_store, FailingPublisher()).step()
    assert await pg_store.published_seq() == 0


class MarkFailsOnce:
    """The outbox of a relay that crashes after publishing, before marking (once)."""

    def __init__(self, inner: PostgresStore) -> None:
        self._inner = inner
        self.failed = False

    async def fetch_after(self, seq: int, limit: int) -> Any:
        """Read the real outbox."""
        return await self._inner.fetch_after(seq, limit)

    async def published_seq(self) -> int:
        """Read the real position."""
        return await self._inner.published_seq()

    async def mark_published(self, up_to_seq: int) -> None:
        """Fail the first time, as a crash would."""
        if not self.failed:
            self.failed = True
            raise ConnectionError("the relay died here")
        await self._inner.mark_published(up_to_seq)


async def test_a_crash_between_publish_and_mark_publishes_again(
    broker: KafkaServer, pg_store: PostgresStore
) -> None:
    settings = settings_for(broker)
    await pg_store.commit(LaneBatch(events=[event("d1"), event("d2")]))
    publisher = KafkaPublisher(settings)
    relay = OutboxRelay(MarkFailsOnce(pg_store), publisher)
    try:
        with pytest.raises(ConnectionError):
            await relay.step()
        assert await pg_store.published_seq() == 0
        assert await relay.publish_pending() == 2
    finally:
        await publisher.close()
    records = await read_topic(settings, "order.updated", 4)
    assert [decode_event(r.value).event_id for r in records] == ["d1", "d2", "d1", "d2"]


async def test_a_topic_with_other_partitions_is_refused(broker: KafkaServer) -> None:
    settings = settings_for(broker)
    await ensure_topics(settings, TOPICS)
    await ensure_topics(settings, TOPICS)  # already there: nothing to do
    with pytest.raises(BusError, match="has 3 partitions, configured 5"):
        await ensure_topics(replace(settings, partitions=5), TOPICS)


def test_settings_come_from_the_bus_url() -> None:
    settings = KafkaSettings.from_url(
        "kafka://k1:9092,k2:9092?partitions=24&replication_factor=3&enable_idempotence=false"
        "&topic.retention.ms=1000&partitions.order.filled=48&compression_type=none"
    )
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.partitions_of("order.updated") == 24
    assert settings.partitions_of("order.filled") == 48
    assert settings.replication_factor == 3
    assert settings.enable_idempotence is False
    assert settings.compression_type is None
    assert settings.topic_configs["retention.ms"] == "1000"
    assert settings.topic_configs["min.insync.replicas"] == "2"
    for wrong in ("redis://x:1", "kafka://k:1?nonsense=1", "kafka://k:1?partitions=many"):
        with pytest.raises(ValidationError):
            KafkaSettings.from_url(wrong)


# -- the consumer's dedupe and gap check, the relay's chain (no broker needed) ----------------


def delivered(offset: int, seq: int, prev: int) -> Delivered:
    """A record the relay wrote: at ``offset``, carrying ``seq``, after ``prev``."""
    return Delivered(offset=offset, seq=seq, prev=prev, event=event(f"s{seq}"))


async def test_a_chunk_applies_above_the_position_and_stops_at_a_gap() -> None:
    store = MemoryStore()
    recorder = Recorder("chunks")
    first = ChunkEffect(recorder, "p0", 0, [delivered(0, 2, 0), delivered(1, 5, 2)])
    assert await store.apply("p0", 5, first)
    again = ChunkEffect(recorder, "p0", 0, [delivered(2, 2, 0), delivered(3, 5, 2)])
    assert not await store.apply("p0", 5, again)  # copies of what was applied
    copies_then_new = [delivered(4, 5, 2), delivered(5, 9, 5)]
    assert await store.apply("p0", 9, ChunkEffect(recorder, "p0", 0, copies_then_new))
    after_a_hole = [delivered(6, 12, 9), delivered(7, 20, 15)]  # seq 15 never came
    with pytest.raises(LogGap, match="follows seq 15, but the last seq seen is 12"):
        await store.apply("p0", 20, ChunkEffect(recorder, "p0", 0, after_a_hole))
    assert (await applied(store, "chunks")) == {"acc_1": ["s2", "s5", "s9"]}  # 12 rolled back
    tolerant = ChunkEffect(recorder, "p0", 0, after_a_hole, tolerate_gaps_through=7)
    assert await store.apply("p0", 20, tolerant)
    assert [(gap.position, gap.prev) for gap in tolerant.tolerated] == [(12, 15)]
    assert (await applied(store, "chunks")) == {"acc_1": ["s2", "s5", "s9", "s12", "s20"]}


class RecordingPublisher:
    """A broker that keeps what it was given; ordered by topic and key."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Keep the records."""
        self.records.extend(records)

    def ordering_unit(self, record: OutboundRecord) -> Hashable:
        """Order by topic and key."""
        return record.topic, record.key


def prevs(records: Sequence[OutboundRecord], topic: str) -> list[tuple[int, int | None]]:
    """Return ``(seq, agora-prev)`` of the records of a topic."""
    return [
        (r.seq, int(dict(r.headers)["agora-prev"]) if "agora-prev" in dict(r.headers) else None)
        for r in records
        if r.topic == topic
    ]


async def test_records_name_their_predecessor_even_after_a_relay_restart() -> None:
    store = MemoryStore()
    await store.commit(LaneBatch(events=[event(f"c{n}", f"acc_{n % 2}") for n in range(4)]))
    first = RecordingPublisher()
    assert await OutboxRelay(store, first, chunk=3).publish_pending() == 4
    await store.commit(LaneBatch(events=[event(f"c{n}", f"acc_{n % 2}") for n in range(4, 6)]))
    second = RecordingPublisher()  # a restarted relay learns the chain from the outbox
    assert await OutboxRelay(store, second).publish_pending() == 2
    assert prevs(first.records, "order.updated") == [(1, None), (2, None), (3, 1), (4, 2)]
    assert prevs(second.records, "order.updated") == [(5, 3), (6, 4)]
    assert prevs(second.records, AUDIT_TOPIC) == [(5, 4), (6, 5)]  # keyed by type
    rewound = RecordingPublisher()
    relay = OutboxRelay(store, rewound)
    relay.rewind(0)
    assert await relay.publish_pending() == 6
    assert rewound.records == first.records + second.records  # the same records again
