"""Market endpoints: instruments, quotes, candles and the market clock."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from agora.core.errors import NotFoundError
from agora.core.money import PRICE_SCALE, format_units
from agora.web.deps import Caller, Context, json_payload
from agora.web.routes.responses import (
    BEARER,
    CANDLE,
    CLOCK,
    INSTRUMENT,
    QUOTE,
    answers,
    array,
)

router = APIRouter(prefix="/api/v1", tags=["market"], dependencies=[BEARER])


@router.get("/instruments", responses=answers(200, array(INSTRUMENT), 401, 429, 503))
async def instruments(user: Caller, context: Context) -> Response:
    """Every listed instrument with its tick and lot size."""
    listed = context.instruments.all()
    return json_payload(
        200,
        [
            {
                "symbol": i.symbol,
                "name": i.name,
                "tick_size": format_units(i.tick_size, PRICE_SCALE),
                "lot_size": format_units(i.lot_size, i.qty_scale),
                "tradable": True,
            }
            for i in listed
        ],
    )


@router.get("/quotes/{symbol}", responses=answers(200, QUOTE, 401, 404, 422, 429, 503))
async def quote(symbol: str, user: Caller, context: Context) -> Response:
    """The last quote of a listed symbol; 404 when it has none yet."""
    listed = context.instruments.get(symbol).symbol
    found = context.market.quote(listed)
    if found is None:
        raise NotFoundError(f"no quote for {listed} yet", code="quote_not_found")
    return json_payload(200, found)


@router.get("/candles/{symbol}", responses=answers(200, array(CANDLE), 401, 422, 429, 503))
async def candles(
    symbol: str,
    user: Caller,
    context: Context,
    interval: Literal["1m", "5m", "1h"] = "1m",
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5_000)] = 500,
) -> Response:
    """OHLCV candles of a symbol, oldest first; empty intervals are absent."""
    listed = context.instruments.get(symbol).symbol
    return json_payload(200, await context.market.candles(listed, interval, start, end, limit))


@router.get("/clock", responses=answers(200, CLOCK, 401, 429, 503))
async def clock(user: Caller, context: Context) -> Response:
    """Whether the market is open, and its next open and close."""
    return json_payload(200, context.market.clock())
