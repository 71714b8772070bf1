"""The Kafka bus: each subscriber consumes in its own group; effects exactly once (ADR 15).

Delivery is at least once: a record comes again after a crash before the offset commit, a
rebalance, or a relay that published a chunk twice. Effects are exactly once because a
subscriber's position is kept in the store, per partition, in the transaction of its effect:

- the position of (subscriber, topic, partition) is the highest outbox sequence number (the
  ``agora-seq`` header) seen in that partition; records at or below it are skipped;
- the relay writes a partition's records in outbox order and never one before all earlier ones
  were acknowledged (``KafkaPublisher``), so when a consumer reads ``seq`` from a partition it has
  already read every earlier ``seq`` of that partition: skipping ``≤ position`` skips only copies;
- the effect, the position (a document read and written inside the transaction, so two members
  racing during a rebalance cannot both apply a chunk) and the checkpoint of
  ``CheckpointStore.apply`` commit together or not at all (``kafka_effect``);
- the Kafka offset is committed only after that transaction: it is an optimisation (where to
  resume reading), never the record of what was applied.

A log that lost records breaks the second point: a broker that restarted empty (tansu), or a
consumer whose remembered offset points into a new log past records it never read. Each record
names its predecessor in the partition (``agora-prev``); one naming a seq above the position
means records were skipped, and the consumer reads the partition again from its start (copies
are skipped). What is missing even then is gone from the log: it is logged and counted
(``KafkaBus.gaps``), and only a relay rewound before it published anything new brings it back.

A subscriber whose effect raises is retried with backoff from the first record it did not
apply; the others, in their own groups, go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from agora.bus.errors import BusError
from agora.bus.inprocess import Subscriber
from agora.bus.kafka_client import (
    CLIENT_ERRORS,
    Record,
    close_consumer,
    ensure_topics,
    make_consumer,
)
from agora.bus.kafka_config import KafkaSettings
from agora.bus.kafka_effect import ChunkEffect, Delivered, LogGap, position_name
from agora.bus.ports import CheckpointStore
from agora.bus.routing import EVENT_TOPICS, prev_of, seq_of
from agora.core.errors import StorageError
from agora.core.events import decode_event

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 5.0
POLL_TIMEOUT_MS = 1_000
OUTAGES: tuple[type[BaseException], ...] = (*CLIENT_ERRORS, BusError, StorageError)
"""What a consumer reconnects after, logged without a traceback."""


class KafkaBus:
    """Delivers what the relay published to subscribers, each in its own consumer group."""

    def __init__(
        self,
        checkpoints: CheckpointStore,
        subscribers: Sequence[Subscriber],
        settings: KafkaSettings,
        *,
        topics: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        chosen = topics or {}
        self._followers = [
            _Follower(
                subscriber, checkpoints, settings, tuple(chosen.get(subscriber.name, EVENT_TOPICS))
            )
            for subscriber in subscribers
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one consumer per subscriber (each joins its group in the background)."""
        for follower in self._followers:
            task = asyncio.create_task(follower.run(), name=f"kafka-{follower.name}")
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop every consumer: applied effects stay, the rest is delivered after a start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def notify(self) -> None:
        """Nothing to do: the broker pushes (the relay is the one to notify)."""

    @property
    def gaps(self) -> list[LogGap]:
        """Records lost from the log before a subscriber read them (should stay empty)."""
        return [gap for follower in self._followers for gap in follower.gaps]


