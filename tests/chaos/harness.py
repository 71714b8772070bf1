"""What every chaos test shares: the seed, a server that can be killed while it starts, the CLI.

The seed comes from ``AGORA_CHAOS_SEED`` (or is drawn at random) and is attached to any failure
(``replay with AGORA_CHAOS_SEED=…``). A seed fixes what the harness does: the operations each
client picks, their amounts, and when each SIGKILL lands; the server's own timing (how far its
lanes got when the signal arrived) is the part no seed can fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.live.conftest import AgoraServer, agora_command, server_environment

SEED_VARIABLE = "AGORA_CHAOS_SEED"
STRICT = os.environ.get("AGORA_CHAOS_STRICT") == "1"
"""Fail on known bugs too, instead of reporting them as expected failures."""
CLI_SECONDS = 120.0


def chaos_seed() -> int:
    """The seed to replay (``AGORA_CHAOS_SEED``), or a fresh random one."""
    given = os.environ.get(SEED_VARIABLE)
    return int(given) if given else random.randrange(1 << 31)


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment."""
    given = os.environ.get(name)
    return int(given) if given else default


@contextlib.contextmanager
def seed_on_failure(seed: int) -> Iterator[None]:
    """Attach the replay command to any failure raised inside."""
    try:
        yield
    except Exception as error:
        error.add_note(f"chaos seed {seed}: replay with {SEED_VARIABLE}={seed}")
        raise


class ChaosServer(AgoraServer):
    """An ``agora serve`` that can also be launched without waiting (to kill it mid-recovery)."""

    def launch(self, *extra: str) -> None:
        """Start the process and return at once: it may still be recovering."""
        self._launch(*extra)

    def wait_healthy(self) -> None:
        """Wait until ``/healthz`` answers."""
        self._wait_until_healthy()


@dataclass(frozen=True, slots=True)
class CliResult:
    """What one ``agora …`` command printed and how it exited."""

    code: int
    output: str


async def run_cli(*arguments: str) -> CliResult:
    """Run ``agora ARGUMENTS`` with this interpreter; kill it if it outlives CLI_SECONDS."""
    process = await asyncio.create_subprocess_exec(
        *agora_command(*arguments),
        env={**server_environment(), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(CLI_SECONDS):
            printed = (await process.communicate())[0].decode(errors="replace")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return CliResult(process.returncode, printed)


async def verify_offline(data_dir: Path) -> dict[str, CliResult]:
    """Run every offline verifier on a stopped server's data folder."""
    folder = str(data_dir)
    return {
        "ledger verify": await run_cli("ledger", "verify", "--data-dir", folder),
        "audit verify": await run_cli("audit", "verify", "--data-dir", folder),
        "replay": await run_cli("replay", "--data-dir", folder),
    }


class Stopwatch:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        """Seconds elapsed."""
        return time.monotonic() - self.started
