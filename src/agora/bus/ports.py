"""Ports the bus owns: reading the outbox, and subscribers' exactly-once checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agora.core.events import Event


class ProjectionTx(Protocol):
    """A subscriber's view of the transaction its effect and checkpoint share."""

    def get(self, collection: str, key: str) -> bytes | None:
        """Read one document of a subscriber's read model."""
        ...

    def put(self, collection: str, key: str, value: bytes) -> None:
        """Write one document of a subscriber's read model."""
        ...

    def delete(self, collection: str, key: str) -> None:
        """Remove one document (no error when absent)."""
        ...


Effect = Callable[[ProjectionTx], None]


class OutboxStore(Protocol):
    """The outbox as the relay sees it: events in commit order, each with a sequence number."""

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Return up to ``limit`` events with sequence numbers greater than ``seq``, in order."""
        ...

    async def mark_published(self, up_to_seq: int) -> None:
        """Record that every event up to ``up_to_seq`` was handed to the bus."""
        ...

    async def published_seq(self) -> int:
        """Return the highest sequence number marked published (0 when none)."""
        ...


class AccountOutbox(OutboxStore, Protocol):
    """The outbox read by account (an account's own event stream)."""

    async def fetch_account_after(
        self, account_id: str, seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        """Return up to ``limit`` of an account's events after ``seq``, in order."""
        ...


class CheckpointStore(Protocol):
    """Subscribers' positions, moved in the same transaction as their effects."""

    async def checkpoint(self, subscriber: str) -> int:
        """Return the last sequence number the subscriber applied (0 when none)."""
        ...

    async def apply(self, subscriber: str, seq: int, effect: Effect) -> bool:
        """Run ``effect`` and move the checkpoint in one transaction; False if done before."""
        ...


class DocumentSource(Protocol):
    """Read models as their readers see them: committed documents, listed by key prefix."""

    async def documents(self, collection: str, prefix: str) -> list[tuple[str, bytes]]:
        """Return ``(key, value)`` of the documents whose keys start with ``prefix``, by key."""
        ...


class EventBus(Protocol):
    """A bus that delivers committed outbox events to subscribers, each effect exactly once.

    ``InProcessBus`` follows the outbox directly; ``KafkaBus`` consumes what ``OutboxRelay``
    published. Either way a stop loses nothing: what was not applied is delivered after a start.
    """

    def start(self) -> None:
        """Start delivering in background tasks (returns at once)."""
        ...

    async def stop(self) -> None:
        """Stop delivering; committed effects stay, the rest is delivered after a start."""
        ...

    def notify(self) -> None:
        """Hint that new events were committed (a bus that polls or is pushed may ignore it)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRecord:
    """One record for the broker: an outbox event routed to a topic, with its key."""

    topic: str  # the logical topic (ARCHITECTURE.md's table); adapters may prefix it
    key: bytes
    value: bytes
    seq: int  # the event's outbox sequence number (also in the headers)
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int
    acks_all: bool = True  # False only for best-effort prices


class Publisher(Protocol):
    """The relay's broker: hands records over and waits until the broker acknowledged them."""

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Publish every record and wait for the acknowledgements; raise BusError if any failed.

        Records that share an ordering unit (a Kafka partition: same topic, same key at least)
        are written in the given order, each only after the ones before it were acknowledged,
        so a failure never leaves a gap behind a later record. On failure a prefix of each unit
        may have been written: the caller publishes the whole sequence again.
        """
        ...

    def ordering_unit(self, record: OutboundRecord) -> Hashable:
        """Return the unit ``record`` is ordered within (for Kafka: its topic and partition)."""
        ...
