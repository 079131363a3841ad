"""``GET /v2/absence-periods/{id}/breakdowns``: what a period amounts to, day by day.

Not in Personio's reference docs; two peers use it (one "verified live"), personio.md §4.2:
``{"_data": [{"date": "2026-06-05", "effective_duration": {"unit": "DAY", "value": 1}},
{"date": "2026-06-05", "effective_duration": {"unit": "HOUR", "value": 8}}, ...]}`` with cursor
paging. It is the one place that names a period's **last day** independently of how ``ends_at``
is rendered (switch ``day_end_boundary``), which is why hq-sync reads it (issue #10).

The sandbox's work schedule is Monday–Friday, 8 hours a day, without public holidays. Weekend days
are listed with 0 (switch ``breakdown_weekends: "zero"``) or left out (``"omit"``): which one
Personio does is unknown. Half days count 0.5. An open-ended period is broken down up to today
(at most 366 days).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from sandboxes.personio.absence_periods import READ, _find
from sandboxes.personio.auth import Principal, require
from sandboxes.personio.pagination import PageRequest, decode_cursor, list_body, parse_limit, take_page
from sandboxes.personio.state import PersonioState, get_state
from sandboxes.personio.timeutil import local_of, zone_or_none

router = APIRouter()

HOURS_PER_DAY = 8
OPEN_ENDED_DAYS = 366


def _entries(day: date, days: float) -> list[dict[str, Any]]:
    return [
        {"date": day.isoformat(), "effective_duration": {"unit": "DAY", "value": days}},
        {"date": day.isoformat(), "effective_duration": {"unit": "HOUR", "value": days * HOURS_PER_DAY}},
    ]


def breakdown(rec: dict[str, Any], weekends: str, today: date) -> list[dict[str, Any]]:
    """The breakdown entries of a stored period (both units per day), in date order."""
    start = local_of(rec["start"])
    if rec["unit"] == "HOUR":
        end = local_of(rec["end_incl"])
        out: list[dict[str, Any]] = []
        day = start.date()
        while day <= end.date():
            lo = max(start, datetime.combine(day, datetime.min.time()))
            hi = min(end, datetime.combine(day + timedelta(days=1), datetime.min.time()))
            hours = round((hi - lo).total_seconds() / 3600, 2)
            if hours > 0 and day.weekday() < 5:
                out.append({"date": day.isoformat(), "effective_duration": {"unit": "HOUR", "value": hours}})
            elif hours > 0 and weekends == "zero":
                out.append({"date": day.isoformat(), "effective_duration": {"unit": "HOUR", "value": 0.0}})
            day += timedelta(days=1)
        return out
    first = start.date()
    if rec["end_incl"] is None:
        last = min(max(first, today), first + timedelta(days=OPEN_ENDED_DAYS))
    else:
        last = local_of(rec["end_incl"]).date()
    out = []
    day = first
    while day <= last:
        amount = 1.0
        if day == first and rec["start_type"] == "SECOND_HALF":
            amount -= 0.5
        if day == last and rec["end_incl"] is not None and rec["end_type"] == "FIRST_HALF":
            amount -= 0.5
        if day.weekday() >= 5:
            if weekends == "zero":
                out += _entries(day, 0.0)
        else:
            out += _entries(day, amount)
        day += timedelta(days=1)
    return out


@router.get("/v2/absence-periods/{period_id}/breakdowns")
def list_breakdowns(
    period_id: str,
    request: Request,
    principal: Principal = Depends(require(READ)),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """One period's day-by-day amounts (``limit`` as for periods, cursor paging); 404 when gone."""
    rec = _find(state, principal, period_id)
    group = f"breakdowns:{period_id}"
    limit = parse_limit(request, "absence-periods", state.settings)
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor, group)[1] if cursor else 0
    zone = zone_or_none(rec["timezone_id"]) or zone_or_none(principal.timezone_id)
    today = datetime.now(zone).date()
    items = [
        {**entry, "seq": i + 1}
        for i, entry in enumerate(breakdown(rec, state.settings.get("breakdown_weekends"), today))
    ]
    page = PageRequest(group, limit, after, {})
    chunk, next_after = take_page(items, page)
    data = [{k: v for k, v in entry.items() if k != "seq"} for entry in chunk]
    return list_body(request, data, page, next_after, state.settings)
