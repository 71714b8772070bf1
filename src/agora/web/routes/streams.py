"""SSE endpoints: live prices by symbol, and the caller's own order and fill events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from agora.core.errors import ValidationError
from agora.web.deps import Caller, Context, account_of
from agora.web.routes.responses import BEARER, TEXT, answers
from agora.web.streams import sse_body

router = APIRouter(prefix="/api/v1/stream", tags=["streams"], dependencies=[BEARER])

MAX_SYMBOLS = 100
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get(
    "/prices",
    response_class=StreamingResponse,
    responses=answers(200, TEXT, 401, 422, 429, 503, media_type="text/event-stream"),
)
async def price_stream(user: Caller, context: Context, symbols: str = "") -> StreamingResponse:
    """``event: price`` for each update of the given symbols, after a snapshot of each."""
    wanted = sorted({s.strip() for s in symbols.split(",") if s.strip()})
    if not wanted:
        wanted = [i.symbol for i in context.instruments.all()]
    if len(wanted) > MAX_SYMBOLS:
        raise ValidationError(f"at most {MAX_SYMBOLS} symbols", code="too_many_symbols")
    listed = [context.instruments.get(symbol).symbol for symbol in wanted]
    connection, first = context.price_stream.attach(listed)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in sse_body(connection, first, context.settings.heartbeat_seconds):
                yield chunk
        finally:
            context.price_stream.detach(listed, connection)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get(
    "/orders",
    response_class=StreamingResponse,
    responses=answers(200, TEXT, 401, 403, 422, 429, 503, media_type="text/event-stream"),
)
async def order_stream(request: Request, user: Caller, context: Context) -> StreamingResponse:
    """``event: order`` for the caller's order and fill events; ``Last-Event-ID`` resumes."""
    account_id = account_of(user)
    last_event_id = _last_event_id(request.headers.get("last-event-id"))
    connection, missed = await context.order_stream.attach(account_id, last_event_id)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in sse_body(connection, missed, context.settings.heartbeat_seconds):
                yield chunk
        finally:
            context.order_stream.detach(account_id, connection)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


def _last_event_id(header: str | None) -> int | None:
    if header is None or not header.strip():
        return None
    if not header.strip().isdigit() or len(header) > 19:
        raise ValidationError(
            "Last-Event-ID must be an event id from this stream", code="invalid_last_event_id"
        )
    return int(header)
