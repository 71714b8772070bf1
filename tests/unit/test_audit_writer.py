"""The audit writer: flush bounds, layout, position, recovery, exactly once."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from agora.audit import AuditError, AuditLayout, AuditSettings, AuditWriter
from agora.audit.chain import GENESIS
from agora.audit.layout import read_position
from agora.audit.sink import AuditSink
from tests.audit_support import MemoryOutbox, all_records, mixed_events, order_event

FAST = AuditSettings(flush_events=4, flush_seconds=3600, poll_seconds=0.01)


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def reaches(writer: AuditWriter, seq: int) -> None:
    """Wait (bounded) until the writer's files reach ``seq``."""
    async with asyncio.timeout(5):
        for _ in itertools.count():  # polling: the writer has no change notification
            if writer.head.seq >= seq:
                return
            await asyncio.sleep(0.01)


async def written(outbox: MemoryOutbox, data: Path, settings: AuditSettings = FAST) -> AuditLayout:
    await AuditWriter(outbox, data, settings).catch_up()
    return AuditLayout.in_data_dir(data)


async def test_every_event_is_written_once_in_outbox_order_with_a_chain(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(10))
    layout = await written(outbox, tmp_path)
    records = all_records(layout)
    assert [(r.seq, r.event_id) for r in records] == [
        (seq, event.event_id) for seq, event in outbox.events
    ]
    assert [r.event() for r in records] == [event for _, event in outbox.events]
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    head = read_position(layout)
    assert head is not None
    assert (head.seq, head.hash, head.event_id) == (10, records[-1].hash, records[-1].event_id)


async def test_files_are_partitioned_by_day_and_type_and_named_by_first_event(
    tmp_path: Path,
) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(4))  # seq 1 before midnight, 2–4 after
    layout = await written(outbox, tmp_path, AuditSettings(flush_events=100))
    names = sorted(str(path.relative_to(layout.events)) for path in layout.parquet_files())
    assert names == [
        f"dt=2026-01-05/type=order.filled/evt_{1:032x}.parquet",
        f"dt=2026-01-06/type=order.filled/evt_{4:032x}.parquet",
        f"dt=2026-01-06/type=order.submitted/evt_{3:032x}.parquet",
        f"dt=2026-01-06/type=order.updated/evt_{2:032x}.parquet",
    ]
    metadata = pq.read_metadata(layout.parquet_files()[0])
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    schema = pq.read_schema(layout.parquet_files()[0])
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("price").type) == "decimal128(38, 4)"
    assert str(schema.field("qty").type) == "decimal128(38, 9)"
    assert str(schema.field("fee").type) == "decimal128(38, 2)"


async def test_the_size_bound_flushes_without_waiting(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    outbox.add(*(order_event(n) for n in range(1, 10)))  # one type, one day after seq 1
    ticker = Ticker()
    writer = AuditWriter(outbox, tmp_path, FAST, monotonic=ticker)
    await writer.start()
    try:
        await reaches(writer, 8)
        await asyncio.sleep(0.05)
        assert writer.head.seq == 8  # two full flushes of 4; the ninth waits for the time bound
    finally:
        await writer.stop()
    assert writer.head.seq == 9  # and stop writes it


async def test_the_time_bound_flushes_what_waited_long_enough(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    ticker = Ticker()
    settings = AuditSettings(flush_events=1_000, flush_seconds=30, poll_seconds=0.01)
    writer = AuditWriter(outbox, tmp_path, settings, monotonic=ticker)
    await writer.start()
    try:
        outbox.add(order_event(1), order_event(2))
        writer.notify()
        await asyncio.sleep(0.1)
        assert writer.head.seq == 0
        ticker.now = 29.9
        await asyncio.sleep(0.1)
        assert writer.head.seq == 0
        ticker.now = 30.0
        await reaches(writer, 2)
    finally:
        await writer.stop()


async def test_a_restart_resumes_after_its_position_without_repeating(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(6))
    await written(outbox, tmp_path)
    outbox.add(*mixed_events(5, first=7))
    layout = await written(outbox, tmp_path)
    records = all_records(layout)
    assert [r.seq for r in records] == list(range(1, 12))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


async def test_files_written_past_a_lost_position_are_not_written_again(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(5))
    layout = await written(outbox, tmp_path)
    old_position = layout.position_path.read_bytes()
    outbox.add(*mixed_events(9, first=6))
    await written(outbox, tmp_path)
    layout.position_path.write_bytes(old_position)  # a crash after the files, before the position
    outbox.add(*mixed_events(3, first=15))
    await written(outbox, tmp_path)
    assert [r.seq for r in all_records(layout)] == list(range(1, 18))
    head = read_position(layout)
    assert head is not None
    assert head.seq == 17


async def test_with_no_position_at_all_the_files_are_the_position(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(7))
    layout = await written(outbox, tmp_path)
    layout.position_path.unlink()
    outbox.add(*mixed_events(2, first=8))
    await written(outbox, tmp_path)
    assert [r.seq for r in all_records(layout)] == list(range(1, 10))


async def test_a_torn_temporary_is_removed_and_never_part_of_the_log(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(3))
    layout = await written(outbox, tmp_path)
    folder = layout.parquet_files()[0].parent
    torn = folder / ".evt_torn.parquet.tmp"
    torn.write_bytes(b"PAR1 half a file")
    assert torn not in layout.parquet_files()
    outbox.add(*mixed_events(3, first=4))
    await written(outbox, tmp_path)
    assert not torn.exists()
    assert [r.seq for r in all_records(layout)] == list(range(1, 7))


async def test_a_file_ahead_that_disagrees_with_the_outbox_stops_the_writer(
    tmp_path: Path,
) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(3))
    layout = await written(outbox, tmp_path)
    layout.position_path.unlink()
    outbox.events[1] = (2, order_event(2, status="filled"))  # the outbox no longer matches
    sink = AuditSink(layout)
    sink.open()
    try:
        with pytest.raises(AuditError, match="disagrees with the outbox"):
            sink.append(outbox.events)
    finally:
        sink.close()


async def test_a_second_writer_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    outbox = MemoryOutbox()
    first = AuditWriter(outbox, tmp_path, FAST)
    await first.start()
    try:
        with pytest.raises(AuditError, match="another audit writer"):
            await AuditWriter(outbox, tmp_path, FAST).start()
    finally:
        await first.stop()
    await AuditWriter(outbox, tmp_path, FAST).catch_up()  # released on stop


class FailingOnce(MemoryOutbox):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, object]]:  # type: ignore[override]
        if not self.failed:
            self.failed = True
            raise OSError("the store hiccuped")
        return await super().fetch_after(seq, limit)  # type: ignore[return-value]


async def test_a_failed_read_is_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = FailingOnce()
    outbox.add(*mixed_events(5))
    writer = AuditWriter(outbox, tmp_path, FAST)
    await writer.start()
    try:
        await reaches(writer, 4)
    finally:
        await writer.stop()
    assert writer.head.seq == 5
    assert "audit writer failed" in caplog.text


async def test_an_unreadable_file_is_logged_and_never_stops_the_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(3))
    layout = await written(outbox, tmp_path)
    (layout.parquet_files()[0].parent / "evt_garbage.parquet").write_bytes(b"not parquet")
    outbox.add(*mixed_events(2, first=4))
    writer = AuditWriter(outbox, tmp_path, FAST)
    await writer.start()
    await asyncio.sleep(0.2)
    await writer.stop()
    assert writer.head.seq == 3  # it wrote nothing it could not place in the chain
    assert "cannot read the footer" in caplog.text
