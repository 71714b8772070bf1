"""ASGI middleware that adds the caller's ``X-RateLimit-*`` headers to every response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora.web.deps import RATE_STATE, rate_headers
from agora.web.ratelimit import RateDecision


class RateLimitHeaders:
    """Copy the rate decision the auth dependency made into the response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; decorate the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get(RATE_STATE)
                if isinstance(decision, RateDecision):
                    headers = list(message.get("headers", []))
                    for name, value in rate_headers(decision).items():
                        headers.append((name.lower().encode(), value.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
