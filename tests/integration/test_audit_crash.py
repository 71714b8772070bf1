"""Crash safety of the audit writer: SIGKILL mid-flush, restart, and nothing is lost or repeated.

Each round starts a child that trades while the writer flushes small batches, then kills it
either at a random moment or as soon as a temporary file shows a flush in progress. After each
kill no visible file is partial and no event is in two files; after the last round a restart
writes the rest, and every outbox event is in the files exactly once and the chain verifies.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agora.audit import AuditLayout
from agora.audit.layout import read_position
from agora.audit.parquet import read_file
from agora.audit.verify import verify_audit
from agora.storage import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 6


def _child(data_dir: Path, seed: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tests.integration.audit_child", str(data_dir), str(seed), *extra]


def _run_and_kill(data_dir: Path, seed: int, rng: random.Random, on_flush: bool) -> None:
    """Start the child, let it trade and flush, SIGKILL it (mid-flush when ``on_flush``)."""
    layout = AuditLayout.in_data_dir(data_dir)
    out, err = data_dir.parent / f"child-{seed}.out", data_dir.parent / f"child-{seed}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        child = subprocess.Popen(_child(data_dir, seed), cwd=ROOT, stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + 60
        while "ready" not in out.read_text() and child.poll() is None:
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.1, 0.8))
        if on_flush:  # wait until a flush is under way: a temporary file is being written
            deadline = time.monotonic() + 5
            while not layout.temp_files() and time.monotonic() < deadline:
                pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, err.read_text()


def _outbox(data_dir: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data_dir / "agora.db") as conn:
        return list(conn.execute("SELECT seq, event_id FROM outbox ORDER BY seq"))


def _file_seqs(layout: AuditLayout) -> list[tuple[int, str]]:
    """Every (seq, event id) in the visible files; reading them proves none is partial."""
    return sorted((r.seq, r.event_id) for p in layout.parquet_files() for r in read_file(p))


@pytest.mark.slow
def test_sigkill_mid_flush_loses_and_repeats_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("AGORA_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    layout = AuditLayout.in_data_dir(data_dir)
    torn = 0
    for round_number in range(ROUNDS):
        _run_and_kill(data_dir, seed * 100 + round_number, rng, on_flush=round_number % 2 == 0)
        head = read_position(layout)
        written = _file_seqs(layout)
        seqs = [seq for seq, _ in written]
        assert len(seqs) == len(set(seqs)), f"an event in two files (seed {seed})"
        outbox = dict(_outbox(data_dir))
        assert all(outbox.get(seq) == event_id for seq, event_id in written), f"seed {seed}"
        position = head.seq if head else 0
        assert {s for s in outbox if s <= position} <= set(seqs), (
            f"lost below the position ({seed})"
        )
        if layout.temp_files() or any(seq > position for seq in seqs):
            torn += 1  # this kill interrupted a flush: the restart must finish it
    assert torn >= 1, f"no kill landed mid-flush (seed {seed})"

    drained = subprocess.run(
        _child(data_dir, seed, "drain"), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert drained.returncode == 0, drained.stderr
    outbox = _outbox(data_dir)
    assert len(outbox) > 500, f"the child traded too little to test (seed {seed})"
    assert _file_seqs(layout) == outbox, f"seed {seed}"
    assert not layout.temp_files()

    async def verified() -> None:
        store = await SqliteStore.open(data_dir / "agora.db")
        try:
            report = await verify_audit(layout, store)
        finally:
            await store.close()
        assert report.ok, (seed, report.breaks[:5])

    asyncio.run(verified())
