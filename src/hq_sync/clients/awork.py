"""awork API v1 client: API-key or rotating-OAuth auth, ``page``/``pageSize`` paging, a request
budget well below the workspace rate limit.

``docs/awork-client.md`` explains the choices; the contract is ``../shared/api/awork.md`` (cited as
§n). List methods are generators of *pages* (lists of awork models, at most ``page_size`` each),
so a caller can stage each page before the next one is fetched and memory stays flat.

Nothing secret is logged: no API key, access token, refresh token, client secret, code or
verifier; the HTTP base logs method, path (no query), status and duration only.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import requests

from hq_sync.clients.budget import Budget, SlidingWindowBudget
from hq_sync.clients.awork_query import (
    QueryIgnoredError,
    QuerySupport,
    check_query_support,
    pages_changed_since_full_read,
)
from hq_sync.clients.http import (
    ApiError,
    AuthError,
    ClientError,
    HttpClient,
    NotFoundError,
    RetryPolicy,
)
from hq_sync.clients.oauth import (
    TOKEN_RENEW_MARGIN_S,
    InvalidGrant,
    OAuthAuthorizationRevoked,
    OAuthTokenStoreError,
    RotatingOAuthTokens,
    TokenEndpoint,
    TokenGrant,
    TokenStore,
    code_from_callback,
)

log = logging.getLogger(__name__)

AWORK_API_URL = "https://api.awork.com/api/v1"
MAX_PAGE_SIZE = 1000  # §3: awork never serves more per page
DEFAULT_REQUESTS_PER_MINUTE = 300  # of the smallest plan's 1000/min (§5), shared with other integrations
DEFAULT_REQUESTS_PER_SECOND = 10  # of awork's 50/s
DEFAULT_RESERVE_FRACTION = 0.05  # leave the last 5 % of a workspace window to the others
OAUTH_SCOPE = "full_access offline_access"
DEFAULT_ORDER = "createdOn asc"  # awork's default order is unspecified (§3): page in a stable one
REAUTHORISE = ("Re-authorise the tenant's awork connection: python -m hq_sync.connect.awork --tenant <tenant> "
               "(docs/runbook.md#connect-awork)")

Page = list[dict[str, Any]]


class AworkAuthorizationRevoked(OAuthAuthorizationRevoked):
    """The OAuth grant is gone (revoked, expired, refresh token already used, or never stored):
    only a new authorisation by a person helps."""


class AworkTokenStoreError(OAuthTokenStoreError):
    """The rotated refresh token could not be stored; the new access token was not used."""


# -- filterby / orderby literals (§4) ---------------------------------------------------------
def datetime_literal(value: datetime | date) -> str:
    """``datetime'2026-08-01T12:00:00'``: UTC without a zone (awork reads it as UTC), whole seconds.

    Aware datetimes are converted to UTC (naive ones are refused: their zone is unknown); a
    ``date`` means its midnight UTC.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("filter datetimes must be timezone-aware")
        moment = value.astimezone(UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        raise TypeError(f"expected a datetime or date, not {type(value).__name__}")
    return f"datetime'{moment:%Y-%m-%dT%H:%M:%S}'"


def guid_literal(value: str | uuid.UUID) -> str:
    """``guid'…'`` in canonical lower case; anything that is not a GUID is refused."""
    try:
        canonical = str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not a GUID") from None
    return f"guid'{canonical}'"


def string_literal(value: str) -> str:
    """``'text'`` with awork's quote escaping (``''``)."""
    return "'" + value.replace("'", "''") + "'"


def all_of(*conditions: str | None) -> str | None:
    """Join ``filterby`` conditions with ``and`` (each parenthesised); None when there are none."""
    parts = [c.strip() for c in conditions if c and c.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


# -- models ------------------------------------------------------------------------------------
_EMAIL_SUBTYPE_RANK = {"work": 0, None: 1, "": 1, "other": 2, "private": 3}


def user_email(user: Mapping[str, Any]) -> str | None:
    """A user's e-mail: awork has no top-level e-mail, it is the ``userContactInfos`` entry of
    ``type == "email"`` (§8.5). With several, ``subType`` work wins, then none/other, private last
    (first listed on a tie). Returned trimmed, as stored; None for users without one (API users).
    """
    best: tuple[int, int, str] | None = None
    for index, info in enumerate(user.get("userContactInfos") or []):
        if not isinstance(info, Mapping) or str(info.get("type") or "").lower() != "email":
            continue
        value = str(info.get("value") or "").strip()
        if "@" not in value:
            continue
        sub = info.get("subType")
        rank = _EMAIL_SUBTYPE_RANK.get(sub.lower() if isinstance(sub, str) else sub, 2)
        if best is None or (rank, index) < best[:2]:
            best = (rank, index, value)
    return best[2] if best else None


# -- authentication ---------------------------------------------------------------------------
class AworkAuth(Protocol):
    """How the client authenticates: an API key or OAuth tokens."""

    def authorization(self) -> str:
        """The ``Authorization`` header value for the next request."""
        ...

    def invalidate(self) -> bool:
        """Drop cached credentials after a 401; True when a retry can help."""
        ...


class AworkApiKey:
    """A static API key (§2a): never expires, admin-level, acts as the workspace's API user."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("empty awork API key")
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return "AworkApiKey(***)"

    def authorization(self) -> str:
        return f"Bearer {self._key}"

    def invalidate(self) -> bool:
        return False  # a rejected key stays rejected: fail with the 401


def _awork_retry_after(resp: requests.Response) -> float | None:
    """Seconds to wait after a 429: ``Retry-After`` if sent, else ``ratelimit-reset`` (§5)."""
    explicit = _float(resp.headers.get("Retry-After"))
    if explicit is not None:
        return explicit
    if resp.status_code == 429:  # a 5xx's ratelimit-reset is the window's, not a retry hint
        return _float(resp.headers.get("ratelimit-reset"))
    return None


class _TokenHttp(HttpClient):
    vendor = "awork"

    def _retry_after(self, resp: requests.Response) -> float | None:
        return _awork_retry_after(resp)


class _TokenEndpoint(TokenEndpoint):
    """``POST /accounts/token``, form-encoded, with client authentication (§2b)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        *,
        reauthorise: str | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(token_url, client_id, client_secret, vendor="awork", reauthorise=reauthorise or reauthorise_hint(),
                         http=_TokenHttp(token_url, retry=retry, session=session, sleep=sleep))


def token_url_for(api_url: str = AWORK_API_URL) -> str:
    """The token endpoint under an API base (``…/api/v1/accounts/token``, §2b)."""
    return f"{api_url.rstrip('/')}/accounts/token"


def reauthorise_hint(tenant: str | None = None) -> str:
    """What to run when the tenant's awork grant is gone (with the tenant's id when known)."""
    return REAUTHORISE.replace("<tenant>", tenant) if tenant else REAUTHORISE


class AworkOAuthTokens(RotatingOAuthTokens):
    """OAuth access tokens from awork's rotating refresh token (§2b), saved before use.

    awork answers a new access token *and a new refresh token* on every refresh and invalidates
    the used one; ``hq_sync.clients.oauth.RotatingOAuthTokens`` saves the new one with
    ``store.save`` **before** the new access token is handed out (``AworkTokenStoreError`` when
    that fails). A refused refresh (``invalid_grant``) raises ``AworkAuthorizationRevoked`` with
    the command that re-authorises ``tenant``; when the store meanwhile holds a different refresh
    token (another worker rotated it), that one is tried once first.
    """

    vendor = "awork"
    revoked_error = AworkAuthorizationRevoked
    store_error = AworkTokenStoreError
    rotation_required = True

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        token_url: str,
        store: TokenStore,
        *,
        tenant: str | None = None,
        grant: TokenGrant | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        renew_margin: float = TOKEN_RENEW_MARGIN_S,
    ) -> None:
        hint = reauthorise_hint(tenant or getattr(store, "tenant", None))
        super().__init__(
            client_id, client_secret, token_url, store, reauthorise=hint, grant=grant,
            endpoint=_TokenEndpoint(token_url, client_id, client_secret, reauthorise=hint, session=session,
                                    retry=retry, sleep=sleep),
            clock=clock, renew_margin=renew_margin,
        )

    def _no_new_refresh_token(self) -> OAuthAuthorizationRevoked:
        return AworkAuthorizationRevoked(
            "awork's refresh answered no new refresh token (the grant lacks the scope "
            f"offline_access); the used one is gone. {self.reauthorise} with scope '{OAUTH_SCOPE}'.")


# -- OAuth authorization code with PKCE (for the connect command) ----------------------------
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
    endpoint = _TokenEndpoint(token_url, client_id, client_secret, session=session, retry=retry, sleep=sleep)
    try:
        grant = endpoint.grant({
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.code_verifier,
        })
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


# -- client-side request budget ---------------------------------------------------------------
class RequestBudget(SlidingWindowBudget):
    """awork's in-process request budget: ``SlidingWindowBudget`` with awork's defaults
    (300 per minute, 10 per second). Across processes: ``hq_sync.clients.budget.RedisRequestBudget``."""

    def __init__(
        self,
        per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE,
        per_second: int | None = DEFAULT_REQUESTS_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(per_minute, per_second, clock=clock, sleep=sleep)


# -- the client -------------------------------------------------------------------------------
class AworkClient(HttpClient):
    """awork API v1 (``base_url`` like ``https://api.awork.com/api/v1``)."""

    vendor = "awork"

    def __init__(
        self,
        base_url: str,
        auth: AworkAuth | str,
        *,
        requests_per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE,
        requests_per_second: int | None = DEFAULT_REQUESTS_PER_SECOND,
        budget: Budget | None = None,
        reserve_fraction: float = DEFAULT_RESERVE_FRACTION,
        clock: Callable[[], float] = time.monotonic,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Every attempt (retries too) spends from the workspace's request budget (HttpClient).
        budget = budget or RequestBudget(requests_per_minute, requests_per_second, clock=clock, sleep=sleep)
        super().__init__(base_url, retry=retry, session=session, sleep=sleep, headers=headers, budget=budget)
        self.auth: AworkAuth = AworkApiKey(auth) if isinstance(auth, str) else auth
        self.reserve_fraction = reserve_fraction
        self.last_total_items: int | None = None

    # -- hooks ---------------------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.auth.authorization()}

    def _reauthenticate(self) -> bool:
        return self.auth.invalidate()

    def _retry_after(self, resp: requests.Response) -> float | None:
        return _awork_retry_after(resp)

    def _pace(self, resp: requests.Response) -> None:
        """When the workspace window is nearly spent (by anyone), wait for it to start over."""
        remaining = _float(resp.headers.get("ratelimit-remaining"))
        reset = _float(resp.headers.get("ratelimit-reset"))
        limit = _float(resp.headers.get("ratelimit-limit"))
        if remaining is None or reset is None or not limit:
            return
        reserve = max(1, math.ceil(limit * self.reserve_fraction))
        if remaining <= reserve:
            wait = min(max(reset, 0.0), 61.0)
            log.info("awork: workspace rate limit nearly spent (%d of %d left), pausing %.0fs",
                     remaining, limit, wait)
            self._sleep(wait)

    # -- generic -------------------------------------------------------------------------------
    def get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """One object, or None when awork answers 404."""
        try:
            return dict(self.request("GET", path, params=params).json())
        except NotFoundError:
            return None

    def pages(
        self,
        path: str,
        *,
        filterby: str | None = None,
        orderby: str | None = DEFAULT_ORDER,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Pages of a list endpoint (``page``/``pageSize``, §3). Stops after a short page or when
        ``aw-totalitems`` is reached; empty pages are not yielded."""
        size = _page_size(page_size)
        query = _query(params, filterby, orderby)
        page = 1
        while True:
            items, effective, total = self._page(path, query, page, size)
            if items:
                yield items
            if len(items) < effective or (total is not None and page * effective >= total):
                return
            page += 1

    def pages_updated_since(
        self,
        path: str,
        since: datetime,
        *,
        filterby: str | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Pages of objects with ``updatedOn >= since`` (whole seconds), oldest change first.

        Keyset paging: each request asks again for ``updatedOn ge <updatedOn of the last item>``
        instead of the next page number, so an object changed while we page (it moves to the end)
        cannot push an unseen one off the page boundary. Versions (id, updatedOn) of the boundary
        second already yielded are skipped. More than a page of objects within one second is stepped through by
        page number. An object changed during the run may come twice (older version first).
        Raises ``QueryIgnoredError`` when a page shows that the server ignored the filter (an
        object older than the cursor) or the order (objects out of order): see ``awork_query``.
        """
        size = _page_size(page_size)
        cursor = _whole_second(since)
        page = 1
        seen: set[tuple[str, str]] = set()  # (id, updatedOn) already yielded at the cursor second
        while True:
            condition = f"updatedOn ge {datetime_literal(cursor)}"
            query = _query(params, all_of(condition, filterby), "updatedOn asc,id asc")
            items, effective, total = self._page(path, query, page, size)
            _check_keyset_page(items, cursor)  # raises QueryIgnoredError (issue #10)
            fresh = [item for item in items if _version(item) not in seen]
            if fresh:
                yield fresh
            if len(items) < effective or (total is not None and page * effective >= total):
                return
            last = _parse_timestamp(items[-1].get("updatedOn"))
            if last is not None and last > cursor:
                cursor, page = last, 1
                seen = {_version(i) for i in items if _parse_timestamp(i.get("updatedOn")) == cursor}
            else:  # a whole page within one second
                seen.update(_version(i) for i in items)
                page += 1

    def first_items(self, path: str, *, filterby: str | None, orderby: str | None, page: int = 1) -> Page:
        """One item (``pageSize=1``) of a list, for probing what the endpoint honours."""
        return self._page(path, _query(None, filterby, orderby), page, 1)[0]

    def _page(self, path: str, query: Mapping[str, Any], page: int, size: int) -> tuple[Page, int, int | None]:
        resp = self.request("GET", path, params={**query, "page": page, "pageSize": size})
        body = resp.json()
        if not isinstance(body, list):
            raise ClientError(f"awork GET {path}: expected a JSON array, got {type(body).__name__}",
                              status=resp.status_code, method="GET", url=self.url(path))
        effective = _int(resp.headers.get("aw-pagesize")) or size
        self.last_total_items = _int(resp.headers.get("aw-totalitems"))  # what the last list request matched
        return body, min(effective, size), self.last_total_items

    # -- identity and master data ----------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        """The caller (for an API key: its API user) with ``workspace {id, name, url}``."""
        return dict(self.request("GET", "/users/me").json())

    def users(self, *, show_archived: bool = False, filterby: str | None = None,
              orderby: str | None = DEFAULT_ORDER, page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        """Pages of users, API users included (they have no e-mail); see ``user_email``."""
        return self.pages("/users", filterby=filterby, orderby=orderby, page_size=page_size,
                          params={"showArchived": _bool(show_archived)})

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/users/{user_id}")

    def types_of_work(self, *, show_archived: bool = False, filterby: str | None = None,
                      orderby: str | None = DEFAULT_ORDER, page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        return self.pages("/typeofwork", filterby=filterby, orderby=orderby, page_size=page_size,
                          params={"showArchived": _bool(show_archived)})

    def companies(self, *, filterby: str | None = None, orderby: str | None = DEFAULT_ORDER,
                  page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        return self.pages("/companies", filterby=filterby, orderby=orderby, page_size=page_size)

    def company(self, company_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/companies/{company_id}")

    # -- projects --------------------------------------------------------------------------------
    def projects(self, *, filterby: str | None = None, orderby: str | None = DEFAULT_ORDER,
                 page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        return self.pages("/projects", filterby=filterby, orderby=orderby, page_size=page_size)

    def project(self, project_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/projects/{project_id}")

    def project_by_key(self, project_key: str) -> dict[str, Any] | None:
        """Look a project up by its ``projectKey`` (e.g. after an ambiguous create)."""
        return self.get_or_none(f"/projects/key/{project_key}")

    def create_project(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /projects`` (``name*``, ``companyId``, ``projectKey``, ``isBillableByDefault``, …).
        A lost answer raises AmbiguousWriteError: look the project up (e.g. by key) before retrying."""
        return dict(self.request("POST", "/projects", json=dict(body)).json())

    def update_project(self, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /projects/{id}`` with a full ``ProjectPutForm`` (``name*``; omitted fields reset)."""
        return dict(self.request("PUT", f"/projects/{project_id}", json=dict(body)).json())

    def delete_project(self, project_id: str, *, delete_time_trackings: bool = False) -> bool:
        """``POST /projects/{id}/delete``; False when it was already gone. Without
        ``delete_time_trackings`` its time entries stay, with project and task cleared."""
        return self._delete(f"/projects/{project_id}/delete", {"deleteTimeTrackings": delete_time_trackings})

    # -- task lists and tasks --------------------------------------------------------------------
    def task_lists(self, project_id: str, *, show_archived: bool = False, filterby: str | None = None,
                   orderby: str | None = DEFAULT_ORDER, page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        return self.pages(f"/projects/{project_id}/tasklists", filterby=filterby, orderby=orderby,
                          page_size=page_size, params={"showArchived": _bool(show_archived)})

    def task_list(self, project_id: str, task_list_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/projects/{project_id}/tasklists/{task_list_id}")

    def create_task_list(self, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /projects/{id}/tasklists`` (``name*``, ``order``)."""
        return dict(self.request("POST", f"/projects/{project_id}/tasklists", json=dict(body)).json())

    def update_task_list(self, project_id: str, task_list_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /projects/{id}/tasklists/{tl}`` (``name*``)."""
        return dict(self.request("PUT", f"/projects/{project_id}/tasklists/{task_list_id}", json=dict(body)).json())

    def delete_task_list(self, project_id: str, task_list_id: str, *, delete_tasks: bool = False,
                         delete_times: bool = False) -> bool:
        """``POST …/tasklists/{tl}/delete``; its tasks only leave the list unless ``delete_tasks``."""
        return self._delete(f"/projects/{project_id}/tasklists/{task_list_id}/delete",
                            {"deleteTasks": delete_tasks, "deleteTimes": delete_times})

    def add_tasks_to_list(self, project_id: str, task_list_id: str,
                          tasks: Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``POST …/tasklists/{tl}/addtasks``: task ids (or ``{taskId, order}``) join the list and
        keep their other lists; answers ``[{id, order}]``. Repeating it is harmless."""
        body = [{"taskId": t} if isinstance(t, str) else dict(t) for t in tasks]
        resp = self.request("POST", f"/projects/{project_id}/tasklists/{task_list_id}/addtasks",
                            json=body, idempotent=True)
        return list(resp.json())

    def project_tasks(self, project_id: str, *, filterby: str | None = None,
                      orderby: str | None = DEFAULT_ORDER, page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        """``GET /projects/{id}/projecttasks`` (awork has no ``GET /tasks``); ``lists`` on each task."""
        return self.pages(f"/projects/{project_id}/projecttasks", filterby=filterby, orderby=orderby,
                          page_size=page_size)

    def task(self, task_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/tasks/{task_id}")

    def create_task(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /tasks``; a project task is ``{baseType: "projecttask", entityId: <projectId>,
        name*, typeOfWorkId?, plannedDuration? (s), lists?: [{id, order}]}``."""
        return dict(self.request("POST", "/tasks", json=dict(body)).json())

    def update_task(self, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /tasks/{id}`` with a ``GeneralTaskForm`` (``name*``, ``description``, ``plannedDuration``, …)."""
        return dict(self.request("PUT", f"/tasks/{task_id}", json=dict(body)).json())

    def delete_tasks(self, task_ids: Sequence[str], *, delete_time_trackings: bool = False) -> dict[str, Any] | None:
        """``POST /tasks/delete``: None when all went (204), else awork's ``MultiStatusResult`` (207)."""
        resp = self.request("POST", "/tasks/delete", idempotent=True,
                            json={"taskIds": list(task_ids), "deleteTimeTrackings": delete_time_trackings})
        return dict(resp.json()) if resp.status_code == 207 and resp.content else None

    # -- time entries ----------------------------------------------------------------------------
    def time_entries_updated_since(self, since: datetime, *, filterby: str | None = None,
                                   page_size: int = MAX_PAGE_SIZE,
                                   support: QuerySupport = QuerySupport.HONOURED) -> Iterator[Page]:
        """Time entries created or changed at/after ``since`` (aware). Deleted entries never show
        (§9.6). Where ``/timeentries`` honours filterby and orderby: oldest change first, keyset
        paging (``pages_updated_since``, which raises ``QueryIgnoredError`` when it finds out
        otherwise); else a page-by-page read filtered here (``awork_query``)."""
        if support is QuerySupport.HONOURED:
            return self.pages_updated_since("/timeentries", since, filterby=filterby, page_size=page_size)
        if filterby:
            raise ValueError("an extra filterby needs a /timeentries that honours filterby")
        return pages_changed_since_full_read(self, "/timeentries", since, support)

    def time_entry_query_support(self) -> QuerySupport:
        """Whether ``/timeentries`` honours filterby and orderby (3 one-item requests, issue #10)."""
        return check_query_support(self, "/timeentries")

    def time_entries(
        self,
        *,
        between: tuple[date, date] | None = None,
        project_id: str | None = None,
        filterby: str | None = None,
        orderby: str | None = "createdOn asc,id asc",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Time entries whose ``startDateUtc`` lies in ``between = (first_day, last_day)`` (UTC
        days, inclusive) and/or of one project. For deletion reconciliation: an entry missing
        here is only gone once ``time_entry(id)`` says None (paging can shift under deletions)."""
        conditions: list[str | None] = []
        if between is not None:
            first, last = between
            if isinstance(first, datetime) or isinstance(last, datetime):
                raise TypeError("between takes dates (UTC days), not datetimes")
            conditions.append(f"startDateUtc ge {datetime_literal(first)}")
            conditions.append(f"startDateUtc lt {datetime_literal(last + timedelta(days=1))}")
        if project_id is not None:
            conditions.append(f"projectId eq {guid_literal(project_id)}")
        conditions.append(filterby)
        pages = self.pages("/timeentries", filterby=all_of(*conditions), orderby=orderby, page_size=page_size)
        if between is None and project_id is None:
            return pages
        return _within(pages, between, project_id)  # also right where awork ignores filterby (issue #10)

    def time_entry(self, time_entry_id: str) -> dict[str, Any] | None:
        """One time entry, or None when awork answers 404 (deleted)."""
        return self.get_or_none(f"/timeentries/{time_entry_id}")

    # -- helpers ---------------------------------------------------------------------------------
    def _delete(self, path: str, body: Mapping[str, Any]) -> bool:
        try:
            self.request("POST", path, json=dict(body), idempotent=True)
        except NotFoundError:
            return False
        return True


def _within(pages: Iterator[Page], between: tuple[date, date] | None, project_id: str | None) -> Iterator[Page]:
    """The entries of ``pages`` that lie in ``between`` (UTC days) and belong to ``project_id``."""
    for page in pages:
        kept = []
        for item in page:
            day = str(item.get("startDateUtc") or "")[:10]
            if between is not None and not (between[0].isoformat() <= day <= between[1].isoformat()):
                continue
            if project_id is not None and str(item.get("projectId") or "").lower() != str(project_id).lower():
                continue
            kept.append(item)
        if kept:
            yield kept


def _check_keyset_page(items: Page, cursor: datetime) -> None:
    """Raise ``QueryIgnoredError`` when a keyset page proves the filter or the order ignored."""
    previous: datetime | None = None
    for item in items:
        moment = _parse_timestamp(item.get("updatedOn"))
        if moment is None:
            continue
        if moment < cursor:
            raise QueryIgnoredError(QuerySupport.FILTER_IGNORED,
                                    f"entry {item.get('id')} changed {item.get('updatedOn')}, before the cursor {cursor.isoformat()}")
        if previous is not None and moment < previous:
            raise QueryIgnoredError(QuerySupport.ORDER_IGNORED,
                                    f"entry {item.get('id')} ({item.get('updatedOn')}) came after a later change")
        previous = moment


def _page_size(value: int) -> int:
    if value < 1:
        raise ValueError("page_size must be at least 1")
    return min(int(value), MAX_PAGE_SIZE)


def _query(params: Mapping[str, Any] | None, filterby: str | None, orderby: str | None) -> dict[str, Any]:
    query = {k: v for k, v in (params or {}).items() if v is not None}
    if filterby:
        query["filterby"] = filterby
    if orderby:
        query["orderby"] = orderby
    return query


def _bool(value: bool) -> str:
    return "true" if value else "false"


_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


def _parse_timestamp(value: Any) -> datetime | None:
    """An awork timestamp (7-digit fractions, ``Z``) as an aware UTC datetime, whole seconds."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.match(value.strip())
    if not match:
        return None
    zone = match.group(2)
    text = match.group(1) + ("+00:00" if zone in (None, "Z") else zone)
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def _version(item: Mapping[str, Any]) -> tuple[str, str]:
    return str(item.get("id")), str(item.get("updatedOn"))


def _whole_second(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("since must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


__all__ = [
    "AWORK_API_URL",
    "ApiError",
    "AuthorizationRequest",
    "AworkApiKey",
    "AworkAuth",
    "AworkAuthorizationRevoked",
    "AworkClient",
    "AworkOAuthTokens",
    "AworkTokenStoreError",
    "Page",
    "QueryIgnoredError",
    "QuerySupport",
    "RequestBudget",
    "TokenGrant",
    "TokenStore",
    "all_of",
    "authorization_request",
    "code_from_redirect",
    "datetime_literal",
    "exchange_authorization_code",
    "guid_literal",
    "pkce_pair",
    "string_literal",
    "token_url_for",
    "user_email",
]
