"""Time the paper venue's matching: adds, cancels and quotes that cause matches, in process.

Usage: python benchmarks/bench_matching.py [--ops N] [--symbols N] [--seed N] [--json]
Target (design PERFORMANCE.md, scenario `matching`): ≥ 500k ops/s, p99 ≤ 10 µs per op.
Throughput is a closed loop (peak, one thread, no per-op timers); latency is a second identical
run with perf_counter_ns around every op. Both runs are checked for correctness at the end.
Only the book's calls are timed: slicing the ops and freeing the reports happen outside the
timers. The closed loop's thread CPU time is reported too: on a shared machine the wall clock
also counts the time other processes held the core.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from datetime import UTC, datetime
from typing import Any

from common import machine, peak_rss_mib, percentiles

from agora.execution.venues.reports import Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated import SimulatedBook

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
TICK = 100  # $0.01 in PRICE_SCALE units
ADD, CANCEL, QUOTE = 0, 1, 2
Op = tuple[int, Any]


class Generator:
    """Make a seeded op mix: mostly resting limits near the touch, cancels and moving quotes."""

    def __init__(self, symbols: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.symbols = [f"SYM{i}" for i in range(symbols)]
        self.bids = dict.fromkeys(self.symbols, 1_000_000)
        self.recent: list[str] = []
        self.count = 0

    def ops(self, total: int) -> list[Op]:
        """Return ``total`` ops: 65% adds, 20% cancels, 15% quotes (one quote per symbol first)."""
        out: list[Op] = [(QUOTE, self.quote(symbol)) for symbol in self.symbols]
        while len(out) < total:
            roll = self.rng.random()
            if roll < 0.65:
                out.append((ADD, self.order()))
            elif roll < 0.85 and self.recent:
                out.append((CANCEL, self.rng.choice(self.recent)))
            else:
                out.append((QUOTE, self.quote(self.rng.choice(self.symbols))))
        return out[:total]

    def quote(self, symbol: str) -> Quote:
        """Move ``symbol`` by up to two ticks and quote a one-tick spread."""
        rng = self.rng
        bid = self.bids[symbol] = self.bids[symbol] + rng.randint(-2, 2) * TICK
        ask = bid + TICK
        bid_size, ask_size = rng.randint(100, 1_000), rng.randint(100, 1_000)
        last = rng.choice((bid, ask))
        return Quote(
            symbol=symbol, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, last=last,
            timestamp=NOW,
        )  # fmt: skip

    def order(self) -> VenueOrder:
        """Return a limit near the touch: 90% resting (0-8 ticks away), 10% marketable."""
        rng = self.rng
        self.count += 1
        order_id = f"o{self.count}"
        symbol = rng.choice(self.symbols)
        side = "buy" if rng.random() < 0.5 else "sell"
        bid = self.bids[symbol]
        away = rng.randint(0, 8) * TICK if rng.random() < 0.9 else -TICK
        limit = bid - away if side == "buy" else bid + TICK + away
        tif = rng.choice(("day", "day", "gtc", "ioc")) if away < 0 else rng.choice(("day", "gtc"))
        self.recent.append(order_id)
        if len(self.recent) > 2_000:
            self.recent = self.recent[-1_000:]
        return VenueOrder(
            order_id=order_id, symbol=symbol, side=side, order_type="limit", time_in_force=tif,
            qty=rng.randint(1, 30) * 10, limit_price=limit,
        )  # fmt: skip


class Verifier:
    """Check reports as they come: no overfill, every fill within its limit, fill ids unique."""

    def __init__(self, ops: list[Op]) -> None:
        self.orders = {payload.order_id: payload for kind, payload in ops if kind == ADD}
        self.filled = dict.fromkeys(self.orders, 0)
        self.fill_ids: set[str] = set()
        self.failures: list[str] = []
        self.counts: dict[str, int] = {}

    def feed(self, reports: list[VenueReport]) -> None:
        """Check one batch of reports."""
        for report in reports:
            self.counts[report.kind] = self.counts.get(report.kind, 0) + 1
            if report.kind == "fill":
                self.check_fill(report)

    def check_fill(self, fill: VenueReport) -> None:
        """Check one fill against its order and every fill before it."""
        placed = self.orders[fill.order_id]
        self.filled[placed.order_id] += fill.qty
        limit = placed.limit_price
        assert limit is not None
        if not (fill.price <= limit if placed.side == "buy" else fill.price >= limit):
            self.failures.append(f"{placed.order_id} filled at {fill.price} beyond {limit}")
        if self.filled[placed.order_id] > placed.qty:
            self.failures.append(f"{placed.order_id} overfilled")
        if fill.fill_id in self.fill_ids:
            self.failures.append(f"duplicate fill id {fill.fill_id}")
        self.fill_ids.add(str(fill.fill_id))


def run_closed_loop(ops: list[Op], verifier: Verifier, chunk: int = 10_000) -> tuple[float, float]:
    """Run all ops on a fresh book, checked chunk by chunk; return wall and CPU seconds."""
    book, elapsed, cpu = SimulatedBook(), 0.0, 0.0
    submit, cancel, on_quote = book.submit, book.cancel, book.on_quote
    for first in range(0, len(ops), chunk):
        reports: list[VenueReport] = []
        extend, batch = reports.extend, ops[first : first + chunk]  # copying ops is not matching
        start, start_cpu = time.perf_counter(), time.thread_time()
        for kind, payload in batch:
            if kind == ADD:
                extend(submit(payload, NOW))
            elif kind == CANCEL:
                extend(cancel(payload, NOW))
            else:
                extend(on_quote(payload, NOW))
        elapsed += time.perf_counter() - start
        cpu += time.thread_time() - start_cpu
        verifier.feed(reports)
    return elapsed, cpu


def run_timed(ops: list[Op], samples: list[int], sizes: list[int], verifier: Verifier) -> None:
    """Time every op on a fresh book into ``samples`` (ns) and count its reports into ``sizes``."""
    book, clock, feed = SimulatedBook(), time.perf_counter_ns, verifier.feed
    submit, cancel, on_quote = book.submit, book.cancel, book.on_quote
    for i, (kind, payload) in enumerate(ops):
        start = clock()
        if kind == ADD:
            out = submit(payload, NOW)
        elif kind == CANCEL:
            out = cancel(payload, NOW)
        else:
            out = on_quote(payload, NOW)
        samples[i] = clock() - start
        sizes[i] = len(out)
        feed(out)
        del out  # free the reports here, not inside the next op's timing (the closed loop agrees)


def latency_by_kind(ops: list[Op], samples: list[int]) -> dict[str, dict[str, float]]:
    """Return latency percentiles per op kind."""
    names = {ADD: "add", CANCEL: "cancel", QUOTE: "quote"}
    split: dict[str, list[int]] = {name: [] for name in names.values()}
    for (kind, _), sample in zip(ops, samples, strict=True):
        split[names[kind]].append(sample)
    return {name: {k: round(v, 2) for k, v in percentiles(s).items()} for name, s in split.items()}


def main() -> int:
    """Run the benchmark, print the report and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    ops = Generator(args.symbols, args.seed).ops(args.ops)
    samples, sizes = [0] * len(ops), [0] * len(ops)
    closed_loop, timed = Verifier(ops), Verifier(ops)
    gc.collect()
    gc.freeze()  # the harness's ops and samples live all run; keep them out of every collection
    seconds, cpu_seconds = run_closed_loop(ops, closed_loop)
    run_timed(ops, samples, sizes, timed)
    failures = closed_loop.failures + timed.failures
    if closed_loop.counts != timed.counts:
        failures.append("the timed run reported differently from the closed loop")
    counts, stats = closed_loop.counts, percentiles(samples)
    report = {
        "scenario": "matching",
        "machine": machine(),
        "ops": args.ops,
        "symbols": args.symbols,
        "seed": args.seed,
        "mix": {"add": sum(k == ADD for k, _ in ops), "cancel": sum(k == CANCEL for k, _ in ops)}
        | {"quote": sum(k == QUOTE for k, _ in ops)},
        "reports": counts,
        "ops_per_s_closed_loop": round(args.ops / seconds),
        "ops_per_s_closed_loop_cpu_time": round(args.ops / cpu_seconds),
        "latency_us": {k: round(v, 2) for k, v in stats.items()},
        "latency_us_by_kind": latency_by_kind(ops, samples),
        "latency_us_per_report": percentiles(
            [sample // max(1, size) for sample, size in zip(samples, sizes, strict=True)]
        ),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "targets": {"ops_per_s": 500_000, "p99_us": 10},
        "correct": not failures,
    }
    print(json.dumps(report) if args.json else human(report, failures[:10]))
    return 0 if not failures else 1


def human(report: dict[str, Any], failures: list[str]) -> str:
    """Return the report as a few readable lines."""
    stats, rate = report["latency_us"], report["ops_per_s_closed_loop"]
    return "\n".join(
        [
            f"machine: {report['machine']}",
            f"ops: {report['ops']}  symbols: {report['symbols']}  seed: {report['seed']}",
            f"mix: {report['mix']}",
            f"reports: {report['reports']}",
            f"throughput (closed loop): {rate:,} ops/s  target ≥ 500k: "
            + ("met" if rate >= 500_000 else "MISSED"),
            f"  on thread CPU time: {report['ops_per_s_closed_loop_cpu_time']:,} ops/s",
            "latency µs per op: " + "  ".join(f"{k} {v:.2f}" for k, v in stats.items()),
            *(
                f"  {kind}: " + "  ".join(f"{k} {v:.2f}" for k, v in kind_stats.items())
                for kind, kind_stats in report["latency_us_by_kind"].items()
            ),
            "latency µs per report (op time / reports it produced): "
            + "  ".join(f"{k} {v:.2f}" for k, v in report["latency_us_per_report"].items()),
            f"p99 target ≤ 10 µs: {'met' if stats['p99'] <= 10 else 'MISSED'}",
            f"peak RSS: {report['peak_rss_mib']} MiB",
            "correctness: " + ("ok" if not failures else "; ".join(failures)),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
