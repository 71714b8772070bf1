"""Always-there endpoints: health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse, Response

from agora.web.deps import Context, json_payload
from agora.web.routes.responses import HEALTH

router = APIRouter(tags=["system"])


@router.get("/healthz", responses={200: {"content": {"application/json": {"schema": HEALTH}}}})
async def healthz(context: Context) -> Response:
    """Liveness: the process answers and its order service runs."""
    return json_payload(200, {"status": "ok", "trading_state": context.controls.trading_state})


SUBSCRIBERS = ("positions", "execution")


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(context: Context) -> Response:
    """Prometheus text: request and ack latency, risk and fill latency, SSE, lanes, lag."""
    measured = context.metrics
    measured.sse_order_connections.set(context.order_stream.subscribers())
    measured.sse_price_subscriptions.set(context.price_stream.subscribers())
    for lane in context.orders.lanes:
        measured.lane_queue_depth.labels(str(lane.index)).set(lane.queue_depth)
    head = context.order_stream.position  # the order stream follows the outbox's end closely
    for name in SUBSCRIBERS:
        behind = head - await context.store.checkpoint(name)
        measured.consumer_lag.labels(name).set(max(behind, 0))
    measured.platform_halted.set(int(context.controls.trading_state == "halted"))
    return Response(measured.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
