"""The audit log's tamper evidence: a canonical encoding of each event, chained by SHA-256.

Each record's ``hash`` is ``sha256(bytes.fromhex(prev_hash) + canonical)`` where ``prev_hash``
is the hash of the event before it in outbox order (64 zeros before the first event) and
``canonical`` is the event as JSON in the RFC 8785 form (keys sorted, no whitespace, UTF-8,
strings escaped minimally; payloads carry no floats, money being decimal strings)::

    {"account_id":…,"correlation_id":…,"event_id":…,"payload":{…},"seq":N,
     "timestamp":"YYYY-MM-DDTHH:MM:SS.ffffffZ","type":…,"version":N}

``seq`` is the outbox sequence number, so a record moved to another place in the chain breaks it.
Pure: the standard library and msgspec (whose sorted, compact JSON is byte for byte that form,
checked against ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event in the log."""


def utc_text(moment: datetime) -> str:
    """Format a time as RFC 3339 in UTC with microseconds (a naive time is taken as UTC)."""
    offset = moment.utcoffset()
    if offset:
        moment = moment - offset
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_ENCODER = msgspec.json.Encoder(order="sorted")


def canonical_bytes(value: Any) -> bytes:
    """Encode a JSON value canonically (sorted keys, no whitespace) as UTF-8."""
    return _ENCODER.encode(value)


def canonical_json(value: Any) -> str:
    """Encode a JSON value canonically, as text."""
    return _ENCODER.encode(value).decode("utf-8")


def canonical_event(
    *,
    seq: int,
    event_id: str,
    event_type: str,
    account_id: str | None,
    correlation_id: str | None,
    timestamp: datetime,
    version: int,
    payload: Any,
) -> bytes:
    """The bytes the chain hashes for one event."""
    document = {
        "account_id": account_id,
        "correlation_id": correlation_id,
        "event_id": event_id,
        "payload": payload,
        "seq": seq,
        "timestamp": utc_text(timestamp),
        "type": event_type,
        "version": version,
    }
    return canonical_bytes(document)


def link(prev_hash: str, canonical: bytes) -> str:
    """Return the hash of a record whose predecessor's hash is ``prev_hash``."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()
