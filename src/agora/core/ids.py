"""Identifiers: time-ordered, prefixed by kind, URL-safe (``ord_01JD…``)."""

from __future__ import annotations

import os
import re
import time
from typing import Protocol

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
ID_PATTERN = re.compile(r"^[a-z]{2,4}_[0-9A-HJKMNP-TV-Z]{26}$")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class IdFactory(Protocol):
    """Makes new identifiers for a kind (``ord``, ``acc``, ``trf``, ``evt``…)."""

    def new(self, prefix: str) -> str:
        """Return a fresh identifier with ``prefix``."""
        ...


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


class TimeOrderedIds:
    """ULID-shaped ids: 48 bits of milliseconds then 80 random bits, monotonic per process."""

    def __init__(self) -> None:
        self._last = 0

    def new(self, prefix: str) -> str:
        """Return a fresh, time-ordered identifier."""
        value = ((time.time_ns() // 1_000_000) << 80) | int.from_bytes(os.urandom(10), "big")
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return f"{prefix}_{_encode(value, 26)}"


class SequentialIds:
    """Deterministic ids for tests: ``ord_0000…0001``, ``ord_0000…0002``…"""

    def __init__(self) -> None:
        self._next = 0

    def new(self, prefix: str) -> str:
        """Return the next identifier in sequence."""
        self._next += 1
        return f"{prefix}_{_encode(self._next, 26)}"
