"""The outbox, the relay's position, subscribers' checkpoints and documents in PostgreSQL.

A subscriber's effect is plain synchronous code (``ProjectionTx.get`` returns a value), and
asyncpg is asynchronous, so ``apply`` runs the effect on a worker thread, as SQLite runs it on
its store thread: each ``get`` the effect makes is sent to the event loop, which reads it on the
transaction's connection while the effect's thread waits. Writes are staged in memory and flushed
after the effect returns, in key order, in the same transaction as the checkpoint.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Executor

from agora.core.errors import StorageError
from agora.core.events import Event, decode_event
from agora.storage.ports import Effect
from agora.storage.postgres_driver import DRIVER_ERRORS, Connection, PassThrough

RELAY = "outbox"
"""The relay's name in the ``relay`` table."""

_KEY_RANGE_END = "\U0010ffff"
"""Above every other character: ``prefix + this`` bounds the keys that start with ``prefix``."""

_GET = "SELECT value FROM projections WHERE collection = $1 AND key = $2"
_PUT = (
    "INSERT INTO projections (collection, key, value) VALUES ($1, $2, $3)"
    " ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM projections WHERE collection = $1 AND key = $2"
_CLAIM = (
    "INSERT INTO checkpoints (subscriber, seq) VALUES ($1, $2)"
    " ON CONFLICT (subscriber) DO UPDATE SET seq = excluded.seq"
    " WHERE checkpoints.seq < excluded.seq RETURNING seq"
)
"""Move a checkpoint forward, locking its row to COMMIT; no row back when already there."""


async def fetch_events(conn: Connection, seq: int, limit: int) -> list[tuple[int, Event]]:
    """Read up to ``limit`` outbox events after ``seq``, decoded, in order."""
    rows = await conn.fetch(
        "SELECT seq, body FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", seq, max(limit, 0)
    )
    return [(row_seq, decode_event(body)) for row_seq, body in rows]


async def fetch_account_events(
    conn: Connection, account_id: str, seq: int, limit: int
) -> list[tuple[int, Event]]:
    """Read up to ``limit`` of an account's outbox events after ``seq``, in order."""
    rows = await conn.fetch(
        "SELECT seq, body FROM outbox WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        account_id,
        seq,
        max(limit, 0),
    )
    return [(row_seq, decode_event(body)) for row_seq, body in rows]


async def mark_published(conn: Connection, up_to_seq: int) -> None:
    """Move the relay's position forward to ``up_to_seq`` (never backwards)."""
    await conn.execute(
        "INSERT INTO relay (name, seq) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET seq = greatest(relay.seq, excluded.seq)",
        RELAY,
        up_to_seq,
    )


async def published_seq(conn: Connection) -> int:
    """Read the relay's position (0 when none)."""
    found = await conn.fetchval("SELECT seq FROM relay WHERE name = $1", RELAY)
    return 0 if found is None else int(found)


async def read_checkpoint(conn: Connection, subscriber: str) -> int:
    """Read a subscriber's last applied sequence number (0 when none)."""
    found = await conn.fetchval("SELECT seq FROM checkpoints WHERE subscriber = $1", subscriber)
    return 0 if found is None else int(found)


async def apply_effect(
    conn: Connection, subscriber: str, seq: int, effect: Effect, effects: Executor
) -> bool:
    """Move the checkpoint and run ``effect`` in the caller's transaction; False if applied.

    The checkpoint moves first: its row lock makes a concurrent apply of the same subscriber
    wait, then find the checkpoint already moved.
    """
    if await conn.fetchval(_CLAIM, subscriber, seq) is None:
        return False
    loop = asyncio.get_running_loop()
    tx = PgProjectionTx(conn, loop)
    try:
        await loop.run_in_executor(effects, _run_effect, effect, tx)
    finally:
        tx.close()
    await tx.flush()
    return True


def _run_effect(effect: Effect, tx: PgProjectionTx) -> None:
    try:
        effect(tx)
    except StorageError:
        raise
    except BaseException as exc:
        raise PassThrough(exc) from exc  # the subscriber's own error, re-raised untranslated


async def read_documents(conn: Connection, collection: str, prefix: str) -> list[tuple[str, bytes]]:
    """Read the documents of ``collection`` whose keys start with ``prefix``, by key."""
    rows = await conn.fetch(
        "SELECT key, value FROM projections WHERE collection = $1 AND key >= $2 AND key < $3"
        " ORDER BY key",
        collection,
        prefix,
        prefix + _KEY_RANGE_END,  # keys are COLLATE "C": they compare as UTF-8 bytes
    )
    return [(key, bytes(value)) for key, value in rows]


async def read_document(conn: Connection, collection: str, key: str) -> bytes | None:
    """Read one document, or None."""
    value = await conn.fetchval(_GET, collection, key)
    return None if value is None else bytes(value)


async def write_document(
    conn: Connection, collection: str, key: str, value: bytes, only_if_absent: bool
) -> bool:
    """Write one document; with ``only_if_absent``, leave an existing one and return False."""
    if not only_if_absent:
        await conn.execute(_PUT, collection, key, bytes(value))
        return True
    written = await conn.fetchval(
        "INSERT INTO projections (collection, key, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (collection, key) DO NOTHING RETURNING 1",
        collection,
        key,
        bytes(value),
    )
    return written is not None


class PgProjectionTx:
    """A subscriber's documents inside its checkpoint's transaction, used from a worker thread."""

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = conn
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._staged: dict[tuple[str, str], bytes | None] = {}  # None: deleted
        self._closed = False

    def get(self, collection: str, key: str) -> bytes | None:
        """Read one document (as this transaction left it), or None."""
        self._check_usable(collection, key)
        if (collection, key) in self._staged:
            return self._staged[collection, key]
        if threading.get_ident() == self._loop_thread:  # waiting here would stop the loop
            raise StorageError("a projection transaction was read from the event loop's thread")
        pending = asyncio.run_coroutine_threadsafe(self._read(collection, key), self._loop)
        return pending.result()

    def put(self, collection: str, key: str, value: bytes) -> None:
        """Write one document (at commit, with the checkpoint)."""
        self._check_usable(collection, key)
        self._staged[collection, key] = bytes(value)

    def delete(self, collection: str, key: str) -> None:
        """Remove one document (no error when absent)."""
        self._check_usable(collection, key)
        self._staged[collection, key] = None

    def close(self) -> None:
        """Refuse further use: the effect has returned."""
        self._closed = True

    async def flush(self) -> None:
        """Write the staged documents, in key order (the lock order), on the transaction."""
        staged = sorted(self._staged.items())
        puts = [(c, k, value) for (c, k), value in staged if value is not None]
        deletes = [(c, k) for (c, k), value in staged if value is None]
        if puts:
            await self._conn.executemany(_PUT, puts)
        if deletes:
            await self._conn.executemany(_DELETE, deletes)

    async def _read(self, collection: str, key: str) -> bytes | None:
        try:
            value = await self._conn.fetchval(_GET, collection, key)
        except DRIVER_ERRORS as exc:
            raise StorageError(f"projection {collection}/{key} failed: {exc}") from exc
        return None if value is None else bytes(value)

    def _check_usable(self, collection: str, key: str) -> None:
        if self._closed:
            raise StorageError(
                f"projection {collection}/{key}: a projection transaction was used after its"
                " apply() ended"
            )