class _Follower:
    """One subscriber's consumer: reads, applies in the store, then commits the offsets."""

    def __init__(
        self,
        subscriber: Subscriber,
        checkpoints: CheckpointStore,
        settings: KafkaSettings,
        topics: tuple[str, ...],
    ) -> None:
        self.name = subscriber.name
        self._subscriber = subscriber
        self._checkpoints = checkpoints
        self._settings = settings
        self._topics = topics
        self._floor = 0
        self._backoff = FIRST_BACKOFF_S
        self._rereading: dict[Any, int] = {}  # partition → offset of the gap that sent us back
        self.gaps: list[LogGap] = []  # records the log lost before this subscriber read them

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with backoff after a broker or store failure."""
        while True:
            consumer: Any = None
            try:
                # Events the in-process bus already applied for this subscriber (a store that
                # moved from the embedded to the scaled shape) are not applied again.
                self._floor = await self._checkpoints.checkpoint(self.name)
                self._rereading.clear()  # a new member reads wherever its group says
                await ensure_topics(self._settings, self._topics)  # before any metadata request
                consumer = make_consumer(
                    self._settings,
                    self._settings.group(self.name),
                    [self._settings.topic(topic) for topic in self._topics],
                )
                await consumer.start()
                await self._consume(consumer)
            except OUTAGES as exc:
                log.warning("consumer %s: %s; reconnecting in %.2fs", self.name, exc, self._backoff)
            except Exception:
                log.exception("consumer %s failed; restarting in %.2fs", self.name, self._backoff)
            finally:
                if consumer is not None:
                    await close_consumer(consumer)
            await self._sleep()

    async def _consume(self, consumer: Any) -> None:
        while True:
            batches: dict[Any, list[Record]] = await consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS, max_records=self._settings.max_poll_records
            )
            done: dict[Any, int] = {}
            try:
                for partition, records in batches.items():
                    try:
                        await self._apply(partition, records)
                    except LogGap as gap:
                        await self._reread(consumer, partition, gap)
                        continue
                    done[partition] = records[-1].offset + 1
            except Exception:
                log.exception("subscriber %s failed; retrying in %.2fs", self.name, self._backoff)
                for partition, records in batches.items():
                    if partition not in done:  # read these again, from the first one
                        with contextlib.suppress(*CLIENT_ERRORS):
                            consumer.seek(partition, records[0].offset)
                await self._commit(consumer, done)
                await self._sleep()
                continue
            await self._commit(consumer, done)
            self._backoff = FIRST_BACKOFF_S

    async def _apply(self, partition: Any, records: Sequence[Record]) -> None:
        """Apply one partition's chunk in one transaction, skipping what was applied before."""
        delivered = [found for found in map(_decode, records) if found is not None]
        if not delivered:
            return
        tolerated = self._rereading.get(partition)
        effect = ChunkEffect(
            self._subscriber,
            position_name(self.name, partition.topic, partition.partition),
            self._floor,
            delivered,
            # After a reread from the start, what is still missing is gone from the log.
            tolerate_gaps_through=-1 if tolerated is None else max(tolerated, records[-1].offset),
        )
        await self._checkpoints.apply(effect.name, max(d.seq for d in delivered), effect)
        for gap in effect.tolerated:
            self.gaps.append(gap)
            log.error("subscriber %s: %s: those events are lost to it", self.name, gap)
        if tolerated is not None and records[-1].offset >= tolerated:
            del self._rereading[partition]

    async def _reread(self, consumer: Any, partition: Any, gap: LogGap) -> None:
        """Read a partition again from its start: its log lost records this subscriber needs."""
        log.warning("subscriber %s: %s; reading the partition from its start", self.name, gap)
        self._rereading[partition] = gap.offset
        try:
            await consumer.seek_to_beginning(partition)
        except CLIENT_ERRORS as exc:  # no longer ours: its next owner finds the gap again
            log.info("subscriber %s could not seek %s: %s", self.name, partition, exc)

    async def _commit(self, consumer: Any, offsets: dict[Any, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except CLIENT_ERRORS as exc:  # a rebalance took the partition: its next owner dedupes
            log.info("kafka consumer %s could not commit offsets: %s", self.name, exc)

    async def _sleep(self) -> None:
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)


def _decode(record: Record) -> Delivered | None:
    """Return what the relay put in a record, or None when it is not the relay's."""
    headers = list(record.headers)
    seq = seq_of(headers)
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    if seq is None or record.value is None:
        log.error("skipping %s: no agora-seq header or no value", where)
        return None
    try:
        event = decode_event(record.value)
    except msgspec.MsgspecError as exc:
        log.error("skipping %s: %s", where, exc)
        return None
    return Delivered(offset=record.offset, seq=seq, prev=prev_of(headers), event=event)
