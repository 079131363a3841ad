"""Test harness shared by the three sandbox servers: request log, fault injection, rate limit.

It is an ASGI middleware around a vendor's FastAPI app plus an admin router under ``/_sandbox/``.
The admin surface is never part of a vendor's API; it exists for tests, benchmarks and the demo.

Fault modes (``POST /_sandbox/faults``)::

    {"path": "^/v2/absence-periods", "method": "GET", "mode": "429", "count": 3}
    {"path": "do.CreateReporting", "mode": "lose_answer", "ratio": 0.3, "seed": 7}

``path`` is a regular expression searched in the request path (query string excluded); ``method``
is optional. ``count`` makes the next N matching requests fail; ``ratio`` makes that share of them
fail (deterministically, seeded). Modes:

- ``429``: the vendor's rate-limit answer, with its headers (nothing is performed).
- ``500`` / ``503``: the vendor's error body (nothing is performed).
- ``hang``: wait ``seconds`` (default 30, longer than any client timeout), then close the
  connection without performing the request.
- ``drop``: the status line and headers are sent, then the connection closes mid-body (nothing is
  performed): what a client sees when a proxy resets the connection.
- ``lose_answer``: the request **is performed**, then the connection closes before the answer is
  complete. The write happened; the client cannot know it.
- ``delay``: wait ``seconds``, then perform and answer normally (a slow vendor; a client that goes
  away meanwhile leaves a performed request whose answer nobody reads).

Rate limit (``PUT /_sandbox/rate-limit``): per token, ``per_minute`` requests in any 60 s and
``per_second`` in any 1 s (each optional), answered with the vendor's 429.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FAULT_MODES = ("429", "500", "503", "hang", "drop", "lose_answer", "delay")
ADMIN_PREFIX = "/_sandbox"

# A vendor-shaped answer: (status, headers, JSON body)
VendorAnswer = tuple[int, dict[str, str], Any]


@dataclass
class FaultRule:
    id: int
    path: str
    mode: str
    method: str | None = None
    count: int | None = None
    ratio: float | None = None
    seed: int = 0
    seconds: float = 30.0
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; expected one of {FAULT_MODES}")
        if (self.count is None) == (self.ratio is None):
            raise ValueError("give exactly one of 'count' (next N requests) or 'ratio' (0..1)")
        if self.ratio is not None and not 0 <= self.ratio <= 1:
            raise ValueError("'ratio' must lie between 0 and 1")
        self._pattern = re.compile(self.path)
        self._random = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return bool(self._pattern.search(path))

    def fire(self) -> bool:
        """Decide whether this matching request fails; counts the failures."""
        if self.count is not None:
            if self.fired >= self.count:
                return False
        elif self._random.random() >= (self.ratio or 0):
            return False
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "mode": self.mode,
            "count": self.count,
            "ratio": self.ratio,
            "seed": self.seed,
            "seconds": self.seconds,
            "fired": self.fired,
        }


@dataclass
class VendorHooks:
    """What the harness needs to know about one vendor."""

    name: str
    # The vendor's 429 answer; ``retry_after`` is seconds until the window frees up.
    too_many_requests: Callable[[float], VendorAnswer]
    # The vendor's error answer for an injected 500/503.
    server_error: Callable[[int], VendorAnswer]
    # Forget all vendor data (``POST /_sandbox/reset``).
    reset: Callable[[], None]
    # Rate-limit key for a request (usually its token); None: not limited.
    rate_limit_key: Callable[[Scope], str | None] = lambda scope: _bearer(scope)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return value.decode("latin-1")
    return None


class Harness:
    """State of the admin surface; ``wrap()`` returns the ASGI app to serve."""

    def __init__(self, hooks: VendorHooks, rate_limit_per_minute: int | None = None) -> None:
        self.hooks = hooks
        self.rate_limit_per_minute = rate_limit_per_minute
        self._initial_rate_limit = rate_limit_per_minute
        self.rate_limit_per_second: int | None = None
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._rule_ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self.faults: list[FaultRule] = []
        self._windows: dict[str, deque[float]] = {}

    # -- admin API -------------------------------------------------------------------------
    def router(self) -> APIRouter:
        router = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])

        @router.get("/health")
        def health() -> dict[str, str]:
            return {"status": "ok", "vendor": self.hooks.name}

        @router.get("/requests")
        def list_requests(since: int = 0, path: str | None = None) -> dict[str, Any]:
            """Every vendor request served (admin requests excluded), oldest first.

            ``since``: only entries with a larger ``seq``; ``path``: a regular expression.
            """
            pattern = re.compile(path) if path else None
            with self._lock:
                items = [
                    r for r in self.requests if r["seq"] > since and (pattern is None or pattern.search(r["path"]))
                ]
            return {"requests": items, "count": len(items)}

        @router.delete("/requests")
        def clear_requests() -> dict[str, int]:
            with self._lock:
                n = len(self.requests)
                self.requests.clear()
            return {"cleared": n}

        @router.get("/faults")
        def list_faults() -> dict[str, Any]:
            with self._lock:
                return {"faults": [f.as_dict() for f in self.faults]}

        @router.post("/faults", status_code=201)
        def add_fault(rule: dict[str, Any] = Body(...)) -> dict[str, Any]:
            allowed = {"path", "mode", "method", "count", "ratio", "seed", "seconds"}
            unknown = set(rule) - allowed
            if unknown:
                raise HTTPException(400, f"unknown fault fields: {sorted(unknown)}")
            try:
                fault = FaultRule(id=next(self._rule_ids), **rule)
            except (TypeError, ValueError, re.error) as exc:
                raise HTTPException(400, str(exc)) from exc
            with self._lock:
                self.faults.append(fault)
            return fault.as_dict()

        @router.delete("/faults")
        def clear_faults() -> dict[str, int]:
            with self._lock:
                n = len(self.faults)
                self.faults.clear()
            return {"cleared": n}

        def limits() -> dict[str, int | None]:
            shown: dict[str, int | None] = {"per_minute": self.rate_limit_per_minute}
            if self.rate_limit_per_second is not None:
                shown["per_second"] = self.rate_limit_per_second
            return shown

        @router.get("/rate-limit")
        def get_rate_limit() -> dict[str, int | None]:
            return limits()

        @router.put("/rate-limit")
        def set_rate_limit(body: dict[str, Any] = Body(...)) -> dict[str, int | None]:
            for name in ("per_minute", "per_second"):
                value = body.get(name)
                if value is not None and (not isinstance(value, int) or value < 1):
                    raise HTTPException(400, f"'{name}' must be a positive integer or null")
            with self._lock:
                self.rate_limit_per_minute = body.get("per_minute")
                self.rate_limit_per_second = body.get("per_second")
                self._windows.clear()
            return limits()

        @router.post("/reset")
        def reset() -> dict[str, str]:
            """Forget all data, the request log, faults, rate-limit windows and limit changes."""
            self.hooks.reset()
            with self._lock:
                self.requests.clear()
                self.faults.clear()
                self._windows.clear()
                self.rate_limit_per_minute = self._initial_rate_limit
                self.rate_limit_per_second = None
            return {"status": "reset"}

        return router

    def install(self, app: FastAPI) -> ASGIApp:
        """Add the admin router to ``app`` and return the wrapped ASGI app to serve."""
        app.include_router(self.router())
        return self.wrap(app)

    # -- middleware ------------------------------------------------------------------------
    def _pick_fault(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.faults:
                if not rule.exhausted and rule.matches(method, path) and rule.fire():
                    return rule
        return None

    def _rate_limited(self, key: str | None) -> float | None:
        """Seconds to wait when this request exceeds the per-minute or per-second limit, else None."""
        limit, per_second = self.rate_limit_per_minute, self.rate_limit_per_second
        if not (limit or per_second) or key is None:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= 60:
                window.popleft()
            if limit and len(window) >= limit:
                return max(0.0, 60 - (now - window[0]))
            if per_second and len(window) >= per_second and now - window[-per_second] < 1:
                return max(0.0, 1 - (now - window[-per_second]))
            window.append(now)
        return None

    def _log(self, scope: Scope, status: int | None, started: float, fault: str | None) -> None:
        entry = {
            "seq": next(self._seq),
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": status,
            "duration_ms": round((time.monotonic() - started) * 1000, 2),
            "tenant": scope.get("sandbox", {}).get("tenant"),
            "fault": fault,
        }
        with self._lock:
            self.requests.append(entry)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
                await app(scope, receive, send)
                return
            scope["sandbox"] = {}
            started = time.monotonic()
            method, path = scope["method"], scope["path"]
            fault = self._pick_fault(method, path)
            if fault is None or fault.mode == "delay":  # a slow answer still counts against the limit
                wait = self._rate_limited(self.hooks.rate_limit_key(scope))
                if wait is not None:
                    status, headers, body = self.hooks.too_many_requests(wait)
                    await _answer(send, status, headers, body)
                    self._log(scope, status, started, "rate_limit")
                    return
            if fault is None:
                status_box: list[int] = []
                await app(scope, receive, _recording(send, status_box))
                self._log(scope, status_box[0] if status_box else None, started, None)
                return

            mode = fault.mode
            if mode == "429":
                status, headers, body = self.hooks.too_many_requests(60.0)
                await _answer(send, status, headers, body)
                self._log(scope, status, started, mode)
            elif mode in ("500", "503"):
                status, headers, body = self.hooks.server_error(int(mode))
                await _answer(send, status, headers, body)
                self._log(scope, status, started, mode)
            elif mode == "hang":
                await asyncio.sleep(fault.seconds)
                self._log(scope, None, started, mode)
                raise ConnectionAbortedError("sandbox fault: hang, connection closed")
            elif mode == "drop":
                self._log(scope, None, started, mode)
                await _drop(send)
            elif mode == "delay":
                await asyncio.sleep(fault.seconds)
                status_box = []
                await app(scope, receive, _recording(send, status_box))
                self._log(scope, status_box[0] if status_box else None, started, mode)
            elif mode == "lose_answer":
                status_box = []
                await app(scope, receive, _swallow(status_box))
                self._log(scope, status_box[0] if status_box else None, started, mode)
                await _drop(send)

        return middleware


async def _answer(send: Send, status: int, headers: dict[str, str], body: Any) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if not any(k == b"content-type" for k, _ in raw_headers):
        raw_headers.append((b"content-type", b"application/json"))
    raw_headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Send) -> None:
    """Send a status line and headers promising a body, then abort the connection.

    Raising after ``http.response.start`` makes uvicorn close the transport mid-response.
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})
    raise ConnectionResetError("sandbox fault: connection dropped")


def _recording(send: Send, status_box: list[int]) -> Callable[[Message], Awaitable[None]]:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status_box.append(message["status"])
        await send(message)

    return wrapped


def _swallow(status_box: list[int]) -> Callable[[Message], Awaitable[None]]:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status_box.append(message["status"])

    return wrapped
