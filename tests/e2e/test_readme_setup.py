"""The README's set-up on a fresh copy: a new virtualenv, `agora --help`, serve, verify.

Copies the tracked files to a temporary folder (no .venv), runs `scripts/serve --help` (which
creates .venv and installs Agora), then starts `agora serve` for real, uses the API with the demo
token from `credentials.json`, stops it with Ctrl-C and runs `agora ledger verify` on what it
wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _copy_tracked(destination: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def _use_the_api(port: int, data: Path) -> None:
    """What the README's curl lines do: the demo token works and the account is funded."""
    credentials = data / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    token = json.loads(credentials.read_text())["demo"]["token"]
    status, health = _get(f"http://127.0.0.1:{port}/healthz")
    assert (status, health["status"]) == (200, "ok")
    status, account = _get(f"http://127.0.0.1:{port}/api/v1/account", token)
    assert (status, account["account_id"], account["cash"]) == (200, "acc_demo", "100000.00")


def _run_until_ready_then_interrupt(
    server: subprocess.Popen[str], port: int, data: Path
) -> tuple[str, str]:
    """Wait for the prompt, use the API, press Ctrl-C, and return what the server printed."""
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    seen = ""
    while "Press Ctrl-C" not in seen:
        assert time.monotonic() < deadline, seen
        assert server.poll() is None, seen
        seen += server.stdout.readline()
    _use_the_api(port, data)
    server.send_signal(signal.SIGINT)
    out, err = server.communicate(timeout=60)
    return seen + out, err


@pytest.mark.slow
def test_readme_commands_work_from_a_fresh_virtualenv(tmp_path: Path) -> None:
    checkout = tmp_path / "agora"
    _copy_tracked(checkout)
    env = _clean_env()
    helped = subprocess.run(
        ["scripts/serve", "--help"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "--data-dir" in helped.stdout
    agora = checkout / ".venv" / "bin" / "agora"
    top = subprocess.run([agora, "--help"], capture_output=True, text=True, check=True)
    assert "serve" in top.stdout
    assert "ledger" in top.stdout

    data = tmp_path / "data"
    port = _free_port()
    server = subprocess.Popen(
        [agora, "serve", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:  # a failure here must not leak the process or its pipes into later tests
        out, err = _run_until_ready_then_interrupt(server, port, data)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    assert server.returncode == 0, err
    assert "Stopped cleanly" in out

    verified = subprocess.run(
        [agora, "ledger", "verify", "--data-dir", str(data)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ledger verifies" in verified.stdout
    missing = subprocess.run(
        [agora, "ledger", "verify", "--data-dir", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "no Agora database" in missing.stdout
