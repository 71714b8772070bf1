"""What the Kafka bus does inside one transaction: apply a partition's chunk, exactly once.

A subscriber's position in a partition is the highest outbox seq it has seen there (applied or
not wanted). It is a document read and written inside the effect's own transaction, so two
consumers that both believe they own the partition (a rebalance in progress) cannot both apply
a record: the second one reads the first one's position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agora.bus.ports import ProjectionTx
from agora.core.events import Event

POSITIONS = "bus.kafka"
"""The collection of positions: one document per subscriber and partition."""


def position_name(subscriber: str, topic: str, partition: int) -> str:
    """Name a subscriber's position in one partition (its checkpoint and document key)."""
    return f"kafka:{subscriber}:{topic}:{partition}"


class Applier(Protocol):
    """The part of a subscriber an effect uses."""

    def wants(self, event: Event) -> bool:
        """Whether the subscriber applies ``event``."""
        ...

    def apply(self, event: Event, tx: ProjectionTx) -> None:
        """Apply one event inside the transaction."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """One record as the relay wrote it: where it sits, its seq, its predecessor's, its event."""

    offset: int
    seq: int
    prev: int  # 0: no predecessor named
    event: Event


class LogGap(Exception):
    """A record names a predecessor in its partition that the subscriber never saw."""

    def __init__(self, name: str, offset: int, position: int, record: Delivered) -> None:
        super().__init__(
            f"{name}: the record at offset {offset} (seq {record.seq}) follows seq {record.prev},"
            f" but the last seq seen is {position}"
        )
        self.offset = offset
        self.position = position
        self.seq = record.seq
        self.prev = record.prev


class ChunkEffect:
    """Applies the records above the stored position, in order, and moves the position."""

    def __init__(
        self,
        subscriber: Applier,
        name: str,
        floor: int,
        delivered: Sequence[Delivered],
        *,
        tolerate_gaps_through: int = -1,
    ) -> None:
        self.name = name
        self._subscriber = subscriber
        self._floor = floor
        self._delivered = delivered
        self._tolerate_through = tolerate_gaps_through
        self.tolerated: list[LogGap] = []

    def __call__(self, tx: ProjectionTx) -> None:
        """Apply the chunk; raise LogGap (changing nothing) at a predecessor never seen."""
        self.tolerated = []  # a transaction retried whole runs the effect again
        stored = tx.get(POSITIONS, self.name)
        position = max(self._floor, 0 if stored is None else int(stored))
        for record in self._delivered:
            if record.seq <= position:  # a copy: the relay published its chunk again
                continue
            if record.prev > position:  # records of this partition were never seen here
                gap = LogGap(self.name, record.offset, position, record)
                if record.offset > self._tolerate_through:
                    raise gap
                self.tolerated.append(gap)
            if self._subscriber.wants(record.event):
                self._subscriber.apply(record.event, tx)
            position = record.seq
        tx.put(POSITIONS, self.name, str(position).encode())
