"""Helpers for the audit log tests: an in-memory outbox, events, and file tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from agora.audit.layout import AuditLayout
from agora.audit.parquet import read_file
from agora.audit.records import AuditRecord
from agora.core.events import Event, EventType, JsonValue

START = datetime(2026, 1, 5, 23, 59, 58, tzinfo=UTC)
"""Two seconds before midnight: events a second apart span two ``dt`` partitions."""


class MemoryOutbox:
    """An outbox in memory: events numbered from 1 in the order they are added."""

    def __init__(self) -> None:
        self.events: list[tuple[int, Event]] = []
        self.fetches = 0

    def add(self, *events: Event) -> None:
        for event in events:
            self.events.append((len(self.events) + 1, event))

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        self.fetches += 1
        return [item for item in self.events if item[0] > seq][:limit]


def order_event(n: int, event_type: str = EventType.ORDER_UPDATED, **extra: Any) -> Event:
    """An order event numbered ``n``, ``n`` seconds after START."""
    payload: dict[str, JsonValue] = {
        "order_id": f"ord_{n:032x}",
        "account_id": "acc_a",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "limit_price": "199.5000",
        "status": "new",
        "note": "café ☕",  # non-ASCII text round-trips through the canonical form
    }
    if event_type == EventType.ORDER_FILLED:
        payload["fill"] = {
            "fill_id": f"f{n}",
            "order_id": f"ord_{n:032x}",
            "symbol": "AAPL",
            "side": "buy",
            "qty": "3",
            "price": "199.4900",
            "fee": "0.09",
            "timestamp": "2026-01-05T23:59:58+00:00",
        }
    payload.update(extra)
    return Event(
        event_id=f"evt_{n:032x}",
        type=event_type,
        account_id="acc_a",
        correlation_id=None if n % 2 else f"req-{n}",
        timestamp=START + timedelta(seconds=n),
        payload=payload,
    )


def mixed_events(count: int, first: int = 1) -> list[Event]:
    """``count`` events of three types, numbered from ``first``."""
    kinds = (EventType.ORDER_SUBMITTED, EventType.ORDER_FILLED, EventType.ORDER_UPDATED)
    return [order_event(n, kinds[n % 3]) for n in range(first, first + count)]


def all_records(layout: AuditLayout) -> list[AuditRecord]:
    """Every record in the log's files (duplicates included), by seq."""
    records = [record for path in layout.parquet_files() for record in read_file(path)]
    return sorted(records, key=lambda record: record.seq)


def rewrite(path: Path, change: Any) -> None:
    """Rewrite a Parquet file in place after ``change(rows)`` edits its rows (a tamperer)."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    change(rows)
    edited = table.from_pylist(rows, schema=table.schema)
    pq.write_table(edited, path, compression="zstd")
