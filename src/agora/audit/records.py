"""One audit record: an outbox event with its position, typed columns and chain hashes.

Typed columns are copies of stable payload fields, for queries: ``order_id``, ``symbol``,
``side``, ``status`` from order payloads; for ``order.filled`` the fill's ``fill_id``, ``qty``,
``price`` and ``fee``; for other order events the order's ``qty`` and ``limit_price`` (as
``price``); ``amount`` for ``ledger.transfer``. Amounts are exact Decimals at a fixed scale
(``QTY_SCALE``, ``PRICE_SCALE``, ``CASH_SCALE``); a value that does not fit is left null (the
payload keeps it). The payload, as canonical JSON text, is what the chain covers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from agora.audit.chain import canonical_event, canonical_json, link
from agora.core.events import Event, EventType
from agora.core.money import CASH_SCALE, PRICE_SCALE

QTY_SCALE = 9
"""Decimal places of the ``qty`` column: more than any instrument's lot scale."""

_MAX_DIGITS = 38
_DECIMAL_TEXT = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")


@dataclass(frozen=True, slots=True, kw_only=True)
class TypedColumns:
    """Stable payload fields copied into their own columns."""

    order_id: str | None = None
    fill_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    status: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    fee: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One row of the audit log."""

    seq: int
    event_id: str
    type: str
    account_id: str | None
    correlation_id: str | None
    timestamp: datetime  # aware, UTC
    version: int
    payload: str  # canonical JSON text
    typed: TypedColumns
    prev_hash: str
    hash: str

    @property
    def day(self) -> date:
        """The ``dt`` partition: the event's UTC date."""
        return self.timestamp.astimezone(UTC).date()

    def canonical(self) -> bytes:
        """The bytes this record's hash covers (raises ValueError on a payload that is not JSON)."""
        return canonical_event(
            seq=self.seq,
            event_id=self.event_id,
            event_type=self.type,
            account_id=self.account_id,
            correlation_id=self.correlation_id,
            timestamp=self.timestamp,
            version=self.version,
            payload=parse_payload(self.payload),
        )

    def event(self) -> Event:
        """The event this record carries."""
        return Event(
            event_id=self.event_id,
            type=self.type,
            account_id=self.account_id,
            correlation_id=self.correlation_id,
            timestamp=self.timestamp,
            payload=parse_payload(self.payload),
            version=self.version,
        )


_DECODE = msgspec.json.Decoder()


def parse_payload(text: str) -> Any:
    """Parse a payload's JSON text (raise ValueError when it is not JSON)."""
    try:
        return _DECODE.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"the payload is not JSON: {exc}") from exc


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def canonical_of(seq: int, event: Event) -> bytes:
    """The bytes the chain hashes for an outbox event."""
    return canonical_event(
        seq=seq,
        event_id=event.event_id,
        event_type=event.type,
        account_id=event.account_id,
        correlation_id=event.correlation_id,
        timestamp=event.timestamp,
        version=event.version,
        payload=event.payload,
    )


def make_record(seq: int, event: Event, prev_hash: str) -> AuditRecord:
    """Build the record of an outbox event, chained to ``prev_hash``."""
    return AuditRecord(
        seq=seq,
        event_id=event.event_id,
        type=event.type,
        account_id=event.account_id,
        correlation_id=event.correlation_id,
        timestamp=as_utc(event.timestamp),
        version=event.version,
        payload=canonical_json(event.payload),
        typed=typed_columns(event.type, event.payload),
        prev_hash=prev_hash,
        hash=link(prev_hash, canonical_of(seq, event)),
    )


def typed_columns(event_type: str, payload: dict[str, Any]) -> TypedColumns:
    """Copy the stable fields of a payload into typed columns."""
    if event_type == EventType.TRANSFER_POSTED:
        return TypedColumns(amount=_decimal(payload.get("amount"), CASH_SCALE))
    if "order_id" not in payload or "status" not in payload:
        return TypedColumns()
    fill = payload.get("fill")
    if event_type == EventType.ORDER_FILLED and isinstance(fill, dict):
        qty, price = fill.get("qty"), fill.get("price")
        fill_id, fee = _text(fill.get("fill_id")), _decimal(fill.get("fee"), CASH_SCALE)
    else:
        qty, price, fill_id, fee = payload.get("qty"), payload.get("limit_price"), None, None
    return TypedColumns(
        order_id=_text(payload.get("order_id")),
        fill_id=fill_id,
        symbol=_text(payload.get("symbol")),
        side=_text(payload.get("side")),
        status=_text(payload.get("status")),
        qty=_decimal(qty, QTY_SCALE),
        price=_decimal(price, PRICE_SCALE),
        fee=fee,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _decimal(value: object, scale: int) -> Decimal | None:
    """The exact Decimal of a decimal string with at most ``scale`` places that fits, or None."""
    if not isinstance(value, str):
        return None
    match = _DECIMAL_TEXT.fullmatch(value)
    if match is None:
        return None
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > scale or len(whole.lstrip("0")) + scale > _MAX_DIGITS:
        return None
    return Decimal(value)
