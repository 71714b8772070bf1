"""Run a POST (or PATCH/DELETE) under its ``Idempotency-Key``, errors included in the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from fastapi import Request
from starlette.responses import Response

from agora.core.errors import AgoraError, RiskDeniedError
from agora.core.events import JsonValue
from agora.web.auth import User
from agora.web.context import WebContext
from agora.web.deps import json_response
from agora.web.errors import ApiError, status_of
from agora.web.idempotency import check_key, request_hash

_encode = msgspec.json.Encoder().encode

Work = Callable[[], Awaitable[tuple[int, JsonValue]]]


async def _answer(work: Work) -> tuple[int, bytes]:
    """Run ``work``; turn Agora's errors into their error bodies so they can be replayed."""
    try:
        status, payload = await work()
    except ApiError:
        raise
    except AgoraError as error:
        body: dict[str, str] = {"code": error.code, "message": error.message}
        if isinstance(error, RiskDeniedError):
            body["rule"] = error.rule
        return status_of(error), _encode(body)
    return status, _encode(payload)


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, checked, or None."""
    key = request.headers.get("idempotency-key")
    return None if key is None else check_key(key)


async def keyed(request: Request, user: User, context: WebContext, work: Work) -> Response:
    """Answer the request once per key: a retry with the same body gets the first answer."""
    key = idempotency_key(request)
    if key is None:
        status, body = await _answer(work)
        return json_response(status, body)
    fingerprint = request_hash(request.method, request.url.path, await request.body())
    status, body, replayed = await context.idempotency.run(
        user.user_id, key, fingerprint, lambda: _answer(work)
    )
    return json_response(status, body, replayed)
