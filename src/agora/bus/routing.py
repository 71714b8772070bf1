"""Where each outbox event travels: its topics, keys and headers (ARCHITECTURE.md's table).

Every event goes to its type's topic keyed by account id (prices: by symbol) and, keyed by its
type, to ``audit.events``. Each record carries the event's outbox sequence number in a header,
which consumers deduplicate by, and the relay adds the sequence number of the record before it
in the same partition, which lets consumers notice records they never saw (``agora.bus.kafka``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agora.bus.ports import OutboundRecord
from agora.core.events import TOPIC_BY_EVENT_TYPE, Event, encode_event

log = logging.getLogger(__name__)

AUDIT_TOPIC = "audit.events"
PRICE_TOPIC = "market.price"
PRICE_EVENT_TYPE = "market.price"
"""Prices are best effort: keyed by symbol, acknowledged by the leader alone."""

TOPICS: tuple[str, ...] = (
    "order.submitted",
    "order.updated",
    "order.filled",
    "position.updated",
    "ledger.transfers",
    PRICE_TOPIC,
    AUDIT_TOPIC,
    "dead_letter",
)
"""Every topic the bus uses, created at start."""

EVENT_TOPICS: tuple[str, ...] = tuple(sorted(set(TOPIC_BY_EVENT_TYPE.values())))
"""The topics that carry each event once (everything but ``audit.events`` and prices)."""

SEQ_HEADER = "agora-seq"
PREV_HEADER = "agora-prev"
"""The outbox seq of the previous record of the same partition (absent: none, or not known)."""
TYPE_HEADER = "agora-type"
EVENT_ID_HEADER = "agora-event-id"


def records_for(seq: int, event: Event) -> list[OutboundRecord]:
    """Return the records that carry outbox event ``seq``: its type's topic, then audit."""
    value = encode_event(event)
    headers = (
        (SEQ_HEADER, str(seq).encode()),
        (TYPE_HEADER, event.type.encode()),
        (EVENT_ID_HEADER, event.event_id.encode()),
    )
    timestamp_ms = int(event.timestamp.timestamp() * 1000)
    records: list[OutboundRecord] = []
    topic = PRICE_TOPIC if event.type == PRICE_EVENT_TYPE else TOPIC_BY_EVENT_TYPE.get(event.type)
    if topic is None:
        log.warning("event type %s has no topic: %s goes to %s only", event.type, seq, AUDIT_TOPIC)
    else:
        records.append(
            OutboundRecord(
                topic=topic,
                key=_key(event).encode(),
                value=value,
                seq=seq,
                headers=headers,
                timestamp_ms=timestamp_ms,
                acks_all=topic != PRICE_TOPIC,
            )
        )
    records.append(
        OutboundRecord(
            topic=AUDIT_TOPIC,
            key=event.type.encode(),
            value=value,
            seq=seq,
            headers=headers,
            timestamp_ms=timestamp_ms,
        )
    )
    return records


def _key(event: Event) -> str:
    """The account id (a price's symbol); the event type when the event has no account."""
    if event.type == PRICE_EVENT_TYPE:
        symbol = event.payload.get("symbol")
        if isinstance(symbol, str):
            return symbol
    return event.account_id if event.account_id is not None else event.type


def seq_of(headers: Sequence[tuple[str, bytes]]) -> int | None:
    """Return the outbox sequence number a record carries, or None (not the relay's record)."""
    return _number(headers, SEQ_HEADER)


def prev_of(headers: Sequence[tuple[str, bytes]]) -> int:
    """Return the seq of the partition's record before this one (0: none or not known)."""
    return _number(headers, PREV_HEADER) or 0


def _number(headers: Sequence[tuple[str, bytes]], name: str) -> int | None:
    for found, value in headers:
        if found == name:
            try:
                return int(value)
            except ValueError:
                return None
    return None
