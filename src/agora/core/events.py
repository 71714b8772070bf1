"""The event envelope: immutable, versioned records written to the outbox with each change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

JsonValue = str | int | bool | None | list[Any] | dict[str, Any]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One fact that happened: its id, type, account, correlation, time and payload."""

    event_id: str
    type: str
    account_id: str | None
    correlation_id: str | None
    timestamp: datetime
    payload: dict[str, JsonValue]
    version: int = 1


class EventType:
    """The event types Agora records (the audit log partitions by these)."""

    ACCOUNT_OPENED = "account.opened"
    ACCOUNT_SETTINGS = "account.settings_changed"
    TRANSFER_POSTED = "ledger.transfer"
    ORDER_SUBMITTED = "order.submitted"
    ORDER_CANCEL_REQUESTED = "order.cancel_requested"
    ORDER_REPLACE_REQUESTED = "order.replace_requested"
    ORDER_UPDATED = "order.updated"
    ORDER_FILLED = "order.filled"
    ORDER_DENIED = "order.denied"
    DEAD_LETTER = "dead_letter"
    PLATFORM_SETTINGS = "platform.settings_changed"


TOPIC_BY_EVENT_TYPE: dict[str, str] = {
    EventType.ACCOUNT_OPENED: "ledger.transfers",
    EventType.ACCOUNT_SETTINGS: "ledger.transfers",
    EventType.TRANSFER_POSTED: "ledger.transfers",
    EventType.ORDER_SUBMITTED: "order.submitted",
    EventType.ORDER_CANCEL_REQUESTED: "order.submitted",
    EventType.ORDER_REPLACE_REQUESTED: "order.submitted",
    EventType.ORDER_UPDATED: "order.updated",
    EventType.ORDER_DENIED: "order.updated",
    EventType.ORDER_FILLED: "order.filled",
    EventType.DEAD_LETTER: "dead_letter",
    EventType.PLATFORM_SETTINGS: "ledger.transfers",
}
"""The bus topic (ARCHITECTURE.md) each event type travels on; every event also goes to audit."""

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """Encode an event as JSON bytes."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | str) -> Event:
    """Decode an event from JSON bytes."""
    return _DECODER.decode(data)
