"""``agora ledger verify``: the ledger's invariants, checked from the stored records."""

from __future__ import annotations

from pathlib import Path

from agora.ledger.verify import VerifyReport, verify_ledger
from agora.storage.sqlite import SqliteStore


async def run_verify(database: Path) -> VerifyReport:
    """Load every transfer, balance, hold and open order's need, and check the invariants."""
    store = await SqliteStore.open(database)
    try:
        records = await store.ledger_records()
    finally:
        await store.close()
    return verify_ledger(
        transfers=records.transfers,
        balances=records.balances,
        holds=records.holds,
        hold_needs=records.hold_needs,
        pending=records.pending,
    )
