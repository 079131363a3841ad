"""One request budget per vendor account across all processes (issue #11, product.md G1).

Each awork workspace, HQ account and Personio company gets one budget, whichever tenant, DAG,
task, worker or thread talks to it:

- **In Redis** when one is configured: ``$HQ_SYNC_REDIS_URL`` (``redis://host:6379/1``), else the
  Airflow connection ``hq_sync_redis`` (host, port, password; ``extra.db`` or the schema for the
  database number). Keys start with ``$HQ_SYNC_REDIS_PREFIX`` or the connection's
  ``extra.key_prefix`` (default ``hq_sync``): ``<prefix>:budget:<vendor>:<account>``.
- **In this process** otherwise (the embedded demo, ``dag.test``): one budget per account and
  process, shared by every client built here.

The account is the connection's ``extra.rate_account`` when set (give two connections of the
same vendor account the same value), else a digest of the vendor, API base URL and credentials
(never the secret itself). The limits are the connection's ``extra.requests_per_minute`` and
``extra.requests_per_second`` (``0`` turns a window off; ``null`` or not set: the default), else
``DEFAULT_LIMITS``. The extra is validated by ``hq_sync.connection_extras``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from typing import Any
from urllib.parse import quote

from hq_sync.clients.awork import DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_REQUESTS_PER_SECOND
from hq_sync.clients.budget import Budget, RedisRequestBudget, SlidingWindowBudget
from hq_sync.connection_extras import parse_extras
from hq_sync.settings import settings

log = logging.getLogger(__name__)

REDIS_URL_ENV = "HQ_SYNC_REDIS_URL"
REDIS_PREFIX_ENV = "HQ_SYNC_REDIS_PREFIX"
REDIS_CONN_ID = "hq_sync_redis"
DEFAULT_PREFIX = "hq_sync"

# (per minute, per second) per vendor account when its connection sets none, below the vendor's own
# limit, which other integrations of the customer share:
# - awork: 1000/min and 50/s on the smallest plans (docs/awork-client.md): 30 %;
# - HQ: 1000/min documented for v2, v1 undocumented and assumed the same (../shared/api/hq.md): 95 %
#   (5 % headroom for the skew between our window and HQ's; a 429 is still honoured), since an
#   agency's first year of reportings is thousands of writes (≈ 8.5 min per 8,000; issue #12);
# - Personio: ~200/min per credential, ~10/s on /v2/absence-periods observed (../shared/api/personio.md).
DEFAULT_LIMITS: dict[str, tuple[int | None, int | None]] = {
    "awork": (DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_REQUESTS_PER_SECOND),
    "hq": (950, 25),
    "personio": (180, 8),
}

_LOCAL: dict[tuple[str, int | None, int | None], SlidingWindowBudget] = {}
_LOCAL_LOCK = threading.Lock()


def limits_of(vendor: str, extra: dict[str, Any]) -> tuple[int | None, int | None]:
    """(per minute, per second) from a connection's extra, else the vendor's defaults; ``0`` turns
    a window off. A bad value raises ``ConnectionExtraError`` (a ``ValueError``) naming the key."""
    parsed = parse_extras(vendor, extra)
    per_minute, per_second = DEFAULT_LIMITS[vendor]
    if parsed.requests_per_minute is not None:
        per_minute = parsed.requests_per_minute or None
    if parsed.requests_per_second is not None:
        per_second = parsed.requests_per_second or None
    return per_minute, per_second


def account_of(vendor: str, conn: Any, base_url: str) -> str:
    """``<vendor>:<account>``: ``extra.rate_account``, else a digest of base URL and credentials."""
    rate_account = parse_extras(vendor, conn.extra_dejson or {}).rate_account
    if rate_account:
        return f"{vendor}:{rate_account}"
    material = "\0".join((vendor, base_url, conn.login or "", conn.password or ""))
    return f"{vendor}:{hashlib.sha256(material.encode('utf-8')).hexdigest()[:24]}"


def _redis_settings() -> tuple[str, str] | None:
    """(URL, key prefix) of the budgets' Redis, or None when none is configured."""
    env = settings()
    url, prefix = env.redis_url, env.redis_prefix  # $HQ_SYNC_REDIS_URL, $HQ_SYNC_REDIS_PREFIX
    if url:
        return url, prefix or DEFAULT_PREFIX
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(REDIS_CONN_ID)
    except AirflowNotFoundException:
        return None
    extra = conn.extra_dejson or {}
    auth = f":{quote(conn.password, safe='')}@" if conn.password else ""
    db = extra.get("db", conn.schema or 0)
    url = f"redis://{auth}{conn.host or '127.0.0.1'}:{conn.port or 6379}/{db}"
    return url, prefix or extra.get("key_prefix") or DEFAULT_PREFIX


@functools.cache
def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


def shared_budget(vendor: str, conn: Any, base_url: str) -> Budget:
    """The request budget of the vendor account behind ``conn``: in Redis when configured, else
    the one of this process. Returns the same budget for every connection of the account."""
    per_minute, per_second = limits_of(vendor, conn.extra_dejson or {})
    account = account_of(vendor, conn, base_url)
    settings = _redis_settings()
    if settings is not None:
        url, prefix = settings
        budget: Budget = RedisRequestBudget(_redis_client(url), f"{prefix}:budget:{account}", per_minute, per_second)
        log.info("%s: shared request budget in Redis (%s/min, %s/s)", vendor, per_minute, per_second)
        return budget
    with _LOCAL_LOCK:
        return _LOCAL.setdefault((account, per_minute, per_second), SlidingWindowBudget(per_minute, per_second))
