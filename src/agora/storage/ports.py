"""Ports the storage adapters offer beyond the lanes' and the bus's own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agora.ledger import Hold, Transfer


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerRecords:
    """Everything ``agora ledger verify`` checks: stored transfers, balances, holds, needs."""

    transfers: list[Transfer]  # in the order they were stored
    balances: dict[str, int]  # ledger account → posted
    pending: dict[str, int]  # ledger account → the stored pending column (open holds' sum)
    holds: list[Hold]  # every hold, open or closed
    hold_needs: dict[str, int]  # hold id → what its non-final order still reserves


class LedgerRecordsSource(Protocol):
    """A store that can hand over its whole ledger for verification."""

    async def ledger_records(self) -> LedgerRecords:
        """Read every transfer, posted balance and hold, and what open orders still need."""
        ...


class ProjectionTx(Protocol):
    """A subscriber's documents inside its checkpoint's transaction.

    Mirrors ``agora.bus.ports.ProjectionTx`` structurally: storage and bus are independent
    layers, so neither imports the other.
    """

    def get(self, collection: str, key: str) -> bytes | None:
        """Read one document, or None."""
        ...

    def put(self, collection: str, key: str, value: bytes) -> None:
        """Write one document."""
        ...

    def delete(self, collection: str, key: str) -> None:
        """Remove one document (no error when absent)."""
        ...


Effect = Callable[[ProjectionTx], None]
"""What a subscriber does with one event, inside the checkpoint's transaction."""


class DocumentStore(Protocol):
    """Small keyed documents written outside any lane (users, idempotency records, settings)."""

    async def get_document(self, collection: str, key: str) -> bytes | None:
        """Read one committed document, or None."""
        ...

    async def put_document(
        self, collection: str, key: str, value: bytes, *, only_if_absent: bool = False
    ) -> bool:
        """Write one document durably; with ``only_if_absent``, False when the key exists."""
        ...
