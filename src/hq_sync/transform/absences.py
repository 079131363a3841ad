"""Personio absence period → the HQ absence we want (product.md B2, B4, B5, B6).

Pure functions over staged data: no API calls. Each period yields exactly one ``Decision``
(``hq_sync.transform.plans``): ``Wanted`` (an HQ absence body for one HQ user), ``NotWanted`` (the
period must have no HQ absence, with the reason, e.g. still pending) or ``Quarantined`` (we cannot
decide without a guess; the reason code and a sentence say why). The rules are documented in docs/personio.md.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hq_sync.mappings import AbsenceTypeMapping, HqAbsenceType
from hq_sync.timeutil import parse_personio_local
from hq_sync.transform.plans import Decision, NotWanted, Quarantined, Wanted

FIRST_HALF = "FIRST_HALF"
SECOND_HALF = "SECOND_HALF"
HQ_DAY_FORMAT = "%Y-%m-%dT%H:%M:%S"
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class AbsenceRules:
    """Tenant settings that shape the mapping."""

    mapping: AbsenceTypeMapping
    sync_start: date
    timezone: str = "Europe/Berlin"
    # Personio's day-unit ``ends_at``: the exclusive midnight after the last day (confirmed live by
    # a peer), or the inclusive last day. See docs/personio.md.
    day_end: Literal["exclusive", "inclusive"] = "exclusive"
    # Open-ended absences are written up to the end of this many months after the current one.
    open_ended_months: int = 1


@dataclass(frozen=True)
class StagedPeriod:
    id: str
    payload: dict[str, Any]  # the Personio v2 absence period as received
    updated_at: datetime | None


def _end_of_horizon(today: date, months: int) -> date:
    """The last day of the month ``months`` after today's month."""
    year, month = today.year, today.month + months
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def _fmt(value: datetime) -> str:
    return value.strftime(HQ_DAY_FORMAT)


def plan_absence(
    period: StagedPeriod,
    *,
    persons: dict[str, str | None],  # Personio person id → e-mail
    types: dict[str, dict[str, Any]],  # Personio absence type id → {name, category, unit}
    hq_users: dict[str, str],  # casefolded e-mail → HQ user id
    rules: AbsenceRules,
    today: date,
) -> Decision:
    """The HQ absence one Personio period should have (see the module docstring)."""
    p = period.payload
    status = str((p.get("approval") or {}).get("status") or "").upper()
    starts = p.get("starts_from") or {}
    ends = p.get("ends_at") or None
    try:
        start_local = parse_personio_local(starts["date_time"])
        end_local = parse_personio_local(ends["date_time"]) if ends and ends.get("date_time") else None
    except (KeyError, ValueError) as exc:
        return Quarantined("invalid_period", f"absence period {period.id} has an unreadable start or end ({exc})")

    if start_local.date() < rules.sync_start:
        return NotWanted("before_sync_start")
    if status != "APPROVED":
        return NotWanted("not_approved")

    person_id = str((p.get("person") or {}).get("id") or "")
    user = _hq_user(person_id, persons, hq_users)
    if isinstance(user, Quarantined):
        return user
    email, hq_user_id = user
    typed = _absence_type(period, types, rules, email, person_id, start_local)
    if isinstance(typed, Quarantined):
        return typed
    ptype, hq_type = typed
    unit = str(ptype.get("unit") or "DAY").upper()
    note = str(ptype.get("category") or ptype.get("name") or "")

    version = period.updated_at.isoformat() if period.updated_at else ""
    if end_local is None:
        horizon = _end_of_horizon(today, rules.open_ended_months)
        version += f"|open-ended-until:{horizon.isoformat()}"
    else:
        horizon = None
        if unit != "HOUR":  # a corrected reading of Personio's day end rewrites the absence (issue #10)
            version += f"|day-end:{rules.day_end}"

    if unit == "HOUR":
        if not hq_type.hour_based:
            return Quarantined(
                "hour_unit_needs_hour_type",
                f"Personio type {ptype.get('name')!r} is booked in hours but maps to the day-based HQ type "
                f"{hq_type.label!r}; map it to an hour-based HQ type (Betriebliche Gründe, Persönliche Gründe)",
                {"absence_type": ptype.get("name"), "hq_type": hq_type.label, "email": email},
            )
        zone = ZoneInfo(str(p.get("timezone_id") or rules.timezone))
        return _hour_absence(period, hq_type, start_local, end_local, horizon, zone, note, hq_user_id, version)

    return _day_absence(
        period, hq_type, start_local, end_local, horizon, starts, ends, note, hq_user_id, version, rules
    )


