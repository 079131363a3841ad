"""Start, end and duration of a v1 time entry (``TimeEntryPostForm`` / ``TimeTrackingPutForm``).

awork v1 splits each moment into a date (``startDateUtc``, midnight) and a time of day
(``startTimeUtc``, ``HH:MM:SS``), in a UTC group and a Local group (in the entry's ``timezone``).
A request uses one group, never both. The time is given as start + duration, start + end (end
wins) or end + duration. An entry without a time of day is a date-only entry.
We also accept a full datetime in ``startDateUtc`` (awork's own docs example sends one) and split it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandboxes.awork.errors import AworkError, validation_failed

UTC_FIELDS = ("startDateUtc", "startTimeUtc", "endDateUtc", "endTimeUtc")
LOCAL_FIELDS = ("startDateLocal", "startTimeLocal", "endDateLocal", "endTimeLocal")


def zone(name: Any) -> ZoneInfo:
    """The IANA zone ``name``; a validation error when it is unknown."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise validation_failed([("Timezone", f"'{name}' is not a valid IANA time zone.")]) from None


def _parse_datetime(prop: str, value: Any) -> tuple[date, time | None, bool]:
    """(date, time of day or None, had an explicit offset) from a date/datetime string."""
    if not isinstance(value, str):
        raise validation_failed([(prop, f"'{prop}' must be a date-time string.")])
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text), None, False
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise validation_failed([(prop, f"The value '{value}' is not a valid date-time.")]) from None
    aware = dt.tzinfo is not None
    if aware:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    tod = dt.time().replace(microsecond=0)
    return dt.date(), (tod if tod != time(0) else None), aware


def _parse_time(prop: str, value: Any) -> time:
    if not isinstance(value, str):
        raise validation_failed([(prop, f"'{prop}' must be a time of day (HH:MM:SS).")])
    try:
        return time.fromisoformat(value.strip()).replace(microsecond=0, tzinfo=None)
    except ValueError:
        raise validation_failed([(prop, f"The value '{value}' is not a valid time of day.")]) from None


@dataclass
class Span:
    """A resolved entry: UTC start/end dates and times (times None for date-only) and duration."""

    start_date: date
    start_time: time | None
    end_date: date
    end_time: time | None
    duration: int


def _moment(form: dict[str, Any], date_prop: str, time_prop: str) -> tuple[date | None, time | None]:
    raw_date, raw_time = form.get(date_prop), form.get(time_prop)
    if raw_date is None:
        if raw_time is not None:
            raise validation_failed([(date_prop, f"'{date_prop}' is required when '{time_prop}' is given.")])
        return None, None
    day, tod, _ = _parse_datetime(date_prop, raw_date)
    if raw_time is not None:
        tod = _parse_time(time_prop, raw_time)
    return day, tod


def resolve(form: dict[str, Any], tz: ZoneInfo) -> Span:
    """The entry's span from a POST/PUT form; raises awork's 400 answers."""
    uses_utc = any(form.get(f) is not None for f in UTC_FIELDS)
    uses_local = any(form.get(f) is not None for f in LOCAL_FIELDS)
    if uses_utc and uses_local:
        raise AworkError(400, "invalid-model", "Either the UTC or the local start/end fields may be set, not both.")
    suffix = "Local" if uses_local else "Utc"
    start_day, start_tod = _moment(form, f"startDate{suffix}", f"startTime{suffix}")
    end_day, end_tod = _moment(form, f"endDate{suffix}", f"endTime{suffix}")

    def to_utc(day: date, tod: time) -> datetime:
        naive = datetime.combine(day, tod)
        if uses_local:
            return naive.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
        return naive

    duration = form.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration < 0):
        raise validation_failed([("Duration", "'Duration' must be a non-negative number of seconds.")])

    if start_day is not None and start_tod is not None and end_day is not None and end_tod is not None:
        start, end = to_utc(start_day, start_tod), to_utc(end_day, end_tod)
        if end < start:
            raise AworkError(400, "date-dependency", "The end of the time entry lies before its start.")
        seconds = int((end - start).total_seconds())  # end wins over a given duration
        return Span(start.date(), start.time(), end.date(), end.time(), seconds)
    if start_day is not None and start_tod is not None:
        if duration is None:
            raise validation_failed([("Duration", "Give 'Duration' or an end for the time entry.")])
        start = to_utc(start_day, start_tod)
        end = start + timedelta(seconds=duration)
        return Span(start.date(), start.time(), end.date(), end.time(), duration)
    if end_day is not None and end_tod is not None:
        if duration is None:
            raise validation_failed([("Duration", "Give 'Duration' or a start for the time entry.")])
        end = to_utc(end_day, end_tod)
        start = end - timedelta(seconds=duration)
        return Span(start.date(), start.time(), end.date(), end.time(), duration)
    day = start_day or end_day
    if day is None:
        raise validation_failed([("StartDateUtc", "The time entry needs a start or an end.")])
    if duration is None:
        raise validation_failed([("Duration", "A date-only time entry needs 'Duration'.")])
    return Span(day, None, day, None, duration)


def fields(span: Span, tz: ZoneInfo) -> dict[str, Any]:
    """The entry's stored/rendered date, time and duration fields."""

    def d(day: date, local: bool = False) -> str:
        return f"{day.isoformat()}T00:00:00" + ("" if local else "Z")

    def t(tod: time | None) -> str | None:
        return None if tod is None else tod.strftime("%H:%M:%S")

    out: dict[str, Any] = {
        "startDateUtc": d(span.start_date),
        "startTimeUtc": t(span.start_time),
        "endDateUtc": d(span.end_date),
        "endTimeUtc": t(span.end_time),
    }
    if span.start_time is None:  # date-only: the day is the same everywhere
        out.update(
            startDateLocal=d(span.start_date, True),
            startTimeLocal=None,
            endDateLocal=d(span.end_date, True),
            endTimeLocal=None,
        )
    else:
        start = datetime.combine(span.start_date, span.start_time, UTC).astimezone(tz)
        end = datetime.combine(span.end_date, span.end_time or time(0), UTC).astimezone(tz)
        out.update(
            startDateLocal=d(start.date(), True),
            startTimeLocal=t(start.time()),
            endDateLocal=d(end.date(), True),
            endTimeLocal=t(end.time()),
        )
    out["duration"] = span.duration
    return out
