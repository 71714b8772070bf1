"""The FastAPI application: routers, error handlers and the rate-limit header middleware."""

from __future__ import annotations

from fastapi import FastAPI

from agora import __version__
from agora.web.context import WebContext
from agora.web.dashboard import mount_dashboard
from agora.web.errors import install_error_handlers
from agora.web.middleware import RateLimitHeaders
from agora.web.observe import Observe
from agora.web.routes import account, admin, market, orders, streams, system


def create_app(context: WebContext) -> FastAPI:
    """Build the API around an already-running platform's services."""
    app = FastAPI(
        title="Agora",
        version=__version__,
        description="Brokerage and algorithmic trading platform: the v1 REST API and SSE streams.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (orders, account, market, streams, admin, system):
        app.include_router(module.router)
    mount_dashboard(app)
    app.add_middleware(RateLimitHeaders, users=context.users, limiter=context.limiter)
    app.add_middleware(Observe, metrics=context.metrics)
    return app
