"""The crash harness: SIGKILL a loaded ``agora serve`` again and again, then check from outside.

Many traders (made through the admin API) send orders (market and limit, some large enough to
fill in parts), cancels, replaces, deposits and withdrawals at a steady pace. At a seeded random
moment the server gets SIGKILL; it is restarted on the same data folder, the requests whose
answer was lost are settled (``Workload.reconcile``), and the load starts again. Now and then the
restarted server is killed again while it is still recovering. After the last kill the checks of
``checks.settle_and_check`` run through the API; then the server is stopped cleanly and
``agora ledger verify``, ``agora audit verify`` and ``agora replay`` must all exit 0.

Short form (CI): ``AGORA_CHAOS_KILLS`` defaults to 3. Long form, one command::

    AGORA_CHAOS_KILLS=50 scripts/battery

Replay a failure with the seed it prints: ``AGORA_CHAOS_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from tests.chaos.checks import Problem, settle_and_check
from tests.chaos.harness import (
    STRICT,
    ChaosServer,
    Stopwatch,
    chaos_seed,
    env_int,
    seed_on_failure,
    verify_offline,
)
from tests.chaos.workload import Workload
from tests.live.conftest import client_session

KILLS = env_int("AGORA_CHAOS_KILLS", 3)
CLIENTS = env_int("AGORA_CHAOS_CLIENTS", 12)
RATE_PER_CLIENT = float(os.environ.get("AGORA_CHAOS_RATE", "8"))  # requests per second
LOAD_SECONDS = (1.5, 6.0)  # how long the load runs before each kill
RECOVERY_KILL_CHANCE = 0.3  # also kill the next start while it recovers
RECOVERY_KILL_SECONDS = (0.05, 2.0)
# Orders left open after cancel-all that a known bug explains (docs/reliability.md, "Bugs").
# Remove an entry when its bug is fixed; tests/reliability/test_known_bugs.py tells you when.
KNOWN_BUGS = {
    "pending_cancel": "B2: a cancel marked sent before a crash is never sent again",
    "pending_replace": "B2: a replace marked sent before a crash is never sent again "
    "(the old order stays pending_replace; the replacement is resubmitted on its own)",
    "partially_filled": "B1: venue fill ids repeat after a restart; the later fill is dropped",
}


async def crash_run(folder: Path, seed: int, kills: int) -> tuple[list[Problem], dict[str, object]]:
    """Run the whole harness; return the broken promises it found and its figures."""
    rng = random.Random(seed)
    feed_seed = ("--seed", str(1 + seed % 10_000))
    server = ChaosServer(folder / "data", folder)
    workload = Workload(seed, CLIENTS, RATE_PER_CLIENT)
    clock = Stopwatch()
    recovery_kills = 0
    try:
        server.start(*feed_seed)
        async with client_session(server, connections=2 * CLIENTS) as http:
            await workload.make_traders(http, server)
        for round_number in range(kills):
            await _load_then_kill(server, workload, rng)
            if round_number and rng.random() < RECOVERY_KILL_CHANCE:
                server.launch(*feed_seed)
                await asyncio.sleep(rng.uniform(*RECOVERY_KILL_SECONDS))
                server.kill()
                recovery_kills += 1
            server.start(*feed_seed)
            async with client_session(server, connections=2 * CLIENTS) as http:
                await workload.reconcile(http)
        async with client_session(server, connections=2 * CLIENTS) as http:
            problems, figures = await settle_and_check(http, server, workload)
        code = server.stop()
        assert code == 0, f"agora serve did not stop cleanly ({code})\n{server.logs()}"
        for name, result in (await verify_offline(server.data_dir)).items():
            if result.code != 0:
                text = f"agora {name} exited {result.code}:\n{result.output[-3000:]}"
                problems.append(Problem("offline", None, text))
    except BaseException:
        print(server.logs())
        raise
    finally:
        server.kill()
    answers = workload.answers
    return problems, {
        "seed": seed,
        "kills_under_load": kills,
        "kills_during_recovery": recovery_kills,
        "requests": answers.total_ops(),
        "acknowledged": answers.acked_ops(),
        "lost_answers": sum(n for k, n in answers.counts.items() if k.endswith(":unknown")),
        "acknowledged_orders": len(answers.orders),
        "unacknowledged_but_stored": len(answers.found_unacked),
        "acknowledged_cancels": len(answers.cancels),
        "acknowledged_replaces": len(answers.replaces),
        "acknowledged_transfers": sum(t.outcome == "acked" for t in answers.transfers),
        "counts": dict(sorted(answers.counts.items())),
        "seconds": round(clock.seconds, 1),
        "problems": dict(Counter(f"{p.kind}:{p.status or ''}" for p in problems)),
        **figures,
    }


async def _load_then_kill(server: ChaosServer, workload: Workload, rng: random.Random) -> None:
    """Run the load for a seeded while, then SIGKILL the server under it."""
    async with client_session(server, connections=2 * CLIENTS) as http:
        load = asyncio.create_task(workload.run(http))
        await asyncio.sleep(rng.uniform(*LOAD_SECONDS))
        if load.done():  # a client failed on its own: show why
            await load
            raise AssertionError("the load stopped before the kill")
        server.kill()
        async with asyncio.timeout(60):
            await load


def unexplained(problems: list[Problem]) -> list[Problem]:
    """The problems no known bug explains (all of them under AGORA_CHAOS_STRICT=1)."""
    if STRICT:
        return problems
    known = [p for p in problems if p.kind in ("stuck", "replace") and p.status in KNOWN_BUGS]
    stuck = {p.account for p in known}
    return [
        p
        for p in problems
        if p not in known and not (p.kind == "held" and p.account in stuck)  # its hold
    ]


@pytest.mark.slow
@pytest.mark.timeout(240 + KILLS * 40)
async def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = chaos_seed()
    with seed_on_failure(seed):
        problems, figures = await crash_run(tmp_path, seed, KILLS)
        print("CHAOS-SUMMARY", json.dumps(figures))
        assert figures["acknowledged_orders"], "the load placed nothing"
        assert figures["fills"], "nothing filled"
        left = unexplained(problems)
        assert not left, f"{len(left)} broken promises:\n" + "\n".join(
            f"[{p.kind}] {p.account or ''} {p.text}" for p in left[:40]
        )
    if problems:
        bugs = sorted({KNOWN_BUGS[str(p.status)] for p in problems if p.status in KNOWN_BUGS})
        pytest.xfail(f"only known bugs ({'; '.join(bugs)}): {figures['problems']}, seed {seed}")
