"""awork's OAuth authorization code flow with PKCE (awork.md §2b), used by the connect command
(``hq_sync.connect.awork``) only.

- ``authorization_request(client_id, redirect_uri)`` returns an ``AuthorizationRequest``: the
  ``/accounts/authorize`` URL to send the person to, with the state and the PKCE verifier;
- ``code_from_redirect(callback_url, request)`` returns the authorization code from the callback;
- ``exchange_authorization_code(…)`` redeems it, saves the refresh token and returns the
  ``TokenGrant`` (whose access token ``AworkOAuthTokens(grant=…)`` can use at once).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests

from hq_sync.clients.awork.auth import (
    AWORK_API_URL,
    OAUTH_SCOPE,
    AworkTokenStoreError,
    token_endpoint,
    token_url_for,
)
from hq_sync.clients.http import AuthError, RetryPolicy
from hq_sync.clients.oauth import InvalidGrant, TokenGrant, TokenStore, code_from_callback


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the person who authorises, and what the callback must be checked against."""

    url: str
    state: str
    redirect_uri: str
    code_verifier: str = field(repr=False)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_request(
    client_id: str,
    redirect_uri: str,
    *,
    api_url: str = AWORK_API_URL,
    scope: str = OAUTH_SCOPE,
    state: str | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """The ``/accounts/authorize`` URL with a fresh PKCE verifier (S256) and state (§2b)."""
    verifier, challenge = pkce_pair()
    state = state or secrets.token_urlsafe(16)
    params = {
        "client_id": client_id,
        "response_type": "code",
        "grant_type": "authorization_code",
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra_params or {}),
    }
    url = f"{api_url.rstrip('/')}/accounts/authorize?{urlencode(params)}"
    return AuthorizationRequest(url=url, state=state, redirect_uri=redirect_uri, code_verifier=verifier)


def code_from_redirect(redirect_url: str, request: AuthorizationRequest) -> str:
    """The authorization code from the callback URL; raises AuthError on an error or a wrong state."""
    return code_from_callback(redirect_url, request.state, "awork")


def exchange_authorization_code(
    client_id: str,
    client_secret: str | None,
    code: str,
    request: AuthorizationRequest,
    store: TokenStore,
    *,
    token_url: str = token_url_for(),
    session: requests.Session | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> TokenGrant:
    """Redeem the code (with the PKCE verifier) and save the refresh token before returning.

    The grant can seed ``AworkOAuthTokens(grant=…)`` so its access token is used right away.
    """
    endpoint = token_endpoint(token_url, client_id, client_secret, session=session, retry=retry, sleep=sleep)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.code_verifier,
    }
    try:
        grant = endpoint.grant(form)
    except InvalidGrant as exc:
        raise AuthError(f"awork refused the authorization code ({exc.reason}); start the authorisation again") from None
    if not grant.refresh_token:
        raise AuthError(f"awork issued no refresh token: authorise with scope '{OAUTH_SCOPE}'")
    try:
        store.save(grant.refresh_token)
    except Exception as exc:
        raise AworkTokenStoreError(
            f"the awork refresh token could not be stored ({type(exc).__name__}); start the authorisation again"
        ) from exc
    return grant
