"""The audit log after a real session: lanes → outbox → engine → simulated venue, on SQLite.

The writer runs beside the session with small flush bounds (many flushes, several files per
flush); afterwards every outbox event is in the files exactly once, in its partition, the chain
verifies, DuckDB's sum of fills equals the positions, and replay equals the live views.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agora.audit import AuditLayout, AuditSettings, AuditWriter
from agora.audit.parquet import read_file
from agora.audit.query import run_query
from agora.audit.replay import compare, live_views, log_events, rebuild
from agora.audit.verify import BreakKind, verify_audit
from agora.bootstrap import Platform
from agora.bus.inprocess import InProcessBus
from agora.cli_audit import audit_app, replay
from agora.core.clock import ManualClock
from agora.core.errors import RiskDeniedError
from agora.core.events import EventType
from agora.core.instruments import InstrumentRegistry
from agora.execution.engine import ExecutionEngine
from agora.execution.venues.reports import FeeSchedule
from agora.execution.venues.simulated.venue import SimulatedVenue
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import CancelOrder, ReplaceOrder, Withdraw
from agora.orders.model import Side, Status
from agora.positions.projector import PositionProjector, all_positions
from agora.storage import SqliteStore
from tests.audit_support import all_records
from tests.integration.conftest import start
from tests.integration.test_duplicate_delivery import named, settled
from tests.integration.test_execution import order, quote
from tests.integration.test_lanes import ACCOUNT, funded

OTHER = "acc_other"
BUSY = AuditSettings(flush_events=7, flush_seconds=0.02, poll_seconds=0.01)


async def script(platform: Platform, venue: SimulatedVenue) -> None:
    """Deposits, partial fills, a cancel, a replace, a denial, a withdrawal, a sale."""
    execute = platform.orders.execute
    await funded(platform)
    await funded(platform, OTHER, cents=5_000_000)
    venue.on_quote(quote("199.90", "200.00", size=6))
    await execute(named(order(Side.BUY, 10), "market-buy"))
    await settled(platform, "market-buy", Status.PARTIALLY_FILLED)
    venue.on_quote(quote("200.90", "201.00", size=100))
    await settled(platform, "market-buy", Status.FILLED)

    resting = await execute(named(order(Side.BUY, 5, limit=1_950_000), "resting"))
    await settled(platform, "resting", Status.NEW)
    await execute(CancelOrder(account_id=ACCOUNT, order_id=resting.order_id))
    await settled(platform, "resting", Status.CANCELED)

    first = await execute(named(order(Side.BUY, 5, limit=1_960_000), "to-replace"))
    await settled(platform, "to-replace", Status.NEW)
    change = ReplaceOrder(
        account_id=ACCOUNT,
        order_id=first.order_id,
        qty=8,
        limit_price=1_970_000,
        client_order_id="replacement",
    )
    await execute(change)
    await settled(platform, "replacement", Status.NEW)
    venue.on_quote(quote("196.90", "197.00", size=100))
    await settled(platform, "replacement", Status.FILLED)

    with pytest.raises(RiskDeniedError):
        await execute(named(order(Side.BUY, 100_000, limit=1_970_000), "too-big"))
    await execute(Withdraw(account_id=ACCOUNT, transfer_id="w-1", amount=50_000))

    venue.on_quote(quote("201.00", "201.10", size=100))
    await execute(named(order(Side.SELL, 4, limit=2_010_000), "sale"))
    await settled(platform, "sale", Status.FILLED)
    await execute(replace(named(order(Side.BUY, 3), "other-buy"), account_id=OTHER))
    store = platform.store
    assert isinstance(store, SqliteStore)
    async with asyncio.timeout(15):
        for _ in itertools.count():  # polling: the store has no change notification
            found = await store.get_order_by_client_id(OTHER, "other-buy")
            if found is not None and found.status is Status.FILLED:
                break
            await asyncio.sleep(0.01)


async def run_session(data: Path, clock: ManualClock, prices: LastPriceCache) -> None:
    """Run the session with the audit writer beside it; leave everything written and closed."""
    platform = await start(data, clock, prices)
    store = platform.store
    assert isinstance(store, SqliteStore)
    venue = SimulatedVenue(fees=FeeSchedule(per_share_price_units=30, minimum_cents=1))
    engine = ExecutionEngine(
        venue=venue,
        orders=platform.orders,
        outbox=store,
        checkpoints=store,
        clock=clock,
        ack_timeout_seconds=5,
    )
    writer = AuditWriter(store, data, BUSY)
    await writer.start()
    platform.orders.on_commit(writer.notify)
    await engine.start()
    try:
        await script(platform, venue)
        await InProcessBus(store, store, (PositionProjector(platform.instruments),)).drain()
    finally:
        await engine.stop()
        await platform.orders.stop()
        await writer.stop()  # after the lanes: it writes the last events they committed
        await platform.close()


@pytest.fixture
async def session(tmp_path: Path, clock: ManualClock, prices: LastPriceCache) -> Path:
    data = tmp_path / "data"
    await run_session(data, clock, prices)
    return data


async def test_every_outbox_event_is_in_the_files_exactly_once(session: Path) -> None:
    layout = AuditLayout.in_data_dir(session)
    store = await SqliteStore.open(session / "agora.db")
    try:
        outbox = await store.fetch_after(0, 1_000_000)
        report = await verify_audit(layout, store)
    finally:
        await store.close()
    records = all_records(layout)
    assert [(r.seq, r.event_id) for r in records] == [(s, e.event_id) for s, e in outbox]
    assert [r.event() for r in records] == [e for _, e in outbox]
    assert report.ok, report.breaks
    assert report.records == report.outbox == len(outbox)
    assert {r.type for r in records} >= {
        EventType.ACCOUNT_OPENED,
        EventType.TRANSFER_POSTED,
        EventType.ORDER_SUBMITTED,
        EventType.ORDER_UPDATED,
        EventType.ORDER_FILLED,
        EventType.ORDER_CANCEL_REQUESTED,
        EventType.ORDER_REPLACE_REQUESTED,
        EventType.ORDER_DENIED,
    }
    assert len(layout.parquet_files()) > 8  # many flushes, one file per type in each


async def test_files_sit_in_their_day_and_type_partition_named_by_their_first_event(
    session: Path,
) -> None:
    layout = AuditLayout.in_data_dir(session)
    for path in layout.parquet_files():
        records = read_file(path)
        first = min(records, key=lambda r: r.seq)
        assert path.name == f"{first.event_id}.parquet"
        for record in records:
            expected = layout.events / f"dt={record.day.isoformat()}" / f"type={record.type}"
            assert path.parent == expected
    assert not layout.temp_files()


async def test_duckdb_fills_by_symbol_equal_the_positions(session: Path) -> None:
    result = run_query(
        AuditLayout.in_data_dir(session),
        "SELECT account_id, symbol,"
        " sum(CASE side WHEN 'buy' THEN qty ELSE -qty END) AS qty, count(*) AS fills,"
        " sum(fee) AS fees"
        " FROM events WHERE type = 'order.filled' GROUP BY ALL ORDER BY ALL",
    )
    store = await SqliteStore.open(session / "agora.db")
    try:
        positions = sorted(await all_positions(store), key=lambda p: (p.account_id, p.symbol))
    finally:
        await store.close()
    assert result.rows == [
        (p.account_id, p.symbol, Decimal(p.qty), p.fills, Decimal(p.fees_cents) / 100)
        for p in positions
    ]
    assert [p.qty for p in positions] == [3, 10 + 8 - 4]


async def test_replay_from_the_log_equals_the_live_views(session: Path) -> None:
    rebuilt = rebuild(log_events(AuditLayout.in_data_dir(session)), InstrumentRegistry.default())
    store = await SqliteStore.open(session / "agora.db")
    try:
        live = await live_views(store, rebuilt.accounts)
    finally:
        await store.close()
    assert compare(rebuilt.views, live) == []
    assert rebuilt.denied == 1
    assert len(live.orders) == len(rebuilt.views.orders) == 6
    assert len(live.positions) == 2


async def test_the_command_line_verifies_queries_replays_and_catches_a_deleted_file(
    session: Path,
) -> None:
    app = typer.Typer()
    app.add_typer(audit_app, name="audit")
    app.command("replay")(replay)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--data-dir", str(session)])
        return result.exit_code, result.output

    # asyncio.run inside the commands needs a thread without a running loop
    code, output = await asyncio.to_thread(run, "audit", "verify")
    assert code == 0, output
    assert "audit log verifies" in output
    code, output = await asyncio.to_thread(run, "replay")
    assert code == 0, output
    assert "replay matches" in output
    code, output = await asyncio.to_thread(
        run, "audit", "query", "--json", "SELECT type, count(*) AS n FROM events GROUP BY type"
    )
    assert code == 0, output
    assert '"type": "order.filled"' in output
    code, output = await asyncio.to_thread(run, "audit", "query", "SELECT sum(qty) FROM events")
    assert code == 0, output

    layout = AuditLayout.in_data_dir(session)
    victim = next(p for p in layout.parquet_files() if "type=order.filled" in str(p))
    victim.unlink()
    code, output = await asyncio.to_thread(run, "audit", "verify")
    assert code == 1, output
    assert f"first break: {BreakKind.MISSING.value}" in output
    code, output = await asyncio.to_thread(run, "replay")
    assert code == 1, output
    assert "differences" in output
