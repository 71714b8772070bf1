"""The Kafka bus's settings, read from ``AGORA_BUS_URL`` (``kafka://host:port[,host:port]?…``).

The defaults are for a real cluster (docs/kafka.md): three replicas, two in sync for a write,
acknowledged by all of them, the idempotent producer. Tests against the single-node tansu broker
turn replication down to 1 and idempotence off (tansu refuses the producer-id request).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agora.core.errors import ValidationError

DEFAULT_TOPIC_CONFIGS: Mapping[str, str] = MappingProxyType(
    {
        "min.insync.replicas": "2",  # with acks=all: a write survives the loss of one broker
        "unclean.leader.election.enable": "false",  # never elect a replica that missed writes
        "retention.ms": str(7 * 24 * 3600 * 1000),  # the outbox keeps the record for ever
        "cleanup.policy": "delete",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    """Where the brokers are and how topics, the producer and the consumers are set up."""

    bootstrap_servers: str
    client_id: str = "agora"
    topic_prefix: str = ""  # e.g. "prod." when environments share a cluster
    group_prefix: str = "agora."  # a subscriber's group is prefix + its name
    partitions: int = 12
    partitions_by_topic: Mapping[str, int] = field(default_factory=dict)
    replication_factor: int = 3
    topic_configs: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPIC_CONFIGS))
    enable_idempotence: bool = True  # real clusters; tansu cannot (ECOSYSTEM.md)
    request_timeout_ms: int = 30_000  # consumers' and the admin client's requests
    produce_timeout_ms: int = 30_000  # how long a batch may wait for its acks, retries included
    linger_ms: int = 5
    max_batch_size: int = 1_048_576
    compression_type: str | None = "lz4"
    isolation_level: str = "read_committed"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    metadata_max_age_ms: int = 60_000
    fetch_max_wait_ms: int = 100
    max_poll_records: int = 500

    def topic(self, logical: str) -> str:
        """Return the broker's name for a logical topic."""
        return self.topic_prefix + logical

    def partitions_of(self, logical: str) -> int:
        """Return how many partitions a logical topic has (must never change while in use)."""
        return self.partitions_by_topic.get(logical, self.partitions)

    def group(self, subscriber: str) -> str:
        """Return the consumer group of a subscriber."""
        return self.group_prefix + subscriber

    @classmethod
    def from_url(cls, url: str) -> KafkaSettings:
        """Parse ``kafka://host:port[,host:port][?name=value&…]`` (names: this class's fields)."""
        parts = urlsplit(url)
        if parts.scheme != "kafka" or not parts.netloc:
            raise ValidationError(
                f"bus url {url!r} is not kafka://host:port", code="invalid_bus_url"
            )
        settings = cls(bootstrap_servers=parts.netloc)
        changes: dict[str, Any] = {}
        known = {item.name: item for item in fields(cls)}
        for name, text in parse_qsl(parts.query, keep_blank_values=True):
            if name.startswith("topic."):  # topic.retention.ms=… sets one topic config
                configs = dict(changes.get("topic_configs", settings.topic_configs))
                configs[name.removeprefix("topic.")] = text
                changes["topic_configs"] = configs
            elif name.startswith("partitions."):  # partitions.order.filled=24
                counts = dict(changes.get("partitions_by_topic", settings.partitions_by_topic))
                counts[name.removeprefix("partitions.")] = _integer(name, text)
                changes["partitions_by_topic"] = counts
            elif name in known and name not in {"bootstrap_servers", "topic_configs"}:
                changes[name] = _parse(name, text, getattr(settings, name))
            else:
                raise ValidationError(f"unknown bus setting {name!r}", code="invalid_bus_url")
        return replace(settings, **changes)


def _parse(name: str, text: str, current: object) -> object:
    if isinstance(current, bool):
        if text.lower() not in {"true", "false", "1", "0"}:
            raise ValidationError(f"{name} must be true or false", code="invalid_bus_url")
        return text.lower() in {"true", "1"}
    if isinstance(current, int):
        return _integer(name, text)
    if name == "compression_type" and text in {"", "none"}:
        return None
    return text


def _integer(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"{name} must be an integer", code="invalid_bus_url") from None
    if value < 0:
        raise ValidationError(f"{name} must not be negative", code="invalid_bus_url")
    return value
