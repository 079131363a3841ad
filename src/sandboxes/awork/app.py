"""The awork API v1 sandbox: ``create_app(data_dir)`` returns the ASGI app to serve.

Layers, outermost first: the common harness (request log, faults, per-token limit), ``AworkEdge``
(trace ids, ASP.NET-style case-insensitive routing, the ratelimit headers), then FastAPI with the
vendor routes under ``/api/v1`` and the admin routes under ``/_sandbox``.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandboxes.awork import admin, auth, webhooks
from sandboxes.awork.errors import (
    ERROR_LINK,
    RATE_LIMIT_BODY,
    AworkError,
    RateLimited,
    rate_limit_headers,
)
from sandboxes.awork.listing import json_response
from sandboxes.awork.routes import companies, projects, tasks, timeentries, typeofwork, users
from sandboxes.awork.state import AworkState
from sandboxes.common.harness import ADMIN_PREFIX, Harness, VendorAnswer, VendorHooks

API_PREFIX = "/api/v1"


class AworkEdge:
    """ASGI middleware for what awork's edge and ASP.NET do around every vendor request.

    - gives each request a trace id (``trace-id`` header, ``traceId`` in error bodies);
    - matches routes case-insensitively and ignores a trailing slash, like ASP.NET routing;
    - adds the ``ratelimit-*`` headers the auth dependency computed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        sandbox = scope.setdefault("sandbox", {})
        trace = uuid.uuid4().hex
        sandbox["trace_id"] = trace
        path = scope["path"]
        if path.lower().startswith(API_PREFIX):
            # A copy, so the harness logs the path as the client sent it; "sandbox" stays shared.
            scope = dict(scope)
            lowered = path.lower().rstrip("/") or "/"
            scope["path"] = lowered
            scope["raw_path"] = lowered.encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"trace-id", trace.encode()))
                for name, value in sandbox.get("awork_headers", {}).items():
                    headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _too_many_requests(state: AworkState, wait: float) -> VendorAnswer:
    """awork's 429 for the harness (injected faults, per-token limit): the edge's headers and body."""
    settings = state.settings_for(None)
    per_second, per_minute = settings["rate_limit_per_second"], settings["rate_limit_per_minute"]
    headers = rate_limit_headers(
        per_second=per_second,
        per_minute=per_minute or 1000,
        remaining_second=None if per_second is None else per_second,
        remaining_minute=0,
        reset_second=1,
        reset_minute=wait,
    )
    if settings["retry_after_header"]:
        headers["retry-after"] = str(max(1, math.ceil(wait)))
    return 429, headers, RATE_LIMIT_BODY


def _server_error(status: int) -> VendorAnswer:
    body = {
        "code": "server-error",
        "description": "An unexpected error occurred. Please try again later.",
        "link": ERROR_LINK,
        "traceId": uuid.uuid4().hex,
    }
    return status, {}, body


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AworkError)
    async def awork_error(request: Request, exc: AworkError) -> Response:
        trace = request.scope.get("sandbox", {}).get("trace_id")
        if exc.empty_body:
            return Response(status_code=exc.status, headers=exc.headers)
        return json_response(exc.body(trace), status=exc.status, headers=exc.headers)

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        return json_response(RATE_LIMIT_BODY, status=429, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(ADMIN_PREFIX):
            # The admin surface keeps FastAPI's own error shape.
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        trace = request.scope.get("sandbox", {}).get("trace_id")
        code = {404: "not-found", 405: "invalid-operation"}.get(exc.status_code, "server-error")
        err = AworkError(
            exc.status_code,
            code,
            "The requested resource was not found." if exc.status_code == 404 else str(exc.detail),
        )
        return json_response(err.body(trace), status=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(ADMIN_PREFIX):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        errors = [
            {"property": ".".join(str(p) for p in e.get("loc", ())[1:]) or "$", "message": str(e.get("msg"))}
            for e in exc.errors()
        ]
        err = AworkError(
            400,
            "validation-failed",
            "The model sent in the request is invalid. See the validation errors for details.",
            validation_errors=errors,
        )
        return json_response(err.body(None), status=400)


def create_app(data_dir: Path) -> ASGIApp:
    """The awork sandbox app; its data lives in ``data_dir`` (SQLite)."""
    state = AworkState(Path(data_dir))
    app = FastAPI(
        title="awork API v1 sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json", redoc_url=None
    )
    app.state.awork = state
    _install_error_handlers(app)
    app.include_router(auth.oauth_router())
    for module in (users, companies, projects, tasks, typeofwork, timeentries):
        app.include_router(module.router)
    app.include_router(admin.admin_router())
    webhooks.install(app, state)  # /api/v1/webhooks, deliveries, /_sandbox/webhooks (issue #14)
    app.add_middleware(AworkEdge)
    hooks = VendorHooks(
        name="awork",
        too_many_requests=lambda wait: _too_many_requests(state, wait),
        server_error=_server_error,
        reset=state.reset,
    )
    return Harness(hooks).install(app)
