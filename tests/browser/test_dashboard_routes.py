"""The dashboard's routes in process: the page, its assets, and when the demo token is given out.

No browser here: these pin the safety rules of ``GET /api/v1/demo-token`` (only offered on a
loopback listener, only to a loopback client asking a loopback host name, same-origin) and the
page's Content-Security-Policy.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from agora.web.dashboard import is_loopback, mount_dashboard, offer_demo_token
from agora.web.errors import install_error_handlers

TOKEN = "agora_demo-token-for-tests"
LOCAL_HOST = {"Host": "127.0.0.1:8000"}


def client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


def dashboard_app(offer_on: str | None = "127.0.0.1") -> FastAPI:
    """The dashboard routes alone, with the demo token offered as ``agora serve`` would."""
    app = FastAPI()
    install_error_handlers(app)
    mount_dashboard(app)
    if offer_on is not None:
        offer_demo_token(app, TOKEN, offer_on)
    return app


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("app.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_a_local_page_on_a_local_demo_gets_the_token() -> None:
    async with client(dashboard_app()) as http:
        answer = await http.get("/api/v1/demo-token", headers=LOCAL_HOST)
        assert answer.status_code == 200
        assert answer.json() == {"token": TOKEN, "role": "trader"}
        assert answer.headers["cache-control"] == "no-store"
        page = await http.get("/", headers={"Host": "localhost:8000"})
        assert '<meta name="agora-demo" content="on">' in page.text


@pytest.mark.parametrize(
    ("offer_on", "address", "headers"),
    [
        (None, "127.0.0.1", LOCAL_HOST),  # not offered at all (not the demo)
        ("0.0.0.0", "127.0.0.1", LOCAL_HOST),  # listening on every interface
        ("127.0.0.1", "10.1.2.3", LOCAL_HOST),  # a client on another machine
        ("127.0.0.1", "127.0.0.1", {"Host": "rebound.example:8000"}),  # DNS rebinding
        ("127.0.0.1", "127.0.0.1", {**LOCAL_HOST, "Sec-Fetch-Site": "cross-site"}),
        ("127.0.0.1", "127.0.0.1", {**LOCAL_HOST, "Sec-Fetch-Site": "same-site"}),
    ],
)
async def test_the_token_is_not_found_in_every_other_case(
    offer_on: str | None, address: str, headers: dict[str, str]
) -> None:
    async with client(dashboard_app(offer_on), address) as http:
        answer = await http.get("/api/v1/demo-token", headers=headers)
        assert answer.status_code == 404
        assert TOKEN not in answer.text
        page = await http.get("/", headers=headers)
        assert page.status_code == 200
        assert '<meta name="agora-demo" content="off">' in page.text


def test_offering_on_a_public_address_is_refused() -> None:
    app = FastAPI()
    assert offer_demo_token(app, TOKEN, "0.0.0.0") is False
    assert offer_demo_token(app, TOKEN, "localhost") is True


async def test_the_page_allows_only_its_own_scripts_and_styles() -> None:
    async with client(dashboard_app(None)) as http:
        page = await http.get("/")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/app.css", "text/css"),
        ("/static/js/app.js", "text/javascript"),
        (
            "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js",
            "text/javascript",
        ),
        ("/static/vendor/lightweight-charts/LICENSE.txt", "text/plain"),
        ("/static/vendor/lightweight-charts/NOTICE.txt", "text/plain"),
        ("/favicon.ico", "image/svg+xml"),
    ],
)
async def test_assets_are_served_by_agora(path: str, media_type: str) -> None:
    async with client(dashboard_app(None)) as http:
        answer = await http.get(path)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(media_type)


async def test_nothing_outside_the_static_folder_is_served() -> None:
    async with client(dashboard_app(None)) as http:
        for path in (
            "/static/../dashboard.py",
            "/static/%2e%2e/dashboard.py",
            "/static/missing.js",
        ):
            assert (await http.get(path)).status_code == 404
