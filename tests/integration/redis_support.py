"""Redis for the integration tests: the machine's server under a random prefix, and spare servers.

The shared server is ``AGORA_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``). Each test works
under its own prefix ``agora-test:<random>:`` and deletes its keys afterwards. Outside CI a
machine without the server skips these tests, saying why; under ``CI=true`` nothing is skipped: a
missing server (or ``redis-server`` binary, for the spare servers) is a failure.

Tests that take Redis away start a ``SpareRedis`` of their own on a free port and kill, freeze
or restart it; the shared server on 6379 is never stopped (other tests use it).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from redis.asyncio import Redis

from agora.bus.redis_link import REDIS_DOWN, connect, glob_escape

SHARED_URL = os.environ.get("AGORA_TEST_REDIS", "redis://127.0.0.1:6379/0")
START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
    " --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def missing(reason: str) -> NoReturn:
    """Skip, or fail under ``CI=true``, for want of a Redis server."""
    message = f"Redis tests need {reason}; start it with: {START_REDIS}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def shared_client() -> Redis:
    """Connect to the shared server, or skip (fail under CI) when it is missing."""
    client = connect(SHARED_URL)
    try:
        async with asyncio.timeout(5.0):
            await client.ping()
    except REDIS_DOWN as exc:
        await client.aclose()
        missing(f"a server at {SHARED_URL} ({type(exc).__name__}: {exc})")
    return client


@asynccontextmanager
async def fresh_prefix(client: Redis) -> AsyncIterator[str]:
    """Yield a random key prefix; delete every key under it afterwards."""
    prefix = f"agora-test:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=glob_escape(prefix) + "*")]
        if keys:
            await client.delete(*keys)


def free_port() -> int:
    """Return a free TCP port below the kernel's ephemeral range.

    A spare server is restarted on its port; a port the kernel hands out for ``bind(0)`` or an
    outgoing connection could be taken by another process (another test's server, a client) in
    between, so the port is chosen where the kernel never picks on its own.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    for _ in range(100):
        port = random.randrange(20_000, max(low, 21_000))
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for a spare Redis")


class SpareRedis:
    """A redis-server of the test's own, to kill, freeze and restart on the same port."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("the redis-server binary (apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the server (empty: no persistence) and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(self.directory)),
            *("--logfile", str(self.directory / "redis.log")),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = connect(self.url)
        try:
            await eventually(client.ping, timeout_seconds=5.0)
            async with asyncio.timeout(5.0):
                server = await client.info("server")
        finally:
            await client.aclose()
        if server.get("process_id") != self.process.pid:  # another server took the port
            raise RuntimeError(f"port {self.port} answers for another process: {server}")

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL): connections drop, everything in it is lost."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused server."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        """Stop the server for good (thawing it first if it was paused)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
        await self.kill()


async def eventually(
    check: Callable[[], object], *, timeout_seconds: float = 5.0, interval_seconds: float = 0.01
) -> None:
    """Wait until ``check()`` (or the coroutine it returns) is truthy and raises nothing."""
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                async with asyncio.timeout(max(timeout_seconds, 1.0)):  # clients have no timeouts
                    result = await result
            if result:
                return
            last = None
        except Exception as exc:
            last = exc
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_seconds} s (last error: {last!r})")
        await asyncio.sleep(interval_seconds)
