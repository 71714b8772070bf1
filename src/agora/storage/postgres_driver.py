"""The asyncpg edge: the connection methods the adapters use and the errors they translate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]  # reason: asyncpg ships no type hints
import msgspec

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,  # what the server refused (constraints, types, deadlocks, …)
    asyncpg.InterfaceError,  # the client side: a closed pool, a lost connection, …
    asyncpg.InternalClientError,
    OSError,  # connecting failed (refused, unreachable) or the socket broke
    TimeoutError,
    OverflowError,
    msgspec.MsgspecError,  # a stored event or document that no longer decodes
)
"""What the driver, the network or a corrupt stored record raises: translated to StorageError."""

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure and deadlock_detected: the transaction was rolled back whole."""


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` aborted a transaction that may simply be run again."""
    return getattr(exc, "sqlstate", None) in RETRYABLE_SQLSTATES


class Connection(Protocol):
    """The part of ``asyncpg.Connection`` the adapters use (asyncpg ships no type hints)."""

    async def execute(self, query: str, *args: object) -> str:
        """Run a statement (several, when there are no arguments)."""
        ...

    async def executemany(self, command: str, args: Iterable[Sequence[object]]) -> None:
        """Run one statement for each argument row, pipelined."""
        ...

    async def fetch(self, query: str, *args: object) -> list[Any]:
        """Return every row of a query."""
        ...

    async def fetchrow(self, query: str, *args: object) -> Any:
        """Return the first row of a query, or None."""
        ...

    async def fetchval(self, query: str, *args: object) -> Any:
        """Return the first column of the first row, or None."""
        ...

    def transaction(
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> AbstractAsyncContextManager[Any]:
        """Return a transaction block: committed on exit, rolled back on an exception."""
        ...


class PassThrough(Exception):
    """Carry a caller's own exception (a subscriber's bug) through the transaction untranslated."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original
