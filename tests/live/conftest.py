"""A real ``agora serve`` in a subprocess on 127.0.0.1, and the aiohttp clients that talk to it.

These tests prove what the in-process ones cannot: SSE over real sockets (httpx's ASGI transport
buffers whole responses), many concurrent clients, and a process killed with SIGKILL. The server
runs as ``python -m agora.cli serve`` on a free port and a temporary data folder; it is always
stopped (SIGTERM, then SIGKILL), and so is the SQLite writer process it starts in a session of its
own, so a failing test leaks no process, pipe or port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0
STOP_SECONDS = 15.0
RATE_LIMIT = 1_000_000  # per user per second: the tests open a thousand streams at once
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10, sock_read=None)
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)

T = TypeVar("T")
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


class PortTakenError(AssertionError):
    """The server could not listen on the port it was given (something took it first)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def agora_command(*arguments: str) -> list[str]:
    """``agora ARGUMENTS`` run by this interpreter (the project's virtualenv)."""
    return [sys.executable, "-m", "agora.cli", *arguments]


def server_environment() -> dict[str, str]:
    """The caller's environment without AGORA_* settings, so only our options count."""
    return {name: value for name, value in os.environ.items() if not name.startswith("AGORA_")}


@dataclass(frozen=True, slots=True)
class Trader:
    """A user of the running server: its token and its account (None for an admin)."""

    token: str
    account_id: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for this user."""
        return {"Authorization": f"Bearer {self.token}"}


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a process from a later one with its pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] == "Z" else fields[19]


def _descendants(pid: int) -> dict[int, str]:
    """Every live descendant of ``pid`` with its start time."""
    found: dict[int, str] = {}
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in map(int, children.read_text().split()):
                    started = _start_time(child)
                    if started is not None and child not in found:
                        found[child] = started
                        pending.append(child)
    return found


@dataclass
class AgoraServer:
    """One ``agora serve`` subprocess on a data folder; ``start`` again to restart it."""

    data_dir: Path
    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _helpers: dict[int, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def credentials(self) -> dict[str, dict[str, str]]:
        """What the server wrote to ``credentials.json``."""
        loaded: dict[str, dict[str, str]] = json.loads(
            (self.data_dir / "credentials.json").read_text()
        )
        return loaded

    @property
    def admin(self) -> Trader:
        """The admin of ``credentials.json``."""
        return Trader(self.credentials["admin"]["token"])

    @property
    def demo(self) -> Trader:
        """The funded demo trader of ``credentials.json``."""
        demo = self.credentials["demo"]
        return Trader(demo["token"], demo["account_id"])

    def start(self, *extra: str) -> None:
        """Start the server on a free port; wait until it answers and every symbol has a price."""
        for attempt in range(3):  # the free port may be taken before the server binds it
            self._launch(*extra)
            try:
                self._wait_until_healthy()
                self._wait_for_every_quote()
                return
            except PortTakenError:
                self.kill()
                if attempt == 2:
                    raise
            except BaseException:
                self.kill()
                raise

    def _launch(self, *extra: str) -> None:
        assert self.process is None, "already running"
        self.starts += 1
        self.port = free_port()
        command = agora_command(
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--rate-limit",
            str(RATE_LIMIT),
            *extra,
        )
        with self._log("out").open("wb") as out, self._log("err").open("wb") as err:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=server_environment(), stdin=subprocess.DEVNULL,
                stdout=out, stderr=err,
            )  # fmt: skip

    def stop(self) -> int:
        """SIGTERM, and SIGKILL if it has not stopped in time; return its exit code."""
        process = self._running()
        self._helpers = _descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -signal.SIGKILL
        self._reap_helpers()
        return code

    def kill(self) -> None:
        """SIGKILL the server (a crash): nothing runs after it, no shutdown code."""
        if self.process is None:
            return
        process = self.process
        self._helpers = _descendants(process.pid)
        if process.poll() is None:
            process.kill()
        process.wait()
        self._reap_helpers()

    def logs(self) -> str:
        """The last lines the server printed, for failure messages."""
        tails = []
        for stream in ("out", "err"):
            path = self._log(stream)
            text = path.read_text(errors="replace") if path.exists() else ""
            tails.append(f"--- {stream} ---\n{text[-4000:]}")
        return "\n".join(tails)

    def _log(self, stream: str) -> Path:
        return self.log_dir / f"serve-{self.starts}.{stream}"

    def _running(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "not running"
        return self.process

    def _wait_until_healthy(self) -> None:
        process = self._running()
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                logs = self.logs()
                if "cannot listen" in logs or "address already in use" in logs:
                    raise PortTakenError(logs)
                raise AssertionError(f"agora serve exited with {process.returncode}\n{logs}")
            try:
                with LOCAL.open(f"{self.base_url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"agora serve did not become healthy\n{self.logs()}")
            time.sleep(0.05)

    def _wait_for_every_quote(self) -> None:
        """Wait until the feed has priced every instrument (orders need a fresh price)."""
        deadline = time.monotonic() + START_SECONDS
        symbols = [i["symbol"] for i in self._get("/api/v1/instruments")]
        while symbols:
            try:
                self._get(f"/api/v1/quotes/{symbols[-1]}")
                symbols.pop()
            except urllib.error.HTTPError as error:
                if error.code != 404 or time.monotonic() > deadline:
                    raise AssertionError(f"no quote for {symbols[-1]}\n{self.logs()}") from None
                time.sleep(0.05)

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.base_url}{path}", headers=self.demo.headers)
        with LOCAL.open(request, timeout=5) as answer:
            return json.loads(answer.read())

    def _reap_helpers(self) -> None:
        """Wait for the writer process (it exits once its pipe closes); kill it if it lingers."""
        self.process = None
        deadline = time.monotonic() + STOP_SECONDS
        for pid, started in self._helpers.items():
            while _start_time(pid) == started and time.monotonic() < deadline:
                time.sleep(0.02)
            if _start_time(pid) == started:  # still the same process: ours to end
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._helpers = {}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgoraServer]:
    """One server for the tests that only need a running platform (each uses its own traders)."""
    folder = tmp_path_factory.mktemp("agora-live")
    running = AgoraServer(folder / "data", folder)
    running.start()
    try:
        yield running
    finally:
        if running.process is not None:
            code = running.stop()
            assert code == 0, f"agora serve did not stop cleanly ({code})\n{running.logs()}"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[Path], AgoraServer]]:
    """Make servers on data folders of the test's choosing; every one is stopped at the end."""
    made: list[AgoraServer] = []

    def make(data_dir: Path) -> AgoraServer:
        made.append(AgoraServer(data_dir, tmp_path))
        return made[-1]

    try:
        yield make
    finally:
        for each in made:
            each.kill()


