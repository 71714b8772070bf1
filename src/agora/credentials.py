"""``credentials.json``: the first start's admin and demo-trader tokens, readable by the owner only.

The file holds the only plaintext copies of the tokens (the database keeps their hashes). It is
written once, atomically, with mode 0600; later starts reuse it when its tokens still work, and
make fresh users and a new file when they do not (a database replaced under the same folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec

from agora.bootstrap import DEMO_ACCOUNT_ID
from agora.web.auth import Role
from agora.web.context import WebContext
from agora.web.routes.admin import create_user


class Credentials(msgspec.Struct, frozen=True):
    """What ``credentials.json`` holds."""

    admin: dict[str, str]
    demo: dict[str, str]


async def ensure_credentials(context: WebContext, path: Path) -> Credentials:
    """Return working credentials, creating the admin and demo trader on first start."""
    existing = _read(path)
    if existing is not None and await _works(context, existing):
        return existing
    _, admin_token = await create_user(context, "admin", Role.ADMIN)
    _, demo_token = await create_user(context, "demo", Role.TRADER, account_id=DEMO_ACCOUNT_ID)
    made = Credentials(
        admin={"token": admin_token},
        demo={"token": demo_token, "account_id": DEMO_ACCOUNT_ID},
    )
    _write(path, made)
    return made


def _read(path: Path) -> Credentials | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Credentials)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


async def _works(context: WebContext, credentials: Credentials) -> bool:
    admin = await context.users.by_token(credentials.admin.get("token", ""))
    demo = await context.users.by_token(credentials.demo.get("token", ""))
    return admin is not None and demo is not None


def _write(path: Path, credentials: Credentials) -> None:
    temporary = path.with_suffix(".json.tmp")
    data = json.dumps(msgspec.to_builtins(credentials), indent=2).encode() + b"\n"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
