"""ASGI middleware: a correlation id per request, request metrics and a JSON access log line."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora.observability import Metrics, correlation_id

log = logging.getLogger("agora.http")

REQUEST_ID = "x-request-id"
ORDERS_PATH = "/api/v1/orders"
STREAMS_PREFIX = "/api/v1/stream/"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID.encode():
            text = bytes(value).decode("latin-1")
            if 0 < len(text) <= 64 and text.isprintable():
                return text
    return uuid.uuid4().hex


class Observe:
    """Bind the request's correlation id, echo it back, time the request, log one line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request inside its correlation id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = correlation_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (REQUEST_ID.encode(), rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            correlation_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        if not path.startswith(STREAMS_PREFIX):  # a stream's time is its whole life
            self.metrics.http_seconds.labels(method, route, str(status)).observe(seconds)
        if method == "POST" and path == ORDERS_PATH:
            self.metrics.order_ack_seconds.labels(str(status)).observe(seconds)
        fields = {"method": method, "route": route, "status": status}
        log.info("http_request", extra={**fields, "duration_ms": round(seconds * 1000, 3)})
