"""Agora's error tree: every failure a caller can act on carries a stable snake_case code.

AgoraError
├── ValidationError        bad input (HTTP 422): amounts, symbols, order fields
├── NotFoundError          unknown id, or an id the caller may not see (HTTP 404)
├── ConflictError          an id reused with other fields, an illegal transition (HTTP 409/422)
├── RiskDeniedError        a pre-trade rule denied the order (HTTP 422, carries the rule)
└── StorageError           the store failed; nothing was committed (HTTP 503)
"""

from __future__ import annotations


class AgoraError(Exception):
    """Base of every error Agora raises on purpose."""

    code: str = "agora_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ValidationError(AgoraError):
    """Raise when input is malformed or out of range."""

    code = "invalid_input"


class NotFoundError(AgoraError):
    """Raise when an entity does not exist for the caller."""

    code = "not_found"


class ConflictError(AgoraError):
    """Raise when a request contradicts recorded state (id reuse, illegal transition)."""

    code = "conflict"


class RiskDeniedError(AgoraError):
    """Raise when a pre-trade risk rule denies an order."""

    code = "risk_denied"

    def __init__(self, message: str, *, code: str, rule: str) -> None:
        super().__init__(message, code=code)
        self.rule = rule


class StorageError(AgoraError):
    """Raise when the store fails; the transaction was rolled back."""

    code = "storage_unavailable"
