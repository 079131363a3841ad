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
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from hq_sync.timeutil import parse_http_date

if TYPE_CHECKING:
    from hq_sync.clients.auth import BearerAuth
    from hq_sync.clients.budget import Budget

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_N = TypeVar("_N", int, float)


class ApiError(Exception):
    """An HTTP API answered with an error, or could not be reached."""

    def __init__(
        self, message: str, *, status: int | None = None, body: Any = None, method: str = "", url: str = ""
    ) -> None:
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
    return parse_http_date(resp.headers.get("Date"))


def _body(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:2000]


class HttpClient:
    """A requests session bound to one API base URL, with the retry rules above.

    ``auth`` (``hq_sync.clients.auth.BearerAuth``) sends its ``Authorization`` header on every
    authenticated request and is invalidated once after a 401. Subclasses may instead override
    ``_auth_headers`` / ``_reauthenticate``, and add vendor-specific rate-limit handling
    (``_retry_after``, ``_pace``).
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
        auth: BearerAuth | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The vendor account's request budget (hq_sync.clients.budget): every attempt, retries
        # included, waits for and spends one unit of it. None: no client-side limit.
        self.budget = budget
        self.auth = auth
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
        return {"Authorization": self.auth.authorization()} if self.auth is not None else {}

    def _reauthenticate(self) -> bool:
        """Drop cached credentials after a 401; True when a retry makes sense."""
        return self.auth.invalidate() if self.auth is not None else False

    def _retry_after(self, resp: requests.Response) -> float | None:
        """Seconds to wait before retrying a 429/503, from the vendor's headers."""
        return header_number(resp, "Retry-After")

    def _pace(self, resp: requests.Response) -> None:
        """Slow down before the next request when the vendor says the budget is nearly spent."""

    # -- core ------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _backoff(self, attempt: int) -> float:
        delay = min(self.retry.max_delay, self.retry.base_delay * 2.0 ** (attempt - 1))
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
        safe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        attempt = _Attempt(self.vendor, method, url, safe)
        payload = {"params": params, "json": json, "data": data}
        reauthenticated = False
        while True:
            attempt.number += 1
            try:
                resp = self._send(attempt, payload, headers, authenticate)
            except _CONNECTION_FAILURES as exc:
                self._sleep(self._wait_after_failure(attempt, exc))
                continue
            status = resp.status_code
            if status < 400:
                self.last_server_time = server_time(resp) or self.last_server_time
                self._pace(resp)
                return resp
            if status == 401 and authenticate and not reauthenticated and self._reauthenticate():
                reauthenticated = True
                continue
            if status not in RETRY_STATUSES:
                raise _refusal(attempt, resp, reauthenticated)
            self._sleep(self._wait_after_status(attempt, resp))

    def _send(
        self, attempt: _Attempt, payload: Mapping[str, Any], headers: Mapping[str, str] | None, authenticate: bool
    ) -> requests.Response:
        """One attempt: spend from the budget, authenticate, send; the answer, whatever its status."""
        started = time.monotonic()
        if self.budget is not None:
            self.budget.acquire()
        self._before_send()
        headers_now = {**(self._auth_headers() if authenticate else {}), **(headers or {})}
        with self._count_lock:
            self.requests_sent += 1
        resp = self.session.request(
            attempt.method, attempt.url, headers=headers_now, timeout=self.retry.timeout, **payload
        )
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("%s %s %s -> %d (%.0f ms)", self.vendor, attempt.method, attempt.shown, resp.status_code, elapsed_ms)
        return resp

    def _wait_after_failure(self, attempt: _Attempt, exc: Exception) -> float:
        """The back-off before retrying an attempt that got no answer; raises AmbiguousWriteError
        (a write that may have reached the server) or TransientError (attempts used up)."""
        kind = type(exc).__name__
        where = f"{self.vendor} {attempt.method} {attempt.shown}"
        if not (attempt.safe or _never_sent(exc)):
            raise AmbiguousWriteError(
                f"{where}: {kind}; the write may or may not have happened", method=attempt.method, url=attempt.url
            ) from exc
        if attempt.number >= self.retry.attempts:
            raise TransientError(
                f"{where}: {kind} after {attempt.number} attempts", method=attempt.method, url=attempt.url
            ) from exc
        wait = self._backoff(attempt.number)
        log.warning("%s: %s; retry %d in %.1fs", where, kind, attempt.number, wait)
        return wait

    def _wait_after_status(self, attempt: _Attempt, resp: requests.Response) -> float:
        """The wait before retrying a 429/5xx answer; raises AmbiguousWriteError (a 5xx to a write
        that is not idempotent) or TransientError (attempts used up)."""
        status = resp.status_code
        where = f"{self.vendor} {attempt.method} {attempt.shown} -> {status}"
        if status != 429 and not attempt.safe:
            raise AmbiguousWriteError(f"{where}; the write may or may not have happened", **attempt.error_fields(resp))
        if attempt.number >= self.retry.attempts:
            raise TransientError(f"{where} after {attempt.number} attempts", **attempt.error_fields(resp))
        hinted = self._retry_after(resp)
        wait = self._backoff(attempt.number) if hinted is None else min(max(hinted, 0.0), self.retry.max_delay * 4)
        log.warning("%s; retry %d in %.1fs", where, attempt.number, wait)
        return wait

    # -- conveniences ----------------------------------------------------------------------
    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """One object as a dict, or None when the server answers 404."""
        try:
            return dict(self.request("GET", path, params=params).json())
        except NotFoundError:
            return None

    def request_if_found(self, method: str, path: str, **kwargs: Any) -> bool:
        """Send a request about one object (a delete); False when it was already gone (404), so
        repeating a delete is harmless."""
        try:
            self.request(method, path, **kwargs)
        except NotFoundError:
            return False
        return True


