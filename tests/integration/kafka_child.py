"""Child process of the Kafka fault test: a consumer that kills itself before its offset commit.

Run as ``python -m tests.integration.kafka_child MODE DSN BUS_URL`` (``kafka://…?…``).
It consumes with the ``victim`` recorder and SIGKILLs itself at the first chunk it applies:

- ``after-commit``: right after the effect's transaction committed (the offset never is);
- ``in-effect``: inside the effect, before its transaction commits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from agora.bus.kafka import KafkaBus
from agora.bus.kafka_config import KafkaSettings
from agora.bus.ports import CheckpointStore, Effect, ProjectionTx
from agora.storage.postgres import PostgresStore
from tests.contract.bus_contract import Recorder


def die() -> None:
    """Die as kill -9 kills: no cleanup, no goodbye to the broker or the database."""
    os.kill(os.getpid(), signal.SIGKILL)


class DyingCheckpoints:
    """The store, but the process dies at the first apply (where depends on the mode)."""

    def __init__(self, inner: PostgresStore, mode: str) -> None:
        self._inner = inner
        self._mode = mode

    async def checkpoint(self, subscriber: str) -> int:
        """Read the real checkpoint."""
        return await self._inner.checkpoint(subscriber)

    async def apply(self, subscriber: str, seq: int, effect: Effect) -> bool:
        """Apply, dying after the commit or inside the effect."""
        if self._mode == "in-effect":

            def dying(tx: ProjectionTx) -> None:
                effect(tx)
                print("dying inside the effect", flush=True)
                die()

            return await self._inner.apply(subscriber, seq, dying)
        applied = await self._inner.apply(subscriber, seq, effect)
        print(f"committed {subscriber} at {seq}; dying before the offset commit", flush=True)
        die()
        return applied


async def main(mode: str, dsn: str, settings: KafkaSettings) -> None:
    store = await PostgresStore.open(dsn)
    checkpoints: CheckpointStore = DyingCheckpoints(store, mode)
    bus = KafkaBus(checkpoints, [Recorder("victim")], settings)
    bus.start()
    print("consuming", flush=True)
    await asyncio.sleep(120)  # the first chunk kills the process long before this
    sys.exit("never applied anything")


if __name__ == "__main__":
    mode, dsn, bus_url = sys.argv[1:4]
    asyncio.run(main(mode, dsn, KafkaSettings.from_url(bus_url)))
