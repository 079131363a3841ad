"""Absence rules: the type enum, day vs hour semantics, half days, "nur ganztägig" and MissedDays.

Encoding (HQ v2 spec text; ambiguous, see docs/sandbox/hq.md):

- ``CompanyAbsence`` and ``PrivateAbsence`` are hour-based: Start/End are UTC date-times.
- Every other type is day-based: Start/End are local wall-clock values at 00:00, and End is
  exclusive (``2023-11-03T00:00`` .. ``2023-11-04T00:00`` is one day). ``T12:00`` marks a half day.
  With the default ``half_day_end="instant"`` both ends are instants on a half-day grid: Start at
  12:00 means the first day starts at noon (afternoon off), End at 12:00 means the last day ends at
  noon (morning off). With ``"previous_day"`` an End at ``D T12:00`` means the day before D is the
  last, half, day (HQ's doc example read literally).
- The sandbox does not record *which* half; only the amount (0.5 day) follows from the encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sandboxes.hq.errors import bad_request
from sandboxes.hq.model import (
    ABSENCE_TYPES,
    FULL_DAY_ONLY_ABSENCE_TYPES,
    HOUR_BASED_ABSENCE_TYPES,
    Record,
)
from sandboxes.hq.settings import TenantSettings
from sandboxes.hq.timeutil import format_local, parse_datetime

NOON = time(12, 0)
MIDNIGHT = time(0, 0)
HALF_DAY = timedelta(hours=12)


@dataclass(frozen=True)
class AbsencePeriod:
    """A validated absence period: what is stored and the half-day interval it covers."""

    start: str
    end: str
    # Day-based: the covered interval [start, end) on the half-day grid (naive local); None for
    # hour-based types.
    interval: tuple[datetime, datetime] | None


def check_type(value: object) -> str:
    """Returns a valid absence type; raises 400 for a missing or unknown one."""
    if value is None:
        raise bad_request("The absence 'Type' is required.")
    if value not in ABSENCE_TYPES:
        raise bad_request(f"'{value}' is not a valid absence Type; valid: {', '.join(ABSENCE_TYPES)}.")
    return str(value)


def _parse(name: str, value: object) -> datetime:
    if not isinstance(value, str) or not value:
        raise bad_request(f"The absence '{name}' is required (ISO 8601).")
    try:
        return parse_datetime(value)
    except ValueError:
        raise bad_request(f"The absence '{name}' value '{value}' is not an ISO 8601 date or date-time.") from None


def period(absence_type: str, start_raw: object, end_raw: object, settings: TenantSettings) -> AbsencePeriod:
    """Validates Start/End for ``absence_type``; returns the stored values. Raises 400."""
    start, end = _parse("Start", start_raw), _parse("End", end_raw)
    if absence_type in HOUR_BASED_ABSENCE_TYPES:
        start_utc = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        end_utc = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
        if end_utc <= start_utc:
            raise bad_request("The absence 'End' must be after 'Start'.")
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return AbsencePeriod(start_utc.strftime(fmt), end_utc.strftime(fmt), None)

    # Day-based: the wall-clock value counts, whatever offset the client attached.
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    for name, value in (("Start", start), ("End", end)):
        if value.time() not in (MIDNIGHT, NOON):
            raise bad_request(
                f"The absence type '{absence_type}' is day-based: '{name}' must be at 00:00 "
                f"(or 12:00 for a half day), not {value.time().isoformat()}."
            )
    end_instant = end
    if settings.half_day_end == "previous_day" and end.time() == NOON:
        end_instant = datetime.combine(end.date() - timedelta(days=1), NOON)
    if end_instant <= start:
        raise bad_request("The absence 'End' must be after 'Start' (End is exclusive: one day is D to D+1).")
    half = start.time() == NOON or end_instant.time() == NOON
    if half and absence_type in FULL_DAY_ONLY_ABSENCE_TYPES:
        if settings.full_day_only_half_days == "reject":
            raise bad_request(
                f"Absences of type '{absence_type}' can only be full days (nur ganztägig); "
                "half days (T12:00) are not allowed."
            )
        start = datetime.combine(start.date(), MIDNIGHT)
        if end_instant.time() == NOON:
            end_instant = datetime.combine(end_instant.date() + timedelta(days=1), MIDNIGHT)
        end = end_instant
    return AbsencePeriod(format_local(start), format_local(end), (start, end_instant))


def interval_of(absence: Record) -> tuple[datetime, datetime] | None:
    """Returns the stored half-day interval of a day-based absence, or None."""
    raw = absence.get("_interval")
    if not raw:
        return None
    return datetime.fromisoformat(raw[0]), datetime.fromisoformat(raw[1])


def half_day_slots(interval: tuple[datetime, datetime]) -> set[datetime]:
    """Returns the weekday half-day slots (their start instants) covered by ``interval``."""
    start, end = interval
    slots = set()
    cursor = start
    while cursor < end:
        if cursor.weekday() < 5:
            slots.add(cursor)
        cursor += HALF_DAY
    return slots


def missed_days(absences: list[Record]) -> dict[int, float]:
    """Returns MissedDays per absence Id for one user's absences.

    Weekdays (Mon-Fri) count; public holidays and the user's working hours are not modelled. Slots
    already covered by an absence with a smaller Id are not counted again (HQ: "takes overlapping
    other absences into account"). Hour-based absences miss 0 days.
    """
    taken: set[datetime] = set()
    result: dict[int, float] = {}
    for absence in sorted(absences, key=lambda a: a["Id"]):
        interval = interval_of(absence)
        if interval is None:
            result[absence["Id"]] = 0.0
            continue
        slots = half_day_slots(interval) - taken
        taken |= slots
        result[absence["Id"]] = len(slots) / 2
    return result
