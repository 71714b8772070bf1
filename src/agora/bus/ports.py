"""Ports the bus owns: reading the outbox, and subscribers' exactly-once checkpoints."""

from __future__ import annotations

from collections.abc import Callable
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
