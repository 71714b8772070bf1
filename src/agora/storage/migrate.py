"""A tiny migration runner: numbered ``.sql`` files applied in order, one transaction each."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from agora.core.errors import StorageError

_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version number, name and SQL script."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Read the packaged migrations, ordered by version."""
    folder = resources.files("agora.storage").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StorageError(f"migration versions are not 1..n: {[m.version for m in found]}")
    return found


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the highest applied migration version (0 for a new database)."""
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Apply the migrations the database lacks; return their versions (autocommit connection)."""
    todo = load_migrations() if migrations is None else sorted(migrations, key=_version)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
        )
        current = schema_version(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"reading the schema version failed: {exc}") from exc
    known = todo[-1].version if todo else 0
    if current > known:
        raise StorageError(f"database schema {current} is newer than this code's ({known})")
    applied = []
    for migration in todo:
        if migration.version > current:
            _apply(conn, migration)
            applied.append(migration.version)
    return applied


def _version(migration: Migration) -> int:
    return migration.version


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    # executescript commits any open transaction first, so BEGIN goes inside the script.
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}")
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (migration.version, datetime.now(UTC).isoformat()),
        )
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        label = f"{migration.version:04d}_{migration.name}"
        raise StorageError(f"migration {label} failed: {exc}") from exc
