"""Absence periods: reading write bodies, the business rules, the stored form and the v2 JSON.

Stored form (one JSON record per period; the ``_``-less fields below)::

    id, seq, person_id, absence_type_id, unit ("DAY"|"HOUR"),
    start       local "YYYY-MM-DDTHH:MM:SS" (day unit: midnight of the first day)
    start_type  "FIRST_HALF" | "SECOND_HALF" | None
    end_incl    day unit: midnight of the last absent day; hour unit: the end; None: open-ended
    end_excl    day unit: midnight after the last absent day; hour unit: the end; None: open-ended
    end_type    "FIRST_HALF" | "SECOND_HALF" | None
    busy_from, busy_to   the local interval the person is away (half days cut at 12:00), for the
                         overlap rule; busy_to None: open-ended
    timezone_id, comment, status, substitute_id, created_at, updated_at

Both end forms are kept so that the ``day_end_boundary`` switch only changes how periods are
rendered and read, never what is stored.

Half-day markers: on ``starts_from`` ``FIRST_HALF`` (or null) means from the start of the day and
``SECOND_HALF`` from midday; on ``ends_at`` ``SECOND_HALF`` (or null) means to the end of the last
day and ``FIRST_HALF`` until midday of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sandboxes.personio.errors import ApiError
from sandboxes.personio.timeutil import day_start, format_local, local_of, parse_local, zone_or_none

STATUSES = ("APPROVED", "PENDING", "REJECTED", "CANCELLED", "DELETION_PENDING", "SUBSTITUTE_REQUESTED")
# Periods in these states do not block the person's calendar (no overlap conflict).
INACTIVE_STATUSES = frozenset({"REJECTED", "CANCELLED"})
HALVES = ("FIRST_HALF", "SECOND_HALF")
MIDDAY = timedelta(hours=12)
WRITABLE = frozenset(
    {"person", "absence_type", "starts_from", "ends_at", "comment", "substitute", "timezone_id", "approval"}
)


@dataclass
class Draft:
    """The writable state of a period before the rules are checked."""

    person_id: str
    absence_type_id: str
    start: datetime
    start_type: str | None
    end: datetime | None  # as the client sees it (per the day_end_boundary switch)
    end_type: str | None
    comment: str | None
    timezone_id: str
    substitute_id: str | None
    status: str | None = None


def _bad(detail: str) -> ApiError:
    return ApiError(400, detail)


def _unprocessable(detail: str) -> ApiError:
    return ApiError(422, detail)


def read_ref(body: dict[str, Any], name: str) -> str | None:
    """Return ``body[name]["id"]`` as a string (None when the key holds null); 400 when malformed."""
    value = body[name]
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("id"), (str, int))
        or isinstance(value.get("id"), bool)
        or str(value.get("id")) == ""
    ):
        raise _bad(f'{name} must be an object {{"id": "..."}}.')
    return str(value["id"])


def read_boundary(value: Any, name: str) -> tuple[datetime | None, str | None, set[str]]:
    """Return (date_time, type, keys present) of a ``starts_from``/``ends_at`` object; 400/422."""
    if not isinstance(value, dict):
        raise _bad(f'{name} must be an object {{"date_time": "...", "type": ...}}.')
    unknown = set(value) - {"date_time", "type"}
    if unknown:
        raise _bad(f"{name} has unknown fields: {sorted(unknown)}.")
    moment: datetime | None = None
    if "date_time" in value:
        raw = value["date_time"]
        if not isinstance(raw, str):
            raise _bad(f"{name}.date_time must be a string.")
        try:
            moment = parse_local(raw)
        except ValueError as exc:
            raise _unprocessable(f"{name}.date_time: {exc}.") from None
    kind = value.get("type")
    if kind is not None and kind not in HALVES:
        raise _unprocessable(f"{name}.type must be FIRST_HALF, SECOND_HALF or null; got {kind!r}.")
    return moment, kind, set(value)


def read_comment(body: dict[str, Any]) -> str | None:
    """Return the ``comment`` (string or null); 400 otherwise."""
    value = body["comment"]
    if value is not None and not isinstance(value, str):
        raise _bad("comment must be a string or null.")
    return value


def read_timezone(body: dict[str, Any]) -> str:
    """Return a valid ``timezone_id``; 422 for an unknown zone."""
    value = body["timezone_id"]
    if not isinstance(value, str) or zone_or_none(value) is None:
        raise _unprocessable(f"timezone_id must be an IANA time zone name; got {value!r}.")
    return value


def stored_times(draft: Draft, unit: str, boundary: str) -> dict[str, Any]:
    """Check the time rules for ``unit`` and return the stored time fields; 422 on violations."""
    start, end = draft.start, draft.end
    if unit == "HOUR":
        if draft.start_type is not None or draft.end_type is not None:
            raise _unprocessable("Half-day markers (type) only apply to day-unit absence types.")
        if end is None:
            raise _unprocessable("ends_at is required for hour-unit absence types.")
        if end <= start:
            raise _unprocessable("ends_at must lie after starts_from.")
        return {
            "start": format_local(start),
            "start_type": None,
            "end_incl": format_local(end),
            "end_excl": format_local(end),
            "end_type": None,
            "busy_from": format_local(start),
            "busy_to": format_local(end),
        }

    if start.time() != time(0):
        raise _unprocessable(
            "For day-unit absence types starts_from.date_time must be local midnight "
            "(T00:00:00); use the type FIRST_HALF/SECOND_HALF for half days."
        )
    busy_from = start + (MIDDAY if draft.start_type == "SECOND_HALF" else timedelta(0))
    if end is None:
        return {
            "start": format_local(start),
            "start_type": draft.start_type,
            "end_incl": None,
            "end_excl": None,
            "end_type": None,
            "busy_from": format_local(busy_from),
            "busy_to": None,
        }
    if end.time() != time(0):
        raise _unprocessable("For day-unit absence types ends_at.date_time must be local midnight (T00:00:00).")
    last_day = end.date() if boundary == "inclusive" else end.date() - timedelta(days=1)
    if last_day < start.date():
        hint = (
            "midnight of the last absent day"
            if boundary == "inclusive"
            else "midnight after the last absent day (exclusive)"
        )
        raise _unprocessable(f"ends_at must not lie before starts_from; ends_at.date_time is {hint}.")
    if last_day == start.date() and draft.start_type == "SECOND_HALF" and draft.end_type == "FIRST_HALF":
        raise _unprocessable(
            "Invalid absence day. Reason: a single-day period cannot both start in "
            "the second half and end in the first half of the day."
        )
    after = day_start(last_day) + timedelta(days=1)
    busy_to = after - (MIDDAY if draft.end_type == "FIRST_HALF" else timedelta(0))
    return {
        "start": format_local(start),
        "start_type": draft.start_type,
        "end_incl": format_local(day_start(last_day)),
        "end_excl": format_local(after),
        "end_type": draft.end_type,
        "busy_from": format_local(busy_from),
        "busy_to": format_local(busy_to),
    }


def end_as_seen(rec: dict[str, Any], boundary: str) -> str | None:
    """Return the ``ends_at.date_time`` a client sees under the ``day_end_boundary`` switch."""
    return rec["end_excl"] if boundary == "exclusive" else rec["end_incl"]


def draft_of(rec: dict[str, Any], boundary: str) -> Draft:
    """Return the current writable state of a stored period (the base of a PATCH)."""
    end = end_as_seen(rec, boundary)
    return Draft(
        person_id=rec["person_id"],
        absence_type_id=rec["absence_type_id"],
        start=local_of(rec["start"]),
        start_type=rec["start_type"],
        end=local_of(end) if end else None,
        end_type=rec["end_type"],
        comment=rec["comment"],
        timezone_id=rec["timezone_id"],
        substitute_id=rec.get("substitute_id"),
        status=rec["status"],
    )


def conflicts(candidate: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the first active period of the same person overlapping ``candidate``, else None."""
    lo, hi = candidate["busy_from"], candidate["busy_to"]
    for other in others:
        if other["id"] == candidate["id"] or other["person_id"] != candidate["person_id"]:
            continue
        if other["status"] in INACTIVE_STATUSES:
            continue
        other_hi = other["busy_to"]
        if (hi is None or other["busy_from"] < hi) and (other_hi is None or lo < other_hi):
            return other
    return None


def render(rec: dict[str, Any], boundary: str) -> dict[str, Any]:
    """Return the v2 JSON of a stored period."""
    end = end_as_seen(rec, boundary)
    body: dict[str, Any] = {
        "id": rec["id"],
        "person": {"id": rec["person_id"]},
        "absence_type": {"id": rec["absence_type_id"]},
        "starts_from": {"date_time": rec["start"], "type": rec["start_type"]},
        "ends_at": None if end is None else {"date_time": end, "type": rec["end_type"]},
        "timezone_id": rec["timezone_id"],
        "comment": rec["comment"],
        "approval": {"status": rec["status"]},
        "created_at": rec["created_at"],
        "updated_at": rec["updated_at"],
    }
    if rec.get("substitute_id"):
        body["substitute"] = {"id": rec["substitute_id"]}
    return body
