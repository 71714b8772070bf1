"""Errors as the API shows them: ``{"code", "message"}`` (plus ``rule``), never a bare 500.

Agora's error tree maps to statuses here, once. Anything unexpected is logged with its traceback
and answered 500 ``internal_error`` without details; bad input of any kind is a 4xx.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Route

from agora.core.errors import (
    AgoraError,
    ConflictError,
    NotFoundError,
    RiskDeniedError,
    StorageError,
    ValidationError,
)
from agora.orders.model import IllegalTransitionError

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "message": {"type": "string"},
        "rule": {"type": "string", "description": "The risk rule that denied an order."},
    },
    "additionalProperties": False,
}
"""The JSON schema of every error body, for the OpenAPI document."""


class ApiError(AgoraError):
    """An error with its own HTTP status and headers (auth, rate limits, bad requests)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
        self.headers = headers or {}


def error_response(status_code: int, code: str, message: str, **extra: str | None) -> Response:
    """A JSON error body with its status."""
    body: dict[str, str | None] = {"code": code, "message": message, **extra}
    return Response(_encode(body), status_code=status_code, media_type="application/json")


def status_of(error: AgoraError) -> int:
    """The HTTP status for one of Agora's errors."""
    if isinstance(error, ApiError):
        return error.status_code
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, StorageError):
        return 503
    if isinstance(error, ConflictError) and error.code in ("idempotency_key_reused", "conflict"):
        return 409
    if isinstance(error, ValidationError | RiskDeniedError | ConflictError):
        return 422
    if isinstance(error, IllegalTransitionError):
        return 422
    if error.code in UNAVAILABLE_CODES:
        return 503
    return 400


UNAVAILABLE_CODES = frozenset(
    {"broker_unavailable", "calendar_out_of_range", "feed_unavailable", "service_unavailable"}
)
"""Errors that say a part of the platform cannot serve now: 503, never the caller's fault."""


async def _agora_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, AgoraError)
    extra = {"rule": error.rule} if isinstance(error, RiskDeniedError) else {}
    response = error_response(status_of(error), error.code, error.message, **extra)
    if isinstance(error, ApiError):
        response.headers.update(error.headers)
    return response


async def _request_invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', 'invalid')}"
        for item in error.errors()
    )
    return error_response(422, "invalid_request", problems or "the request is not valid")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    code = codes.get(error.status_code, "http_error")
    response = error_response(error.status_code, code, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    if error.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(500, "internal_error", "an unexpected error occurred; it was logged")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the API's error shape."""
    app.add_exception_handler(AgoraError, _agora_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
