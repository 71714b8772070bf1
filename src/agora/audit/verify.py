"""``agora audit verify``: the hash chain, the layout, and completeness against the outbox.

Every outbox event must be in the log exactly once, with the same canonical encoding; every
record must hash to its ``hash`` from its ``prev_hash`` and its content, and its ``prev_hash``
must be the hash of the record before it in outbox order; files must sit in their partition
under their first event's id; typed columns must agree with the payload; the recorded position
must name a record in the log. Breaks are ordered by outbox seq, the first one first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from agora.audit.chain import GENESIS, canonical_json, link
from agora.audit.layout import AuditError, AuditLayout, ChainHead, read_position, safe_name
from agora.audit.parquet import read_file
from agora.audit.records import AuditRecord, canonical_of, parse_payload, typed_columns
from agora.audit.writer import OutboxReader


class BreakKind(StrEnum):
    """What is wrong, most telling first when several hit the same seq."""

    UNREADABLE = "unreadable"
    DUPLICATE = "duplicate"
    ALTERED = "altered"
    DIFFERS = "differs_from_outbox"
    CHAIN = "chain_broken"
    MISSING = "missing"
    UNKNOWN = "not_in_outbox"
    TYPED = "typed_column"
    MISPLACED = "misplaced"
    POSITION = "position"


_RANK = {kind: rank for rank, kind in enumerate(BreakKind)}


@dataclass(frozen=True, slots=True)
class Break:
    """One way the log fails to match its promises."""

    kind: BreakKind
    detail: str
    seq: int | None = None
    path: str | None = None

    @property
    def order(self) -> tuple[int, int]:
        """Sort key: by seq (file-level breaks first), then by kind."""
        return (-1 if self.seq is None else self.seq, _RANK[self.kind])


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of a verification."""

    files: int
    records: int
    outbox: int
    position: int
    pending: int  # outbox events after the log's end, tolerated with ``allow_lag``
    breaks: tuple[Break, ...]

    @property
    def ok(self) -> bool:
        """Whether the log verifies."""
        return not self.breaks

    @property
    def first(self) -> Break | None:
        """The first break in outbox order, or None."""
        return self.breaks[0] if self.breaks else None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record and the file it was read from."""

    record: AuditRecord
    path: Path


async def verify_audit(
    layout: AuditLayout, outbox: OutboxReader, *, allow_lag: bool = False, chunk: int = 10_000
) -> AuditReport:
    """Check the audit log against itself and against the outbox."""
    stored, breaks = scan(layout)
    by_seq: dict[int, AuditRecord] = {}
    for item in stored:
        by_seq.setdefault(item.record.seq, item.record)
    breaks += duplicates(stored)
    breaks += chain_breaks([by_seq[seq] for seq in sorted(by_seq)])
    try:
        head = read_position(layout)
    except AuditError as error:
        head = None
        breaks.append(Break(BreakKind.POSITION, error.message))
    breaks += position_breaks(head, by_seq)
    audited = max([head.seq if head else 0, *by_seq])
    seen, pending, count = set[int](), 0, 0
    position = 0
    while events := await outbox.fetch_after(position, chunk):
        for seq, event in events:
            count += 1
            seen.add(seq)
            record = by_seq.get(seq)
            if record is None:
                if allow_lag and seq > audited:
                    pending += 1
                else:
                    breaks.append(_missing(seq, event.event_id, audited))
            elif _canonical(record) != canonical_of(seq, event):
                breaks.append(Break(BreakKind.DIFFERS, f"seq {seq} differs from the outbox", seq))
        position = events[-1][0]
    for seq in sorted(set(by_seq) - seen):
        event_id = by_seq[seq].event_id
        breaks.append(Break(BreakKind.UNKNOWN, f"{event_id} is not in the outbox", seq))
    files = len({item.path for item in stored})
    ordered = tuple(sorted(breaks, key=lambda b: b.order))
    return AuditReport(files, len(stored), count, head.seq if head else 0, pending, ordered)


def scan(layout: AuditLayout) -> tuple[list[StoredRecord], list[Break]]:
    """Read every file; report those unreadable, misplaced or misnamed."""
    stored: list[StoredRecord] = []
    breaks: list[Break] = []
    for path in layout.parquet_files():
        try:
            records = read_file(path)
        except AuditError as error:
            breaks.append(Break(BreakKind.UNREADABLE, error.message, path=str(path)))
            continue
        stored += [StoredRecord(record, path) for record in records]
        breaks += _placement(path, records)
    return stored, breaks


def _placement(path: Path, records: list[AuditRecord]) -> list[Break]:
    if not records:
        return [Break(BreakKind.MISPLACED, f"{path} holds no records", path=str(path))]
    first = min(records, key=lambda r: r.seq)
    breaks = []
    if path.name != f"{safe_name(first.event_id)}.parquet":
        detail = f"{path} is not named after its first event {first.event_id}"
        breaks.append(Break(BreakKind.MISPLACED, detail, first.seq, str(path)))
    for record in records:
        folder = f"dt={record.day.isoformat()}", f"type={safe_name(record.type)}"
        if (path.parent.parent.name, path.parent.name) != folder:
            detail = f"seq {record.seq} belongs in {folder[0]}/{folder[1]}, not {path.parent}"
            breaks.append(Break(BreakKind.MISPLACED, detail, record.seq, str(path)))
    return breaks


def duplicates(stored: list[StoredRecord]) -> list[Break]:
    """Report every seq or event id held more than once."""
    paths: dict[int, list[str]] = defaultdict(list)
    for item in stored:
        paths[item.record.seq].append(item.path.name)
    breaks = [
        Break(BreakKind.DUPLICATE, f"seq {seq} appears {len(names)} times: {names}", seq)
        for seq, names in paths.items()
        if len(names) > 1
    ]
    seqs_of: dict[str, set[int]] = defaultdict(set)
    for item in stored:
        seqs_of[item.record.event_id].add(item.record.seq)
    breaks += [
        Break(BreakKind.DUPLICATE, f"event {event_id} appears under seqs {sorted(seqs)}", min(seqs))
        for event_id, seqs in seqs_of.items()
        if len(seqs) > 1
    ]
    return breaks


def chain_breaks(records: list[AuditRecord]) -> list[Break]:
    """Check each record's own hash, its link to its predecessor and its typed columns."""
    breaks = []
    previous: AuditRecord | None = None
    for record in records:
        seq = record.seq
        if not _hash_holds(record):
            breaks.append(Break(BreakKind.ALTERED, f"seq {seq} does not hash to its hash", seq))
        elif typed_columns(record.type, parse_payload(record.payload)) != record.typed:
            breaks.append(Break(BreakKind.TYPED, f"seq {seq}: typed columns ≠ payload", seq))
        expected = previous.hash if previous is not None else GENESIS
        if record.prev_hash != expected:
            after = f"seq {previous.seq}" if previous is not None else "the chain's start"
            breaks.append(Break(BreakKind.CHAIN, f"seq {seq} does not follow {after}", seq))
        previous = record
    return breaks


def position_breaks(head: ChainHead | None, by_seq: dict[int, AuditRecord]) -> list[Break]:
    """The recorded position must name a record of the log, with its hash."""
    if head is None or head.seq == 0:
        return []
    record = by_seq.get(head.seq)
    if record is None or record.hash != head.hash:
        detail = f"the recorded position (seq {head.seq}) does not match the log"
        return [Break(BreakKind.POSITION, detail, head.seq)]
    return []


def _hash_holds(record: AuditRecord) -> bool:
    try:
        canonical_payload = canonical_json(parse_payload(record.payload))
        own = link(record.prev_hash, record.canonical())
    except ValueError:  # not JSON, or a prev_hash that is not hex
        return False
    return own == record.hash and canonical_payload == record.payload


def _canonical(record: AuditRecord) -> bytes | None:
    try:
        return record.canonical()
    except ValueError:
        return None


def _missing(seq: int, event_id: str, audited: int) -> Break:
    if seq > audited:
        detail = f"{event_id} (seq {seq}) is not written yet: the log ends at seq {audited}"
    else:
        detail = f"{event_id} (seq {seq}) is missing"
    return Break(BreakKind.MISSING, detail, seq)
