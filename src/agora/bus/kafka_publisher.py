"""The relay's Kafka publisher: one partition at a time in order, each batch acknowledged first.

Records are grouped by partition (the Java client's murmur2 of the key, over the configured
partition count). Partitions go out concurrently, but inside one partition a batch is sent only
after the previous one was acknowledged, and a failure stops that partition. So the broker never
holds a record of a partition without every record before it: the property the consumers'
dedupe rests on (``agora.bus.kafka``), kept even without the idempotent producer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from agora.bus.errors import BusError
from agora.bus.kafka_client import (
    CLIENT_ERRORS,
    ensure_topics,
    make_producer,
    partition_for,
)
from agora.bus.kafka_config import KafkaSettings
from agora.bus.ports import OutboundRecord
from agora.bus.routing import TOPICS


class KafkaPublisher:
    """Publishes outbox records to Kafka and waits for every acknowledgement."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producers: dict[bool, Any] = {}  # acks_all → started producer
        self._starting = asyncio.Lock()
        self._topics_ready = False

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Publish every record, partition by partition in order; raise BusError on a failure."""
        if not self._topics_ready:
            await ensure_topics(self._settings, TOPICS)  # again after a failure: a lost broker
            self._topics_ready = True
        units: dict[tuple[str, int], list[OutboundRecord]] = {}
        for record in records:
            units.setdefault(self.ordering_unit(record), []).append(record)
        results = await asyncio.gather(
            *(self._send_in_order(topic, part, unit) for (topic, part), unit in units.items()),
            return_exceptions=True,
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            self._topics_ready = False
            first = failures[0]
            if not isinstance(first, Exception):
                raise first  # a cancellation or an exit, not a failure to translate
            raise BusError(
                f"publishing to Kafka failed in {len(failures)} of {len(units)} partitions: {first}"
            ) from first

    def ordering_unit(self, record: OutboundRecord) -> tuple[str, int]:
        """Return the record's logical topic and partition (murmur2 of the key, as Java's)."""
        return record.topic, partition_for(record.key, self._settings.partitions_of(record.topic))

    async def close(self) -> None:
        """Flush and stop the producers."""
        producers, self._producers = self._producers, {}
        for producer in producers.values():
            with contextlib.suppress(*CLIENT_ERRORS):
                await producer.stop()

    async def _send_in_order(
        self, logical: str, partition: int, records: list[OutboundRecord]
    ) -> None:
        producer = await self._producer(acks_all=records[0].acks_all)
        topic = self._settings.topic(logical)
        await self._check_partitions(producer, logical, topic)
        pending = records
        while pending:
            batch = producer.create_batch()
            taken = 0
            for record in pending:
                added = batch.append(
                    key=record.key,
                    value=record.value,
                    timestamp=record.timestamp_ms,
                    headers=list(record.headers),
                )
                if added is None:
                    break
                taken += 1
            if taken == 0:
                raise BusError(f"a record for {topic} is larger than max_batch_size")
            batch.close()
            try:
                delivered = await producer.send_batch(batch, topic, partition=partition)
                await delivered  # acknowledged before the next batch of this partition goes
            except CLIENT_ERRORS as exc:
                raise BusError(f"publishing to {topic}[{partition}] failed: {exc}") from exc
            pending = pending[taken:]

    async def _producer(self, *, acks_all: bool) -> Any:
        async with self._starting:  # partitions ask at once: start each producer only once
            return await self._start_producer(acks_all=acks_all)

    async def _start_producer(self, *, acks_all: bool) -> Any:
        producer = self._producers.get(acks_all)
        if producer is None:
            producer = make_producer(self._settings, acks_all=acks_all)
            try:
                await producer.start()
            except CLIENT_ERRORS as exc:
                with contextlib.suppress(*CLIENT_ERRORS):
                    await producer.stop()
                raise BusError(f"connecting to Kafka failed: {exc}") from exc
            self._producers[acks_all] = producer
        return producer

    async def _check_partitions(self, producer: Any, logical: str, topic: str) -> None:
        try:
            found = await producer.partitions_for(topic)
        except CLIENT_ERRORS as exc:
            raise BusError(f"reading the partitions of {topic} failed: {exc}") from exc
        if len(found) != self._settings.partitions_of(logical):
            raise BusError(
                f"topic {topic} has {len(found)} partitions, configured"
                f" {self._settings.partitions_of(logical)}"
            )
