"""``agora serve``: the embedded platform behind uvicorn, stopped cleanly on Ctrl-C.

Our own signal handlers are installed first; uvicorn's are turned off (it would re-raise the
signal after its shutdown and end the process before the lanes drain). On SIGINT or SIGTERM the
HTTP server stops taking requests, then the platform stops in order and the lanes commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Coroutine, Iterator
from typing import Any

import uvicorn
from rich.console import Console

from agora.bootstrap import ensure_demo_account
from agora.config import Settings
from agora.credentials import ensure_credentials
from agora.embedded import start_embedded
from agora.observability import configure_logging
from agora.runtime import tune_gc
from agora.web.dashboard import offer_demo_token


def run_event_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on uvloop (installed with uvicorn[standard]), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux
        return asyncio.run(main)
    return uvloop.run(main)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``agora serve`` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the process's signal handlers alone."""
        yield


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a taken port is a clear message, not uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    listening.setblocking(False)
    return listening


async def run_serve(settings: Settings, console: Console) -> int:
    """Run until SIGINT or SIGTERM; drain the lanes and commit before returning."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before anything else: no window for a raw ^C
        loop.add_signal_handler(sig, stop.set)
    configure_logging(logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO))
    embedded = await start_embedded(settings)
    try:
        await ensure_demo_account(embedded.platform)
        credentials = await ensure_credentials(embedded.web, settings.credentials_path)
        offer_demo_token(embedded.app, credentials.demo["token"], settings.host)
        config = uvicorn.Config(
            embedded.app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = _EmbeddedServer(config)
        try:
            listening = _listen(settings.host, settings.port)
        except OSError as error:
            console.print(f"[red]cannot listen on {settings.host}:{settings.port}: {error}[/red]")
            return 2
        serving = asyncio.create_task(server.serve(sockets=[listening]), name="http")
        for _ in range(600):  # uvicorn offers a flag, not an event, for "listening"
            if server.started or serving.done():
                break
            await asyncio.sleep(0.05)
        if serving.done() or not server.started:
            console.print(f"[red]the HTTP server did not start on {settings.port}[/red]")
            return 2
        tune_gc()
        url = f"http://{settings.host}:{settings.port}/"
        console.print(f"Agora is running at [bold]{url}[/bold] (API docs: {url}docs)")
        console.print(f"Data: {settings.data_dir}")
        console.print(f"Tokens (admin, demo trader): {settings.credentials_path}")
        console.print(f"Demo account: {credentials.demo['account_id']}")
        console.print("Press Ctrl-C to stop.")
        await stop.wait()
        console.print("Stopping: closing connections, draining the lanes and committing…")
        server.should_exit = True
        await serving
    finally:
        await embedded.close()
    console.print("Stopped cleanly.")
    return 0
