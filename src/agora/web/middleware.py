"""ASGI middleware for rate limits: refuse over-limit callers early, add the headers to answers.

A caller over its limit is answered 429 here, before routing, body parsing or the error
handlers run, so a client hammering the API costs little more than a token lookup (the users
seen before are cached). Callers not yet cached, and every other request, go on to the auth
dependency, which counts the request once (it finds the decision made here) and refuses there.
"""

from __future__ import annotations

import time

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora.web.auth import Users
from agora.web.deps import RATE_STATE, rate_headers
from agora.web.ratelimit import RateDecision, SlidingWindowLimiter

_encode = msgspec.json.Encoder().encode


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class RateLimitHeaders:
    """Refuse known callers over their limit; copy each rate decision into the headers."""

    def __init__(self, app: ASGIApp, users: Users, limiter: SlidingWindowLimiter) -> None:
        self.app = app
        self.users = users
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 429 early when the cached caller is over its limit; decorate the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        user = None if token is None else self.users.cached(token)
        if user is not None:
            decision = self.limiter.check(user.user_id, time.monotonic())
            scope.setdefault("state", {})[RATE_STATE] = decision
            if not decision.allowed:
                await _too_many(decision, send)
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


async def _too_many(decision: RateDecision, send: Send) -> None:
    body = _encode(
        {"code": "rate_limited", "message": f"more than {decision.limit} requests per second"}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(decision.retry_after_seconds).encode()),
        *((k.lower().encode(), v.encode()) for k, v in rate_headers(decision).items()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
