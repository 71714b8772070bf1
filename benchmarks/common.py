"""The benchmark scripts' shared helpers, from the installed package (``agora.bench.common``)."""

from __future__ import annotations

from agora.bench.common import cpu_model, machine, peak_rss_mib, percentiles

__all__ = ["cpu_model", "machine", "peak_rss_mib", "percentiles"]
