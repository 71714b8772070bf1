"""The ``agora`` command line."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agora import __version__
from agora.cli_audit import audit_app, replay
from agora.config import Settings
from agora.core.errors import AgoraError

app = typer.Typer(
    name="agora",
    help="Agora: a self-hosted brokerage and algorithmic trading platform.",
    no_args_is_help=True,
    add_completion=False,
)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.command("replay")(replay)
console = Console()

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir", envvar="AGORA_DATA_DIR", help="The embedded platform's data folder."
    ),
]


@app.command()
def version() -> None:
    """Print Agora's version."""
    console.print(f"agora {__version__}")


def _option(name: str, env: str, text: str) -> Any:
    return typer.Option(name, envvar=env, help=text)


@app.command()
def serve(
    data_dir: DataDir = Path("agora-data"),
    host: Annotated[str, _option("--host", "AGORA_HOST", "Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, _option("--port", "AGORA_PORT", "Port to listen on.")] = 8000,
    calendar: Annotated[
        str, _option("--calendar", "AGORA_CALENDAR", "Trading calendar: always or XNYS.")
    ] = "always",
    feed: Annotated[
        str, _option("--feed", "AGORA_FEED", "Price feed: synthetic, replay:FILE or none.")
    ] = "synthetic",
    seed: Annotated[int, _option("--seed", "AGORA_SEED", "Seed of the synthetic feed.")] = 1,
    rate_limit: Annotated[
        int, _option("--rate-limit", "AGORA_RATE_LIMIT", "API requests per user per second.")
    ] = 50,
    venue_latency_ms: Annotated[
        int, _option("--venue-latency-ms", "AGORA_VENUE_LATENCY_MS", "Simulated venue latency.")
    ] = 0,
    log_level: Annotated[
        str, _option("--log-level", "AGORA_LOG_LEVEL", "JSON log level: debug, info, warning.")
    ] = "warning",
    release_rate: Annotated[
        int,
        _option(
            "--release-rate",
            "AGORA_RELEASE_RATE",
            "Orders per second sent to the venue at the open (those held while closed).",
        ),
    ] = 1000,
) -> None:
    """Run the whole platform in one process (SQLite, simulated exchange, feed, web) until ^C."""
    from agora.cli_serve import run_event_loop, run_serve

    if (
        calendar not in ("always", "XNYS")
        or port <= 0
        or rate_limit <= 0
        or venue_latency_ms < 0
        or release_rate <= 0
    ):
        console.print("[red]bad option: see agora serve --help[/red]")
        sys.exit(2)
    settings = replace(
        Settings(),
        data_dir=data_dir.absolute(),
        host=host,
        port=port,
        calendar=calendar,
        feed=feed,
        seed=seed,
        rate_limit_per_second=rate_limit,
        venue_latency_ms=venue_latency_ms,
        log_level=log_level,
        release_rate_per_second=release_rate,
    )
    try:
        code = run_event_loop(run_serve(settings, console))
    except AgoraError as error:
        console.print(f"[red]cannot start: {error.message}[/red]")
        code = 2
    sys.exit(code)


@app.command()
def bench(
    scenario: Annotated[str, typer.Argument(help="Scenario: ack or ratelimit.")],
    rates: Annotated[str, typer.Option(help="Comma-separated arrival rates (orders/s).")] = (
        "50,500,1000,2500,5000"
    ),
    duration: Annotated[float, typer.Option(help="Seconds per rate.")] = 10.0,
    traders: Annotated[int, typer.Option(help="Trader accounts sending orders.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Run a benchmark scenario and print its configuration, figures and correctness check."""
    from agora.cli_bench import run_bench

    sys.exit(run_bench(scenario, rates, duration, traders, as_json=as_json, console=console))


@ledger_app.command("verify")
def ledger_verify(data_dir: DataDir = Path("agora-data")) -> None:
    """Check every ledger invariant from the stored records; exit 1 if any is broken."""
    from agora.cli_verify import run_verify

    database = data_dir / "agora.db"
    if not database.is_file():
        console.print(f"[red]no Agora database at {database}[/red]")
        raise typer.Exit(2)
    try:
        report = asyncio.run(run_verify(database))
    except AgoraError as error:
        console.print(f"[red]cannot verify: {error.message}[/red]")
        raise typer.Exit(2) from None
    table = Table("check", "ok", "detail")
    for check in report.checks:
        table.add_row(
            check.name, "[green]yes[/green]" if check.ok else "[red]NO[/red]", check.detail
        )
    console.print(table)
    console.print("[green]ledger verifies[/green]" if report.ok else "[red]ledger is broken[/red]")
    raise typer.Exit(0 if report.ok else 1)


if __name__ == "__main__":
    app()
