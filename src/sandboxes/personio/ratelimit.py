"""Per-endpoint token buckets, as Personio's Spring Cloud Gateway applies them.

Every answer of a limited endpoint carries ``x-ratelimit-remaining``,
``x-ratelimit-replenish-rate``, ``x-ratelimit-burst-capacity`` and
``x-ratelimit-requested-tokens``. An exhausted bucket answers 429 **without** ``Retry-After``
(observed live by a peer). Buckets are kept per endpoint group and per tenant (per client address
for the token endpoints, whose caller is not yet known).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandboxes.personio.errors import v2_error_body
from sandboxes.personio.settings import GROUPS, Settings

AUTH_PATHS = ("/v1/auth", "/v2/auth/token", "/v2/auth/revoke")


def group_of(path: str) -> str | None:
    """Return the rate-limit group of a vendor path, or None when the path is not limited."""
    if path in AUTH_PATHS:
        return "auth"
    for group in GROUPS:
        prefix = f"/v2/{group}"
        if path == prefix or path.startswith(prefix + "/"):
            return group
    return None


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Buckets:
    """Token buckets keyed by (group, caller); reads its rates from the settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def config(self, group: str) -> tuple[float, float]:
        """Return (replenish_rate per second, burst_capacity) of a group."""
        bucket = self._settings.get("rate_limits")["buckets"][group]
        return float(bucket["replenish_rate"]), float(bucket["burst_capacity"])

    def take(self, group: str, key: str) -> tuple[bool, dict[str, str]]:
        """Spend one token; returns (allowed, the x-ratelimit-* headers to send)."""
        rate, capacity = self.config(group)
        limits = self._settings.get("rate_limits")
        if not limits["enabled"]:
            # Disabled: nothing is counted, the headers advertise a full bucket.
            return True, headers(rate, capacity, capacity)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get((group, key))
            if bucket is None:
                bucket = self._buckets[(group, key)] = _Bucket(tokens=capacity, updated=now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True, headers(rate, capacity, math.floor(bucket.tokens))
            return False, headers(rate, capacity, 0)

    def reset(self) -> None:
        """Refill every bucket."""
        with self._lock:
            self._buckets.clear()


def headers(rate: float, capacity: float, remaining: float) -> dict[str, str]:
    """Return the Spring Cloud Gateway rate-limit headers."""
    return {
        "X-RateLimit-Remaining": str(int(remaining)),
        "X-RateLimit-Replenish-Rate": _num(rate),
        "X-RateLimit-Burst-Capacity": _num(capacity),
        "X-RateLimit-Requested-Tokens": "1",
    }


def too_many_requests(settings: Settings, group: str, path: str) -> tuple[int, dict[str, str], Any]:
    """Return Personio's 429 answer (status, headers, JSON body or None) for ``group``."""
    bucket = settings.get("rate_limits")["buckets"][group]
    hdrs = headers(float(bucket["replenish_rate"]), float(bucket["burst_capacity"]), 0)
    if settings.get("rate_limits")["body"] == "empty":
        return 429, hdrs, None
    body = v2_error_body(429, "Too many requests. Please slow down and try again later.", path)
    return 429, hdrs, body


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class RateLimitMiddleware:
    """ASGI middleware: enforce the buckets and add the headers to every limited answer."""

    def __init__(
        self, app: ASGIApp, settings: Settings, buckets: Buckets, tenant_of_token: Callable[[str], str | None]
    ) -> None:
        self.app = app
        self.settings = settings
        self.buckets = buckets
        self.tenant_of_token = tenant_of_token

    def _key(self, scope: Scope, group: str) -> str:
        if group != "auth":
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    raw = value.decode("latin-1")
                    token = raw[7:].strip() if raw[:7].lower() == "bearer " else raw
                    tenant = self.tenant_of_token(token)
                    return f"tenant:{tenant}" if tenant else "anonymous"
            return "anonymous"
        client = scope.get("client")
        return f"client:{client[0]}" if client else "client:?"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = group_of(scope["path"]) if scope["type"] == "http" else None
        if group is None:
            await self.app(scope, receive, send)
            return
        allowed, extra = self.buckets.take(group, self._key(scope, group))
        if not allowed:
            status, hdrs, body = too_many_requests(self.settings, group, scope["path"])
            await _answer(send, status, hdrs, body)
            return
        raw_extra = [(k.lower().encode(), v.encode()) for k, v in extra.items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *raw_extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _answer(send: Send, status: int, hdrs: dict[str, str], body: Any) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    raw = [(k.lower().encode(), v.encode()) for k, v in hdrs.items()]
    if body is not None:
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
