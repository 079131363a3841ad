"""Authentication: Bearer API keys and OAuth access tokens, the workspace rate limit, and the
OAuth authorization-code flow with PKCE (``/api/v1/accounts/authorize`` and ``/accounts/token``).

No human can log in to the sandbox, so ``/accounts/authorize`` acts for a consenting workspace
admin: the user named by ``login_hint`` (an e-mail), else the tenant's registered "logged-in user"
(``PUT /_sandbox/tenants/{t}/login``), else the tenant's first admin user.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from sandboxes.awork.errors import AworkError, RateLimited
from sandboxes.awork.listing import json_response
from sandboxes.awork.state import AUTH, AworkState, Ctx

SCOPES = ("full_access", "offline_access")


def state_of(request: Request) -> AworkState:
    """The app's ``AworkState``."""
    return request.app.state.awork  # type: ignore[no-any-return]


def trace_id(request: Request) -> str | None:
    return request.scope.get("sandbox", {}).get("trace_id")


# -- bearer authentication (FastAPI dependency) ----------------------------------------------
async def authenticate(request: Request) -> Ctx:
    """Resolve the Bearer token to a tenant and user, and count the request against the
    workspace rate limit; returns the caller's ``Ctx`` or raises the 401/429 answer."""
    state = state_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(state.settings_for(None), "missing")

    key = state.store.get(AUTH, "api_keys", token)
    if key is not None:
        tenant, user_id, via, client_id = key["tenant"], key["user_id"], "api_key", None
    else:
        grant = state.store.get(AUTH, "tokens", token)
        if grant is None or grant["type"] != "access" or grant.get("revoked"):
            raise _unauthorized(state.settings_for(grant["tenant"] if grant else None), "invalid")
        if grant["expires_at"] <= time.time():
            raise _unauthorized(state.settings_for(grant["tenant"]), "expired", grant["expires_at"])
        tenant, user_id, via, client_id = grant["tenant"], grant["user_id"], "oauth", grant["client_id"]
    if state.tenant(tenant) is None:
        raise _unauthorized(state.settings_for(None), "invalid")

    sandbox = request.scope.setdefault("sandbox", {})
    sandbox["tenant"] = tenant
    settings = state.settings_for(tenant)
    allowed, headers = state.limiter.hit(tenant, settings["rate_limit_per_second"], settings["rate_limit_per_minute"])
    if not allowed:
        if settings["retry_after_header"]:
            headers["retry-after"] = headers.get("ratelimit-reset", "1")
        raise RateLimited(headers)
    if settings["ratelimit_headers_on_success"]:
        sandbox["awork_headers"] = headers
    return Ctx(state, tenant, user_id, settings, via, client_id, trace_id(request))


def _unauthorized(settings: dict[str, Any], reason: str, expired_at: float | None = None) -> AworkError:
    """awork's 401: an ErrorResponse (or, by switch, an empty body) plus WWW-Authenticate."""
    if reason == "missing":
        description = "Authorization has been denied for this request."
        challenge = "Bearer"
    elif reason == "expired":
        # ASP.NET JwtBearer's wording; clients detect expiry by /token expired/i.
        when = datetime.fromtimestamp(expired_at or 0, UTC).strftime("%m/%d/%Y %H:%M:%S")
        description = f"The token expired at '{when}'."
        challenge = f'Bearer error="invalid_token", error_description="The token expired at \'{when}\'"'
    else:
        description = "The access token is invalid."
        challenge = 'Bearer error="invalid_token"'
    return AworkError(
        401,
        "unauthorized",
        description,
        headers={"www-authenticate": challenge},
        empty_body=settings["auth_error_style"] == "empty",
    )


# -- OAuth -----------------------------------------------------------------------------------
class OAuthError(Exception):
    """An error of the token endpoint (or of /authorize before the redirect URI is trusted)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def oauth_error_response(exc: OAuthError, settings: dict[str, Any]) -> Response:
    """The token endpoint's error answer in the configured style."""
    if settings["token_error_style"] == "oauth":
        body = {"error": exc.error, "error_description": exc.description}
    else:
        body = {"code": exc.error, "description": exc.description}
    headers = {"cache-control": "no-store", "pragma": "no-cache"}
    return json_response(body, status=exc.status, headers=headers)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _consenting_user(state: AworkState, tenant: str, login_hint: str | None) -> dict[str, Any] | None:
    if login_hint:
        return state.user_by_email(tenant, login_hint)
    login = (state.tenant(tenant) or {}).get("login") or {}
    if login.get("email"):
        return state.user_by_email(tenant, login["email"])
    for user in state.store.iter_shared(tenant, "users"):
        if user.get("_isAdmin") and not user.get("_apiUser") and not user.get("isDeactivated"):
            return user
    return None


