"""What every benchmark script reports: the machine, latency percentiles, peak memory."""

from __future__ import annotations

import os
import platform
import resource
import sys


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    """Cores, CPU model and Python version."""
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "python": sys.version.split()[0]}


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """Return p50/p95/p99/max in µs (nearest rank)."""
    ordered = sorted(samples_ns)
    last = len(ordered) - 1
    pick = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
    result = {name: ordered[min(last, int(q * len(ordered)))] / 1_000 for name, q in pick.items()}
    result["max"] = ordered[last] / 1_000
    return result


def peak_rss_mib() -> float:
    """Peak resident memory of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
