"""``Idempotency-Key``: the same key and body return the first result; another body gets 409.

Results (status and body, 5xx excluded) are stored durably per user and key. Requests with the
same key wait for each other, so two concurrent retries never both run. Commands that reach a lane
also carry an id derived from the key (a client order id or transfer id), so a crash between the
commit and storing the result still cannot apply a retry twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import msgspec

from agora.core.errors import ConflictError, ValidationError
from agora.storage.ports import DocumentStore

RESULTS = "idempotency"
MAX_KEY_LENGTH = 200


class StoredResult(msgspec.Struct, frozen=True):
    """The first answer to a keyed request."""

    request_hash: str
    status_code: int
    body: bytes


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(StoredResult).decode

Handler = Callable[[], Awaitable[tuple[int, bytes]]]


def check_key(key: str) -> str:
    """Refuse keys that are empty, too long or not printable ASCII."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            code="invalid_idempotency_key",
        )
    return key


def request_hash(method: str, path: str, body: bytes) -> str:
    """Fingerprint what a keyed request asked for."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


class Idempotency:
    """Run keyed requests once per (user, key) and replay their first result."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # name → (lock, [users])

    async def run(
        self, user_id: str, key: str, fingerprint: str, handler: Handler
    ) -> tuple[int, bytes, bool]:
        """Return ``(status, body, replayed)`` for the keyed request."""
        name = f"{user_id}|{check_key(key)}"
        lock, users = self._locks.setdefault(name, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                stored = await self._store.get_document(RESULTS, name)
                if stored is not None:
                    first = _decode(stored)
                    if first.request_hash != fingerprint:
                        raise ConflictError(
                            "this Idempotency-Key was used with another request",
                            code="idempotency_key_reused",
                        )
                    return first.status_code, first.body, True
                status, body = await handler()
                if status < 500:
                    result = StoredResult(fingerprint, status, body)
                    await self._store.put_document(RESULTS, name, _encode(result))
                return status, body, False
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[name]