def issue_tokens(state: AworkState, tenant: str, client_id: str, user_id: str, scope: str) -> dict[str, Any]:
    """Store a new access token (and a refresh token for ``offline_access``); returns the
    token endpoint's JSON answer."""
    settings = state.settings_for(tenant)
    now = time.time()
    access = secrets.token_urlsafe(32)
    lifetime = int(settings["access_token_lifetime"])
    base = {
        "tenant": tenant,
        "client_id": client_id,
        "user_id": user_id,
        "scope": scope,
        "issued_at": now,
        "revoked": False,
        "used": False,
    }
    state.store.put(AUTH, "tokens", access, {**base, "_key": access, "type": "access", "expires_at": now + lifetime})
    answer: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
        "resource": "awork.com",
    }
    if "offline_access" in scope.split():
        refresh = secrets.token_urlsafe(48)
        state.store.put(
            AUTH,
            "tokens",
            refresh,
            {
                **base,
                "_key": refresh,
                "type": "refresh",
                "expires_at": now + int(settings["refresh_token_lifetime"]),
            },
        )
        answer["refresh_token"] = refresh
    return answer


def revoke_grants(state: AworkState, tenant: str, client_id: str | None = None) -> int:
    """Revoke every access and refresh token of a tenant (or of one client); returns how many."""
    n = 0
    for rec in state.store.all(AUTH, "tokens"):
        if rec["tenant"] == tenant and (client_id is None or rec["client_id"] == client_id):
            if not rec.get("revoked"):
                rec["revoked"] = True
                state.store.put(AUTH, "tokens", rec["_key"], rec)
                n += 1
    return n


def expire_tokens(state: AworkState, tenant: str, token: str | None = None, refresh_tokens: bool = False) -> int:
    """Make a tenant's access tokens (one, or all; refresh tokens too if asked) expire now;
    returns how many changed."""
    n = 0
    past = time.time() - 1
    for rec in state.store.all(AUTH, "tokens"):
        if rec["tenant"] != tenant or (token is not None and rec["_key"] != token):
            continue
        if rec["type"] == "access" or refresh_tokens:
            rec["expires_at"] = min(rec["expires_at"], past)
            state.store.put(AUTH, "tokens", rec["_key"], rec)
            n += 1
    return n


