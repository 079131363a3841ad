"""OAuth 2.0 access tokens from a rotating refresh token, shared by the awork and HQ clients.

Both vendors hand out short-lived access tokens and a refresh token that may be replaced on every
refresh (awork always rotates, awork.md §2b; HQ "can return a new refresh token", hq.md §3). The
mechanism, kept in one place:

- the refresh token lives in a ``TokenStore`` (the staging database between task runs,
  ``hq_sync.staging.oauth_tokens``);
- on first use, shortly before the access token expires, and once after a 401, the stored refresh
  token is redeemed at the token endpoint (form-encoded, HTTP Basic client authentication);
- a **new refresh token is saved before the new access token is used**: if saving fails, the
  access token is dropped and ``OAuthTokenStoreError`` raised, so no request ever runs on a token
  whose successor is not stored; the unsaved grant stays in memory and saving it is retried first;
- ``invalid_grant`` raises ``OAuthAuthorizationRevoked`` naming the command that re-authorises
  the tenant; a store that meanwhile holds another refresh token (another worker rotated it) is
  tried once first.

**The window that cannot be closed**: between the vendor rotating the refresh token and our save
committing (a crash of the worker, or a lost answer of the token endpoint) the new token exists
only in the vendor's answer. The next run then fails with ``invalid_grant`` and a person must
re-authorise (the message says how). Saving first and in one durable write keeps it as short as
it can be; no client-side trick removes it.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from hq_sync.clients.http import AmbiguousWriteError, AuthError, ClientError, HttpClient, RetryPolicy

log = logging.getLogger(__name__)

TOKEN_RENEW_MARGIN_S = 300.0  # renew an access token this long (at most 10 % of its life) before expiry


class TokenStore(Protocol):
    """Where a tenant's current OAuth refresh token lives (it may change on every refresh)."""

    def load(self) -> str | None:
        """The current refresh token, None when the tenant never authorised."""
        ...

    def save(self, refresh_token: str) -> None:
        """Persist the new refresh token durably; raise when that failed."""
        ...


class OAuthAuthorizationRevoked(AuthError):
    """The OAuth grant is gone (revoked, expired, refresh token already used, or never stored):
    only a new authorisation by a person helps."""


class OAuthTokenStoreError(AuthError):
    """The rotated refresh token could not be stored; the new access token was not used."""


@dataclass(frozen=True)
class TokenGrant:
    """A token-endpoint answer (RFC 6749 §5.1; HQ adds ``user_id``/``user_name``)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: float
    scope: str = ""

    @classmethod
    def from_json(cls, body: Any, vendor: str = "the") -> TokenGrant:
        """The grant in a token answer; raises AuthError when it holds no access token."""
        if not isinstance(body, Mapping) or not body.get("access_token"):
            raise AuthError(f"{vendor}'s token endpoint answered without an access token")
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
            expires_in=float(body.get("expires_in") or 3600),
            scope=str(body.get("scope") or ""),
        )


class InvalidGrant(Exception):
    """The token endpoint answered ``invalid_grant`` (``reason`` holds code and description)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def oauth_error(body: Any) -> tuple[str, str]:
    """(code, description) of a token-endpoint error in RFC 6749's or a vendor's shape."""
    if isinstance(body, Mapping):
        code = body.get("error") or body.get("code") or "error"
        description = body.get("error_description") or body.get("description") or ""
        return str(code), str(description)
    return "error", str(body or "")[:200]


def code_from_callback(redirect_url: str, state: str, vendor: str) -> str:
    """The authorization code from the URL the browser was sent back to; raises AuthError on an
    error answer, a state that is not ``state`` (a forged or stale callback), or no code."""
    from urllib.parse import parse_qs, urlsplit

    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect_url).query).items()}
    if query.get("state") != state:
        raise AuthError(f"{vendor} authorisation callback: the state does not match this request")
    if "error" in query:
        raise AuthError(f"{vendor} authorisation failed: {query['error']}: {query.get('error_description', '')}")
    if not query.get("code"):
        raise AuthError(f"{vendor} authorisation callback without a code")
    return query["code"]


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


