"""``verify_audit``: a clean log verifies; edits, deletions, duplicates and lag are caught."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from agora.audit import AuditLayout, AuditSettings, AuditWriter
from agora.audit.chain import link
from agora.audit.parquet import read_file
from agora.audit.verify import AuditReport, BreakKind, verify_audit
from tests.audit_support import MemoryOutbox, mixed_events, order_event, rewrite

SMALL = AuditSettings(flush_events=5)


@pytest.fixture
async def log(tmp_path: Path) -> tuple[AuditLayout, MemoryOutbox]:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(20))
    await AuditWriter(outbox, tmp_path, SMALL).catch_up()
    return AuditLayout.in_data_dir(tmp_path), outbox


def file_with(layout: AuditLayout, seq: int) -> Path:
    """The file that holds ``seq``."""
    for path in layout.parquet_files():
        if any(record.seq == seq for record in read_file(path)):
            return path
    raise AssertionError(f"no file holds seq {seq}")


async def checked(log: tuple[AuditLayout, MemoryOutbox], **options: Any) -> AuditReport:
    layout, outbox = log
    return await verify_audit(layout, outbox, **options)


async def test_a_clean_log_verifies(log: tuple[AuditLayout, MemoryOutbox]) -> None:
    report = await checked(log)
    assert report.ok, report.breaks
    assert (report.records, report.outbox, report.position, report.pending) == (20, 20, 20, 0)
    assert report.files == len(log[0].parquet_files())


async def test_an_edited_payload_is_caught_at_its_seq(
    log: tuple[AuditLayout, MemoryOutbox],
) -> None:
    layout, _ = log

    def edit(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["seq"] == 8:
                row["payload"] = row["payload"].replace('"qty":"10"', '"qty":"1000"')

    rewrite(file_with(layout, 8), edit)
    report = await checked(log)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (BreakKind.ALTERED, 8)


async def test_an_edit_with_the_chain_recomputed_still_differs_from_the_outbox(
    log: tuple[AuditLayout, MemoryOutbox],
) -> None:
    layout, _ = log
    path = file_with(layout, 20)  # the last record: rehashing it breaks no later link

    def forge(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["seq"] == 20:
                row["payload"] = row["payload"].replace('"status":"new"', '"status":"canceled"')
                record = next(r for r in read_file(path) if r.seq == 20)
                row["status"] = "canceled"
                forged = dataclasses.replace(record, payload=row["payload"])
                row["hash"] = link(record.prev_hash, forged.canonical())

    rewrite(path, forge)
    report = await checked(log)
    assert [(b.kind, b.seq) for b in report.breaks] == [
        (BreakKind.DIFFERS, 20),
        (BreakKind.POSITION, 20),
    ]


async def test_a_deleted_file_is_caught_at_its_first_event(
    log: tuple[AuditLayout, MemoryOutbox],
) -> None:
    layout, _ = log
    path = file_with(layout, 12)
    first = min(record.seq for record in read_file(path))
    path.unlink()
    report = await checked(log)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (BreakKind.MISSING, first)
    assert BreakKind.CHAIN in {b.kind for b in report.breaks}


async def test_a_duplicated_event_is_caught(log: tuple[AuditLayout, MemoryOutbox]) -> None:
    layout, _ = log
    path = file_with(layout, 6)
    shutil.copy(path, path.with_name("evt_copy.parquet"))
    report = await checked(log)
    assert report.first is not None
    first_in_file = min(record.seq for record in read_file(path))
    assert (report.first.kind, report.first.seq) == (BreakKind.DUPLICATE, first_in_file)


async def test_a_flipped_byte_is_caught(log: tuple[AuditLayout, MemoryOutbox]) -> None:
    layout, _ = log
    path = file_with(layout, 3)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    report = await checked(log)
    assert not report.ok
    assert report.first is not None
    assert report.first.kind in {BreakKind.UNREADABLE, BreakKind.ALTERED, BreakKind.DIFFERS}


async def test_a_file_moved_to_another_partition_is_misplaced(
    log: tuple[AuditLayout, MemoryOutbox],
) -> None:
    layout, _ = log
    path = file_with(layout, 5)
    target = layout.events / "dt=2030-01-01" / path.parent.name
    target.mkdir(parents=True)
    path.rename(target / path.name)
    report = await checked(log)
    assert {b.kind for b in report.breaks} == {BreakKind.MISPLACED}


async def test_an_edited_typed_column_is_caught(log: tuple[AuditLayout, MemoryOutbox]) -> None:
    layout, _ = log

    def edit(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row["symbol"] = "MSFT"

    rewrite(file_with(layout, 9), edit)
    report = await checked(log)
    assert report.first is not None
    assert report.first.kind is BreakKind.TYPED


async def test_events_not_yet_written_fail_unless_lag_is_allowed(
    log: tuple[AuditLayout, MemoryOutbox],
) -> None:
    _, outbox = log
    outbox.add(order_event(21), order_event(22))
    strict = await checked(log)
    assert strict.first is not None
    assert (strict.first.kind, strict.first.seq) == (BreakKind.MISSING, 21)
    assert "not written yet" in strict.first.detail
    lenient = await checked(log, allow_lag=True)
    assert lenient.ok
    assert lenient.pending == 2


async def test_an_event_missing_from_the_outbox_is_caught(
    log: tuple[AuditLayout, MemoryOutbox],
) -> None:
    _, outbox = log
    del outbox.events[-1]
    report = await checked(log)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (BreakKind.UNKNOWN, 20)
