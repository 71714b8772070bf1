"""The outbox, the relay's position and subscribers' checkpoints in SQLite."""

from __future__ import annotations

import sqlite3

from agora.core.errors import StorageError
from agora.core.events import Event, decode_event
from agora.storage.ports import Effect
from agora.storage.sqlite_conn import DRIVER_ERRORS, PassThrough

RELAY = "outbox"
"""The relay's name in the ``relay`` table."""


def fetch_events(conn: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, Event]]:
    """Read up to ``limit`` outbox events after ``seq``, decoded, in order."""
    rows = conn.execute(
        "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, max(limit, 0))
    )
    return [(row_seq, decode_event(body)) for row_seq, body in rows]


def fetch_account_events(
    conn: sqlite3.Connection, account_id: str, seq: int, limit: int
) -> list[tuple[int, Event]]:
    """Read up to ``limit`` of an account's outbox events after ``seq``, in order."""
    rows = conn.execute(
        "SELECT seq, body FROM outbox WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (account_id, seq, max(limit, 0)),
    )
    return [(row_seq, decode_event(body)) for row_seq, body in rows]


def mark_published(conn: sqlite3.Connection, up_to_seq: int) -> None:
    """Move the relay's position forward to ``up_to_seq`` (never backwards)."""
    conn.execute(
        "INSERT INTO relay (name, seq) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)",
        (RELAY, up_to_seq),
    )


def published_seq(conn: sqlite3.Connection) -> int:
    """Read the relay's position (0 when none)."""
    row = conn.execute("SELECT seq FROM relay WHERE name = ?", (RELAY,)).fetchone()
    return 0 if row is None else int(row[0])


def read_checkpoint(conn: sqlite3.Connection, subscriber: str) -> int:
    """Read a subscriber's last applied sequence number (0 when none)."""
    row = conn.execute("SELECT seq FROM checkpoints WHERE subscriber = ?", (subscriber,))
    found = row.fetchone()
    return 0 if found is None else int(found[0])


def apply_effect(conn: sqlite3.Connection, subscriber: str, seq: int, effect: Effect) -> bool:
    """Run ``effect`` and move the checkpoint in the caller's transaction; False if applied."""
    if seq <= read_checkpoint(conn, subscriber):
        return False
    tx = SqliteProjectionTx(conn)
    try:
        effect(tx)
    except StorageError:
        raise
    except BaseException as exc:
        raise PassThrough(exc) from exc  # the subscriber's own error, re-raised untranslated
    finally:
        tx.close()
    conn.execute(
        "INSERT INTO checkpoints (subscriber, seq) VALUES (?, ?)"
        " ON CONFLICT (subscriber) DO UPDATE SET seq = excluded.seq",
        (subscriber, seq),
    )
    return True


def read_documents(
    conn: sqlite3.Connection, collection: str, prefix: str
) -> list[tuple[str, bytes]]:
    """Read the documents of ``collection`` whose keys start with ``prefix``, by key."""
    rows = conn.execute(
        "SELECT key, value FROM projections WHERE collection = ? AND key >= ? AND key < ?"
        " ORDER BY key",
        (collection, prefix, prefix + "\U0010ffff"),  # keys compare as UTF-8 bytes
    )
    return [(key, bytes(value)) for key, value in rows]


def read_document(conn: sqlite3.Connection, collection: str, key: str) -> bytes | None:
    """Read one document, or None."""
    row = conn.execute(
        "SELECT value FROM projections WHERE collection = ? AND key = ?", (collection, key)
    ).fetchone()
    return None if row is None else bytes(row[0])


def write_document(
    conn: sqlite3.Connection, collection: str, key: str, value: bytes, only_if_absent: bool
) -> bool:
    """Write one document; with ``only_if_absent``, leave an existing one and return False."""
    conflict = "DO NOTHING" if only_if_absent else "DO UPDATE SET value = excluded.value"
    cursor = conn.execute(
        "INSERT INTO projections (collection, key, value) VALUES (?, ?, ?)"
        f" ON CONFLICT (collection, key) {conflict}",
        (collection, key, bytes(value)),
    )
    return cursor.rowcount == 1


class SqliteProjectionTx:
    """A subscriber's documents, read and written inside its checkpoint's transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._closed = False

    def get(self, collection: str, key: str) -> bytes | None:
        """Read one document, or None."""
        row = self._execute(
            "SELECT value FROM projections WHERE collection = ? AND key = ?", (collection, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, collection: str, key: str, value: bytes) -> None:
        """Write one document."""
        self._execute(
            "INSERT INTO projections (collection, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value",
            (collection, key, bytes(value)),
        )

    def delete(self, collection: str, key: str) -> None:
        """Remove one document (no error when absent)."""
        self._execute("DELETE FROM projections WHERE collection = ? AND key = ?", (collection, key))

    def close(self) -> None:
        """Refuse further use: the transaction this view belongs to is over."""
        self._closed = True

    def _execute(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        if self._closed:
            raise StorageError("a projection transaction was used after its apply() ended")
        try:
            return self._conn.execute(sql, params)
        except DRIVER_ERRORS as exc:
            raise StorageError(f"projection {params[0]}/{params[1]} failed: {exc}") from exc
