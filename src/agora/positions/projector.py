"""The position service: a read model per (account, symbol), fed by ``order.filled`` events.

Each fill is applied once: its platform-wide key (order id and venue fill id) is stored next to the
position in the same transaction, and a fill seen before changes nothing. The bus moves the
subscriber's checkpoint in that transaction too, so a redelivered chunk is skipped as a whole;
the fill keys guard against the same fill arriving in two different events.

Documents: ``positions/<account>|<symbol>`` holds the ``Position``;
``position_fills/<order>:<fill>`` holds the ``Fill``, so the positions can be rebuilt
(``replay``) and checked against the fills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from agora.bus.ports import DocumentSource, ProjectionTx
from agora.core.events import Event, EventType, JsonValue
from agora.core.instruments import InstrumentRegistry
from agora.core.money import CASH_SCALE, PRICE_SCALE, parse_units
from agora.positions.model import Fill, Position

POSITIONS = "positions"
FILLS = "position_fills"

_encode = msgspec.msgpack.Encoder().encode
_decode_position = msgspec.msgpack.Decoder(Position).decode
_decode_fill = msgspec.msgpack.Decoder(Fill).decode


def position_key(account_id: str, symbol: str) -> str:
    """The document key of one account's position in one symbol."""
    return f"{account_id}|{symbol}"


def fill_from_event(event: Event, instruments: InstrumentRegistry) -> Fill:
    """Read the fill an ``order.filled`` event carries, amounts back in minor units."""
    body = event.payload["fill"]
    assert isinstance(body, dict)
    assert event.account_id is not None
    symbol = _text(body, "symbol")
    qty_scale = instruments.get(symbol).qty_scale
    return Fill(
        fill_id=_text(body, "fill_id"),
        order_id=_text(body, "order_id"),
        account_id=event.account_id,
        symbol=symbol,
        side=_text(body, "side"),
        qty=parse_units(_text(body, "qty"), qty_scale, field="qty"),
        price=parse_units(_text(body, "price"), PRICE_SCALE, field="price"),
        fee_cents=parse_units(_text(body, "fee"), CASH_SCALE, field="fee"),
        qty_scale=qty_scale,
        timestamp=_text(body, "timestamp"),
    )


def _text(body: Mapping[str, JsonValue], field: str) -> str:
    value = body[field]
    assert isinstance(value, str), f"fill {field} must be text"
    return value


class PositionProjector:
    """Apply fills to positions inside the bus's checkpoint transaction."""

    name = "positions"

    def __init__(self, instruments: InstrumentRegistry) -> None:
        self._instruments = instruments

    def wants(self, event: Event) -> bool:
        """Take only fills."""
        return event.type == EventType.ORDER_FILLED

    def apply(self, event: Event, tx: ProjectionTx) -> None:
        """Apply the event's fill to its position, once."""
        fill = fill_from_event(event, self._instruments)
        if tx.get(FILLS, fill.key) is not None:
            return
        tx.put(FILLS, fill.key, _encode(fill))
        key = position_key(fill.account_id, fill.symbol)
        stored = tx.get(POSITIONS, key)
        current = (
            _decode_position(stored)
            if stored is not None
            else Position(account_id=fill.account_id, symbol=fill.symbol, qty_scale=fill.qty_scale)
        )
        tx.put(POSITIONS, key, _encode(current.apply(fill)))


async def account_positions(source: DocumentSource, account_id: str) -> list[Position]:
    """Return an account's positions (flat ones included: they carry realized P&L), by symbol."""
    documents = await source.documents(POSITIONS, position_key(account_id, ""))
    return [_decode_position(value) for _, value in documents]


async def all_positions(source: DocumentSource) -> list[Position]:
    """Return every stored position."""
    return [_decode_position(value) for _, value in await source.documents(POSITIONS, "")]


async def all_fills(source: DocumentSource) -> list[Fill]:
    """Return every fill the position service applied (in key order, not fill order)."""
    return [_decode_fill(value) for _, value in await source.documents(FILLS, "")]


def fills_from_events(events: Iterable[Event], instruments: InstrumentRegistry) -> list[Fill]:
    """Read the fills out of a stream of events, in order."""
    return [
        fill_from_event(event, instruments)
        for event in events
        if event.type == EventType.ORDER_FILLED
    ]
