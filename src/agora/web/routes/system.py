"""Always-there endpoints: health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse, Response

from agora.web.deps import Context, json_payload

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(context: Context) -> Response:
    """Liveness: the process answers and its order service runs."""
    return json_payload(200, {"status": "ok", "trading_state": context.controls.trading_state})


@router.get("/metrics")
async def metrics(context: Context) -> PlainTextResponse:
    """Prometheus text: stream subscribers, lanes and queue depths."""
    lines = [
        "# HELP agora_sse_order_connections Open order-stream connections.",
        "# TYPE agora_sse_order_connections gauge",
        f"agora_sse_order_connections {context.order_stream.subscribers()}",
        "# HELP agora_sse_price_subscriptions Price-stream (connection, symbol) subscriptions.",
        "# TYPE agora_sse_price_subscriptions gauge",
        f"agora_sse_price_subscriptions {context.price_stream.subscribers()}",
        "# HELP agora_lanes Order lanes in this process.",
        "# TYPE agora_lanes gauge",
        f"agora_lanes {len(context.orders.lanes)}",
        "# HELP agora_platform_halted 1 when the platform trading state is halted.",
        "# TYPE agora_platform_halted gauge",
        f"agora_platform_halted {int(context.controls.trading_state == 'halted')}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
