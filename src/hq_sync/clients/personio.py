"""Personio API v2 client: client-credentials auth, cursor pagination, rate-limit pacing.

Reads persons, absence types and absence periods (``docs/personio.md`` explains the choices; the
contract is ``../shared/api/personio.md``). List methods are generators of *pages*, so a caller
can stage each page before the next one is fetched and memory stays flat.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from hq_sync.clients.http import AuthError, ClientError, HttpClient, NotFoundError, RetryPolicy, header_number
from hq_sync.timeutil import parse_timestamp

log = logging.getLogger(__name__)

PERSONS_MAX_LIMIT = 50
PERIODS_MAX_LIMIT = 100
TYPES_MAX_LIMIT = 100
TOKEN_RENEW_MARGIN_S = 60  # renew this long before the token expires
APP_ID_PATTERN = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)*$")

Page = list[dict[str, Any]]


@dataclass(frozen=True)
class PersonioCredentials:
    client_id: str
    client_secret: str
    app_id: str = "HQ_SYNC"  # X-Personio-App-ID, UPPER_SNAKE_CASE as Personio asks

    def __repr__(self) -> str:  # never show the secret
        return f"PersonioCredentials(client_id={self.client_id!r}, app_id={self.app_id!r})"


class TokenCache(Protocol):
    """Where a Personio access token is kept between clients (steps) of the same credentials.

    ``key`` names the credentials (``credentials_key``, a hash: never the secret itself);
    ``expires_at`` is a wall-clock epoch time."""

    def get(self, key: str) -> tuple[str, float] | None: ...

    def put(self, key: str, token: str, expires_at: float) -> None: ...

    def drop(self, key: str, token: str) -> None: ...


class ProcessTokenCache:
    """Tokens shared by every client of this process (thread-safe), keyed by credentials."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show a token
        return f"ProcessTokenCache({len(self._tokens)} credentials)"

    def get(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)

    def drop(self, key: str, token: str) -> None:
        with self._lock:
            if self._tokens.get(key, ("", 0.0))[0] == token:
                del self._tokens[key]


PROCESS_TOKENS = ProcessTokenCache()


def credentials_key(base_url: str, credentials: PersonioCredentials) -> str:
    """A stable, non-reversible name of (API base, client id, secret, app id) for token caches."""
    text = "\x1f".join((base_url.rstrip("/"), credentials.client_id, credentials.client_secret, credentials.app_id))
    return hashlib.sha256(text.encode()).hexdigest()


