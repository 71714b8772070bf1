"""Request dependencies: the shared context, the caller (bearer token) and its rate limit."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

import msgspec
from fastapi import Depends, Request
from starlette.responses import Response

from agora.web.auth import Role, User
from agora.web.context import WebContext
from agora.web.errors import ApiError
from agora.web.ratelimit import RateDecision

RATE_STATE = "agora_rate"


def get_context(request: Request) -> WebContext:
    """The process's web context."""
    context: WebContext = request.app.state.context
    return context


Context = Annotated[WebContext, Depends(get_context)]


async def current_user(request: Request, context: Context) -> User:
    """Authenticate the bearer token and count the request against the user's rate limit."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "send Authorization: Bearer <token>",
            code="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = await context.users.by_token(token.strip())
    if user is None:
        raise ApiError(
            401, "unknown token", code="unauthorized", headers={"WWW-Authenticate": "Bearer"}
        )
    state = request.scope.setdefault("state", {})
    decision = state.get(RATE_STATE)  # counted already by the middleware for cached users
    if not isinstance(decision, RateDecision):
        decision = state[RATE_STATE] = context.limiter.check(user.user_id, time.monotonic())
    if not decision.allowed:
        raise ApiError(
            429,
            f"more than {decision.limit} requests per second",
            code="rate_limited",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
    return user


Caller = Annotated[User, Depends(current_user)]


async def admin_user(user: Caller) -> User:
    """Refuse callers that are not admins (403)."""
    if user.role is not Role.ADMIN:
        raise ApiError(403, "this endpoint is for admins", code="forbidden")
    return user


Admin = Annotated[User, Depends(admin_user)]


def account_of(user: User) -> str:
    """The caller's own account, or 403 for a user without one."""
    if user.account_id is None:
        raise ApiError(403, "this user has no trading account", code="no_account")
    return user.account_id


def rate_headers(decision: RateDecision) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers for a decision."""
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_seconds),
    }


def derived_id(prefix: str, user: User, key: str) -> str:
    """A stable command id from an Idempotency-Key (so a retry after a crash is still one)."""
    digest = hashlib.sha256(f"{user.user_id}|{key}".encode()).hexdigest()[:32]
    return f"{prefix}{digest}"


def json_payload(status_code: int, payload: object) -> Response:
    """A JSON response of ``payload`` (msgspec-encodable)."""
    return json_response(status_code, msgspec.json.encode(payload))


def json_response(status_code: int, body: bytes, replayed: bool = False) -> Response:
    """A JSON response from already-encoded bytes."""
    response = Response(body, status_code=status_code, media_type="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
