"""Users and bearer tokens: tokens are random, shown once, and stored only as SHA-256 hashes.

A token carries 256 bits from ``secrets``, so a fast hash is enough to store it (there is nothing
to brute-force as with a password). Users live in the ``users`` documents keyed by token hash;
an in-memory map answers the hot path once a token has been seen.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

import msgspec

from agora.storage.ports import DocumentStore

USERS = "users"
TOKEN_PREFIX = "agora_"


class Role(StrEnum):
    """What a user may do: trade its own account, or administer the platform."""

    TRADER = "trader"
    ADMIN = "admin"


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A user of the API; traders have an account, admins may have none."""

    user_id: str
    name: str
    role: Role
    account_id: str | None


_encode = msgspec.msgpack.Encoder().encode
_decode_user = msgspec.msgpack.Decoder(User).decode


def new_token() -> str:
    """Make a fresh bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """Look users up by token (cached) and add them."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self._known: dict[str, User] = {}

    async def add(self, user: User, token: str) -> None:
        """Store ``user`` under ``token``'s hash."""
        digest = hash_token(token)
        await self._store.put_document(USERS, digest, _encode(user), only_if_absent=True)
        self._known[digest] = user

    def cached(self, token: str) -> User | None:
        """Return the user of a token seen before (no I/O), or None."""
        return self._known.get(hash_token(token))

    async def by_token(self, token: str) -> User | None:
        """Return the user a token belongs to, or None."""
        digest = hash_token(token)
        user = self._known.get(digest)
        if user is None:
            stored = await self._store.get_document(USERS, digest)
            if stored is None:
                return None
            user = self._known[digest] = _decode_user(stored)
        return user
