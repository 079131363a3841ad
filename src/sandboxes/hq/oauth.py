"""HQ v1's OAuth 2.0 authorization-code flow (hq.md §3, confidence H): ``GET /Account/Authorize``
and ``POST /Token`` with HTTP Basic ``AppId:AppSecret``.

- An **app** (``AppId`` = ``{customerId}-{clientId}``, an ``AppSecret``, its redirect URIs) is
  registered per tenant through ``POST /_sandbox/tenants/{t}/oauth-clients``, with the e-mail of
  the HQ user who approves (HQ's login page is not modelled: approval is automatic).
- ``/Account/Authorize`` redirects to the redirect URI with ``code`` and ``state``.
- ``/Token`` answers ``{access_token, token_type: "bearer", expires_in, refresh_token, user_id,
  user_name}`` for ``grant_type=authorization_code`` and ``refresh_token``. Access tokens expire
  after the tenant's ``access_token_lifetime`` (HQ's example: 1199 s); refresh tokens stay valid
  until revoked and, with ``refresh_token_rotation`` (default), are replaced on every refresh
  (the used one is then invalid). Errors are RFC 6749 bodies (``invalid_grant`` 400,
  ``invalid_client`` 401, ``unsupported_grant_type``/``invalid_request`` 400).
- An access token acts as the approving user (a user token: ``CreatedBy``, the Personio lock).

Everything is kept in the Store under the registry tenant, so it survives restarts.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from sandboxes.common.store import Store
from sandboxes.hq.errors import HQError, bad_request
from sandboxes.hq.tenants import REGISTRY_TENANT, TenantRegistry, TokenOwner

CLIENTS, CODES, ACCESS, REFRESH = "oauth_clients", "oauth_codes", "oauth_access", "oauth_refresh"
CODE_LIFETIME = 600


class OAuthError(Exception):
    """An RFC 6749 error answer of the token endpoint."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="HQ"'} if self.status == 401 else {}
        return JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status, headers=headers
        )


class Expired(Exception):
    """An access token that existed but has expired."""


