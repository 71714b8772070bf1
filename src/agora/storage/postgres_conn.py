"""A pool of asyncpg connections that runs work in transactions: retried, whole, translated."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # reason: asyncpg ships no type hints

from agora.core.errors import StorageError
from agora.storage.postgres_driver import DRIVER_ERRORS, Connection, PassThrough, is_retryable
from agora.storage.postgres_migrate import migrate

_T = TypeVar("_T")

Work = Callable[[Connection], Awaitable[_T]]

CLOSE_TIMEOUT_S = 30.0
"""How long closing waits for connections in use before it cuts them."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a transaction aborted by a deadlock or conflict is rerun."""

    attempts: int = 8
    first_delay_s: float = 0.002
    max_delay_s: float = 0.25

    def delay_s(self, attempt: int) -> float:
        """Return the pause after failed attempt ``attempt`` (1-based): full jitter, capped."""
        ceiling = min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # jitter: two losers of a deadlock must not collide again


class PgDatabase:
    """Work on one PostgreSQL database through a connection pool."""

    def __init__(self, pool: Any, retry: RetryPolicy) -> None:
        self._pool = pool
        self._retry = retry
        self._closed = False
        self._writes: set[asyncio.Task[Any]] = set()
        self.retries = 0  # transactions rerun after a deadlock or serialization failure

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        retry: RetryPolicy | None = None,
    ) -> PgDatabase:
        """Connect to ``dsn`` and bring its schema up to date (StorageError if either fails)."""
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_connections, max_size=max_connections
            )
        except DRIVER_ERRORS as exc:
            raise StorageError(f"opening the PostgreSQL database failed: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except BaseException as exc:
            pool.terminate()
            if isinstance(exc, DRIVER_ERRORS):
                raise StorageError(f"opening the PostgreSQL database failed: {exc}") from exc
            raise
        return cls(pool, retry or RetryPolicy())

    async def fetch(self, what: str, work: Work[_T]) -> _T:
        """Run ``work`` (a single statement) outside an explicit transaction."""
        self._check_open(what)
        return await self._attempts(what, work, None)

    async def read(self, what: str, work: Work[_T]) -> _T:
        """Run ``work`` in a read-only REPEATABLE READ transaction: one consistent snapshot."""
        self._check_open(what)
        return await self._attempts(what, work, "repeatable_read")

    async def write(self, what: str, work: Work[_T]) -> _T:
        """Run ``work`` in a READ COMMITTED transaction: all of it commits, or none of it.

        A deadlock or serialization failure reruns the whole of ``work`` after a short random
        pause. A cancelled caller stops waiting, but work already started finishes (or fails)
        whole, and ``close`` waits for it.
        """
        self._check_open(what)
        task = asyncio.ensure_future(self._attempts(what, work, "read_committed"))
        self._writes.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Let writes in progress finish, then close every connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writes:
            await asyncio.wait(set(self._writes))
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()
        except DRIVER_ERRORS as exc:
            self._pool.terminate()
            raise StorageError(f"closing the database failed: {exc}") from exc

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._writes.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here too: a caller that was cancelled never reads it

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise StorageError(f"{what} failed: the store is closed")

    async def _attempts(self, what: str, work: Work[_T], isolation: str | None) -> _T:
        attempt = 1
        while True:
            try:
                return await self._once(work, isolation)
            except PassThrough as carrier:
                raise carrier.original from None
            except DRIVER_ERRORS as exc:
                if not (is_retryable(exc) and attempt < self._retry.attempts):
                    raise StorageError(f"{what} failed: {exc}") from exc
            self.retries += 1
            await asyncio.sleep(self._retry.delay_s(attempt))
            attempt += 1

    async def _once(self, work: Work[_T], isolation: str | None) -> _T:
        async with self._pool.acquire() as conn:
            if isolation is None:
                return await work(conn)
            readonly = isolation != "read_committed"
            async with conn.transaction(isolation=isolation, readonly=readonly):
                return await work(conn)
