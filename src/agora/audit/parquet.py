"""Audit records as Parquet: the schema, one file per partition and flush, and reading back.

Money and quantities are Parquet decimals at fixed scales (never floats); the timestamp is a
UTC timestamp in microseconds; the payload is JSON text (Parquet's JSON logical type). Each file's
key-value metadata names its first and last outbox seq, so recovery reads a footer, not the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # reason: pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # reason: as above

from agora.audit.layout import AuditError, write_atomically
from agora.audit.records import QTY_SCALE, AuditRecord, TypedColumns, as_utc
from agora.core.money import CASH_SCALE, PRICE_SCALE

FORMAT = "1"
_META_FORMAT = b"agora.audit.format"
_META_FIRST = b"agora.audit.first_seq"
_META_LAST = b"agora.audit.last_seq"
_TYPED = tuple(TypedColumns.__dataclass_fields__)


def schema() -> Any:
    """The Arrow schema of an audit file."""
    return pa.schema(
        [
            pa.field("seq", pa.int64(), nullable=False),
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("account_id", pa.string()),
            pa.field("correlation_id", pa.string()),
            pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("version", pa.int32(), nullable=False),
            pa.field("payload", pa.json_(pa.string()), nullable=False),
            pa.field("order_id", pa.string()),
            pa.field("fill_id", pa.string()),
            pa.field("symbol", pa.string()),
            pa.field("side", pa.string()),
            pa.field("status", pa.string()),
            pa.field("qty", pa.decimal128(38, QTY_SCALE)),
            pa.field("price", pa.decimal128(38, PRICE_SCALE)),
            pa.field("fee", pa.decimal128(38, CASH_SCALE)),
            pa.field("amount", pa.decimal128(38, CASH_SCALE)),
            pa.field("prev_hash", pa.string(), nullable=False),
            pa.field("hash", pa.string(), nullable=False),
        ]
    )


def to_table(records: Sequence[AuditRecord]) -> Any:
    """Lay records out as an Arrow table with the audit schema and its seq range."""
    columns: dict[str, list[Any]] = {
        "seq": [r.seq for r in records],
        "event_id": [r.event_id for r in records],
        "type": [r.type for r in records],
        "account_id": [r.account_id for r in records],
        "correlation_id": [r.correlation_id for r in records],
        "timestamp": [r.timestamp for r in records],
        "version": [r.version for r in records],
        "payload": [r.payload for r in records],
        **{name: [getattr(r.typed, name) for r in records] for name in _TYPED},
        "prev_hash": [r.prev_hash for r in records],
        "hash": [r.hash for r in records],
    }
    metadata = {_META_FORMAT: FORMAT.encode()}
    if records:
        metadata[_META_FIRST] = str(min(r.seq for r in records)).encode()
        metadata[_META_LAST] = str(max(r.seq for r in records)).encode()
    return pa.table(columns, schema=schema().with_metadata(metadata))


def write_file(path: Path, records: Sequence[AuditRecord]) -> None:
    """Write records to a new Parquet file (zstd) that appears whole or not at all."""
    table = to_table(records)

    def write(file: Any) -> None:
        pq.write_table(table, file, compression="zstd")

    write_atomically(path, write, replace=False)


@dataclass(frozen=True, slots=True)
class FileRange:
    """The outbox seqs a file holds, from its footer."""

    first_seq: int
    last_seq: int
    rows: int


def file_range(path: Path) -> FileRange:
    """Read a file's seq range from its footer."""
    try:
        metadata = pq.read_metadata(path)
        values = metadata.metadata or {}
        return FileRange(int(values[_META_FIRST]), int(values[_META_LAST]), metadata.num_rows)
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise AuditError(f"cannot read the footer of {path}: {exc}") from exc


def read_chain(path: Path) -> list[tuple[int, str]]:
    """Read ``(seq, hash)`` of every record in a file."""
    try:
        table = pq.read_table(path, columns=["seq", "hash"])
    except (OSError, pa.ArrowException) as exc:
        raise AuditError(f"cannot read {path}: {exc}") from exc
    return list(zip(table["seq"].to_pylist(), table["hash"].to_pylist(), strict=True))


def read_file(path: Path) -> list[AuditRecord]:
    """Read every record of a file (raise AuditError when it is unreadable or malformed)."""
    try:
        table = pq.read_table(path)
        rows = table.to_pylist()
        return [_record(row) for row in rows]
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException) as exc:
        raise AuditError(f"cannot read {path}: {exc}") from exc


def _record(row: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        seq=row["seq"],
        event_id=row["event_id"],
        type=row["type"],
        account_id=row["account_id"],
        correlation_id=row["correlation_id"],
        timestamp=as_utc(row["timestamp"]),
        version=row["version"],
        payload=row["payload"],
        typed=TypedColumns(**{name: row[name] for name in _TYPED}),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
