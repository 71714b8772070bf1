"""A real ``agora serve`` on a free port and a Debian Chromium driven by Playwright.

One server (temporary data folder) and one headless browser serve a whole module (never longer:
sync Playwright keeps an event loop running in this thread while it is open, which would break
the async tests of later modules); each test
gets a fresh browser context (its own sessionStorage) and a page whose console errors, page
errors, failed requests and unexpected HTTP error answers fail the test. Screenshots go to
``test-artifacts/browser/``. Outside CI a machine without Chromium skips these
tests; under ``CI=true`` nothing is skipped: a missing browser is a failure. (Playwright itself
is a dev dependency: without it these tests do not even import.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("AGORA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
START_SECONDS = 30.0
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
STREAMS = "/api/v1/stream/"
HTTP_ERROR_CONSOLE = "Failed to load resource: the server responded with a status of"


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    message = f"browser tests need Chromium at {CHROMIUM} (scripts/env.sh installs it as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``agora serve`` subprocess."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    def token(self, who: str) -> str:
        """The ``admin`` or ``demo`` token of ``credentials.json``."""
        credentials = json.loads((self.data_dir / "credentials.json").read_text())
        token: str = credentials[who]["token"]
        return token

    def get(
        self, path: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        """GET ``path`` as ``token`` (the demo trader by default) and decode its JSON."""
        sent = {"Authorization": f"Bearer {token or self.token('demo')}", **(headers or {})}
        request = urllib.request.Request(f"{self.url}{path}", headers=sent)
        with LOCAL.open(request, timeout=5) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: dict[str, Any], token: str) -> Any:
        """POST JSON ``body`` as ``token``."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with LOCAL.open(request, timeout=5) as answer:
            return json.loads(answer.read())

    def start(self) -> None:
        """Start on a free port; wait until healthy and every symbol has a price."""
        self.port = _free_port()
        command = [sys.executable, "-m", "agora.cli", "serve", "--data-dir", str(self.data_dir)]
        command += ["--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
        with (self.data_dir.parent / "serve.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        symbols: list[str] | None = None
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"agora serve exited: {self.logs()}")
            try:
                if symbols is None:
                    symbols = [i["symbol"] for i in self.get("/api/v1/instruments")]
                while symbols:
                    self.get(f"/api/v1/quotes/{symbols[-1]}")
                    symbols.pop()
                return
            except (urllib.error.URLError, OSError, json.JSONDecodeError, KeyError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"agora serve did not start: {self.logs()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM the server's process group (it and its writer process), SIGKILL if stuck."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def logs(self) -> str:
        """The end of what the server printed."""
        path = self.data_dir.parent / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A running ``agora serve`` with its demo trader and admin."""
    _require_browser()
    running = Server(tmp_path_factory.mktemp("agora") / "data")
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:  # launch() gives Chromium a fresh, empty profile
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and the problems it showed; ``expect_http`` allows an HTTP error answer."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    http_errors: list[tuple[str, str, int]] = field(default_factory=list)
    allowed: set[tuple[str, str, int]] = field(default_factory=set)

    def expect_http(self, method: str, path: str, status: int) -> None:
        """Allow ``status`` answers to ``method path`` (a denial the test provokes)."""
        self.allowed.add((method, path, status))

    def problems(self) -> list[str]:
        """Everything that went wrong on the page so far."""
        unexpected = [
            f"{m} {p} → {s}" for m, p, s in self.http_errors if (m, p, s) not in self.allowed
        ]
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"page error: {text}" for text in self.page_errors),
            *(f"failed request: {text}" for text in self.failed_requests),
            *(f"HTTP error: {text}" for text in unexpected),
        ]

    def assert_clean(self) -> None:
        """Fail on any console error, page error, failed request or unexpected HTTP error."""
        assert not self.problems(), "\n".join(self.problems())


def watch(page: Page) -> Watched:
    """Record a page's console errors, page errors, failed requests and HTTP errors."""
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(HTTP_ERROR_CONSOLE):
            watched.console_errors.append(message.text)  # HTTP errors are judged below

    def on_response(response: Response) -> None:
        if response.status >= 400:
            path = "/" + response.url.split("/", 3)[3].split("?")[0]
            watched.http_errors.append((response.request.method, path, response.status))

    def on_failed(request: Request) -> None:
        if request.failure == "net::ERR_ABORTED" and STREAMS in request.url:
            return  # a reload or navigation ends the page's open streams
        watched.failed_requests.append(f"{request.method} {request.url} {request.failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    return watched


def sign_in(watched: Watched, server: Server, token: str) -> Page:
    """Open the dashboard and sign in with ``token``; wait until it is ready."""
    page = watched.page
    page.goto(server.url + "/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready='true']")
    return page


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under ``test-artifacts/browser/``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


OpenPage = Callable[..., Watched]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Open watched pages (each in a fresh context: empty sessionStorage); check them clean."""
    opened: list[Watched] = []

    def opener(width: int = 1280, height: int = 800) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        opened.append(watch(context.new_page()))
        return opened[-1]

    yield opener
    try:
        for watched in opened:
            watched.assert_clean()
    finally:
        for watched in opened:
            watched.page.context.close()
