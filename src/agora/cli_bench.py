"""``agora bench``: run a scenario with a progress bar, then print its table or JSON."""

from __future__ import annotations

import asyncio
import json

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from agora.bench.ack import AckConfig, run_ack
from agora.bench.isolation import IsolationConfig, run_isolation

SCENARIOS = ("ack", "ratelimit")


def run_bench(
    scenario: str, rates: str, duration: float, traders: int, *, as_json: bool, console: Console
) -> int:
    """Run ``scenario``; exit 0 when its check passed, 1 when not, 2 on bad input."""
    if scenario not in SCENARIOS:
        console.print(f"[red]unknown scenario {scenario!r}; built: {', '.join(SCENARIOS)}[/red]")
        return 2
    try:
        parsed = tuple(int(rate) for rate in rates.split(","))
    except ValueError:
        console.print("[red]--rates must be integers separated by commas[/red]")
        return 2
    if not parsed or min(parsed) <= 0 or duration <= 0 or traders <= 0:
        console.print("[red]rates, duration and traders must be positive[/red]")
        return 2
    if scenario == "ratelimit":
        isolation = IsolationConfig(duration_seconds=duration)
        report = asyncio.run(run_isolation(isolation))
        print(json.dumps(report, indent=2))
        verdict = report["check"]
        return 0 if verdict["ledger_ok"] and verdict["good_traders_limited"] == 0 else 1
    config = AckConfig(rates=parsed, duration_seconds=duration, traders=traders)
    total = int(sum(rate * duration for rate in parsed))
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("sending orders", total=total)
        report = asyncio.run(run_ack(config, lambda: progress.advance(task)))
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, console)
    ok = report["check"]["ledger_ok"] and report["check"]["open_orders_left"] == 0
    return 0 if ok else 1


def _print(report: dict[str, object], console: Console) -> None:
    console.print(f"scenario ack  machine {report['machine']}")
    console.print(f"config {report['config']}")
    table = Table(
        "rate/s", "achieved/s", "sent", "202", "other", "p50 ms", "p95 ms", "p99 ms", "max ms"
    )
    results = report["results"]
    assert isinstance(results, list)
    for row in results:
        latency = row["latency_ms"]
        table.add_row(
            str(row["rate"]),
            str(row["achieved_per_second"]),
            str(row["sent"]),
            str(row["accepted_202"]),
            json.dumps(row["other_statuses"]),
            *(str(latency[k]) for k in ("p50", "p95", "p99", "max")),
        )
    console.print(table)
    console.print(f"check {report['check']}")
