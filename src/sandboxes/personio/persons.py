"""``GET /v2/persons`` and ``GET /v2/persons/{id}``.

Persons are master data: the sandbox loads them through ``/_sandbox/tenants/{tenant}/persons``.
Ids are numeric strings (equal to the v1 employee ids in the real API).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from sandboxes.personio import query
from sandboxes.personio.auth import Principal, require
from sandboxes.personio.errors import ApiError
from sandboxes.personio.pagination import list_body, read_page_request, take_page
from sandboxes.personio.state import PERSONS, PersonioState, get_state

router = APIRouter()

STATUSES = ("ACTIVE", "INACTIVE")
FILTERS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "preferred_name",
    "status",
    "created_at.gt",
    "created_at.lt",
    "updated_at.gt",
    "updated_at.lt",
)


def render(rec: dict[str, Any]) -> dict[str, Any]:
    """Return the v2 JSON of a stored person."""
    return {
        "id": rec["id"],
        "email": rec["email"],
        "first_name": rec["first_name"],
        "last_name": rec["last_name"],
        "preferred_name": rec.get("preferred_name"),
        "gender": rec.get("gender"),
        "profile_picture": {"url": rec.get("profile_picture_url")},
        "status": rec["status"],
        "custom_attributes": [dict(a) for a in rec.get("custom_attributes", [])],
        "employments": [dict(e) for e in rec.get("employments", [])],
        "created_at": rec["created_at"],
        "updated_at": rec["updated_at"],
    }


def _date_only(filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """The date filters as ``person_date_filters = date_only`` reads them: a date is its midnight
    UTC, a value with a time is refused (400)."""
    out = dict(filters)
    for name in ("created_at.gt", "created_at.lt", "updated_at.gt", "updated_at.lt"):
        value = query.single(filters, name)
        if value is None:
            continue
        if len(value) != 10 or "T" in value:
            raise ApiError(400, f"The filter {name} must be a date (YYYY-MM-DD); got {value!r}.")
        out[name] = [f"{value}T00:00:00Z"]
    return out


def _matcher(filters: dict[str, list[str]]) -> Any:
    """Return a predicate over stored persons implementing the list filters."""
    ids = query.values(filters, "id")
    emails = query.values(filters, "email")
    emails_lower = {e.lower() for e in emails} if emails is not None else None
    names = {n: query.single(filters, n) for n in ("first_name", "last_name", "preferred_name")}
    status = query.single(filters, "status")
    if status is not None and status.upper() not in STATUSES:
        raise ApiError(400, f"The filter status must be one of {', '.join(STATUSES)}.")
    status = status.upper() if status else None
    # Persons use strict gt/lt (unlike absence periods' gte/lte).
    bounds = {
        n: query.instant(filters, n) for n in ("created_at.gt", "created_at.lt", "updated_at.gt", "updated_at.lt")
    }

    def match(rec: dict[str, Any]) -> bool:
        if ids is not None and rec["id"] not in ids:
            return False
        if emails_lower is not None and rec["email"].lower() not in emails_lower:
            return False
        for name, wanted in names.items():
            if wanted is not None and (rec.get(name) or "") != wanted:
                return False
        if status is not None and rec["status"] != status:
            return False
        for name, bound in bounds.items():
            if bound is None:
                continue
            field, op = name.split(".")
            if op == "gt" and not rec[field] > bound:
                return False
            if op == "lt" and not rec[field] < bound:
                return False
        return True

    return match


@router.get("/v2/persons")
def list_persons(
    request: Request,
    principal: Principal = Depends(require("personio:persons:read")),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """List persons (``limit`` 1..50, default 10)."""
    page = read_page_request(request, "persons", FILTERS, state.settings)
    filters = page.filters
    if state.settings.get("person_date_filters") == "date_only":
        filters = _date_only(filters)
    match = _matcher(filters)
    records = sorted(
        (r for r in state.store.iter_shared(principal.tenant, PERSONS) if match(r)), key=lambda r: r["seq"]
    )
    chunk, next_after = take_page(records, page)
    return list_body(request, [render(r) for r in chunk], page, next_after, state.settings)


@router.get("/v2/persons/{person_id}")
def get_person(
    person_id: str,
    principal: Principal = Depends(require("personio:persons:read")),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """One person; 404 in the v2 envelope when unknown (or another tenant's)."""
    rec = state.store.get(principal.tenant, PERSONS, person_id)
    if rec is None:
        raise ApiError(404, f"The person with id {person_id} was not found.")
    return render(rec)
