"""The HQ (helloHQ) API v1 sandbox: ``create_app(data_dir)`` returns the ASGI app to serve.

See docs/sandbox/hq.md for auth, the admin endpoints, the switches and the known deviations.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp

from sandboxes.common.harness import Harness, VendorAnswer, VendorHooks
from sandboxes.common.store import Store
from sandboxes.hq import admin, oauth, routes_core, routes_documents, routes_projects, routes_time
from sandboxes.hq.api import Api
from sandboxes.hq.data import HQState
from sandboxes.hq.errors import STATUS_CODES, HQError, error_body

RATE_LIMIT_PER_MINUTE = 1000  # HQ documents 1000 requests/minute (v2); enforced only when switched on
RATE_LIMIT_ENV = "HQ_SANDBOX_RATE_LIMIT"  # per token and minute at start-up ("hq" = HQ's 1000; unset/"off": none)


def rate_limit_from_env() -> int | None:
    """The per-token limit the sandbox starts with: ``$HQ_SANDBOX_RATE_LIMIT`` (a number, or ``hq``
    for HQ's documented 1000/min); unset, empty or ``off``: no limit (``PUT /_sandbox/rate-limit``
    switches it at run time)."""
    raw = os.environ.get(RATE_LIMIT_ENV, "").strip().lower()
    if raw in ("", "off", "0", "none"):
        return None
    if raw == "hq":
        return RATE_LIMIT_PER_MINUTE
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{RATE_LIMIT_ENV} must be a number of requests per minute, 'hq' or 'off'; got {raw!r}"
        ) from None
    if value < 1:
        raise ValueError(f"{RATE_LIMIT_ENV} must be at least 1; got {value}")
    return value


def too_many_requests(retry_after: float) -> VendorAnswer:
    """HQ's 429 answer. The headers are undocumented: ``Retry-After`` (seconds) is our guess."""
    seconds = max(1, int(round(retry_after)))
    return (
        429,
        {"Retry-After": str(seconds)},
        error_body(
            "TooManyRequests",
            f"Rate limit exceeded ({RATE_LIMIT_PER_MINUTE} requests per minute). Retry in {seconds} seconds.",
        ),
    )


def server_error(status: int) -> VendorAnswer:
    """HQ's answer to an injected 500/503 (shape as every other error)."""
    message = "An error has occurred." if status == 500 else "The service is temporarily unavailable."
    return status, {}, error_body(STATUS_CODES.get(status, "Error"), message)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HQError)
    async def hq_error(request: Request, exc: HQError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'/'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse(error_body("BadRequest", f"The request is invalid: {problems}"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"No HTTP resource was found that matches the request URI '{request.url.path}'."
        elif exc.status_code == 405:
            message = f"The requested resource does not support http method '{request.method}'."
        else:
            message = str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # RFC 9110: every method the resource supports (all its routes)
            headers["Allow"] = _allowed_methods(request)
        return JSONResponse(
            error_body(STATUS_CODES.get(exc.status_code, "Error"), message),
            status_code=exc.status_code,
            headers=headers or None,
        )


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def create_app(data_dir: Path) -> ASGIApp:
    """Returns the HQ sandbox (vendor routes under ``/v1``, admin routes under ``/_sandbox``)."""
    data_dir = Path(data_dir)
    store = Store(data_dir / "hq.sqlite3")
    state = HQState(store)
    app = FastAPI(
        title="HQ (helloHQ) API v1 sandbox",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.hq = state
    _install_error_handlers(app)

    api = Api(state)
    vendor = APIRouter()
    for module in (routes_core, routes_projects, routes_time, routes_documents):
        module.register(vendor, api)
    oauth.register(vendor, state.oauth)  # /Account/Authorize and /Token
    app.include_router(vendor)

    admin_router = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])
    admin.register(admin_router, state)
    app.include_router(admin_router)

    hooks = VendorHooks(
        name="hq",
        too_many_requests=too_many_requests,
        server_error=server_error,
        reset=state.reset,
    )
    return Harness(hooks, rate_limit_per_minute=rate_limit_from_env()).install(app)