def _hq_user(person_id: str, persons: dict[str, str | None], hq_users: dict[str, str]) -> tuple[str, str] | Quarantined:
    """(e-mail, HQ user id) of a Personio person, or why there is none."""
    email = persons.get(person_id)
    if not email:
        return Quarantined(
            "unknown_person",
            f"Personio person {person_id} is not known (or has no e-mail), so the absence cannot be matched "
            "to an HQ user",
            {"person_id": person_id},
        )
    hq_user_id = hq_users.get(email.strip().casefold())
    if hq_user_id is None:
        return Quarantined(
            "unknown_email",
            f"no HQ user has the e-mail {email}; the absence is booked once that user exists in HQ",
            {"email": email, "person_id": person_id},
        )
    return email, hq_user_id


def _absence_type(
    period: StagedPeriod,
    types: dict[str, dict[str, Any]],
    rules: AbsenceRules,
    email: str,
    person_id: str,
    start_local: datetime,
) -> tuple[dict[str, Any], HqAbsenceType] | Quarantined:
    """The period's Personio absence type and the HQ type it maps to, or why there is none."""
    type_id = str((period.payload.get("absence_type") or {}).get("id") or "")
    ptype = types.get(type_id)
    if ptype is None:
        which = f"absence type {type_id!r}, which Personio did not list" if type_id else "no absence type"
        start_day = start_local.date().isoformat()
        return Quarantined(
            "unknown_absence_type",
            f"Personio absence period {period.id} of {email} (starting {start_day}) has {which}; it is "
            "booked once its type is readable (check the credential's access to absence types)",
            {"absence_type_id": type_id or None, "period_id": period.id, "email": email, "person_id": person_id},
        )
    hq_type = rules.mapping.resolve(str(ptype.get("name") or ""))
    if hq_type is None:
        return Quarantined(
            "unmapped_type",
            f"Personio absence type {ptype.get('name')!r} is mapped to no HQ absence type; add it to the "
            "tenant's absence_type_mapping",
            {"absence_type": ptype.get("name"), "email": email},
        )
    return ptype, hq_type


def _hour_absence(
    period: StagedPeriod,
    hq_type: HqAbsenceType,
    start_local: datetime,
    end_local: datetime | None,
    horizon: date | None,
    zone: ZoneInfo,
    note: str,
    hq_user_id: str,
    version: str,
) -> Decision:
    """Hour-unit period → HQ UTC instants (an open-ended one until the end of the horizon)."""
    if end_local is not None:
        end = end_local
    else:
        assert horizon is not None
        end = datetime.combine(horizon + timedelta(days=1), time())
    if end <= start_local:
        return Quarantined("invalid_period", f"absence period {period.id} ends before it starts")
    body = {
        "Type": hq_type.enum,
        "Start": start_local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "End": end.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Note": note,
        "IsApproved": True,
    }
    return Wanted(hq_user_id, body, version)


def _day_absence(
    period: StagedPeriod,
    hq_type: HqAbsenceType,
    start_local: datetime,
    end_local: datetime | None,
    horizon: date | None,
    starts: dict[str, Any],
    ends: dict[str, Any] | None,
    note: str,
    hq_user_id: str,
    version: str,
    rules: AbsenceRules,
) -> Decision:
    """Day-unit period → HQ day encoding: 00:00 start, exclusive end, T12:00 marks a half day."""
    first_day = start_local.date()
    if end_local is None:
        last_day = horizon
    elif rules.day_end == "exclusive" and end_local.time() == time() and end_local.date() > first_day:
        last_day = end_local.date() - timedelta(days=1)
    else:
        last_day = end_local.date()
    assert last_day is not None
    if last_day < first_day:
        return Quarantined("invalid_period", f"absence period {period.id} ends before it starts")

    start_half = starts.get("type") == SECOND_HALF
    end_half = bool(ends) and (ends or {}).get("type") == FIRST_HALF
    notes: tuple[str, ...] = ()
    if hq_type.full_day_only and (start_half or end_half):
        notes = (f"half day written as a full day: {hq_type.label} is 'nur ganztägig'",)
        start_half = end_half = False
    if first_day == last_day and start_half and end_half:
        return Quarantined(
            "invalid_period",
            f"absence period {period.id} starts in the afternoon and ends in the morning of the same day",
        )
    start = datetime.combine(first_day, time(12) if start_half else time())
    end = datetime.combine(last_day, time(12)) if end_half else datetime.combine(last_day + timedelta(days=1), time())
    if hq_type.hour_based:
        # HQ's hour-based types take UTC instants: the local day boundaries, converted.
        zone = ZoneInfo(rules.timezone)
        start_text = start.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        end_text = end.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        start_text, end_text = _fmt(start), _fmt(end)
    body = {"Type": hq_type.enum, "Start": start_text, "End": end_text, "Note": note, "IsApproved": True}
    return Wanted(hq_user_id, body, version, notes)