def format_datetime(value: datetime) -> str:
    """An ``updated_at`` filter value: UTC with a ``Z`` (aware datetimes only)."""
    if value.tzinfo is None:
        raise ValueError("filter datetimes must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_local_day(value: date) -> str:
    """A ``starts_from``/``ends_at`` filter value: local midnight without a zone, as Personio stores them."""
    return f"{value.isoformat()}T00:00:00"


def _changed_after(pages: Iterator[Page], since: datetime | None) -> Iterator[Page]:
    """``pages`` without the items whose ``updated_at`` is not after ``since``."""
    for page in pages:
        yield [item for item in page if _after(item.get("updated_at"), since)]


def _after(value: Any, since: datetime | None) -> bool:
    try:
        stamp = parse_timestamp(value)
    except (TypeError, ValueError):
        return True  # unreadable: keep it (staging compares versions)
    return stamp is None or since is None or stamp > since


class PersonioClient(HttpClient):
    """``GET /v2/persons``, ``/v2/absence-types``, ``/v2/absence-periods`` (+ by id)."""

    vendor = "personio"

    def __init__(
        self,
        base_url: str,
        credentials: PersonioCredentials,
        *,
        retry: RetryPolicy | None = None,
        token_cache: TokenCache | None = PROCESS_TOKENS,
        **kwargs: Any,
    ) -> None:
        if not APP_ID_PATTERN.match(credentials.app_id):
            raise ValueError(f"Personio app id {credentials.app_id!r} must be UPPER_SNAKE_CASE")
        super().__init__(base_url, retry=retry, headers={"X-Personio-App-ID": credentials.app_id}, **kwargs)
        self.credentials = credentials
        # A token is reused while valid by every client of the same credentials (issue #12): the
        # steps of a run share one. ``None``: this client mints its own.
        self.token_cache = token_cache
        self._cache_key = credentials_key(self.base_url, credentials)
        self._token: str | None = None
        self._token_expires_at = 0.0  # wall clock (epoch seconds)
        self._token_lock = threading.Lock()
        self._pace_until = 0.0

    # -- auth ------------------------------------------------------------------------------
    def _fetch_token(self) -> None:
        """Mint an access token; 429/5xx/connection errors are retried like any request."""
        url = self.url("/v2/auth/token")
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
        }
        try:
            resp = self.raw_request("POST", url, data=form, idempotent=True)
        except (ClientError, AuthError) as exc:  # 400/401/403 from the token endpoint: wrong credentials
            body = exc.body
            reason = (body.get("error_description") or body.get("error")) if isinstance(body, dict) else body
            raise AuthError(
                f"Personio rejected the client credentials ({exc.status}: {reason}); check the client id "
                "and secret in the tenant's personio connection",
                status=exc.status,
                body=body,
                method="POST",
                url=url,
            ) from exc
        body = resp.json()
        self._token = body["access_token"]
        self._token_expires_at = time.time() + float(body.get("expires_in", 86400))
        log.info("personio: new access token, valid %ss", body.get("expires_in"))
        if self.token_cache is not None:
            self.token_cache.put(self._cache_key, self._token, self._token_expires_at)

    def _valid(self, expires_at: float) -> bool:
        return time.time() < expires_at - TOKEN_RENEW_MARGIN_S

    def _auth_headers(self) -> dict[str, str]:
        with self._token_lock:
            if self._token is None or not self._valid(self._token_expires_at):
                cached = self.token_cache.get(self._cache_key) if self.token_cache is not None else None
                if cached is not None and self._valid(cached[1]):
                    self._token, self._token_expires_at = cached
                else:
                    self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}

    def _reauthenticate(self) -> bool:
        with self._token_lock:
            if self._token is not None and self.token_cache is not None:
                self.token_cache.drop(self._cache_key, self._token)  # rejected: nobody may reuse it
            self._token = None
        return True

    # -- rate limits -----------------------------------------------------------------------
    def _retry_after(self, resp: requests.Response) -> float | None:
        # Personio's 429 carries no Retry-After, only the token-bucket headers.
        explicit = super()._retry_after(resp)
        if explicit is not None:
            return explicit
        rate = header_number(resp, "x-ratelimit-replenish-rate")
        requested = header_number(resp, "x-ratelimit-requested-tokens") or 1.0
        if rate:
            return max(1.0, requested / rate)
        return None

    def _pace(self, resp: requests.Response) -> None:
        remaining = header_number(resp, "x-ratelimit-remaining")
        rate = header_number(resp, "x-ratelimit-replenish-rate")
        if remaining is not None and rate and remaining < 1:
            wait = 1.0 / rate
            log.info("personio: rate-limit bucket empty, pausing %.2fs", wait)
            self._sleep(wait)

    # -- pagination ------------------------------------------------------------------------
    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[Page]:
        """Follow ``_meta.links.next.href`` verbatim; yields each page's ``_data``."""
        url: str | None = self.url(path)
        query: Mapping[str, Any] | None = {k: v for k, v in params.items() if v is not None}
        own_host = urlsplit(self.base_url).netloc
        while url:
            body = self.request("GET", url, params=query).json()
            yield list(body.get("_data") or [])
            nxt = (((body.get("_meta") or {}).get("links") or {}).get("next") or {}).get("href")
            if not nxt or not body.get("_data"):
                return
            next_url = self.url(nxt) if nxt.startswith("/") else nxt
            if urlsplit(next_url).netloc != own_host:
                raise ClientError(
                    f"personio: next page on a foreign host ({urlsplit(next_url).netloc}); refusing to follow"
                )
            url, query = next_url, None  # the cursor carries the filters

    def persons(
        self, *, updated_since: datetime | None = None, date_only: bool = False, limit: int = PERSONS_MAX_LIMIT
    ) -> Iterator[Page]:
        """Pages of persons (``{id, email, first_name, last_name, status, ...}``), optionally only
        those changed after a time.

        ``updated_since``: ``updated_at.gt`` (persons filter strictly, unlike the period endpoints'
        ``gte``; personio.md §4.4), in the format of the period filters. The pages are filtered
        here too, so a server that ignored the filter costs more requests but yields the same
        persons (one without ``updated_at`` is kept: it cannot be told apart). ``date_only``: the
        filter as a date, the day before ``updated_since`` (whether Personio takes a date-time
        here is uncertain, personio.md §4.4: pysonio reports dates only); still filtered here by
        ``updated_since`` itself.
        """
        params: dict[str, Any] = {"limit": min(limit, PERSONS_MAX_LIMIT)}
        if updated_since is None:
            return self.pages("/v2/persons", params)
        exact = format_datetime(updated_since)
        day_before = (updated_since.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        params["updated_at.gt"] = day_before if date_only else exact
        return _changed_after(self.pages("/v2/persons", params), parse_timestamp(exact))

    def absence_types(self, *, limit: int = TYPES_MAX_LIMIT) -> Iterator[Page]:
        """Pages of absence types (``{id, name, category, unit}``)."""
        return self.pages("/v2/absence-types", {"limit": min(limit, TYPES_MAX_LIMIT)})

    def absence_periods(
        self,
        *,
        updated_since: datetime | None = None,
        overlapping: tuple[date, date] | None = None,
        starting_until: date | None = None,
        limit: int = PERIODS_MAX_LIMIT,
    ) -> Iterator[Page]:
        """Pages of absence periods, optionally changed since a time and/or overlapping a window.

        ``overlapping=(first_day, last_day)``: periods that end on/after the first day and start
        on/before the last day (Personio's overlap semantics). Whether an **open-ended** period
        (``ends_at`` null) passes the end filter is unknown (issue #10): callers must not rely on
        it. ``starting_until=day``: periods starting on/before that day, by a filter that never
        reads the end (open-ended periods always included).
        """
        params: dict[str, Any] = {"limit": min(limit, PERIODS_MAX_LIMIT)}
        if updated_since is not None:
            params["updated_at.gte"] = format_datetime(updated_since)
        if overlapping is not None:
            params["ends_at.date_time.gte"] = format_local_day(overlapping[0])
            params["starts_from.date_time.lte"] = format_local_day(overlapping[1] + timedelta(days=1))
        elif starting_until is not None:
            params["starts_from.date_time.lte"] = format_local_day(starting_until + timedelta(days=1))
        return self.pages("/v2/absence-periods", params)

    def absence_period_breakdown(self, period_id: str) -> list[dict[str, Any]] | None:
        """The day-by-day amounts of a period (``{date, effective_duration: {unit, value}}``, all
        pages), or None when the period is gone (404). The one place that names a period's last
        day independently of how ``ends_at`` is rendered (personio.md §4.2, issue #10)."""
        try:
            return [item for page in self.pages(f"/v2/absence-periods/{period_id}/breakdowns", {}) for item in page]
        except NotFoundError:
            return None

    def absence_period(self, period_id: str) -> dict[str, Any] | None:
        """One absence period, or None when Personio answers 404 (deleted)."""
        return self.get_or_none(f"/v2/absence-periods/{period_id}")
