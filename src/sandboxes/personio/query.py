"""Reading v2 list filters (``person.id=1,2``, ``updated_at.gte=...``) from a page request.

Multi-value filters accept comma-separated values and repeated keys alike (peers use both).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sandboxes.personio.errors import ApiError
from sandboxes.personio.timeutil import normalize_instant, normalize_local_filter


def values(filters: dict[str, list[str]], name: str) -> list[str] | None:
    """Return every value of a multi-value filter, or None when the filter is absent or empty."""
    raw = filters.get(name)
    if raw is None:
        return None
    found = [part.strip() for item in raw for part in item.split(",") if part.strip()]
    return found or None


def single(filters: dict[str, list[str]], name: str) -> str | None:
    """Return the (last) value of a single-value filter, or None when absent or empty."""
    raw = filters.get(name)
    if not raw or not raw[-1].strip():
        return None
    return raw[-1].strip()


def instant(filters: dict[str, list[str]], name: str) -> str | None:
    """Return a UTC instant filter in the stored format; 400 when unparseable."""
    value = single(filters, name)
    if value is None:
        return None
    try:
        return normalize_instant(value)
    except ValueError:
        raise ApiError(400, f"The filter {name} must be an ISO 8601 date-time; got {value!r}.") from None


def local(filters: dict[str, list[str]], name: str, zone: ZoneInfo) -> str | None:
    """Return a local date-time filter as ``YYYY-MM-DDTHH:MM:SS``; 400 when unparseable."""
    value = single(filters, name)
    if value is None:
        return None
    try:
        return normalize_local_filter(value, zone)
    except ValueError:
        raise ApiError(400, f"The filter {name} must be an ISO 8601 date-time; got {value!r}.") from None