_CONNECTION_FAILURES = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass
class _Attempt:
    """The request being tried, and how many attempts it took so far."""

    vendor: str
    method: str
    url: str
    safe: bool  # whether repeating it is harmless (idempotent)
    number: int = 0

    @property
    def shown(self) -> str:
        """The URL's path: what logs and messages show (never the query)."""
        return urlsplit(self.url).path

    def error_fields(self, resp: requests.Response) -> dict[str, Any]:
        """The fields of an ``ApiError`` about an answer to this request."""
        return {"status": resp.status_code, "body": _body(resp), "method": self.method, "url": self.url}


def _refusal(attempt: _Attempt, resp: requests.Response, reauthenticated: bool) -> ApiError:
    """The error for a 4xx that no retry can fix: NotFoundError, AuthError or ClientError."""
    status = resp.status_code
    fields = attempt.error_fields(resp)
    message = f"{attempt.vendor} {attempt.method} {attempt.shown} -> {status}: {_summarize(fields['body'])}"
    if status == 401 and reauthenticated:
        message += " (refused again after re-authenticating: revoked credentials or a missing permission)"
    if status == 404:
        return NotFoundError(message, **fields)
    if status in (401, 403):
        return AuthError(message, **fields)
    return ClientError(message, **fields)


def header_number(resp: requests.Response, name: str) -> float | None:
    """A numeric response header (``Retry-After``, rate-limit headers); None when absent or no number."""
    return _header(resp, name, float)


def header_int(resp: requests.Response, name: str) -> int | None:
    """An integer response header (``aw-totalitems``); None when absent or no integer."""
    return _header(resp, name, int)


def _header(resp: requests.Response, name: str, convert: Callable[[str], _N]) -> _N | None:
    value = resp.headers.get(name)
    try:
        return convert(value) if value is not None else None
    except ValueError:
        return None


def _never_sent(exc: Exception) -> bool:
    """Whether a failed attempt certainly never reached the server: connecting timed out, or the
    connection could not be opened at all (refused, unreachable, unknown host: urllib3's
    ``NewConnectionError``, found by type in the chain requests wraps it in: ``args``, urllib3's
    ``reason``, ``__cause__`` and ``__context__``). The wording of a message never decides."""
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
            todo += [getattr(cause, "reason", None), cause.__cause__, cause.__context__, *cause.args]
    return False


def _summarize(body: Any, limit: int = 300) -> str:
    text = body if isinstance(body, str) else repr(body)
    return text if len(text) <= limit else text[:limit] + "…"
