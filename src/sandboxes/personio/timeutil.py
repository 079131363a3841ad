"""Date and time formats of the Personio v2 API.

Two kinds of time values exist:

- **Audit timestamps** (``created_at``, ``updated_at``) are UTC instants. The sandbox writes them as
  ``2026-05-02T09:14:11.123Z`` (millisecond precision, so two writes within one second still
  differ) and compares them as such strings: the fixed format sorts lexicographically.
- **Absence boundaries** (``starts_from.date_time``, ``ends_at.date_time``) are *local* wall-clock
  times without an offset, in the zone named by ``timezone_id`` (``2026-06-10T00:00:00``). They are
  kept and compared in the fixed format ``YYYY-MM-DDTHH:MM:SS``.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"

_last_stamp_lock = threading.Lock()
_last_stamp: datetime | None = None


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def format_utc(moment: datetime) -> str:
    """Return ``moment`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write_stamp(previous: str | None = None) -> str:
    """Return a write timestamp strictly later than every earlier one (and than ``previous``).

    Why: a sync client compares ``updated_at`` to skip unchanged rows, so two writes in the same
    millisecond must still produce different, increasing values.
    """
    global _last_stamp
    with _last_stamp_lock:
        now = utc_now()
        now = now.replace(microsecond=(now.microsecond // 1000) * 1000)
        floor = _last_stamp
        if previous:
            prev = parse_instant(previous)
            floor = prev if floor is None or prev > floor else floor
        if floor is not None and now <= floor:
            now = floor + timedelta(milliseconds=1)
        _last_stamp = now
        return format_utc(now)


def parse_instant(value: str) -> datetime:
    """Parse a date, date-time or date-time with offset into an aware UTC datetime.

    A value without an offset is taken as UTC. Raises ``ValueError`` when unparseable.
    """
    parsed = _parse_iso(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalize_instant(value: str) -> str:
    """Return a filter value for ``updated_at``/``created_at`` in the stored UTC format."""
    return format_utc(parse_instant(value))


def parse_local(value: str) -> datetime:
    """Parse a local date-time *without* offset (a write body's ``date_time``).

    Raises ``ValueError`` for unparseable values and for values carrying ``Z`` or an offset: the
    POST documentation says the times must be local, "no '+00:00' or 'Z' suffix".
    """
    if "T" not in value:
        raise ValueError(f"{value!r} is not a date-time (expected YYYY-MM-DDTHH:MM:SS)")
    parsed = _parse_iso(value)
    if parsed.tzinfo is not None:
        raise ValueError(f"{value!r} carries a timezone offset; send the local time without it")
    return parsed.replace(microsecond=0)


def normalize_local_filter(value: str, zone: ZoneInfo) -> str:
    """Return a filter value for ``starts_from``/``ends_at`` as a local ``YYYY-MM-DDTHH:MM:SS``.

    Accepts a date (midnight), a local date-time, or a date-time with ``Z``/offset (converted to
    ``zone``, the tenant's time zone): peers send both forms.
    """
    parsed = _parse_iso(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zone).replace(tzinfo=None)
    return parsed.strftime(LOCAL_FORMAT)


def format_local(moment: datetime) -> str:
    """Return a naive local datetime as ``YYYY-MM-DDTHH:MM:SS``."""
    return moment.strftime(LOCAL_FORMAT)


def local_of(value: str) -> datetime:
    """Parse a stored local ``YYYY-MM-DDTHH:MM:SS`` string."""
    return datetime.strptime(value, LOCAL_FORMAT)


def day_start(day: date) -> datetime:
    """Return local midnight at the start of ``day``."""
    return datetime(day.year, day.month, day.day)


def zone_or_none(name: str) -> ZoneInfo | None:
    """Return the IANA zone ``name``, or None when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _parse_iso(value: str) -> datetime:
    value = value.strip()
    if not value:
        raise ValueError("empty date-time")
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time())
    # Python 3.11 parses "Z", offsets and fractional seconds; a space instead of "T" is refused
    # because "+" in an unencoded query string arrives as a space.
    if "T" not in value:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time")
    return datetime.fromisoformat(value)