class OAuth:
    """Apps, codes and tokens of every tenant."""

    def __init__(
        self,
        store: Store,
        registry: TenantRegistry,
        user_id_of: Callable[[str, str], int | None] = lambda tenant, email: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.registry = registry
        self.user_id_of = user_id_of  # (tenant, e-mail) -> the HQ user's Id (for the token answer)
        self.clock = clock
        self._lock = threading.RLock()

    # -- admin ---------------------------------------------------------------------------------
    def register_client(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        """Adds or replaces an app of ``tenant``; returns it (secret included: admin surface)."""
        self.registry.require(tenant)
        app_id, secret, uris, user = (
            body.get("app_id"),
            body.get("app_secret"),
            body.get("redirect_uris"),
            body.get("user"),
        )
        if not isinstance(app_id, str) or "-" not in app_id:
            raise bad_request("'app_id' must look like HQ's AppId '{customerId}-{clientId}', e.g. '12345-hqsync'")
        if not isinstance(secret, str) or not secret:
            raise bad_request("'app_secret' (a non-empty string) is required")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
            raise bad_request("'redirect_uris' must be a non-empty list of URLs")
        if not isinstance(user, str) or "@" not in user:
            raise bad_request("'user' must be the e-mail of the HQ user who approves the app")
        existing = self.store.get(REGISTRY_TENANT, CLIENTS, app_id)
        if existing and existing["tenant"] != tenant:
            raise HQError(409, f"app {app_id!r} belongs to tenant {existing['tenant']!r}", "Conflict")
        record = {"tenant": tenant, "app_id": app_id, "app_secret": secret, "redirect_uris": uris, "user": user.lower()}
        self.store.put(REGISTRY_TENANT, CLIENTS, app_id, record)
        return record

    def expire(self, tenant: str) -> int:
        """Lets every access token of ``tenant`` expire now; returns how many."""
        n = 0
        with self._lock:
            for rec in self.store.all(REGISTRY_TENANT, ACCESS):
                if rec["tenant"] == tenant and rec["expires_at"] > self.clock():
                    self.store.put(REGISTRY_TENANT, ACCESS, rec["token"], {**rec, "expires_at": self.clock() - 1})
                    n += 1
        return n

    def revoke(self, tenant: str) -> int:
        """Revokes every grant of ``tenant`` (refresh tokens and access tokens); returns how many."""
        n = 0
        with self._lock:
            for kind in (ACCESS, REFRESH):
                for rec in self.store.all(REGISTRY_TENANT, kind):
                    if rec["tenant"] == tenant:
                        self.store.delete(REGISTRY_TENANT, kind, rec["token"])
                        n += kind == REFRESH
        return n

    # -- tokens --------------------------------------------------------------------------------
    def owner(self, token: str) -> TokenOwner | None:
        """Who an access token acts for; raises Expired for an expired one, None if unknown."""
        rec = self.store.get(REGISTRY_TENANT, ACCESS, token)
        if rec is None:
            return None
        if rec["expires_at"] <= self.clock():
            raise Expired(token)
        return TokenOwner(rec["tenant"], rec["user"])

    def _client(self, request_auth: str | None, form: dict[str, str]) -> dict[str, Any]:
        app_id, secret = None, None
        if request_auth and request_auth.lower().startswith("basic "):
            try:
                app_id, _, secret = base64.b64decode(request_auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "The Basic authorization header is malformed.") from None
        else:
            app_id, secret = form.get("client_id"), form.get("client_secret")
        client = self.store.get(REGISTRY_TENANT, CLIENTS, app_id) if app_id else None
        if client is None or not secrets.compare_digest(str(secret or ""), client["app_secret"]):
            raise OAuthError(401, "invalid_client", "The client id or secret is wrong.")
        return client

    def _issue(self, client: dict[str, Any], user: str, refresh: str | None) -> dict[str, Any]:
        settings = self.registry.require(client["tenant"]).settings
        access = "hq-at-" + secrets.token_urlsafe(24)
        lifetime = settings.access_token_lifetime
        self.store.put(
            REGISTRY_TENANT,
            ACCESS,
            access,
            {
                "token": access,
                "tenant": client["tenant"],
                "user": user,
                "app_id": client["app_id"],
                "expires_at": self.clock() + lifetime,
            },
        )
        if refresh is None or settings.refresh_token_rotation:
            if refresh is not None:
                self.store.delete(REGISTRY_TENANT, REFRESH, refresh)
            refresh = "hq-rt-" + secrets.token_urlsafe(24)
            self.store.put(
                REGISTRY_TENANT,
                REFRESH,
                refresh,
                {"token": refresh, "tenant": client["tenant"], "user": user, "app_id": client["app_id"]},
            )
        user_id = self.user_id_of(client["tenant"], user)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
            "user_id": user_id,
            "user_name": user,
        }

    def token(self, request_auth: str | None, form: dict[str, str]) -> dict[str, Any]:
        """``POST /Token``: the token answer, or raises OAuthError."""
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")
        with self._lock:
            client = self._client(request_auth, form)
            if grant_type == "authorization_code":
                code = self.store.get(REGISTRY_TENANT, CODES, form.get("code") or "")
                if code is None or code["app_id"] != client["app_id"] or code["expires_at"] <= self.clock():
                    raise OAuthError(
                        400, "invalid_grant", "The authorization code is invalid, expired or already used."
                    )
                if form.get("redirect_uri") != code["redirect_uri"]:
                    raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization request.")
                self.store.delete(REGISTRY_TENANT, CODES, code["code"])
                return self._issue(client, code["user"], None)
            token = self.store.get(REGISTRY_TENANT, REFRESH, form.get("refresh_token") or "")
            if token is None or token["app_id"] != client["app_id"]:
                raise OAuthError(400, "invalid_grant", "The refresh token is invalid, revoked or already used.")
            return self._issue(client, token["user"], token["token"])

    def authorize(self, params: dict[str, str]) -> str:
        """``GET /Account/Authorize``: the URL to redirect to (with code and state); 400 otherwise."""
        client = self.store.get(REGISTRY_TENANT, CLIENTS, params.get("client_id") or "")
        if client is None:
            raise bad_request(f"Unknown client_id {params.get('client_id')!r}.")
        uri = params.get("redirect_uri") or ""
        if uri not in client["redirect_uris"]:
            raise bad_request("redirect_uri is not registered for this app.")
        if params.get("response_type") != "code":
            return _with_query(uri, {"error": "unsupported_response_type", "state": params.get("state", "")})
        code = secrets.token_urlsafe(24)
        self.store.put(
            REGISTRY_TENANT,
            CODES,
            code,
            {
                "code": code,
                "app_id": client["app_id"],
                "user": client["user"],
                "redirect_uri": uri,
                "expires_at": self.clock() + CODE_LIFETIME,
            },
        )
        return _with_query(uri, {"code": code, "state": params.get("state", "")})


def _with_query(uri: str, extra: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query) + [(k, v) for k, v in extra.items() if v != ""]
    return urlunsplit(parts._replace(query=urlencode(query)))


def register(router: APIRouter, oauth: OAuth) -> None:
    """Adds ``/Account/Authorize`` and ``/Token`` (outside ``/v1``, like HQ)."""

    @router.get("/Account/Authorize")
    def authorize(request: Request) -> Response:
        try:
            return RedirectResponse(oauth.authorize(dict(request.query_params)), status_code=302)
        except HQError as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)

    @router.post("/Token")
    async def token(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return OAuthError(400, "invalid_request", "The token request must be form-encoded.").response()
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
        try:
            return JSONResponse(oauth.token(request.headers.get("authorization"), form))
        except OAuthError as exc:
            return exc.response()
