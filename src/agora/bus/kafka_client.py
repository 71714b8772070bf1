"""The aiokafka edge: clients built from ``KafkaSettings``, topics ensured, errors translated.

aiokafka ships no type hints, so this module is the only one that touches its objects untyped;
the producer and consumer are used through the small protocols below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import aiokafka  # type: ignore[import-untyped]  # reason: aiokafka ships no type hints
from aiokafka.admin import (  # type: ignore[import-untyped]  # reason: as above
    AIOKafkaAdminClient,
    NewTopic,
)
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]  # reason: as above
from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]  # reason: as above
from aiokafka.protocol.group import (  # type: ignore[import-untyped]  # reason: as above
    LeaveGroupRequest,
)

from agora.bus.errors import BusError
from agora.bus.kafka_config import KafkaSettings

log = logging.getLogger(__name__)

CLIENT_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)
"""What aiokafka or the network raise: translated to BusError."""

TOPIC_ALREADY_EXISTS = 36
"""Kafka's error code when another client created the topic first."""

LEAVE_TIMEOUT_S = 1.0


class Record(Protocol):
    """The part of ``aiokafka.ConsumerRecord`` the bus reads."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class TopicPartition(Protocol):
    """``aiokafka.TopicPartition``: a named tuple of topic and partition."""

    topic: str
    partition: int


def partition_for(key: bytes, partitions: int) -> int:
    """Return the partition the Java client's default partitioner picks for ``key``."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def make_producer(settings: KafkaSettings, *, acks_all: bool) -> Any:
    """Build (not start) a producer: acks=all and idempotent, or leader-only for prices."""
    return aiokafka.AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-relay",
        acks="all" if acks_all else 1,
        enable_idempotence=settings.enable_idempotence and acks_all,
        request_timeout_ms=settings.produce_timeout_ms,
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_size,
        max_request_size=max(settings.max_batch_size, 1_048_576),
        compression_type=settings.compression_type,
        metadata_max_age_ms=settings.metadata_max_age_ms,
    )


def make_consumer(settings: KafkaSettings, group: str, topics: Iterable[str]) -> Any:
    """Build (not start) a consumer of ``topics`` in ``group`` that never commits by itself."""
    return aiokafka.AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-{group}",
        group_id=group,
        enable_auto_commit=False,  # offsets move only after the effect's transaction commits
        auto_offset_reset="earliest",  # a new group, or a log that lost its offsets: from the start
        isolation_level=settings.isolation_level,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        metadata_max_age_ms=settings.metadata_max_age_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


async def ensure_topics(settings: KafkaSettings, logical: Iterable[str]) -> None:
    """Create the missing topics; refuse a topic whose partition count is not the configured one.

    Topics are listed, never named in a metadata request: a broker that creates topics on
    demand (tansu; Kafka with auto.create.topics.enable) would create them with its defaults.
    """
    wanted = {settings.topic(name): settings.partitions_of(name) for name in logical}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        request_timeout_ms=settings.request_timeout_ms,
    )
    try:
        await admin.start()
        existing = await _partition_counts(admin)
        missing = [
            NewTopic(
                name,
                num_partitions=count,
                replication_factor=settings.replication_factor,
                topic_configs=dict(settings.topic_configs),
            )
            for name, count in sorted(wanted.items())
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing, timeout_ms=settings.request_timeout_ms)
            _check_created(response.topic_errors)
            existing = await _partition_counts(admin)  # another client may have been first
    except CLIENT_ERRORS as exc:
        raise BusError(f"creating the bus topics failed: {exc}") from exc
    finally:
        with contextlib.suppress(*CLIENT_ERRORS):
            await admin.close()
    _check_partitions(wanted, existing)


async def _partition_counts(admin: Any) -> dict[str, int]:
    return {found["topic"]: len(found["partitions"]) for found in await admin.describe_topics()}


def _check_created(errors: Sequence[tuple[Any, ...]]) -> None:
    for topic, code, *rest in errors:
        if code not in (0, TOPIC_ALREADY_EXISTS):
            message = rest[0] if rest else None
            raise BusError(f"creating topic {topic} failed: error {code} {message or ''}".strip())


def _check_partitions(wanted: Mapping[str, int], existing: Mapping[str, int]) -> None:
    for name, count in wanted.items():
        found = existing.get(name)
        if found is not None and found != count:
            raise BusError(
                f"topic {name} has {found} partitions, configured {count}: keys would move"
                " between partitions, and with them the order and the consumers' dedupe"
            )


async def close_consumer(consumer: Any) -> None:
    """Stop a consumer, leaving its group first even in the broker's first generation.

    aiokafka leaves a group only from generation 1 on; tansu numbers the first generation 0, so
    a stopped member would hold its partitions until its session times out.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    member_id = getattr(coordinator, "member_id", "")
    if coordinator is not None and getattr(coordinator, "generation", -1) == 0 and member_id:
        with contextlib.suppress(*CLIENT_ERRORS):
            async with asyncio.timeout(LEAVE_TIMEOUT_S):
                await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, member_id))
            coordinator.reset_generation()
    with contextlib.suppress(*CLIENT_ERRORS):
        await consumer.stop()
