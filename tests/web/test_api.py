"""The REST contract of API.md: auth, exact numbers, errors, idempotency, rate limits, admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agora.core.clock import ManualClock
from agora.orders.commands import ApplyReport
from agora.orders.model import Report, ReportKind
from tests.web.conftest import Api, make_api

LIMIT_BUY = {"symbol": "AAPL", "side": "buy", "qty": "10", "type": "limit", "limit_price": "199.50"}


async def place(api: Api, body: dict[str, Any], **headers: str) -> Any:
    return await api.client.post("/api/v1/orders", json=body, headers={**api.trader, **headers})


async def test_requests_without_a_valid_token_are_refused(api: Api) -> None:
    missing = await api.client.get("/api/v1/account")
    wrong = await api.client.get("/api/v1/account", headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_order_is_accepted_with_decimal_strings_and_read_back(api: Api) -> None:
    response = await place(api, LIMIT_BUY)
    assert response.status_code == 202
    order = response.json()
    assert order["status"] == "pending_new"
    assert (order["qty"], order["limit_price"], order["filled_qty"]) == ("10", "199.5000", "0")
    assert order["account_id"] == api.trader_account

    found = await api.client.get(f"/api/v1/orders/{order['order_id']}", headers=api.trader)
    assert found.json() == order
    listed = await api.client.get("/api/v1/orders?status=open", headers=api.trader)
    assert [o["order_id"] for o in listed.json()] == [order["order_id"]]


async def test_json_numbers_are_read_exactly_from_their_text(api: Api) -> None:
    body = {**LIMIT_BUY, "qty": 3, "limit_price": 199.99}
    order = (await place(api, body)).json()
    assert (order["qty"], order["limit_price"]) == ("3", "199.9900")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"limit_price": "199.505"}, "invalid_price"),  # off the tick grid: never rounded
        ({"qty": "NaN"}, "invalid_amount"),
        ({"qty": "-5"}, "invalid_qty"),
        ({"qty": "abc"}, "invalid_request"),
        ({"side": "hold"}, "invalid_request"),
        ({"symbol": "NOPE"}, "unknown_symbol"),
        ({"colour": "red"}, "invalid_request"),
    ],
)
async def test_bad_order_input_is_a_422_with_a_code(
    api: Api, change: dict[str, Any], code: str
) -> None:
    response = await place(api, {**LIMIT_BUY, **change})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


async def test_a_huge_json_number_is_refused_not_made_infinite(api: Api) -> None:
    raw = b'{"symbol": "AAPL", "side": "buy", "qty": 1, "type": "limit", "limit_price": 1e400}'
    response = await api.client.post(
        "/api/v1/orders", content=raw, headers={**api.trader, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_amount"


async def test_a_body_that_is_not_json_is_a_422(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/orders",
        content=b"{not json",
        headers={**api.trader, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_json"


async def test_a_risk_denial_names_its_rule(api: Api) -> None:
    response = await place(api, {**LIMIT_BUY, "qty": "5000"})
    assert response.status_code == 422
    body = response.json()
    assert body["rule"] == "max_qty"
    assert body["code"]


async def test_another_traders_order_is_not_found(api: Api) -> None:
    order = (await place(api, LIMIT_BUY)).json()
    for method in ("GET", "DELETE"):
        response = await api.client.request(
            method, f"/api/v1/orders/{order['order_id']}", headers=api.other
        )
        assert response.status_code == 404
        assert response.json()["code"] == "order_not_found"


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    api: Api,
) -> None:
    first = await place(api, LIMIT_BUY, **{"Idempotency-Key": "k-1"})
    again = await place(api, LIMIT_BUY, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await place(api, {**LIMIT_BUY, "qty": "11"}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    listed = await api.client.get("/api/v1/orders?status=all", headers=api.trader)
    assert len(listed.json()) == 1


async def test_a_replayed_denial_is_the_same_denial(api: Api) -> None:
    body = {**LIMIT_BUY, "qty": "5000"}
    first = await place(api, body, **{"Idempotency-Key": "deny"})
    again = await place(api, body, **{"Idempotency-Key": "deny"})
    assert first.status_code == again.status_code == 422
    assert first.json() == again.json()


async def test_cancel_answers_pending_cancel_then_final_orders_are_not_cancelable(
    api: Api,
) -> None:
    order = (await place(api, LIMIT_BUY)).json()
    path = f"/api/v1/orders/{order['order_id']}"
    canceled = await api.client.delete(path, headers=api.trader)
    assert canceled.status_code == 202
    assert canceled.json()["status"] == "pending_cancel"
    again = await api.client.delete(path, headers=api.trader)
    assert (again.status_code, again.json()["status"]) == (202, "pending_cancel")
    venue_says = Report(
        kind=ReportKind.CANCELED, order_id=order["order_id"], timestamp=api.platform.clock.now()
    )
    await api.platform.orders.execute(ApplyReport(account_id=api.trader_account, report=venue_says))
    final = await api.client.delete(path, headers=api.trader)
    assert final.status_code == 422
    assert final.json()["code"] == "not_cancelable"


async def test_rate_limits_answer_429_with_headers() -> None:
    api, platform = await make_api(rate_limit=3)
    try:
        answers = [await api.client.get("/api/v1/account", headers=api.trader) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["X-RateLimit-Limit"] == "3"
        assert int(answers[3].headers["Retry-After"]) >= 1
        assert answers[3].json()["code"] == "rate_limited"
        other = await api.client.get("/api/v1/account", headers=api.other)
        assert other.status_code == 200  # limits are per user
    finally:
        await api.client.aclose()
        await platform.close()


async def test_the_account_shows_cash_held_and_buying_power(api: Api) -> None:
    await place(api, LIMIT_BUY)
    account = (await api.client.get("/api/v1/account", headers=api.trader)).json()
    assert account["cash"] == "100000.00"
    assert account["cash_held"] == "1995.00"
    assert account["buying_power"] == "98005.00"
    assert account["equity"] == "100000.00"
    assert account["trading_state"] == "active"


async def test_deposits_and_withdrawals(api: Api) -> None:
    deposit = await api.client.post(
        "/api/v1/account/deposits", json={"amount": "250.25"}, headers=api.trader
    )
    assert deposit.status_code == 201
    assert deposit.json()["cash"] == "100250.25"
    too_much = await api.client.post(
        "/api/v1/account/withdrawals", json={"amount": "1000000"}, headers=api.trader
    )
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "insufficient_funds"
    zero = await api.client.post(
        "/api/v1/account/withdrawals", json={"amount": "0"}, headers=api.trader
    )
    assert zero.status_code == 422


async def test_admin_endpoints_refuse_traders(api: Api) -> None:
    response = await api.client.get("/api/v1/admin/ledger/verify", headers=api.trader)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_an_admin_creates_a_trader_whose_token_works(api: Api) -> None:
    made = await api.client.post(
        "/api/v1/admin/users", json={"name": "carol", "role": "trader"}, headers=api.admin
    )
    assert made.status_code == 201
    token, account_id = made.json()["token"], made.json()["account_id"]
    funded = await api.client.post(
        f"/api/v1/admin/accounts/{account_id}/deposits", json={"amount": 500}, headers=api.admin
    )
    assert funded.status_code == 201
    account = await api.client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert account.json()["cash"] == "500.00"


async def test_limits_are_set_per_account_and_enforced(api: Api) -> None:
    response = await api.client.put(
        f"/api/v1/admin/accounts/{api.trader_account}/limits",
        json={"max_order_qty": 5, "restricted_symbols": ["MSFT"]},
        headers=api.admin,
    )
    assert response.status_code == 200
    assert response.json()["max_order_qty"] == 5
    denied = await place(api, LIMIT_BUY)
    assert denied.json()["rule"] == "max_qty"
    bad = await api.client.put(
        f"/api/v1/admin/accounts/{api.trader_account}/limits",
        json={"max_order_qty": -1},
        headers=api.admin,
    )
    assert bad.status_code == 422


async def test_halting_the_platform_cancels_open_orders_and_refuses_new_ones(api: Api) -> None:
    order = (await place(api, LIMIT_BUY)).json()
    halted = await api.client.post(
        "/api/v1/admin/trading-state", json={"state": "halted"}, headers=api.admin
    )
    assert halted.status_code == 200
    assert halted.json()["canceled"] == 1
    found = await api.client.get(f"/api/v1/orders/{order['order_id']}", headers=api.trader)
    assert found.json()["status"] == "pending_cancel"
    refused = await place(api, {**LIMIT_BUY, "limit_price": "199.00"})
    assert refused.status_code == 422
    assert refused.json()["rule"] == "trading_state"


async def test_ledger_verify_passes(api: Api) -> None:
    await place(api, LIMIT_BUY)
    report = (await api.client.get("/api/v1/admin/ledger/verify", headers=api.admin)).json()
    assert report["ok"] is True
    assert all(check["ok"] for check in report["checks"])


async def test_the_openapi_document_lists_every_endpoint(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = set(spec["paths"])
    for path in (
        "/api/v1/account",
        "/api/v1/account/deposits",
        "/api/v1/account/withdrawals",
        "/api/v1/instruments",
        "/api/v1/quotes/{symbol}",
        "/api/v1/candles/{symbol}",
        "/api/v1/clock",
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/orders/by-client-id/{client_order_id}",
        "/api/v1/positions",
        "/api/v1/positions/{symbol}",
        "/api/v1/fills",
        "/api/v1/stream/prices",
        "/api/v1/stream/orders",
        "/api/v1/admin/users",
        "/api/v1/admin/accounts/{account_id}/deposits",
        "/api/v1/admin/accounts/{account_id}/limits",
        "/api/v1/admin/trading-state",
        "/api/v1/admin/ledger/verify",
        "/healthz",
        "/metrics",
    ):
        assert path in paths, path
    qty = spec["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert "qty" in qty["schema"]["properties"]


async def test_unknown_paths_answer_json_404(api: Api) -> None:
    response = await api.client.get("/api/v1/nothing", headers=api.trader)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_metrics_and_request_ids(api: Api) -> None:
    placed = await place(api, LIMIT_BUY, **{"X-Request-ID": "trace-me"})
    assert placed.headers["X-Request-ID"] == "trace-me"
    other = await api.client.get("/api/v1/account", headers=api.trader)
    assert len(other.headers["X-Request-ID"]) == 32  # a fresh id when none was sent
    text = (await api.client.get("/metrics")).text
    assert 'agora_order_ack_seconds_count{status="202"} 1.0' in text
    assert (
        'agora_http_request_seconds_count{method="GET",route="/api/v1/account",status="200"}'
        in text
    )
    assert "agora_risk_check_seconds_count 1.0" in text  # the one order went through the rules
    assert "agora_sse_order_connections 0.0" in text
    assert 'agora_lane_queue_depth{lane="0"} 0.0' in text
    assert 'agora_consumer_lag_events{subscriber="positions"}' in text


async def test_a_stale_price_denies_orders_until_prices_resume(api: Api) -> None:
    clock = api.platform.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=2))  # past the 1 h bound these tests configure
    denied = await place(api, LIMIT_BUY)
    assert denied.status_code == 422
    assert denied.json()["rule"] == "price_freshness"
    api.context.prices.update("AAPL", 2_000_000, clock.now())  # the feed resumes
    accepted = await place(api, LIMIT_BUY)
    assert accepted.status_code == 202
