"""Timestamps, resource versions and GUIDs the way awork writes them."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime

_TICKS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_lock = threading.Lock()
_last_version = 0
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """``dt`` as awork writes timestamps: UTC, 7 fraction digits (.NET ticks), ``Z``."""
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}0Z"


def now_iso() -> str:
    """The current time as an awork timestamp string."""
    return iso(utcnow())


def resource_version() -> int:
    """A strictly increasing int64: .NET UTC ticks of now (awork's ``resourceVersion``)."""
    global _last_version
    delta = utcnow() - _TICKS_EPOCH
    ticks = (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    with _lock:
        _last_version = max(_last_version + 1, ticks)
        return _last_version


def new_guid() -> str:
    """A new lower-case GUID string."""
    return str(uuid.uuid4())


def is_guid(value: object) -> bool:
    """Whether ``value`` is a GUID string."""
    return isinstance(value, str) and bool(_GUID.match(value))


_parse_cache: dict[str, datetime | None] = {}


def parse_dt(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO string (naive = UTC); None when it does not parse.

    Cached, because list filters parse the same stored strings on every request.
    """
    if not isinstance(value, str):
        return None
    hit = _parse_cache.get(value, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    try:
        dt: datetime | None = datetime.fromisoformat(value)
    except ValueError:
        dt = None
    if dt is not None:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if len(_parse_cache) > 500_000:  # bounded: a long-running demo must not grow without end
        _parse_cache.clear()
    _parse_cache[value] = dt
    return dt


_MISSING = object()
