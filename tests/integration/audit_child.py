"""Child process of the audit crash test: trades while the audit writer flushes, until killed.

``python -m tests.integration.audit_child DATA_DIR SEED`` places and fills orders as the crash
child does, with the audit writer flushing small batches beside it, and prints ``ready`` once
trading starts. ``python -m tests.integration.audit_child DATA_DIR SEED drain`` only writes
what the outbox holds to the audit log and exits.
"""

from __future__ import annotations

import asyncio
import random
import sys
from dataclasses import replace
from pathlib import Path

from agora.audit import AuditSettings, AuditWriter
from agora.bootstrap import build_platform
from agora.config import Settings
from agora.core.errors import AgoraError
from agora.orders.commands import Deposit, OpenAccount
from agora.orders.model import Order
from agora.storage import SqliteStore
from tests.integration.crash_child import ACCOUNTS, LIMITS, FreshPrices, _fill, _order


async def trade(data_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    platform = await build_platform(
        replace(Settings(), data_dir=data_dir, risk=LIMITS), prices=FreshPrices()
    )
    assert isinstance(platform.store, SqliteStore)
    settings = AuditSettings(
        flush_events=rng.choice((20, 100, 400)), flush_seconds=0.01, poll_seconds=0.005
    )
    writer = AuditWriter(platform.store, data_dir, settings)
    await writer.start()
    platform.orders.on_commit(writer.notify)
    for account in ACCOUNTS:
        await platform.orders.execute(OpenAccount(account_id=account))
        await platform.orders.execute(Deposit(account_id=account, transfer_id="seed", amount=10**9))
    print("ready", flush=True)
    n = 0
    while True:
        batch = [_order(rng, seed, n + i) for i in range(rng.randint(1, 40))]
        n += len(batch)
        results = await asyncio.gather(
            *(platform.orders.execute(c) for c in batch), return_exceptions=True
        )
        fills = []
        for command, result in zip(batch, results, strict=True):
            if isinstance(result, Order):
                if rng.random() < 0.5:
                    fills.append(_fill(result, f"{command.client_order_id}-f"))
            elif not isinstance(result, AgoraError):
                raise result
        await asyncio.gather(*(platform.orders.execute(f) for f in fills))


async def drain(data_dir: Path) -> None:
    store = await SqliteStore.open(data_dir / "agora.db")
    try:
        head = await AuditWriter(store, data_dir, AuditSettings(flush_events=500)).catch_up()
    finally:
        await store.close()
    print("drained", head.seq, flush=True)


if __name__ == "__main__":
    folder, seed_text = Path(sys.argv[1]), sys.argv[2]
    asyncio.run(drain(folder) if sys.argv[3:] == ["drain"] else trade(folder, int(seed_text)))
