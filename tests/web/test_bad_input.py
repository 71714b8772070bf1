"""Bad input, row by row: every body answers a 4xx with a snake_case code, and stores nothing.

Each row spoils one thing in a body an endpoint would accept (an amount, a type, the framing,
the media type or the encoding). Afterwards the trader's orders, the account and the account's
limits are as they were, and the ledger's invariants hold. Last, a storm of concurrent retries
under one Idempotency-Key still does the work once.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from tests.web.conftest import Api

CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
VAGUE_CODES = {"internal_error", "http_error", "agora_error", "invalid_input", "conflict"}
LIMIT_BUY = {"symbol": "AAPL", "side": "buy", "qty": "10", "type": "limit", "limit_price": "199.50"}
JSON = {"content-type": "application/json"}
AMOUNT_CODES = {
    "invalid_amount",
    "invalid_qty",
    "invalid_price",
    "invalid_limit",
    "invalid_request",
}


@dataclass(frozen=True)
class Endpoint:
    """A body-taking endpoint, a body it accepts, and the fields worth spoiling."""

    method: str
    path: str
    valid: dict[str, Any]
    amounts: tuple[str, ...]  # decimal fields: strings or JSON numbers
    required: tuple[str, ...]
    admin: bool = False


ENDPOINTS = {
    "place": Endpoint("POST", "/api/v1/orders", LIMIT_BUY, ("qty", "limit_price"), ("symbol",)),
    "deposit": Endpoint(
        "POST", "/api/v1/account/deposits", {"amount": "250.00"}, ("amount",), ("amount",)
    ),
    "withdraw": Endpoint(
        "POST", "/api/v1/account/withdrawals", {"amount": "250.00"}, ("amount",), ("amount",)
    ),
    "replace": Endpoint(
        "PATCH", "/api/v1/orders/{order_id}", {"qty": "12"}, ("qty", "limit_price"), ()
    ),
    "limits": Endpoint(
        "PUT",
        "/api/v1/admin/accounts/{account_id}/limits",
        {"max_order_qty": 500},
        ("max_order_notional",),
        (),
        admin=True,
    ),
}

# Raw JSON texts for a decimal field: none is an amount the API may take.
BAD_AMOUNTS = {
    "negative string": '"-5"',
    "negative number": "-5",
    "zero string": '"0"',
    "zero number": "0",
    "NaN": '"NaN"',
    "Infinity": '"Infinity"',
    "-Infinity": '"-Infinity"',
    "signalling NaN": '"sNaN"',
    "too many decimals": '"1.123456789"',
    "too many decimals as a number": "1.123456789",
    "1e30": "1e30",
    "1e30 as a string": '"1e30"',
    "20 nines": "99999999999999999999",
    "20 nines as a string": '"99999999999999999999"',
    "1e400": "1e400",
    "exponent in a string": '"1e2"',
    "spaces around": '" 12 "',
    "underscores": '"1_000"',
    "arabic-indic digits": '"\\u0661\\u0660"',
    "fullwidth digits": '"\\uff11\\uff10"',
    "plus sign": '"+5"',
    "no digits": '"."',
    "empty string": '""',
    "words": '"ten"',
    "true": "true",
    "list": '["10"]',
    "object": '{"value": "10"}',
}
# For the integer limits: none is a limit the API may take.
BAD_INTEGERS = {
    "negative": "-5",
    "zero": "0",
    "1e30": "1e30",
    "20 nines": "99999999999999999999",
    "fraction": "1.5",
    "string": '"500"',
    "true": "true",
    "list": "[500]",
}


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def with_field(valid: dict[str, Any], name: str, raw_value: str) -> bytes:
    """``valid`` as JSON, with ``name`` set to the raw JSON text ``raw_value``."""
    fields = [f"{_json(k)}: {_json(v)}" for k, v in valid.items() if k != name]
    return ("{" + ", ".join([*fields, f"{_json(name)}: {raw_value}"]) + "}").encode()


def structural_rows(endpoint: Endpoint) -> dict[str, tuple[bytes, dict[str, str], str]]:
    """Bodies spoiled as a whole: ``(body, headers, expected code)`` by row name."""
    valid = msgspec.json.encode(endpoint.valid)
    padding = {**endpoint.valid, "padding": "x" * 1_048_576}
    utf8_spoiled = with_field(endpoint.valid, endpoint.amounts[0], '"1@"').replace(b"@", b"\xe9")
    rows: dict[str, tuple[bytes, dict[str, str], str]] = {
        "empty body": (b"", JSON, "invalid_request"),
        "blank body": (b"  \n ", JSON, "invalid_request"),
        "not JSON": (b"amount=5&qty=10", JSON, "invalid_json"),
        "truncated JSON": (valid[:-1], JSON, "invalid_json"),
        "a bare Infinity": (
            with_field(endpoint.valid, endpoint.amounts[0], "Infinity"),
            JSON,
            "invalid_json",
        ),
        "a list": (b"[" + valid + b"]", JSON, "invalid_request"),
        "a string": (b'"hello"', JSON, "invalid_request"),
        "a number": (b"42", JSON, "invalid_request"),
        "null": (b"null", JSON, "invalid_request"),
        "an unknown field": (
            with_field(endpoint.valid, "colour", '"red"'),
            JSON,
            "invalid_request",
        ),
        "a 1 MB body": (msgspec.json.encode(padding), JSON, "body_too_large"),
        "invalid UTF-8 in a string": (utf8_spoiled, JSON, "invalid_json"),
        "invalid UTF-8 outside strings": (b"\xff\xfe" + valid, JSON, "invalid_json"),
        "a byte order mark": (b"\xef\xbb\xbf" + valid, JSON, "invalid_json"),
        "text/plain": (valid, {"content-type": "text/plain"}, "unsupported_media_type"),
        "a form": (
            b"amount=5",
            {"content-type": "application/x-www-form-urlencoded"},
            "unsupported_media_type",
        ),
        "multipart": (
            valid,
            {"content-type": "multipart/form-data; boundary=x"},
            "unsupported_media_type",
        ),
    }
    for name in endpoint.required:
        missing = {k: v for k, v in endpoint.valid.items() if k != name}
        rows[f"no {name}"] = (msgspec.json.encode(missing), JSON, "invalid_request")
        for kind, raw in (
            ("null", "null"),
            ("a list", "[]"),
            ("an object", "{}"),
            ("a bool", "true"),
        ):
            rows[f"{name} {kind}"] = (
                with_field(endpoint.valid, name, raw),
                JSON,
                "invalid_request",
            )
    return rows


def cases() -> list[Any]:
    """Every (endpoint, row) pair as a pytest param."""
    params = []
    for key, endpoint in ENDPOINTS.items():
        for row, (body, headers, code) in structural_rows(endpoint).items():
            params.append(pytest.param(key, body, headers, {code}, id=f"{key}: {row}"))
        for field in endpoint.amounts:
            for row, raw in BAD_AMOUNTS.items():
                body = with_field(endpoint.valid, field, raw)
                params.append(
                    pytest.param(key, body, JSON, AMOUNT_CODES, id=f"{key}: {field} {row}")
                )
        if endpoint.admin:
            for row, raw in BAD_INTEGERS.items():
                body = with_field(endpoint.valid, "max_order_qty", raw)
                params.append(
                    pytest.param(key, body, JSON, AMOUNT_CODES, id=f"{key}: max_order_qty {row}")
                )
    params.append(
        pytest.param(
            "place",
            with_field(LIMIT_BUY, "symbol", '"NOPE"'),
            JSON,
            {"unknown_symbol"},
            id="place: unknown symbol",
        )
    )
    params.append(
        pytest.param(
            "limits",
            with_field(ENDPOINTS["limits"].valid, "restricted_symbols", '["NOPE"]'),
            JSON,
            {"unknown_symbol"},
            id="limits: unknown restricted symbol",
        )
    )
    return params


async def path_of(api: Api, endpoint: Endpoint) -> str:
    """The endpoint's path; replacing needs an order to replace, so one is placed first."""
    order_id = ""
    if "{order_id}" in endpoint.path:
        order = await api.client.post("/api/v1/orders", json=LIMIT_BUY, headers=api.trader)
        assert order.status_code == 202, order.text
        order_id = order.json()["order_id"]
    return endpoint.path.format(order_id=order_id, account_id=api.trader_account)


