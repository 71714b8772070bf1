"""Crash safety of the embedded store: SIGKILL while placing orders, restart, check."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agora.orders.model import Status
from agora.storage import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 4


def _run_and_kill(data_dir: Path, seed: int, rng: random.Random) -> list[tuple[str, str]]:
    """Start the child, let it work for a random while, SIGKILL it; return what it acked."""
    log = data_dir.parent / f"child-{seed}.out"
    with log.open("w") as out, (data_dir.parent / f"child-{seed}.err").open("w") as err:
        child = subprocess.Popen(  # a file, not a pipe: the child never blocks on its output
            [sys.executable, "-m", "tests.integration.crash_child", str(data_dir), str(seed)],
            cwd=ROOT,
            stdout=out,
            stderr=err,
        )
        deadline = time.monotonic() + 60
        while "ready" not in log.read_text() and child.poll() is None:
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.2, 1.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    errors = (data_dir.parent / f"child-{seed}.err").read_text()
    assert child.returncode == -signal.SIGKILL, errors
    acks = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "ack":  # a torn last line was never an ack
            acks.append((parts[1], parts[2]))
    return acks


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_order(tmp_path: Path) -> None:
    seed = int(os.environ.get("AGORA_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    acked: list[tuple[str, str]] = []
    for round_number in range(ROUNDS):
        acked += _run_and_kill(data_dir, seed * 100 + round_number, rng)
    assert len(acked) > 50, f"the child acknowledged too little to test (seed {seed})"

    async def stored_statuses() -> dict[str, Status | None]:
        store = await SqliteStore.open(data_dir / "agora.db")
        try:
            found = {}
            for order_id, _ in acked:
                order = await store.get_order(order_id)
                found[order_id] = order.status if order else None
            return found
        finally:
            await store.close()

    statuses = asyncio.run(stored_statuses())
    lost = [order_id for order_id, status in statuses.items() if status is None]
    assert not lost, f"acknowledged but lost: {lost[:5]} (seed {seed})"
    assert set(statuses.values()) <= {Status.PENDING_NEW, Status.FILLED}, f"seed {seed}"
    verify = subprocess.run(
        [sys.executable, "-m", "agora.cli", "ledger", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert verify.returncode == 0, f"seed {seed}: {verify.stdout}{verify.stderr}"