class TokenEndpoint:
    """A token endpoint: form-encoded POSTs with client authentication (Basic, or ``client_id``
    in the body for a public client)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        *,
        vendor: str,
        reauthorise: str,
        http: HttpClient | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.vendor = vendor
        self.reauthorise = reauthorise
        self._http = http or HttpClient(token_url, retry=retry, session=session, sleep=sleep)
        self._http.vendor = vendor

    def grant(self, form: Mapping[str, str]) -> TokenGrant:
        """POST ``form``; the grant, or InvalidGrant / AuthError / AmbiguousWriteError."""
        data = dict(form)
        headers: dict[str, str] = {}
        if self._secret:  # confidential client: HTTP Basic
            pair = f"{self.client_id}:{self._secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:  # public client: client_id in the body, PKCE protects the code
            data["client_id"] = self.client_id
        try:
            resp = self._http.request("POST", self.token_url, data=data, headers=headers)
        except ClientError as exc:
            code, description = oauth_error(exc.body)
            if code == "invalid_grant":
                raise InvalidGrant(f"{code}: {description}" if description else code) from None
            raise AuthError(
                f"{self.vendor}'s token endpoint refused the request ({exc.status} {code}: {description})",
                status=exc.status,
                method="POST",
                url=self.token_url,
            ) from None
        except AmbiguousWriteError as exc:
            raise AmbiguousWriteError(
                f"{exc}. If {self.vendor} rotated the refresh token, the stored one no longer works: "
                f"then {lower_first(self.reauthorise)}.",
                status=exc.status,
                method="POST",
                url=self.token_url,
            ) from None
        except AuthError as exc:  # 401/403: invalid_client
            code, description = oauth_error(exc.body)
            raise AuthError(
                f"{self.vendor} rejected the OAuth client ({exc.status} {code}: {description}); check the "
                f"client id and secret of the tenant's {self.vendor} connection",
                status=exc.status,
                method="POST",
                url=self.token_url,
            ) from None
        return TokenGrant.from_json(resp.json(), self.vendor)


class RotatingOAuthTokens:
    """Access tokens from a (rotating) refresh token, saved before use (see the module docstring).

    Subclasses set ``vendor``, the error classes, whether a refresh must answer a new refresh
    token (``rotation_required``; where it may not, the used one stays valid and stays stored),
    the token endpoint's HTTP client (``token_http``: a vendor's rate-limit headers) and the
    sentence that tells an operator how to re-authorise a tenant (``_reauthorise_hint``).
    ``reauthorise`` overrides that sentence; else ``_reauthorise_hint(tenant)`` writes it.
    """

    vendor = "oauth"
    revoked_error: type[OAuthAuthorizationRevoked] = OAuthAuthorizationRevoked
    store_error: type[OAuthTokenStoreError] = OAuthTokenStoreError
    rotation_required = True
    token_http: type[HttpClient] = HttpClient

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        token_url: str,
        store: TokenStore,
        *,
        reauthorise: str | None = None,
        tenant: str | None = None,
        grant: TokenGrant | None = None,
        endpoint: TokenEndpoint | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        renew_margin: float = TOKEN_RENEW_MARGIN_S,
    ) -> None:
        self.client_id = client_id
        self.store = store
        self.reauthorise = reauthorise or self._reauthorise_hint(tenant)
        if endpoint is None:
            http = self.token_http(token_url, retry=retry, session=session, sleep=sleep)
            endpoint = TokenEndpoint(
                token_url, client_id, client_secret, vendor=self.vendor, reauthorise=self.reauthorise, http=http
            )
        self._endpoint = endpoint
        self._clock = clock
        self._renew_margin = renew_margin
        self._lock = threading.Lock()
        self._access: str | None = None
        self._valid_until = 0.0
        self._unsaved: tuple[TokenGrant, float] | None = None  # (grant, received at) not yet stored
        self.refreshes = 0
        self.last_expires_in: float | None = None  # of the last refresh (the go-live probe reports it)
        self.last_rotated: bool | None = None  # whether the last refresh replaced the refresh token
        if grant is not None:  # e.g. straight from the authorization-code exchange (already stored)
            self._cache(grant)

    def _reauthorise_hint(self, tenant: str | None) -> str:
        """What to run when the grant is gone (subclasses name their connect command)."""
        where = f" of tenant {tenant}" if tenant else ""
        return f"Re-authorise the {self.vendor} connection{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r}, token_url={self._endpoint.token_url!r})"

    @property
    def token_url(self) -> str:
        return self._endpoint.token_url

    def authorization(self) -> str:
        """The ``Authorization`` header value for the next request (refreshing when due)."""
        with self._lock:
            if self._access is None or self._clock() >= self._valid_until:
                self._refresh()
            assert self._access is not None
            return f"Bearer {self._access}"

    def invalidate(self) -> bool:
        """Drop the access token after a 401; the next request refreshes (once)."""
        with self._lock:
            self._access = None
        return True

    def refresh(self) -> None:
        """Redeem the stored refresh token now (normally done on demand)."""
        with self._lock:
            self._refresh()

    def _cache(self, grant: TokenGrant, received_at: float | None = None) -> None:
        margin = min(self._renew_margin, grant.expires_in / 10)
        start = self._clock() if received_at is None else received_at
        self._access = grant.access_token
        self._valid_until = start + max(0.0, grant.expires_in - margin)

    def _redeem(self, refresh_token: str) -> TokenGrant:
        return self._endpoint.grant({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _no_new_refresh_token(self) -> OAuthAuthorizationRevoked:
        return self.revoked_error(
            f"{self.vendor}'s refresh answered no new refresh token; the used one is gone. {self.reauthorise}."
        )

    def _refresh(self) -> None:
        self._access = None
        if self._unsaved is not None:  # an earlier save failed: its refresh token is the live one
            grant, received_at = self._unsaved
            self._save(grant)
            self._unsaved = None
            self._cache(grant, received_at)
            if self._clock() < self._valid_until:
                return
            self._access = None
        used = self.store.load()
        if not used:
            raise self.revoked_error(
                f"no {self.vendor} refresh token is stored for client {self.client_id!r}: the connection "
                f"was never authorised. {self.reauthorise}."
            )
        try:
            grant = self._redeem(used)
        except InvalidGrant as exc:
            current = self.store.load()
            if not current or current == used:
                raise self._revoked(exc.reason) from None
            log.info("%s: the refresh token was rotated by another worker; using the stored one", self.vendor)
            try:
                grant = self._redeem(current)
            except InvalidGrant as again:
                raise self._revoked(again.reason) from None
            used = current
        received_at = self._clock()
        if not grant.refresh_token:
            if self.rotation_required:
                raise self._no_new_refresh_token()
        elif grant.refresh_token != used:
            self._unsaved = (grant, received_at)
            self._save(grant)
            self._unsaved = None
        self.refreshes += 1
        self.last_expires_in = grant.expires_in
        self.last_rotated = bool(grant.refresh_token) and grant.refresh_token != used
        self._cache(grant, received_at)
        log.info(
            "%s: OAuth access token refreshed, valid %ds%s",
            self.vendor,
            grant.expires_in,
            "; new refresh token stored" if grant.refresh_token and grant.refresh_token != used else "",
        )

    def _save(self, grant: TokenGrant) -> None:
        assert grant.refresh_token is not None
        try:
            self.store.save(grant.refresh_token)
        except Exception as exc:
            raise self.store_error(
                f"the rotated {self.vendor} refresh token could not be stored, so the new access token was "
                f"not used ({type(exc).__name__}). The previous refresh token is already redeemed; "
                "this client keeps the new one in memory and stores it before its next request. "
                f"If the process ends first, {lower_first(self.reauthorise)}."
            ) from exc

    def _revoked(self, reason: str) -> OAuthAuthorizationRevoked:
        return self.revoked_error(
            f"{self.vendor} refused the stored refresh token ({reason}): the authorisation was revoked, "
            f"expired or the token was already used (also after a crash between a refresh and storing "
            f"its successor). {self.reauthorise}.",
            status=400,
            method="POST",
            url=self._endpoint.token_url,
        )
