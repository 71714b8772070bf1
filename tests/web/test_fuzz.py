"""Schemathesis over the API's own OpenAPI document, in process, with every check.

The platform is the in-memory one of ``conftest.make_api`` with a few orders and a fill seeded,
built inside schemathesis's ASGI event loop by the app's lifespan (the order lanes are tasks of
that loop, so every request must reach it there). The trader's token drives the trader
endpoints, the admin's the admin endpoints. Generated ids, symbols and accounts are mixed with
real ones (schemathesis dictionaries), so both the found and the not-found answers are checked.

The SSE streams (``/api/v1/stream/*``) never end, so they are left out here; they are tested
against a real uvicorn elsewhere.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from starlette.types import ASGIApp, Receive, Scope, Send

from agora.bootstrap import Platform
from agora.orders.commands import ApplyReport
from agora.orders.model import Report, ReportKind
from agora.web.app import create_app
from agora.web.routes.responses import IDEMPOTENCY_KEY
from tests.web.conftest import Api, make_api

EXAMPLES_PER_OPERATION = 20
STREAMS = "^/api/v1/stream/"
ADMIN = "^/api/v1/admin/"
TRADER_TOKEN = "agora_fuzz-trader"  # fixed, so the config can name them before any startup
ADMIN_TOKEN = "agora_fuzz-admin"
RESTING_CLIENT_ID = "fuzz-resting"
KEY_PATTERN = re.compile(IDEMPOTENCY_KEY["parameters"][0]["schema"]["pattern"])
# Stand-ins the generator mixes into ids; each test swaps them for the running platform's ids.
RESTING, FILLED, ACCOUNT = "seeded-resting-order", "seeded-filled-order", "seeded-account"


async def seed(api: Api, platform: Platform) -> dict[str, str]:
    """Fixed tokens, a resting limit order and a filled market order; the seeded ids by stand-in."""
    for headers, token in ((api.trader, TRADER_TOKEN), (api.admin, ADMIN_TOKEN)):
        user = await api.context.users.by_token(headers["Authorization"].removeprefix("Bearer "))
        assert user is not None
        await api.context.users.add(user, token)
    resting = await api.client.post(
        "/api/v1/orders",
        json={
            "symbol": "AAPL",
            "side": "buy",
            "qty": "10",
            "type": "limit",
            "limit_price": "199.50",
            "time_in_force": "gtc",
            "client_order_id": RESTING_CLIENT_ID,
        },
        headers=api.trader,
    )
    filled = await api.client.post(
        "/api/v1/orders", json={"symbol": "MSFT", "side": "buy", "qty": "5"}, headers=api.trader
    )
    resting_id, filled_id = resting.json()["order_id"], filled.json()["order_id"]
    now = platform.clock.now()
    fill = Report(
        kind=ReportKind.FILL,
        order_id=filled_id,
        timestamp=now,
        fill_id="fill-1",
        qty=5,
        price=4_000_000,
        fee_cents=1,
    )
    for report in (
        Report(kind=ReportKind.ACCEPTED, order_id=resting_id, timestamp=now),
        Report(kind=ReportKind.ACCEPTED, order_id=filled_id, timestamp=now),
        fill,
    ):
        await platform.orders.execute(ApplyReport(account_id=api.trader_account, report=report))
    return {RESTING: resting_id, FILLED: filled_id, ACCOUNT: api.trader_account}


class PlatformApp:
    """The API on a fresh, seeded in-memory platform, built and closed by the ASGI lifespan.

    schemathesis's pytest plugin ends ASGI lifespans after each test, so every operation is
    fuzzed against a platform of its own.
    """

    def __init__(self) -> None:
        self._started: tuple[Api, Platform, ASGIApp, dict[str, str]] | None = None
        self._keys = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self._started is not None, "the lifespan has not started"
        await self._started[2](scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                api, platform = await make_api(rate_limit=1_000_000)
                seeded = await seed(api, platform)
                self._started = (api, platform, create_app(api.context), seeded)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                assert self._started is not None
                api, platform, _, _ = self._started
                self._started = None
                try:  # whatever the fuzzing did, the ledger's invariants must still hold
                    verified = await api.client.get(
                        "/api/v1/admin/ledger/verify", headers=api.admin
                    )
                finally:
                    await api.client.aclose()
                    await platform.close()
                await send({"type": "lifespan.shutdown.complete"})
                # Raised after the platform closed: it fails the test that owned this lifespan.
                assert verified.json()["ok"] is True, verified.text
                return

    def call_and_validate(self, case: schemathesis.Case) -> None:
        """Start the platform if need be, put its ids in the case, send it and run every check."""
        with asgi.get_client(self):  # starts the lifespan unless this test already has
            assert self._started is not None
            seeded = self._started[3]
            for name, value in case.path_parameters.items():
                case.path_parameters[name] = seeded.get(value, value)
            if isinstance(case.body, dict) and isinstance(case.body.get("account_id"), str):
                case.body["account_id"] = seeded.get(
                    case.body["account_id"], case.body["account_id"]
                )
            key = case.headers.get("Idempotency-Key") if case.headers else None
            if isinstance(key, str) and KEY_PATTERN.fullmatch(key) and len(key) < 180:
                # Hypothesis draws few distinct keys, and a reused key answers 409 before the body
                # is read; a valid key is made unique so the body behind it is fuzzed too.
                case.headers["Idempotency-Key"] = f"{key}-{next(self._keys)}"
            case.call_and_validate()


def config(token: str) -> SchemathesisConfig:
    """Bounded, seeded generation as the caller with ``token``; real ids mixed into generated."""
    real = {
        "orders": (RESTING, FILLED),
        "client_ids": (RESTING_CLIENT_ID,),
        "symbols": ("AAPL", "MSFT"),
        "accounts": (ACCOUNT,),
    }
    uses = {
        "path.order_id": "orders",
        "path.client_order_id": "client_ids",
        "path.symbol": "symbols",
        "query.symbol": "symbols",
        "body.symbol": "symbols",
        "path.account_id": "accounts",
        "body.account_id": "accounts",
    }
    return SchemathesisConfig.from_dict(
        {
            "seed": 20_261_101,  # the same cases on every run
            "auth": {"openapi": {"HTTPBearer": {"bearer": token}}},
            "generation": {"max-examples": EXAMPLES_PER_OPERATION},
            "phases": {"stateful": {"enabled": False}},
            "dictionaries": {name: {"values": list(values)} for name, values in real.items()},
            "parameters": {
                key: {"dictionary": name, "probability": 0.5} for key, name in uses.items()
            },
            "checks": {
                "enabled": True,  # every check schemathesis has
                # A schema cannot say which symbols are listed or what risk allows: a well-formed
                # order may still be refused with a documented 422, an answer, not a rejection.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
                },
            },
        }
    )


APP = PlatformApp()
# The document comes from the running app (its lifespan starts with the first request and ends
# with the first test). It is loaded here rather than through schemathesis's lazy
# ``from_fixture``, which does not run on pytest 9.2.
with asgi.get_client(APP) as _client:
    _document: dict[str, Any] = _client.get("/openapi.json").json()


def schema_as(token: str) -> Any:
    """The document to fuzz as the holder of ``token``, sent to the app in process."""
    loaded = schemathesis.openapi.from_dict(_document, config=config(token))
    loaded.app = APP  # requests go through schemathesis's ASGI transport
    return loaded


trader = schema_as(TRADER_TOKEN).exclude(path_regex=STREAMS).exclude(path_regex=ADMIN)
admin = schema_as(ADMIN_TOKEN).include(path_regex=ADMIN)


@trader.parametrize()
def test_trader_endpoints(case: schemathesis.Case) -> None:
    APP.call_and_validate(case)


@admin.parametrize()
def test_admin_endpoints(case: schemathesis.Case) -> None:
    APP.call_and_validate(case)
