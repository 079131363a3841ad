"""``/v2/absence-periods``: list (filters, cursor), get, create, patch, delete.

Deleted periods are hard-deleted: they vanish from lists and answer 404 (no tombstones, as in the
real API). Every write sets a new ``updated_at``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from sandboxes.personio import periods, query, webhooks
from sandboxes.personio.auth import Principal, require
from sandboxes.personio.errors import ApiError
from sandboxes.personio.pagination import link, list_body, read_page_request, take_page
from sandboxes.personio.state import ABSENCE_PERIODS, ABSENCE_TYPES, PERSONS, PersonioState, get_state
from sandboxes.personio.timeutil import write_stamp, zone_or_none

router = APIRouter()

FILTERS = (
    "id",
    "person.id",
    "absence_type.id",
    "starts_from.date_time.gte",
    "starts_from.date_time.lte",
    "ends_at.date_time.gte",
    "ends_at.date_time.lte",
    "updated_at.gte",
    "updated_at.lte",
)
READ = "personio:absences:read"
WRITE = "personio:absences:write"


def _matcher(
    filters: dict[str, list[str]], timezone_id: str, semantics: str, boundary: str, open_ended: str = "never_ends"
) -> Any:
    """Return a predicate over stored periods implementing the list filters (combined with AND).

    Date filters, under ``overlap`` semantics: ``starts_from.date_time.gte`` (window start) keeps
    periods that have not ended before it and ``ends_at.date_time.lte`` (window end) keeps periods
    that start at or before it, so the pair matches every period overlapping the window.
    ``starts_from.date_time.lte`` and ``ends_at.date_time.gte`` compare their own field, which is
    already overlap-compatible. An open-ended period never ends. Under ``literal`` semantics every
    filter compares its own field. With ``open_ended="excluded"`` a null end fails every
    comparison that reads the end (SQL's NULL semantics), so such filters drop open-ended periods.
    """
    zone = zone_or_none(timezone_id)
    assert zone is not None  # validated at registration
    ids = query.values(filters, "id")
    person_ids = query.values(filters, "person.id")
    type_ids = query.values(filters, "absence_type.id")
    sf_gte = query.local(filters, "starts_from.date_time.gte", zone)
    sf_lte = query.local(filters, "starts_from.date_time.lte", zone)
    ea_gte = query.local(filters, "ends_at.date_time.gte", zone)
    ea_lte = query.local(filters, "ends_at.date_time.lte", zone)
    up_gte = query.instant(filters, "updated_at.gte")
    up_lte = query.instant(filters, "updated_at.lte")
    id_set = set(ids) if ids is not None else None
    person_set = set(person_ids) if person_ids is not None else None
    type_set = set(type_ids) if type_ids is not None else None
    end_key = "end_excl" if boundary == "exclusive" else "end_incl"
    overlap = semantics == "overlap"
    null_fails = open_ended == "excluded"

    def match(rec: dict[str, Any]) -> bool:
        if id_set is not None and rec["id"] not in id_set:
            return False
        if person_set is not None and rec["person_id"] not in person_set:
            return False
        if type_set is not None and rec["absence_type_id"] not in type_set:
            return False
        start, end = rec["start"], rec[end_key]
        if sf_gte is not None:
            if overlap:
                if end is None and null_fails:
                    return False
                if end is not None and end < sf_gte:
                    return False
            elif start < sf_gte:
                return False
        if ea_lte is not None:
            if overlap:
                if start > ea_lte:
                    return False
            elif end is None or end > ea_lte:
                return False
        if sf_lte is not None and start > sf_lte:
            return False
        if ea_gte is not None and (end is None and null_fails or end is not None and end < ea_gte):
            return False
        if up_gte is not None and rec["updated_at"] < up_gte:
            return False
        if up_lte is not None and rec["updated_at"] > up_lte:
            return False
        return True

    return match


@router.get("/v2/absence-periods")
def list_periods(
    request: Request, principal: Principal = Depends(require(READ)), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    """List absence periods (``limit`` 1..100, default 100), oldest first."""
    page = read_page_request(request, "absence-periods", FILTERS, state.settings)
    boundary = state.settings.get("day_end_boundary")
    match = _matcher(
        page.filters,
        principal.timezone_id,
        state.settings.get("date_filter_semantics"),
        boundary,
        state.settings.get("open_ended_in_filters"),
    )
    records = sorted(
        (r for r in state.store.iter_shared(principal.tenant, ABSENCE_PERIODS) if match(r)), key=lambda r: r["seq"]
    )
    chunk, next_after = take_page(records, page)
    data = [periods.render(r, boundary) for r in chunk]
    return list_body(request, data, page, next_after, state.settings)


@router.get("/v2/absence-periods/{period_id}")
def get_period(
    period_id: str, principal: Principal = Depends(require(READ)), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    """One absence period; 404 once deleted (or when another tenant's)."""
    return periods.render(_find(state, principal, period_id), state.settings.get("day_end_boundary"))


def _find(state: PersonioState, principal: Principal, period_id: str) -> dict[str, Any]:
    rec = state.store.get(principal.tenant, ABSENCE_PERIODS, period_id)
    if rec is None:
        raise ApiError(404, f"The absence period with id {period_id} was not found.")
    return rec


def _skip_approval(request: Request) -> bool:
    raw = request.query_params.get("skip_approval")
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, f"skip_approval must be true or false; got {raw!r}.")
    return raw.lower() == "true"


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    unknown = set(body) - periods.WRITABLE
    if unknown:
        raise ApiError(400, f"Unknown fields in the request body: {sorted(unknown)}.")
    return body


def _check_refs(state: PersonioState, tenant: str, draft: periods.Draft) -> dict[str, Any]:
    """Check that the person, type and substitute exist; returns the absence type record."""
    if state.store.get(tenant, PERSONS, draft.person_id) is None:
        raise ApiError(422, f"The person with id {draft.person_id} does not exist.")
    absence_type = state.store.get(tenant, ABSENCE_TYPES, draft.absence_type_id)
    if absence_type is None:
        raise ApiError(422, f"The absence type with id {draft.absence_type_id} does not exist.")
    if draft.substitute_id is not None:
        if state.store.get(tenant, PERSONS, draft.substitute_id) is None:
            raise ApiError(422, f"The substitute with id {draft.substitute_id} does not exist.")
        if draft.substitute_id == draft.person_id:
            raise ApiError(422, "A person cannot substitute for themselves.")
    return absence_type


def _check_overlap(state: PersonioState, tenant: str, rec: dict[str, Any]) -> None:
    if not state.settings.get("reject_overlapping_periods") or rec["status"] in periods.INACTIVE_STATUSES:
        return
    clash = periods.conflicts(rec, list(state.store.iter_shared(tenant, ABSENCE_PERIODS)))
    if clash is not None:
        raise ApiError(
            409,
            f"The absence period overlaps the existing absence period {clash['id']} of the same person.",
            code="absence.period_overlap",
        )


@router.post("/v2/absence-periods", status_code=201)
async def create_period(
    request: Request, principal: Principal = Depends(require(WRITE)), state: PersonioState = Depends(get_state)
) -> JSONResponse:
    """Create a period; returns 201 ``{"id", "_meta": {"links": {"self": ...}}}``.

    ``?skip_approval=true`` creates it APPROVED; otherwise it is PENDING when its type requires
    approval.
    """
    skip = _skip_approval(request)
    body = await _json_object(request)
    for name in ("person", "absence_type", "starts_from"):
        if body.get(name) is None:
            raise ApiError(400, f"{name} is required.")
    if "approval" in body:
        raise ApiError(400, "approval cannot be set on creation; use skip_approval or a PATCH.")
    start, start_type, keys = periods.read_boundary(body["starts_from"], "starts_from")
    if start is None:
        raise ApiError(400, "starts_from.date_time is required.")
    end, end_type = None, None
    if body.get("ends_at") is not None:
        end, end_type, keys = periods.read_boundary(body["ends_at"], "ends_at")
        if end is None:
            raise ApiError(400, "ends_at.date_time is required unless ends_at is null.")
    draft = periods.Draft(
        person_id=periods.read_ref(body, "person") or "",
        absence_type_id=periods.read_ref(body, "absence_type") or "",
        start=start,
        start_type=start_type,
        end=end,
        end_type=end_type,
        comment=periods.read_comment(body) if "comment" in body else None,
        timezone_id=periods.read_timezone(body) if "timezone_id" in body else principal.timezone_id,
        substitute_id=periods.read_ref(body, "substitute") if "substitute" in body else None,
    )
    boundary = state.settings.get("day_end_boundary")
    with state.write_lock:
        absence_type = _check_refs(state, principal.tenant, draft)
        times = periods.stored_times(draft, absence_type["unit"], boundary)
        approved = skip or not absence_type.get("approval_required", True)
        stamp = write_stamp()
        rec = {
            "id": str(uuid.uuid4()),
            "seq": state.next_seq(),
            "person_id": draft.person_id,
            "absence_type_id": draft.absence_type_id,
            "unit": absence_type["unit"],
            **times,
            "timezone_id": draft.timezone_id,
            "comment": draft.comment,
            "status": "APPROVED" if approved else "PENDING",
            "substitute_id": draft.substitute_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        _check_overlap(state, principal.tenant, rec)
        state.store.put(principal.tenant, ABSENCE_PERIODS, rec["id"], rec)
    webhooks.emit(state, principal.tenant, "absence-period.created", {"id": rec["id"]})
    href = link(request, f"/v2/absence-periods/{rec['id']}", "", state.settings)
    return JSONResponse(
        {"id": rec["id"], "_meta": {"links": {"self": {"href": href}}}}, status_code=201, headers={"Location": href}
    )


def _apply_patch(draft: periods.Draft, body: dict[str, Any]) -> periods.Draft:
    """Merge a PATCH body into ``draft`` (JSON merge-patch: absent keys stay unchanged)."""
    if "person" in body:
        person = periods.read_ref(body, "person")
        if person != draft.person_id:
            raise ApiError(422, "The person of an absence period cannot be changed.")
    if "absence_type" in body:
        type_id = periods.read_ref(body, "absence_type")
        if type_id is None:
            raise ApiError(400, "absence_type cannot be null.")
        draft.absence_type_id = type_id
    if "starts_from" in body:
        if body["starts_from"] is None:
            raise ApiError(400, "starts_from cannot be null.")
        moment, kind, keys = periods.read_boundary(body["starts_from"], "starts_from")
        if "date_time" in keys:
            draft.start = moment  # type: ignore[assignment] - read_boundary parsed it
        if "type" in keys:
            draft.start_type = kind
    if "ends_at" in body:
        if body["ends_at"] is None:
            draft.end, draft.end_type = None, None
        else:
            moment, kind, keys = periods.read_boundary(body["ends_at"], "ends_at")
            if "date_time" in keys:
                draft.end = moment
            elif draft.end is None:
                raise ApiError(400, "ends_at.date_time is required for an open-ended period.")
            if "type" in keys:
                draft.end_type = kind
    if "comment" in body:
        draft.comment = periods.read_comment(body)
    if "timezone_id" in body:
        draft.timezone_id = periods.read_timezone(body)
    if "substitute" in body:
        draft.substitute_id = periods.read_ref(body, "substitute")
    if "approval" in body:
        approval = body["approval"]
        if not isinstance(approval, dict) or set(approval) != {"status"}:
            raise ApiError(400, 'approval must be an object {"status": "..."}.')
        if approval["status"] not in periods.STATUSES:
            raise ApiError(422, f"approval.status must be one of {', '.join(periods.STATUSES)}.")
        draft.status = approval["status"]
    return draft


@router.patch("/v2/absence-periods/{period_id}")
async def update_period(
    period_id: str,
    request: Request,
    principal: Principal = Depends(require(WRITE)),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """Change a period (times, type, comment, approval status); returns the updated period."""
    _skip_approval(request)  # accepted for symmetry with POST; a PATCH never re-requests approval
    body = await _json_object(request)
    boundary = state.settings.get("day_end_boundary")
    with state.write_lock:
        rec = _find(state, principal, period_id)
        before = dict(rec)
        draft = _apply_patch(periods.draft_of(rec, boundary), body)
        absence_type = _check_refs(state, principal.tenant, draft)
        times = periods.stored_times(draft, absence_type["unit"], boundary)
        rec.update(times)
        rec.update(
            {
                "absence_type_id": draft.absence_type_id,
                "unit": absence_type["unit"],
                "comment": draft.comment,
                "timezone_id": draft.timezone_id,
                "substitute_id": draft.substitute_id,
                "status": draft.status,
                "updated_at": write_stamp(rec["updated_at"]),
            }
        )
        _check_overlap(state, principal.tenant, rec)
        state.store.put(principal.tenant, ABSENCE_PERIODS, rec["id"], rec)
    for event_name in webhooks.period_event(before, rec):
        webhooks.emit(state, principal.tenant, event_name, {"id": rec["id"]})
    return periods.render(rec, boundary)


@router.delete("/v2/absence-periods/{period_id}", status_code=204)
def delete_period(
    period_id: str, principal: Principal = Depends(require(WRITE)), state: PersonioState = Depends(get_state)
) -> Response:
    """Hard-delete a period; 204, then 404 for every later request about it."""
    with state.write_lock:
        _find(state, principal, period_id)
        state.store.delete(principal.tenant, ABSENCE_PERIODS, period_id)
    webhooks.emit(state, principal.tenant, "absence-period.deleted", {"id": period_id})
    return Response(status_code=204)
