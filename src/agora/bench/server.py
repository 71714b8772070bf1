"""A real ``agora serve`` in a child process, for benchmarks that go through HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: its base URL, tokens and process."""

    url: str
    admin_token: str
    demo_token: str
    process: asyncio.subprocess.Process
    data_dir: Path


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def served(data_dir: Path, *options: str) -> AsyncIterator[Server]:
    """Run ``agora serve`` on a free loopback port until the block ends (SIGTERM, then kill)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "agora.cli",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        *options,
    ]
    log = (data_dir.parent / f"{data_dir.name}-serve.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        credentials = json.loads((data_dir / "credentials.json").read_text())
        yield Server(
            url, credentials["admin"]["token"], credentials["demo"]["token"], process, data_dir
        )
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def _wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.returncode is not None:
                raise RuntimeError(f"agora serve exited with {process.returncode}")
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("agora serve did not become healthy in 30 s")
