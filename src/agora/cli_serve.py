"""``agora serve``: start the embedded platform and stop it cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from agora.bootstrap import build_platform, ensure_demo_account
from agora.config import Settings
from agora.runtime import tune_gc


async def run_serve(data_dir: Path, console: Console) -> int:
    """Run until SIGINT or SIGTERM; drain the lanes and commit before returning."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before anything else: no window for a raw ^C
        loop.add_signal_handler(sig, stop.set)
    settings = replace(Settings(), data_dir=data_dir)
    platform = await build_platform(settings)
    try:
        account_id = await ensure_demo_account(platform)
        tune_gc()
        console.print(f"Agora is running with its data in [bold]{data_dir}[/bold]")
        console.print(f"Demo account: {account_id} (funded with 100,000.00 USD on first start)")
        console.print(
            "The web tier (REST, SSE, dashboard) is not built yet: see the README's status."
        )
        console.print("Press Ctrl-C to stop.")
        await stop.wait()
        console.print("Stopping: draining the lanes and committing…")
    finally:
        await platform.close()
    console.print("Stopped cleanly.")
    return 0
