"""Process-wide tuning the entry points (``agora serve``, workers, benchmarks) apply once."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (100_000, 50, 100)
"""Young-generation collections every 100k allocations instead of 700.

A lane allocates a handful of tracked objects per order (the order, its event payload, records),
most of them garbage within one group commit. At the default threshold the collector ran
hundreds of times a second over them; measured in ``benchmarks/bench_lanes.py --rate 10000`` the
default cost about 10% of throughput and tripled latency (docs/benchmarks.md).
"""


def tune_gc() -> None:
    """Raise the collector's thresholds and freeze what start-up built (never collected again)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
