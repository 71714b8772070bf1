"""A fresh database per test on the machine's PostgreSQL server, dropped afterwards.

The server is ``AGORA_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
used only to create and drop the databases). Outside CI a machine without the server skips the
PostgreSQL tests, saying why; under ``CI=true`` nothing is skipped: a missing server is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # reason: asyncpg ships no type hints
import pytest

ADMIN_DSN = os.environ.get("AGORA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CONNECT_TIMEOUT_S = 5.0


def dsn_of(database: str) -> str:
    """Return the server's DSN with ``database`` in place of the admin database."""
    parts = urlsplit(ADMIN_DSN)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _missing(reason: str) -> None:
    where = urlsplit(ADMIN_DSN)
    message = (
        f"PostgreSQL tests need a server at {where.hostname}:{where.port} ({reason}); start it"
        " with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def admin_connection() -> asyncpg.Connection:
    """Connect to the admin database, or skip (fail under CI) when the server is missing."""
    try:
        return await asyncpg.connect(ADMIN_DSN, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _missing(f"{type(exc).__name__}: {exc}")
        raise  # not reached: _missing raises


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Create an empty database ``agora_test_<random>``, yield its DSN, then drop it."""
    admin = await admin_connection()
    name = f"agora_test_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield dsn_of(name)
    finally:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
