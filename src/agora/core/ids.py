"""Identifiers: time-ordered, prefixed by kind, URL-safe (``ord_0193…``, 32 hex digits)."""

from __future__ import annotations

import os
import re
import time
from typing import Protocol

ID_PATTERN = re.compile(r"^[a-z]{2,4}_[0-9a-f]{32}$")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class IdFactory(Protocol):
    """Makes new identifiers for a kind (``ord``, ``acc``, ``trf``, ``evt``…)."""

    def new(self, prefix: str) -> str:
        """Return a fresh identifier with ``prefix``."""
        ...


class TimeOrderedIds:
    """128-bit ids: 48 bits of milliseconds then 80 random bits, monotonic per process."""

    _BULK = 4_096  # random bytes drawn per system call

    def __init__(self) -> None:
        self._last = 0
        self._random = b""
        self._offset = 0

    def _random80(self) -> int:
        """80 bits from the OS's randomness, drawn in bulk (one syscall per ~400 ids)."""
        if self._offset + 10 > len(self._random):
            self._random, self._offset = os.urandom(self._BULK), 0
        start, self._offset = self._offset, self._offset + 10
        return int.from_bytes(self._random[start : self._offset], "big")

    def new(self, prefix: str) -> str:
        """Return a fresh, time-ordered identifier."""
        value = ((time.time_ns() // 1_000_000) << 80) | self._random80()
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return f"{prefix}_{value:032x}"


class SequentialIds:
    """Deterministic ids for tests: ``ord_000…001``, ``ord_000…002``…"""

    def __init__(self) -> None:
        self._next = 0

    def new(self, prefix: str) -> str:
        """Return the next identifier in sequence."""
        self._next += 1
        return f"{prefix}_{self._next:032x}"
