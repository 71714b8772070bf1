"""The PostgreSQL migration runner: numbered ``migrations_pg/*.sql`` files, one transaction each."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from importlib import resources

from agora.core.errors import StorageError
from agora.storage.migrate import Migration
from agora.storage.postgres_driver import DRIVER_ERRORS, Connection

_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")

MIGRATION_LOCK = 0x61_676F_7261_0001
"""The session advisory lock that makes concurrent openers migrate one at a time."""

_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)


def load_migrations() -> list[Migration]:
    """Read the packaged PostgreSQL migrations, ordered by version."""
    folder = resources.files("agora.storage").joinpath("migrations_pg")
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StorageError(f"migration versions are not 1..n: {[m.version for m in found]}")
    return found


async def schema_version(conn: Connection) -> int:
    """Return the highest applied migration version (0 for a new database)."""
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(conn: Connection, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Apply the migrations the database lacks and return their versions.

    Refuse (StorageError) a database whose schema is newer than the code's. Concurrent callers
    wait for each other on a session advisory lock, so each step is applied once.
    """
    todo = load_migrations() if migrations is None else sorted(migrations, key=_version)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    except DRIVER_ERRORS as exc:
        raise StorageError(f"locking the schema for migration failed: {exc}") from exc
    try:
        return await _migrate_locked(conn, todo)
    finally:
        # A failed unlock means a broken connection, which frees the lock as it closes (and the
        # pool's reset on release runs pg_advisory_unlock_all): the first error is the one to tell.
        with contextlib.suppress(*DRIVER_ERRORS):
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def _migrate_locked(conn: Connection, todo: Sequence[Migration]) -> list[int]:
    try:
        await conn.execute(_CREATE_TABLE)
        current = await schema_version(conn)
    except DRIVER_ERRORS as exc:
        raise StorageError(f"reading the schema version failed: {exc}") from exc
    known = todo[-1].version if todo else 0
    if current > known:
        raise StorageError(f"database schema {current} is newer than this code's ({known})")
    applied = []
    for migration in todo:
        if migration.version > current:
            await _apply(conn, migration)
            applied.append(migration.version)
    return applied


def _version(migration: Migration) -> int:
    return migration.version


async def _apply(conn: Connection, migration: Migration) -> None:
    # PostgreSQL's DDL is transactional: a failing step leaves no half-made schema behind.
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)  # no arguments: several statements are allowed
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
    except DRIVER_ERRORS as exc:
        label = f"{migration.version:04d}_{migration.name}"
        raise StorageError(f"migration {label} failed: {exc}") from exc