@pytest.fixture
async def http(server: AgoraServer) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session against the shared server."""
    async with client_session(server) as session:
        yield session


@contextlib.asynccontextmanager
async def client_session(
    server: AgoraServer, connections: int = 100
) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session with room for ``connections`` simultaneous connections."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    async with aiohttp.ClientSession(
        server.base_url, connector=connector, timeout=REQUEST_TIMEOUT
    ) as session:
        yield session


# --- REST ---------------------------------------------------------------------------------------


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    who: Trader | None,
    body: object = None,
    *,
    expect: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request; assert its status and return its JSON body."""
    sent = {**(who.headers if who else {}), **(headers or {})}
    async with http.request(method, path, json=body, headers=sent) as response:
        text = await response.text()
        assert response.status == expect, f"{method} {path}: {response.status} {text}"
        return json.loads(text) if text else None


async def new_trader(
    http: aiohttp.ClientSession, server: AgoraServer, name: str, funding: str = "100000.00"
) -> Trader:
    """A trader made by the admin with a fresh account, funded with ``funding`` dollars."""
    made = await call(
        http, "POST", "/api/v1/admin/users", server.admin, {"name": name, "role": "trader"},
        expect=201,
    )  # fmt: skip
    trader = Trader(made["token"], made["account_id"])
    path = f"/api/v1/admin/accounts/{trader.account_id}/deposits"
    await call(http, "POST", path, server.admin, {"amount": funding}, expect=201)
    return trader


async def place(http: aiohttp.ClientSession, trader: Trader, **order: str) -> dict[str, Any]:
    """Place an order (time in force ``gtc`` unless given); assert the 202 and return it."""
    body = {"time_in_force": "gtc", **order}
    placed: dict[str, Any] = await call(http, "POST", "/api/v1/orders", trader, body, expect=202)
    return placed


async def metrics(http: aiohttp.ClientSession) -> dict[str, float]:
    """The Prometheus samples of /metrics by name."""
    async with http.get("/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples = re.findall(r"^([a-z_]+) ([0-9.e+-]+)$", text, flags=re.MULTILINE)
    return {name: float(value) for name, value in samples}


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, within_seconds: float = 10.0
) -> T:
    """Poll ``check`` until it returns something other than None."""
    deadline = time.monotonic() + within_seconds
    while True:
        found = await check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


# --- SSE ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its name, decoded JSON data and id (None when it has none)."""

    event: str
    data: Any
    id: int | None

    @property
    def order(self) -> dict[str, Any]:
        """The order of an ``order`` event."""
        order: dict[str, Any] = self.data["order"]
        return order


class SseStream:
    """Reads server-sent events off an open aiohttp response, one at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.heartbeats = 0

    async def next(self, within_seconds: float = 10.0) -> SseEvent:
        """The next event (heartbeat comments are counted and skipped)."""
        async with asyncio.timeout(within_seconds):
            fields: dict[str, str] = {}
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError(f"the stream ended; unfinished event {fields}")
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.heartbeats += 1
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif fields:
                    return SseEvent(
                        event=fields.get("event", "message"),
                        data=json.loads(fields.get("data", "null")),
                        id=int(fields["id"]) if "id" in fields else None,
                    )

    async def until(
        self, done: Callable[[SseEvent], bool], within_seconds: float = 10.0
    ) -> list[SseEvent]:
        """Read events up to and including the first for which ``done`` is true."""
        read: list[SseEvent] = []
        async with asyncio.timeout(within_seconds):
            while not read or not done(read[-1]):
                read.append(await self.next(within_seconds))
        return read


@contextlib.asynccontextmanager
async def open_stream(
    http: aiohttp.ClientSession, path: str, who: Trader, last_event_id: int | None = None
) -> AsyncIterator[SseStream]:
    """Open an SSE stream (asserting 200 and ``text/event-stream``); close it on the way out."""
    headers = dict(who.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    response = await http.get(path, headers=headers, timeout=STREAM_TIMEOUT)
    try:
        assert response.status == 200, f"GET {path}: {response.status} {await response.text()}"
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield SseStream(response)
    finally:
        response.close()  # drops the connection: the server sees the client leave


def order_events_of(events: list[SseEvent], order_id: str) -> list[SseEvent]:
    """The ``order`` events about one order."""
    return [e for e in events if e.event == "order" and e.order["order_id"] == order_id]


def is_status(order_id: str, *statuses: str) -> Callable[[SseEvent], bool]:
    """A predicate for ``SseStream.until``: this order reached one of ``statuses``."""
    return lambda e: (
        e.event == "order" and e.order["order_id"] == order_id and e.order["status"] in statuses
    )
