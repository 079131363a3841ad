"""Authentication: ``POST /v2/auth/token``, ``POST /v2/auth/revoke``, ``POST /v1/auth`` and the
bearer-token check of every v2 data endpoint.

v2 is OAuth2 ``client_credentials`` with a form-encoded body; its errors are OAuth2 JSON. v1 accepts
the credentials as JSON, form or query parameters and answers in the v1 envelope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sandboxes.personio.errors import ApiError, OAuthError, v1_error_body
from sandboxes.personio.registry import V1_SCOPE, Token
from sandboxes.personio.state import PersonioState, get_state

router = APIRouter()

APP_ID_HEADERS = ("x-personio-app-id", "personio-app-id")
PARTNER_ID_HEADERS = ("x-personio-partner-id", "personio-partner-id")


@dataclass(frozen=True)
class Principal:
    """The caller of a v2 data endpoint."""

    tenant: str
    token: Token
    timezone_id: str


def _first_header(request: Request, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = request.headers.get(name)
        if value is not None:
            return value
    return None


def note_client_headers(request: Request, state: PersonioState, tenant: str) -> None:
    """Attribute the request to ``tenant`` (request log) and record its Personio ID headers."""
    app_id = _first_header(request, APP_ID_HEADERS)
    partner_id = _first_header(request, PARTNER_ID_HEADERS)
    sandbox = request.scope.setdefault("sandbox", {})
    sandbox["tenant"] = tenant
    sandbox["app_id"] = app_id
    sandbox["partner_id"] = partner_id
    state.registry.record_headers(tenant, request.method, request.url.path, app_id, partner_id)


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def require(scope_name: str) -> Callable[..., Principal]:
    """Return a dependency that admits a valid v2 token granted ``scope_name``.

    A ``...:read`` scope is also satisfied by the matching ``...:write`` scope.
    """

    def dependency(request: Request, state: PersonioState = Depends(get_state)) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise _unauthorized("Authorization is not provided.")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("The Authorization header must be 'Bearer <access token>'.")
        token = state.registry.lookup(value.strip())
        if token is None:
            raise _unauthorized("The access token is invalid or has been revoked.")
        if token.kind == "v1" and not state.settings.get("accept_v1_tokens_on_v2"):
            raise _unauthorized("A v1 token cannot be used on the v2 API; use /v2/auth/token.")
        tenant = state.registry.tenant(token.tenant)
        if tenant is None:
            raise _unauthorized("The access token is invalid or has been revoked.")
        # Attribute before the expiry check so that even refused calls are logged per tenant.
        note_client_headers(request, state, token.tenant)
        if token.expired:
            raise _unauthorized("The access token has expired.")
        granted = set(token.scopes) if token.kind == "v2" else set(tenant["scopes"])
        alternatives = {scope_name, scope_name.replace(":read", ":write")}
        if not granted & alternatives:
            status = int(state.settings.get("missing_scope_status"))
            raise ApiError(
                status,
                f"The access token does not grant the scope {scope_name!r} this endpoint needs.",
                code="common.unauthorized" if status == 401 else "common.forbidden",
            )
        return Principal(tenant=token.tenant, token=token, timezone_id=tenant["timezone_id"])

    return dependency


async def _form(request: Request) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body (the last value of a key wins)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@router.post("/v2/auth/token")
async def v2_token(request: Request, state: PersonioState = Depends(get_state)) -> JSONResponse:
    """OAuth2 client-credentials grant; returns ``{access_token, token_type, expires_in, scope}``."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request", "The request body must be application/x-www-form-urlencoded.")
    form = await _form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError(400, "invalid_request", "Missing parameter: grant_type.")
    if grant_type != "client_credentials":
        raise OAuthError(
            400,
            "unsupported_grant_type",
            f"Unsupported grant type {grant_type!r}; only client_credentials is supported.",
        )
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if not client_id or not client_secret:
        raise OAuthError(400, "invalid_request", "Missing parameter: client_id and client_secret.")
    tenant = state.registry.by_client_id(client_id)
    if tenant is None or tenant["client_secret"] != client_secret:
        raise OAuthError(401, "invalid_client", "Invalid client credentials.")
    note_client_headers(request, state, tenant["tenant"])
    requested = form.get("scope", "").split()
    if requested:
        refused = [s for s in requested if s not in tenant["scopes"]]
        if refused:
            raise OAuthError(400, "invalid_scope", f"The credential is not granted the scope(s) {' '.join(refused)}.")
        scopes = tuple(dict.fromkeys(requested))
    else:
        # No scope requested: every scope granted to the credential is issued.
        scopes = tuple(tenant["scopes"])
    token = state.registry.mint(tenant, "v2", scopes)
    body = {
        "access_token": token.token,
        "token_type": "Bearer",
        "expires_in": int(round(token.expires_at - token.issued_at)),
        "scope": " ".join(scopes),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post("/v2/auth/revoke")
async def v2_revoke(request: Request, state: PersonioState = Depends(get_state)) -> JSONResponse:
    """Revoke a token (form field ``token``); answers 200 even for unknown tokens (RFC 7009)."""
    form = await _form(request) if _media_type(request) == "application/x-www-form-urlencoded" else {}
    token = form.get("token")
    if not token:
        raise OAuthError(400, "invalid_request", "Missing parameter: token.")
    known = state.registry.lookup(token)
    if known is not None:
        note_client_headers(request, state, known.tenant)
        state.registry.revoke(token)
    return JSONResponse({}, status_code=200)


async def _v1_credentials(request: Request) -> tuple[str | None, str | None]:
    """Read v1 credentials from a JSON body, a form body or the query string."""
    values: dict[str, Any] = {}
    media = _media_type(request)
    raw = await request.body()
    if raw:
        if media == "application/json":
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                values = parsed
        elif media == "application/x-www-form-urlencoded":
            values = dict(parse_qsl(raw.decode("utf-8", errors="replace")))
    client_id = values.get("client_id") or request.query_params.get("client_id")
    client_secret = values.get("client_secret") or request.query_params.get("client_secret")
    return (str(client_id) if client_id else None, str(client_secret) if client_secret else None)


@router.post("/v1/auth")
async def v1_auth(request: Request, state: PersonioState = Depends(get_state)) -> JSONResponse:
    """v1 token: ``{"success": true, "data": {"token": "papi-…", "expires_in", "scope"}}``.

    A still-valid v1 token of the credential is handed out again (v1 tokens are stable for 24 h
    and may be reused); the token is echoed in the ``Authorization`` response header.
    """
    client_id, client_secret = await _v1_credentials(request)
    if not client_id or not client_secret:
        return JSONResponse(v1_error_body(400, "client_id and client_secret are required."), status_code=400)
    tenant = state.registry.by_client_id(client_id)
    if tenant is None or tenant["client_secret"] != client_secret:
        return JSONResponse(v1_error_body(401, "Wrong credentials"), status_code=401)
    note_client_headers(request, state, tenant["tenant"])
    token = state.registry.reusable_v1(tenant) or state.registry.mint(tenant, "v1", ())
    body = {
        "success": True,
        "data": {
            "token": token.token,
            "expires_in": max(0, int(round(token.expires_at - time.time()))),
            "scope": V1_SCOPE,
        },
    }
    return JSONResponse(body, headers={"Authorization": f"Bearer {token.token}"})
