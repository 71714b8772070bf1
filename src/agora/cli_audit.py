"""``agora audit query``, ``agora audit verify`` and ``agora replay``: the Parquet audit log.

Heavy imports (pyarrow, DuckDB, the store) happen inside the commands, so ``agora --help``
stays fast.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from agora.audit.replay import Difference, Rebuilt
    from agora.audit.verify import AuditReport
    from agora.storage.sqlite import SqliteStore

audit_app = typer.Typer(
    help="The Parquet audit log: SQL over it, and its verification.", no_args_is_help=True
)
console = Console()

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir", envvar="AGORA_DATA_DIR", help="The embedded platform's data folder."
    ),
]
_T = TypeVar("_T")
SHOWN_BREAKS = 20
SHOWN_DIFFERENCES = 50


@audit_app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the table events.")],
    data_dir: DataDir = Path("agora-data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Run SQL over the audit log (table events; dt and type are partition columns)."""
    from agora.audit.layout import AuditError, AuditLayout
    from agora.audit.query import run_query, text

    try:
        result = run_query(AuditLayout.in_data_dir(data_dir), sql)
    except AuditError as error:
        console.print(f"[red]{error.message}[/red]", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.records(), ensure_ascii=False, indent=1))
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(text(value) for value in row))
    console.print(table)
    console.print(f"{len(result.rows)} rows")


@audit_app.command("verify")
def verify(
    data_dir: DataDir = Path("agora-data"),
    allow_lag: Annotated[
        bool,
        typer.Option(
            "--allow-lag",
            help="Accept outbox events after the log's end (a running writer has not flushed).",
        ),
    ] = False,
) -> None:
    """Check the hash chain and that every outbox event is in the log once; exit 1 if not."""
    from agora.audit.layout import AuditLayout
    from agora.audit.verify import verify_audit
    from agora.core.errors import AgoraError

    layout = AuditLayout.in_data_dir(data_dir)

    async def run(store: SqliteStore) -> AuditReport:
        return await verify_audit(layout, store, allow_lag=allow_lag)

    try:
        report = _with_store(data_dir, run)
    except AgoraError as error:
        console.print(f"[red]cannot verify: {error.message}[/red]", highlight=False)
        raise typer.Exit(2) from None
    _print_report(report)
    raise typer.Exit(0 if report.ok else 1)


def replay(data_dir: DataDir = Path("agora-data")) -> None:
    """Rebuild orders, balances and positions from the audit log; compare with the live views."""
    from agora.audit.layout import AuditLayout
    from agora.audit.replay import compare, live_views, log_events, rebuild
    from agora.core.errors import AgoraError
    from agora.core.instruments import InstrumentRegistry

    async def run(store: SqliteStore) -> tuple[Rebuilt, list[Difference], bool]:
        events = await asyncio.to_thread(log_events, AuditLayout.in_data_dir(data_dir))
        rebuilt = rebuild(events, InstrumentRegistry.default())
        live = await live_views(store, rebuilt.accounts)
        behind = bool(await store.fetch_after(rebuilt.last_seq, 1))
        return rebuilt, compare(rebuilt.views, live), behind

    try:
        rebuilt, differences, behind = _with_store(data_dir, run)
    except AgoraError as error:
        console.print(f"[red]cannot replay: {error.message}[/red]", highlight=False)
        raise typer.Exit(2) from None
    _print_replay(rebuilt, differences, behind)
    raise typer.Exit(1 if differences else 0)


def _with_store(data_dir: Path, work: Callable[[SqliteStore], Awaitable[_T]]) -> _T:
    """Open the data folder's database, run ``work`` on it, close it."""
    from agora.storage.sqlite import SqliteStore

    database = data_dir / "agora.db"
    if not database.is_file():
        console.print(f"[red]no Agora database at {database}[/red]", highlight=False)
        raise typer.Exit(2)

    async def run() -> _T:
        store = await SqliteStore.open(database)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _print_report(report: AuditReport) -> None:
    summary = Table("audit log", "")
    summary.add_row("files", str(report.files))
    summary.add_row("records", str(report.records))
    summary.add_row("outbox events", str(report.outbox))
    summary.add_row("writer position (seq)", str(report.position))
    if report.pending:
        summary.add_row("not yet written (allowed lag)", str(report.pending))
    console.print(summary)
    first = report.first
    if first is None:
        console.print("[green]audit log verifies: chain intact, every event once[/green]")
        return
    console.print(f"[red]first break: {first.kind.value}: {first.detail}[/red]", highlight=False)
    breaks = Table("seq", "break", "detail", "file")
    for item in report.breaks[:SHOWN_BREAKS]:
        seq = "" if item.seq is None else str(item.seq)
        breaks.add_row(seq, item.kind.value, item.detail, item.path or "")
    console.print(breaks)
    more = len(report.breaks) - SHOWN_BREAKS
    if more > 0:
        console.print(f"… and {more} more")
    console.print("[red]audit log does not verify[/red]")


def _print_replay(rebuilt: Rebuilt, differences: list[Difference], behind: bool) -> None:
    views = rebuilt.views
    summary = Table("rebuilt from the audit log", "count")
    summary.add_row("events (up to seq)", f"{rebuilt.events} ({rebuilt.last_seq})")
    summary.add_row("orders", str(len(views.orders)))
    summary.add_row("denied orders (never stored)", str(rebuilt.denied))
    summary.add_row("ledger accounts (posted)", str(len(views.balances)))
    summary.add_row("positions", str(len(views.positions)))
    console.print(summary)
    console.print("pending holds are not rebuilt: no event carries a hold's amount or release")
    if behind:
        console.print("[yellow]the outbox has events the audit log has not written yet[/yellow]")
    if not differences:
        console.print("[green]replay matches the live orders, balances and positions[/green]")
        return
    table = Table("view", "key", "field", "audit log", "live")
    for item in differences[:SHOWN_DIFFERENCES]:
        table.add_row(item.view, item.key, item.field, item.audit, item.live)
    console.print(table)
    more = len(differences) - SHOWN_DIFFERENCES
    if more > 0:
        console.print(f"… and {more} more")
    console.print(f"[red]{len(differences)} differences[/red]")
