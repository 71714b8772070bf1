"""One sqlite3 connection owned by one dedicated thread, so the event loop never blocks on I/O."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import msgspec

from agora.core.errors import StorageError
from agora.storage.migrate import migrate

_T = TypeVar("_T")

DRIVER_ERRORS = (sqlite3.Error, OverflowError, msgspec.MsgspecError)
"""What the driver (or a too-large integer, or a corrupt stored document) raises."""


class PassThrough(Exception):
    """Carry a caller's exception through the transaction untranslated."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


class SqliteConnection:
    """Run work on a sqlite3 connection inside transactions, on the connection's own thread."""

    def __init__(self, executor: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        self._executor = executor
        self._conn = conn
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, busy_timeout_ms: int) -> SqliteConnection:
        """Open (creating and migrating if needed) the database at ``path``."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agora-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, connect, path, busy_timeout_ms)
        except BaseException:
            executor.shutdown(wait=True)
            raise
        return cls(executor, conn)

    async def read(self, what: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in a read transaction (one consistent view of the database)."""
        return await self._run(what, "BEGIN DEFERRED", work)

    async def write(self, what: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in a write transaction: all of it commits, or none of it."""
        return await self._run(what, "BEGIN IMMEDIATE", work)

    async def close(self) -> None:
        """Close the connection (after any work already queued) and stop its thread."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        except sqlite3.Error as exc:
            raise StorageError(f"closing the database failed: {exc}") from exc
        finally:
            self._executor.shutdown(wait=True)  # the thread is idle now: this returns at once

    async def _run(self, what: str, begin: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise StorageError(f"{what} failed: the store is closed")
        loop = asyncio.get_running_loop()
        # A cancelled caller stops waiting, but work already started still finishes (or not) whole.
        return await loop.run_in_executor(
            self._executor, _transaction, self._conn, what, begin, work
        )


def connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open a connection (store thread or writer process), set its PRAGMAs, migrate the schema."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise StorageError(f"opening {path} failed: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StorageError(f"opening {path} failed: journal mode is {mode}, not wal")
        conn.execute("PRAGMA synchronous = FULL")  # an acknowledged commit survives power loss
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "PRAGMA cache_size = -65536"
        )  # 64 MiB of pages: the hot indexes stay in memory
        conn.execute(
            "PRAGMA wal_autocheckpoint = 8000"
        )  # fewer, larger checkpoints (~32 MiB of WAL)
        migrate(conn)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"opening {path} failed: {exc}") from exc
        raise
    return conn


def _transaction(
    conn: sqlite3.Connection, what: str, begin: str, work: Callable[[sqlite3.Connection], _T]
) -> _T:
    """Run ``work`` between BEGIN and COMMIT; roll back and translate driver errors on failure."""
    try:
        conn.execute(begin)
        result = work(conn)
        conn.execute("COMMIT")
    except PassThrough as carrier:
        _rollback(conn)
        raise carrier.original from None
    except BaseException as exc:
        _rollback(conn)
        if isinstance(exc, DRIVER_ERRORS):
            raise StorageError(f"{what} failed: {exc}") from exc
        raise
    return result


def _rollback(conn: sqlite3.Connection) -> None:
    # The first error is the one to report; a failed ROLLBACK still ends the transaction.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
