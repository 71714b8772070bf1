"""The trading dashboard: ``GET /`` and its static assets, served by Agora itself (no CDN).

The page is plain HTML, CSS and JavaScript modules from ``agora/web/static`` (package data), with
the vendored lightweight-charts build. It talks to the public API with the bearer token the user
signs in with, and reads the SSE streams with ``fetch`` (so the token travels in the
``Authorization`` header, never in a URL).

``GET /api/v1/demo-token`` lets the page pre-fill the demo trader's token, and only when it is
safe: ``agora serve`` offered the token (``offer_demo_token``) while listening on a loopback
address, and the request itself comes from loopback to a loopback host name (so neither another
machine nor a DNS-rebinding page can read it). Everything else answers 404, as if it did not exist.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import msgspec
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

from agora.web.deps import Caller, json_payload
from agora.web.errors import ApiError

STATIC_DIR = Path(__file__).parent / "static"
DEMO_TOKEN_STATE = "agora_demo_token"
DEMO_META_OFF = '<meta name="agora-demo" content="off">'
DEMO_META_ON = '<meta name="agora-demo" content="on">'

PAGE_HEADERS = {
    # Every script, style, image and connection comes from Agora itself; nothing inline.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and its assets under ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, follow_symlink=False), name="static")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is on this machine only."""
    if not host:
        return False
    name = host.strip().lower().strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def offer_demo_token(app: FastAPI, token: str, listen_host: str) -> bool:
    """Let the page pre-fill ``token`` when the server listens on loopback; say if it does."""
    if not is_loopback(listen_host):
        return False
    setattr(app.state, DEMO_TOKEN_STATE, token)
    return True


@router.get("/")
async def dashboard(request: Request) -> Response:
    """The dashboard page (it is told whether to ask for the demo token, so it never gets 404)."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    if _demo_token_for(request) is not None:
        page = page.replace(DEMO_META_OFF, DEMO_META_ON, 1)
    return Response(page, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/api/v1/me")
async def me(user: Caller) -> Response:
    """Who the bearer token belongs to: the page picks the trader or the admin view from it."""
    return json_payload(
        200,
        {
            "user_id": user.user_id,
            "name": user.name,
            "role": user.role,
            "account_id": user.account_id,
        },
    )


@router.get("/favicon.ico")
async def favicon() -> Response:
    """The icon browsers ask for on their own."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@router.get("/api/v1/demo-token")
async def demo_token(request: Request) -> Response:
    """The demo trader's token for a local page on a local demo; 404 in every other case."""
    token = _demo_token_for(request)
    if token is None:
        raise ApiError(404, "not found", code="not_found")
    body = msgspec.json.encode({"token": token, "role": "trader"})
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _demo_token_for(request: Request) -> str | None:
    """The demo token when it was offered and the request is local and same-origin, else None."""
    token = getattr(request.app.state, DEMO_TOKEN_STATE, None)
    client = request.client.host if request.client is not None else None
    host = _host_name(request.headers.get("host", ""))
    fetch_site = request.headers.get("sec-fetch-site", "same-origin")
    if (
        not isinstance(token, str)
        or not is_loopback(client)
        or not is_loopback(host)
        or fetch_site not in ("same-origin", "none")
    ):
        return None
    return token


def _host_name(header: str) -> str:
    """The host name of a ``Host`` header (``[::1]:8000`` → ``::1``)."""
    header = header.strip()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    return header.rpartition(":")[0] if header.count(":") == 1 else header