def oauth_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/accounts")

    @router.get("/authorize")
    async def authorize(request: Request) -> Response:
        """Acts as the consenting workspace admin; 302 to the redirect URI with code and state."""
        state = state_of(request)
        params = {k.lower(): v for k, v in request.query_params.items()}
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        login_hint = params.get("login_hint")
        clients = state.oauth_clients(client_id=client_id)
        if login_hint and len(clients) > 1:
            clients = [c for c in clients if state.user_by_email(c["tenant"], login_hint)]
        settings = state.settings_for(clients[0]["tenant"] if len(clients) == 1 else None)
        # Until client and redirect URI are trusted, errors are shown, never redirected (RFC 6749 4.1.2.1).
        if not clients:
            return oauth_error_response(
                OAuthError("invalid_request", "The specified 'client_id' is invalid."), settings
            )
        if len(clients) > 1:
            return oauth_error_response(
                OAuthError(
                    "invalid_request",
                    "This client exists in several sandbox workspaces; pass login_hint=<user e-mail>.",
                ),
                settings,
            )
        client = clients[0]
        if not redirect_uri:
            return oauth_error_response(
                OAuthError("invalid_request", "The mandatory 'redirect_uri' parameter is missing."), settings
            )
        if redirect_uri not in client["redirect_uris"]:
            return oauth_error_response(
                OAuthError("invalid_request", "The specified 'redirect_uri' is not valid for this client application."),
                settings,
            )

        tenant = client["tenant"]
        st = params.get("state")

        def fail(error: str, description: str) -> Response:
            query = {"error": error, "error_description": description}
            if st is not None:
                query["state"] = st
            return RedirectResponse(_with_query(redirect_uri, query), status_code=302)

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "The specified 'response_type' is not supported.")
        scope = " ".join(s for s in params.get("scope", "").split() if s)
        unknown = [s for s in scope.split() if s not in SCOPES]
        if unknown:
            return fail("invalid_scope", f"The specified scope '{unknown[0]}' is not supported.")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method") or ("plain" if challenge else None)
        if challenge is None and settings["require_pkce"]:
            return fail("invalid_request", "The mandatory 'code_challenge' parameter is missing.")
        if challenge is not None and method != "S256":
            return fail("invalid_request", "The specified 'code_challenge_method' is not supported.")
        login = (state.tenant(tenant) or {}).get("login") or {}
        if login.get("consent") == "deny":
            return fail("access_denied", "The authorization was denied by the user.")
        user = _consenting_user(state, tenant, login_hint)
        if user is None:
            return fail("access_denied", "No logged-in workspace user could grant the authorization.")

        code = secrets.token_urlsafe(32)
        state.store.put(
            AUTH,
            "codes",
            code,
            {
                "_key": code,
                "tenant": tenant,
                "client_id": client["client_id"],
                "redirect_uri": redirect_uri,
                "code_challenge": challenge,
                "user_id": user["id"],
                "scope": scope,
                "used": False,
                "expires_at": time.time() + int(settings["authorization_code_lifetime"]),
            },
        )
        query = {"code": code}
        if st is not None:
            query["state"] = st
        return RedirectResponse(_with_query(redirect_uri, query), status_code=302)

    @router.post("/token")
    async def token(request: Request) -> Response:
        """The token endpoint: authorization_code (PKCE S256) and refresh_token (rotating)."""
        state = state_of(request)
        settings = state.settings_for(None)
        try:
            content_type = request.headers.get("content-type", "")
            if "application/x-www-form-urlencoded" not in content_type.lower():
                raise OAuthError("invalid_request", "The mandatory 'Content-Type' header must be specified.")
            form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
            client_id, secret = _client_credentials(request, form)
            clients = state.oauth_clients(client_id=client_id) if client_id else []
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "The mandatory 'grant_type' parameter is missing.")
            if grant_type not in ("authorization_code", "refresh_token"):
                raise OAuthError("unsupported_grant_type", "The specified 'grant_type' is not supported.")
            if not client_id:
                raise OAuthError("invalid_request", "The mandatory 'client_id' parameter is missing.")
            if not clients:
                raise OAuthError("invalid_client", "The specified 'client_id' is invalid.", 401)

            if grant_type == "authorization_code":
                raw = form.get("code")
                if not raw:
                    raise OAuthError("invalid_request", "The mandatory 'code' parameter is missing.")
                grant = state.store.get(AUTH, "codes", raw)
            else:
                raw = form.get("refresh_token")
                if not raw:
                    raise OAuthError("invalid_request", "The mandatory 'refresh_token' parameter is missing.")
                grant = state.store.get(AUTH, "tokens", raw)
                if grant is not None and grant["type"] != "refresh":
                    grant = None
            what = "authorization code" if grant_type == "authorization_code" else "refresh token"
            client = next((c for c in clients if grant and c["tenant"] == grant["tenant"]), clients[0])
            settings = state.settings_for(client["tenant"])
            _check_client_secret(client, secret)
            if grant is None or grant["client_id"] != client_id or grant["tenant"] != client["tenant"]:
                raise OAuthError("invalid_grant", f"The specified {what} is invalid.")
            if grant.get("revoked"):
                raise OAuthError("invalid_grant", f"The specified {what} is no longer valid.")
            if grant.get("used"):
                raise OAuthError("invalid_grant", f"The specified {what} has already been redeemed.")
            if grant["expires_at"] <= time.time():
                raise OAuthError("invalid_grant", f"The specified {what} is no longer valid.")

            if grant_type == "authorization_code":
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    raise OAuthError(
                        "invalid_grant",
                        "The specified 'redirect_uri' parameter doesn't match the client redirection endpoint"
                        " the authorization code was initially sent to.",
                    )
                if grant.get("code_challenge"):
                    verifier = form.get("code_verifier")
                    if not verifier:
                        raise OAuthError("invalid_request", "The mandatory 'code_verifier' parameter is missing.")
                    if not secrets.compare_digest(_s256(verifier), grant["code_challenge"]):
                        raise OAuthError("invalid_grant", "The specified 'code_verifier' is invalid.")
                elif form.get("code_verifier"):
                    raise OAuthError(
                        "invalid_request", "The 'code_verifier' parameter is uncalled for in this request."
                    )
            # Single use: authorization codes and refresh tokens are redeemed exactly once.
            grant["used"] = True
            kind = "codes" if grant_type == "authorization_code" else "tokens"
            state.store.put(AUTH, kind, grant["_key"], grant)
            answer = issue_tokens(state, grant["tenant"], client_id, grant["user_id"], grant["scope"])
            return json_response(answer, headers={"cache-control": "no-store", "pragma": "no-cache"})
        except OAuthError as exc:
            return oauth_error_response(exc, settings)

    return router


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """(client_id, client_secret) from HTTP Basic or the form body."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            raise OAuthError("invalid_request", "The specified client credentials are malformed.") from None
        client_id, _, secret = decoded.partition(":")
        if form.get("client_id") and form["client_id"] != client_id:
            raise OAuthError("invalid_request", "The 'client_id' parameter differs from the Basic credentials.")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _check_client_secret(client: dict[str, Any], secret: str | None) -> None:
    expected = client.get("client_secret")
    if expected:
        if not secret:
            raise OAuthError(
                "invalid_client", "The 'client_secret' parameter required for this client application is missing.", 401
            )
        if not secrets.compare_digest(str(secret), str(expected)):
            raise OAuthError("invalid_client", "The specified client credentials are invalid.", 401)
    elif secret:
        raise OAuthError("invalid_request", "The 'client_secret' parameter is not valid for this client application.")
