"""``GET /v2/absence-types`` and ``GET /v2/absence-types/{id}``.

Absence types are master data (the real API cannot create them): the sandbox loads them through
``/_sandbox/tenants/{tenant}/absence-types``. An item is ``{id, name, category, unit}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from sandboxes.personio.auth import Principal, require
from sandboxes.personio.errors import ApiError
from sandboxes.personio.pagination import list_body, read_page_request, take_page
from sandboxes.personio.state import ABSENCE_TYPES, PersonioState, get_state

router = APIRouter()

UNITS = ("DAY", "HOUR")
# The v1 enum (personio-personnel-data-api-v1.oa3.yaml, 2025-01) in v2's upper case.
CATEGORIES = (
    "FAMILY_CARE",
    "MATERNITY_PARENTAL_LEAVE",
    "CHILD_CARE",
    "SHORT_TIME_ALLOWANCE",
    "QUARANTINE",
    "IRREVOCABLE_EXEMPTION",
    "SICK_LEAVE",
    "STRIKE_AND_LOCKOUT",
    "PUBLIC_DUTY",
    "UNPAID_SUSPENSION",
    "PAID_VACATION",
    "UNPAID_VACATION",
    "UNEXCUSED_ABSENCE",
    "OFFSITE_WORK",
    "OTHER",
    "UNDEFINED",
)


def render(rec: dict[str, Any]) -> dict[str, Any]:
    """Return the v2 JSON of a stored absence type."""
    return {"id": rec["id"], "name": rec["name"], "category": rec["category"], "unit": rec["unit"]}


@router.get("/v2/absence-types")
def list_types(
    request: Request,
    principal: Principal = Depends(require("personio:absences:read")),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """List absence types (``limit`` 1..100, default 100)."""
    page = read_page_request(request, "absence-types", (), state.settings)
    records = sorted(state.store.iter_shared(principal.tenant, ABSENCE_TYPES), key=lambda r: r["seq"])
    chunk, next_after = take_page(records, page)
    return list_body(request, [render(r) for r in chunk], page, next_after, state.settings)


@router.get("/v2/absence-types/{type_id}")
def get_type(
    type_id: str,
    principal: Principal = Depends(require("personio:absences:read")),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """One absence type; 404 in the v2 envelope when unknown."""
    rec = state.store.get(principal.tenant, ABSENCE_TYPES, type_id)
    if rec is None:
        raise ApiError(404, f"The absence type with id {type_id} was not found.")
    return render(rec)
