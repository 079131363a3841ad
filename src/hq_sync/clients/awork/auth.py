"""How the awork client authenticates (awork.md §2): an API key, or OAuth access tokens from
awork's rotating refresh token.

- ``AworkApiKey(key)``: a static key; ``authorization()`` returns ``Bearer <key>``.
- ``AworkOAuthTokens(client_id, secret, token_url, store, tenant=…)``: access tokens refreshed
  with the stored refresh token, the rotated one saved before use (``hq_sync.clients.oauth``).
- ``token_url_for(api_url)`` returns the token endpoint's URL, ``reauthorise_hint(tenant)`` the
  sentence that tells an operator how to re-authorise a tenant.
- ``token_endpoint(…)`` returns the ``TokenEndpoint`` that honours awork's rate-limit headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from hq_sync.clients.auth import BearerAuth, StaticBearerToken
from hq_sync.clients.awork.budget import retry_after
from hq_sync.clients.http import HttpClient, RetryPolicy
from hq_sync.clients.oauth import (
    OAuthAuthorizationRevoked,
    OAuthTokenStoreError,
    RotatingOAuthTokens,
    TokenEndpoint,
)

AWORK_API_URL = "https://api.awork.com/api/v1"
OAUTH_SCOPE = "full_access offline_access"
REAUTHORISE = (
    "Re-authorise the tenant's awork connection: python -m hq_sync.connect.awork --tenant <tenant> "
    "(docs/runbook.md#connect-awork)"
)

AworkAuth = BearerAuth  # how the client authenticates: an API key or OAuth tokens


class AworkApiKey(StaticBearerToken):
    """A static API key (§2a): never expires, admin-level, acts as the workspace's API user.
    A rejected key stays rejected: the client fails with the 401."""

    what = "awork API key"


class AworkAuthorizationRevoked(OAuthAuthorizationRevoked):
    """The OAuth grant is gone (revoked, expired, refresh token already used, or never stored):
    only a new authorisation by a person helps."""


class AworkTokenStoreError(OAuthTokenStoreError):
    """The rotated refresh token could not be stored; the new access token was not used."""


class AworkTokenHttp(HttpClient):
    """The token endpoint's HTTP client: awork's 429s say how long to wait in its own headers."""

    vendor = "awork"

    def _retry_after(self, resp: requests.Response) -> float | None:
        return retry_after(resp)


def token_url_for(api_url: str = AWORK_API_URL) -> str:
    """The token endpoint under an API base (``…/api/v1/accounts/token``, §2b)."""
    return f"{api_url.rstrip('/')}/accounts/token"


def reauthorise_hint(tenant: str | None = None) -> str:
    """What to run when the tenant's awork grant is gone (with the tenant's id when known)."""
    return REAUTHORISE.replace("<tenant>", tenant) if tenant else REAUTHORISE


def token_endpoint(
    token_url: str,
    client_id: str,
    client_secret: str | None,
    *,
    reauthorise: str | None = None,
    session: requests.Session | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> TokenEndpoint:
    """``POST /accounts/token``, form-encoded, with client authentication (§2b)."""
    http = AworkTokenHttp(token_url, retry=retry, session=session, sleep=sleep)
    hint = reauthorise or reauthorise_hint()
    return TokenEndpoint(token_url, client_id, client_secret, vendor="awork", reauthorise=hint, http=http)


class AworkOAuthTokens(RotatingOAuthTokens):
    """OAuth access tokens from awork's rotating refresh token (§2b), saved before use.

    awork answers a new access token *and a new refresh token* on every refresh and invalidates
    the used one; ``hq_sync.clients.oauth.RotatingOAuthTokens`` saves the new one with
    ``store.save`` **before** the new access token is handed out (``AworkTokenStoreError`` when
    that fails). A refused refresh (``invalid_grant``) raises ``AworkAuthorizationRevoked`` with
    the command that re-authorises ``tenant`` (else the store's tenant); when the store meanwhile
    holds a different refresh token (another worker rotated it), that one is tried once first.
    """

    vendor = "awork"
    revoked_error = AworkAuthorizationRevoked
    store_error = AworkTokenStoreError
    rotation_required = True
    token_http = AworkTokenHttp

    def _reauthorise_hint(self, tenant: str | None) -> str:
        return reauthorise_hint(tenant or getattr(self.store, "tenant", None))

    def _no_new_refresh_token(self) -> OAuthAuthorizationRevoked:
        return AworkAuthorizationRevoked(
            "awork's refresh answered no new refresh token (the grant lacks the scope "
            f"offline_access); the used one is gone. {self.reauthorise} with scope '{OAUTH_SCOPE}'."
        )
