"""The ``agora`` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agora import __version__
from agora.core.errors import AgoraError

app = typer.Typer(
    name="agora",
    help="Agora: a self-hosted brokerage and algorithmic trading platform.",
    no_args_is_help=True,
    add_completion=False,
)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
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


@app.command()
def serve(data_dir: DataDir = Path("agora-data")) -> None:
    """Run the embedded platform (order service on SQLite) until interrupted."""
    from agora.cli_serve import run_serve

    try:
        code = asyncio.run(run_serve(data_dir.absolute(), console))
    except AgoraError as error:
        console.print(f"[red]cannot start: {error.message}[/red]")
        code = 2
    sys.exit(code)


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