async def snapshot(api: Api) -> tuple[Any, ...]:
    """The trader's orders (all statuses), account and risk limits."""
    orders = await api.client.get("/api/v1/orders?status=all", headers=api.trader)
    account = await api.client.get("/api/v1/account", headers=api.trader)
    state = api.context.orders.lane_for(api.trader_account).book.account(api.trader_account)
    return orders.json(), account.json(), state.record.limits


@pytest.mark.parametrize(("key", "body", "headers", "codes"), cases())
async def test_bad_input_is_a_4xx_with_a_code_and_stores_nothing(
    api: Api, key: str, body: bytes, headers: dict[str, str], codes: set[str]
) -> None:
    endpoint = ENDPOINTS[key]
    path = await path_of(api, endpoint)
    caller = api.admin if endpoint.admin else api.trader
    before = await snapshot(api)

    for extra in ({}, {"Idempotency-Key": f"bad-{key}"}):  # answered directly, and keyed
        response = await api.client.request(
            endpoint.method, path, content=body, headers={**caller, **headers, **extra}
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert CODE.fullmatch(error["code"]), error
        assert error["code"] not in VAGUE_CODES, error
        assert error["code"] in codes, error
        assert error["message"], error

    after = await snapshot(api)
    assert after == before
    placed_by_setup = 1 if "{order_id}" in endpoint.path else 0
    assert len(after[0]) == placed_by_setup
    verified = await api.client.get("/api/v1/admin/ledger/verify", headers=api.admin)
    assert verified.json()["ok"] is True, verified.text


RETRIES = 20


async def test_concurrent_retries_with_one_key_place_one_order_and_answer_alike(api: Api) -> None:
    headers = {**api.trader, "Idempotency-Key": "storm-order"}
    answers = await asyncio.gather(
        *(
            api.client.post("/api/v1/orders", json=LIMIT_BUY, headers=headers)
            for _ in range(RETRIES)
        )
    )
    assert {(a.status_code, a.content) for a in answers} == {(202, answers[0].content)}
    replayed = [a for a in answers if a.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == RETRIES - 1
    orders = (await api.client.get("/api/v1/orders?status=all", headers=api.trader)).json()
    assert [o["order_id"] for o in orders] == [answers[0].json()["order_id"]]


async def test_concurrent_retries_with_one_key_deposit_once_and_answer_alike(api: Api) -> None:
    headers = {**api.trader, "Idempotency-Key": "storm-deposit"}
    answers = await asyncio.gather(
        *(
            api.client.post("/api/v1/account/deposits", json={"amount": "250.00"}, headers=headers)
            for _ in range(RETRIES)
        )
    )
    assert {(a.status_code, a.content) for a in answers} == {(201, answers[0].content)}
    account = (await api.client.get("/api/v1/account", headers=api.trader)).json()
    assert account["cash"] == "100250.00"
    verified = await api.client.get("/api/v1/admin/ledger/verify", headers=api.admin)
    assert verified.json()["ok"] is True, verified.text
