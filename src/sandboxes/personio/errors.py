"""Personio's error shapes: the v2 envelope, the v1 envelope and OAuth2 token errors.

v2 (``common-components-v2.json`` ``ErrorResponse``)::

    {"personio_trace_id": "...", "timestamp": "...",
     "errors": [{"title": "...", "detail": "...", "type": "https://...#common.x", "_meta": {...}}]}

v1 (``personio-personnel-data-api-v1.oa3.yaml`` ``ErrorResponse``)::

    {"success": false, "error": {"code": 401, "message": "..."}}

OAuth2 (``POST /v2/auth/token``, RFC 6749 §5.2 plus Personio's ``timestamp``/``trace_id``)::

    {"error": "invalid_client", "error_description": "...", "timestamp": "...", "trace_id": "..."}
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandboxes.personio.timeutil import format_utc, utc_now

ERROR_TYPE_BASE = "https://developer.personio.de/reference/errors#"

# HTTP status -> (title, error code) used when a caller does not name its own code.
_STATUS_INFO: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "common.bad_request"),
    401: ("Unauthorized", "common.unauthorized"),
    403: ("Forbidden", "common.forbidden"),
    404: ("Resource not found", "common.requested_resource_not_found"),
    405: ("Method Not Allowed", "common.method_not_allowed"),
    409: ("Conflict", "common.conflict"),
    415: ("Unsupported Media Type", "common.unsupported_media_type"),
    422: ("Unprocessable Entity", "common.unprocessable_entity"),
    429: ("Too Many Requests", "common.too_many_requests"),
    500: ("Internal Server Error", "common.internal_server_error"),
    502: ("Bad Gateway", "common.bad_gateway"),
    503: ("Service Unavailable", "common.service_unavailable"),
    504: ("Gateway Timeout", "common.gateway_timeout"),
}


class ApiError(Exception):
    """A vendor error; rendered as the v2 envelope (or the v1 one under ``/v1``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        default_title, default_code = _STATUS_INFO.get(status, ("Error", "common.error"))
        self.code = code or default_code
        self.title = title or default_title
        self.headers = headers or {}


class OAuthError(Exception):
    """An RFC 6749 token-endpoint error (``POST /v2/auth/token``)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def trace_id() -> str:
    """A fresh trace id, as Personio puts in every error body."""
    return str(uuid.uuid4())


def v2_error_body(
    status: int, detail: str, path: str, code: str | None = None, title: str | None = None
) -> dict[str, Any]:
    """Return the v2 error envelope for one error."""
    default_title, default_code = _STATUS_INFO.get(status, ("Error", "common.error"))
    return {
        "personio_trace_id": trace_id(),
        "timestamp": format_utc(utc_now()),
        "errors": [
            {
                "title": title or default_title,
                "detail": detail,
                "type": ERROR_TYPE_BASE + (code or default_code),
                "_meta": {"path": path},
            }
        ],
    }


def v1_error_body(code: int, message: str) -> dict[str, Any]:
    """Return the v1 error envelope (``code`` is the HTTP status, or 0 as Personio often sends)."""
    return {"success": False, "error": {"code": code, "message": message}}


def oauth_error_body(error: str, description: str) -> dict[str, Any]:
    """Return an OAuth2 token error body."""
    return {
        "error": error,
        "error_description": description,
        "timestamp": format_utc(utc_now()),
        "trace_id": trace_id(),
    }


def _render(
    request: Request,
    status: int,
    detail: str,
    code: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render an error in the shape of the API generation the path belongs to."""
    path = request.url.path
    if path.startswith("/_sandbox"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    if path.startswith("/v1/"):
        return JSONResponse(v1_error_body(status, detail), status_code=status, headers=headers)
    return JSONResponse(v2_error_body(status, detail, path, code, title), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error (ours, routing, validation, crashes) answer in Personio's shapes."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _render(request, exc.status, exc.detail, exc.code, exc.title, exc.headers)

    @app.exception_handler(OAuthError)
    async def _oauth_error(request: Request, exc: OAuthError) -> Response:
        headers = {"Cache-Control": "no-store"}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="personio"'
        return JSONResponse(oauth_error_body(exc.error, exc.description), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail)
        if exc.status_code == 404 and not request.url.path.startswith("/_sandbox"):
            detail = f"The endpoint with {request.url.path} was not found."
        return _render(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _render(
            request,
            400 if not request.url.path.startswith("/_sandbox") else 422,
            f"{where}: {first.get('msg', 'invalid request')}",
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:  # pragma: no cover - bugs
        return _render(request, 500, "There was a problem while processing this request. Please try again later.")
