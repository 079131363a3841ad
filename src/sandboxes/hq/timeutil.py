"""Date and time handling the way HQ's v1 API writes them.

- Properties ending in ``On`` are UTC date-times, written ``2025-03-04T09:30:00.123456Z``.
- Properties ending in ``Date`` are date-only values in the user's local time, written without a
  time zone (``2025-03-04T00:00:00``), as HQ's README says ("represented without a timezone and should
  not be converted").
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_last_stamp = datetime(1970, 1, 1, tzinfo=UTC)
_stamp_lock = threading.Lock()


def now_stamp() -> str:
    """Returns the current UTC time as an ``...On`` string, strictly increasing across calls.

    Strictly increasing so that a client's incremental ``UpdatedOn gt <last seen>`` never misses a
    write that happened within the same microsecond as the previous one.
    """
    global _last_stamp
    with _stamp_lock:
        now = datetime.now(UTC)
        if now <= _last_stamp:
            now = _last_stamp + timedelta(microseconds=1)
        _last_stamp = now
    return format_on(now)


def format_on(value: datetime) -> str:
    """Returns ``value`` (naive = UTC) as a UTC ``...On`` string with microseconds and ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_local(value: datetime | date) -> str:
    """Returns a local wall-clock value (``...Date``, day-based absences) without a time zone."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S")


def parse_datetime(text: str) -> datetime:
    """Parses an ISO 8601 date or date-time; returns an aware datetime if an offset was given.

    Raises ValueError for anything else.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 string, got {text!r}")
    value = text.strip()
    if _DATE_RE.match(value):
        return datetime.fromisoformat(value)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python 3.11 accepts at most 6 fractional digits; .NET writes 7.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    if "T" not in value and " " not in value:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    return datetime.fromisoformat(value)


def to_utc(text: str) -> datetime:
    """Parses ``text`` into an aware UTC datetime (a value without offset counts as UTC)."""
    value = parse_datetime(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@lru_cache(maxsize=200_000)
def comparable(text: str) -> datetime | None:
    """Returns a stored date-time string as an aware UTC datetime for comparisons (cached)."""
    try:
        return to_utc(text)
    except ValueError:
        return None


def normalize_on(text: str) -> str:
    """Returns a client-sent ``...On`` value as the stored UTC string. Raises ValueError.

    Whole seconds are written without a fraction (``2025-01-02T09:00:00Z``); comparisons always
    parse the value, so mixed precision sorts correctly.
    """
    value = to_utc(text).replace(tzinfo=None)
    if value.microsecond:
        return format_on(value)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_date(text: str) -> str:
    """Returns a client-sent ``...Date`` value as local midnight without time zone (wall clock kept)."""
    value = parse_datetime(text)
    return format_local(value.date())
