"""Time stamps as the vendors send them: one parser per format, the only ones in the library.

- ``parse_timestamp``: an ISO 8601 instant (awork's ``2023-09-03T20:28:39.5961826Z`` with .NET's
  7-digit fractions, Personio's ``updated_at``, HQ's ``…On`` fields, our own cursors). Returns an
  aware datetime (naive text is taken as UTC), None for an empty value; ``ValueError`` otherwise.
- ``parse_awork_timestamp``: an awork object's ``updatedOn``/``createdOn``, read leniently. Returns
  an aware UTC datetime, None when absent or unreadable.
- ``parse_personio_local``: Personio's ``date_time`` (local wall time without a zone, ``.000`` may
  follow). Returns a naive datetime.
- ``parse_hq_datetime``: HQ's ``Start``/``End`` (UTC ``Z`` for hour-based absences, local without a
  zone for day-based ones). Returns an aware datetime when the text has a zone, else a naive one.
- ``parse_day``: the day of an ISO date or date-time (awork's ``startDateUtc``, Personio's
  breakdown ``date``). Returns a ``date``.
- ``parse_time_of_day``: awork's ``startTimeUtc`` (``09:21:00``, fractions may follow). Returns a
  naive ``time``.
- ``parse_http_date``: an HTTP ``Date`` header (RFC 7231). Returns an aware UTC datetime, None when
  absent or unreadable.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from typing import Any


def _iso(value: Any) -> datetime:
    """``datetime.fromisoformat`` of the text, with ``Z`` for UTC and fractions cut to microseconds."""
    text = str(value).replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:  # keep microseconds of longer fractions; the offset after them stays as it is
        digits = "".join(itertools.takewhile(str.isdigit, rest))
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(text)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 time stamp (``Z``, offsets, .NET's 7-digit fractions);
    None for empty values; naive values are taken as UTC."""
    if not value:
        return None
    parsed = _iso(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_awork_timestamp(value: Any) -> datetime | None:
    """An awork time stamp (``2023-09-03T20:28:39.5961826Z``) as an aware UTC datetime with
    microseconds; None for anything that is not a time stamp text (absent fields, ``null``, junk),
    so that one odd object never stops a read."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_timestamp(value.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment is not None else None


def parse_personio_local(value: Any) -> datetime:
    """Personio's ``date_time`` (``2026-06-10T00:00:00``, optionally ``.000``): the local wall time,
    naive (the zone is the period's ``timezone_id``); ``ValueError`` when unreadable."""
    return datetime.fromisoformat(str(value).replace("Z", "")[:19])


def parse_hq_datetime(value: Any) -> datetime:
    """An HQ ``Start``/``End`` value: aware when it carries a zone (hour-based types, UTC), naive
    local otherwise (day-based types); ``ValueError`` when unreadable."""
    return _iso(value)


def parse_day(value: Any) -> date:
    """The day of an ISO date or date-time text (its first ten characters); ``ValueError`` when
    unreadable."""
    return date.fromisoformat(str(value)[:10])


def parse_time_of_day(value: Any) -> time:
    """The time of day of an ``HH:MM:SS`` text (its first eight characters, fractions dropped);
    ``ValueError`` when unreadable."""
    return time.fromisoformat(str(value)[:8])


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header (RFC 7231, whole seconds) as an aware UTC datetime, or None."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
