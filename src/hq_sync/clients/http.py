"""The HTTP base every vendor client shares: timeouts, retries, back-off, honest errors.

Retry rules, chosen so that a retry can never book anything twice:

- **429** is retried for every method (the server did not process the request), waiting what the
  vendor's rate-limit headers say (``_retry_after``), else exponential back-off with jitter.
- **5xx, timeouts and dropped connections** are retried for idempotent requests (GET, PUT,
  DELETE, and writes the caller marks idempotent). For other writes (POST) the outcome is unknown:
  the client raises ``AmbiguousWriteError`` and the caller, which knows how to look the object
  up, decides. A connection that could not even be opened is retried for every method.
- **401** triggers one re-authentication (``_reauthenticate``) and one retry.

A **request budget** (``budget=``, ``hq_sync.clients.budget``) paces every attempt below the vendor
account's rate limit, shared by every client of the account (in Redis: across processes).

Nothing secret is logged: only method, path, status and duration.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

if TYPE_CHECKING:
    from hq_sync.clients.budget import Budget

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """An HTTP API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.method = method
        self.url = url


class NotFoundError(ApiError):
    """404: the object does not exist (or no longer does)."""


class AuthError(ApiError):
    """401/403 that re-authenticating did not fix: a system problem, fail the run."""


class ClientError(ApiError):
    """4xx other than 401/403/404/429: the server refused the request as it was."""


class TransientError(ApiError):
    """429/5xx/timeouts that outlasted every retry: a system problem, fail the run."""


class AmbiguousWriteError(ApiError):
    """A non-idempotent write whose outcome is unknown (timeout, dropped connection, 5xx)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # total tries per request
    base_delay: float = 0.5  # seconds; doubles each try
    max_delay: float = 30.0
    timeout: tuple[float, float] = (5.0, 30.0)  # (connect, read) seconds


def server_time(resp: requests.Response) -> datetime | None:
    """The answer's ``Date`` header (RFC 7231, whole seconds) as an aware UTC datetime, or None."""
    value = resp.headers.get("Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _body(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:2000]


class HttpClient:
    """A requests session bound to one API base URL, with the retry rules above.

    Subclasses add authentication (``_auth_headers``, ``_reauthenticate``) and vendor-specific
    rate-limit handling (``_retry_after``, ``_pace``).
    """

    vendor = "api"

    def __init__(
        self,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: Mapping[str, str] | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The vendor account's request budget (hq_sync.clients.budget): every attempt, retries
        # included, waits for and spends one unit of it. None: no client-side limit.
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "hq-sync/0.1"})
        if headers:
            self.session.headers.update(headers)
        self._sleep = sleep
        self.requests_sent = 0
        self._count_lock = threading.Lock()  # loaders send from several threads (hq_sync.load.concurrency)
        # The server's clock (its ``Date`` header) at the last successful answer: incremental
        # cursors are taken from the vendor's clock, so a skewed local clock cannot skip changes.
        self.last_server_time: datetime | None = None

    # -- hooks for vendor clients ----------------------------------------------------------
    def _before_send(self) -> None:
        """Called once per attempt, right before it is sent (e.g. to spend a request budget)."""

    def _auth_headers(self) -> dict[str, str]:
        return {}

    def _reauthenticate(self) -> bool:
        """Drop cached credentials after a 401; True when a retry makes sense."""
        return False

    def _retry_after(self, resp: requests.Response) -> float | None:
        """Seconds to wait before retrying a 429/503, from the vendor's headers."""
        value = resp.headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def _pace(self, resp: requests.Response) -> None:
        """Slow down before the next request when the vendor says the budget is nearly spent."""

    # -- core ------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _backoff(self, attempt: int) -> float:
        delay = min(self.retry.max_delay, self.retry.base_delay * (2 ** (attempt - 1)))
        return delay * random.uniform(0.5, 1.0)

    def raw_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``request()`` without the client's authentication (token endpoints)."""
        return self.request(method, path, authenticate=False, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
    ) -> requests.Response:
        """Send a request with the retry rules; returns the successful (2xx/3xx) response.

        Raises NotFoundError, AuthError, ClientError, TransientError or AmbiguousWriteError.
        """
        method = method.upper()
        url = self.url(path)
        shown = urlsplit(url).path
        safe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                if self.budget is not None:
                    self.budget.acquire()
                self._before_send()
                headers_now = {**(self._auth_headers() if authenticate else {}), **(headers or {})}
                with self._count_lock:
                    self.requests_sent += 1
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers_now,
                    timeout=self.retry.timeout,
                )
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                never_sent = _never_sent(exc)
                kind = type(exc).__name__
                if not (safe or never_sent):
                    raise AmbiguousWriteError(
                        f"{self.vendor} {method} {shown}: {kind}; the write may or may not have happened",
                        method=method, url=url,
                    ) from exc
                if attempt >= self.retry.attempts:
                    raise TransientError(
                        f"{self.vendor} {method} {shown}: {kind} after {attempt} attempts", method=method, url=url
                    ) from exc
                wait = self._backoff(attempt)
                log.warning("%s %s %s: %s; retry %d in %.1fs", self.vendor, method, shown, kind, attempt, wait)
                self._sleep(wait)
                continue

            elapsed = time.monotonic() - started
            log.debug("%s %s %s -> %d (%.0f ms)", self.vendor, method, shown, resp.status_code, elapsed * 1000)
            status = resp.status_code
            if status < 400:
                self.last_server_time = server_time(resp) or self.last_server_time
                self._pace(resp)
                return resp
            if status == 401 and authenticate and not reauthenticated and self._reauthenticate():
                reauthenticated = True
                continue
            if status in RETRY_STATUSES:
                if status != 429 and not safe:
                    raise AmbiguousWriteError(
                        f"{self.vendor} {method} {shown} -> {status}; the write may or may not have happened",
                        status=status, body=_body(resp), method=method, url=url,
                    )
                if attempt >= self.retry.attempts:
                    raise TransientError(
                        f"{self.vendor} {method} {shown} -> {status} after {attempt} attempts",
                        status=status, body=_body(resp), method=method, url=url,
                    )
                wait = self._retry_after(resp)
                wait = self._backoff(attempt) if wait is None else min(max(wait, 0.0), self.retry.max_delay * 4)
                log.warning("%s %s %s -> %d; retry %d in %.1fs", self.vendor, method, shown, status, attempt, wait)
                self._sleep(wait)
                continue
            body = _body(resp)
            message = f"{self.vendor} {method} {shown} -> {status}: {_summarize(body)}"
            if status == 401 and reauthenticated:
                message += " (refused again after re-authenticating: revoked credentials or a missing permission)"
            if status == 404:
                raise NotFoundError(message, status=status, body=body, method=method, url=url)
            if status in (401, 403):
                raise AuthError(message, status=status, body=body, method=method, url=url)
            raise ClientError(message, status=status, body=body, method=method, url=url)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()


def _never_sent(exc: Exception) -> bool:
    """Whether a failed attempt certainly never reached the server: connecting timed out, or the
    connection could not be opened at all (refused, unreachable, unknown host: urllib3's
    ``NewConnectionError``, found by type in the chain requests wraps it in)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError):
            return True
        if isinstance(cause, BaseException):
            todo += [getattr(cause, "reason", None), cause.__cause__, *cause.args]
    return False


def _summarize(body: Any, limit: int = 300) -> str:
    text = body if isinstance(body, str) else repr(body)
    return text if len(text) <= limit else text[:limit] + "…"
