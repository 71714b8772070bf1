"""Logs and metrics: JSON log lines carrying the request's correlation id, Prometheus metrics.

Nothing here runs at import: ``configure_logging`` is called by ``agora serve``; ``Metrics`` is
built by the composition root and owns its registry (no global state, so tests can build many).
The correlation id lives in a context variable: set by the HTTP middleware (from ``X-Request-ID``
or a fresh id), copied into each command's events, and bound again by the execution engine when it
works an order, so one id follows an order from the request through the lane to the venue and back.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar

import structlog
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from agora.risk import RiskEngine
from agora.risk.types import Denial, OrderIntent, RiskContext

correlation_id: ContextVar[str | None] = ContextVar("agora_correlation_id", default=None)

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_MICRO = (0.000_002, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_5, 0.001)
_FILL = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0)


class Metrics:
    """Every metric ``GET /metrics`` shows, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http_seconds = Histogram(
            "agora_http_request_seconds",
            "HTTP request time, by method, route template and status.",
            ["method", "route", "status"],
            buckets=_FAST,
            registry=registry,
        )
        self.order_ack_seconds = Histogram(
            "agora_order_ack_seconds",
            "POST /api/v1/orders until its answer (202 after the durable commit, or a denial).",
            ["status"],
            buckets=_FAST,
            registry=registry,
        )
        self.risk_check_seconds = Histogram(
            "agora_risk_check_seconds",
            "Time to run the pre-trade rules for one order.",
            buckets=_MICRO,
            registry=registry,
        )
        self.fill_seconds = Histogram(
            "agora_fill_latency_seconds",
            "From an order's creation to each of its fills.",
            buckets=_FILL,
            registry=registry,
        )
        self.sse_order_connections = Gauge(
            "agora_sse_order_connections", "Open order-stream connections.", registry=registry
        )
        self.sse_price_subscriptions = Gauge(
            "agora_sse_price_subscriptions",
            "Price-stream (connection, symbol) subscriptions.",
            registry=registry,
        )
        self.lane_queue_depth = Gauge(
            "agora_lane_queue_depth",
            "Commands waiting in each account lane.",
            ["lane"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "agora_consumer_lag_events",
            "Committed outbox events a subscriber has not applied yet.",
            ["subscriber"],
            registry=registry,
        )
        self.platform_halted = Gauge(
            "agora_platform_halted",
            "1 while the platform trading state is halted.",
            registry=registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class TimedRiskEngine(RiskEngine):
    """The risk engine, timing each check into ``agora_risk_check_seconds``."""

    def __init__(self, inner: RiskEngine, metrics: Metrics) -> None:
        super().__init__(inner.rules)
        self._inner = inner
        self._observe = metrics.risk_check_seconds.observe

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Denial | None:
        """Run the rules and record how long they took."""
        started = time.perf_counter()
        try:
            return self._inner.check(intent, ctx)
        finally:
            self._observe(time.perf_counter() - started)


def _add_correlation_id(
    logger: object, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    current = correlation_id.get()
    if current is not None and "correlation_id" not in event:
        event["correlation_id"] = current
    return event


def configure_logging(level: int = logging.INFO) -> None:
    """Send every log line (structlog and the standard library's) to stderr as JSON."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        _add_correlation_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
