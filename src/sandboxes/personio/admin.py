"""Admin endpoints under ``/_sandbox/`` (never part of Personio's API).

They load what the real API cannot create (tenants with API credentials, persons, absence types),
switch behaviours, and let tests look at and control auth state. Errors answer
``{"detail": "..."}`` with 404/409/422.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException

from sandboxes.personio import absence_types, persons
from sandboxes.personio.registry import RegistryError
from sandboxes.personio.settings import SettingsError
from sandboxes.personio.state import ABSENCE_PERIODS, ABSENCE_TYPES, PERSONS, PersonioState, get_state
from sandboxes.personio.timeutil import normalize_instant, write_stamp

router = APIRouter(prefix="/_sandbox", tags=["personio admin"])

PERSON_FIELDS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "preferred_name",
    "gender",
    "status",
    "custom_attributes",
    "profile_picture_url",
    "created_at",
    "updated_at",
}
TYPE_FIELDS = {"id", "name", "category", "unit", "approval_required"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _tenant(state: PersonioState, tenant: str) -> dict[str, Any]:
    rec = state.registry.tenant(tenant)
    if rec is None:
        raise HTTPException(404, f"unknown tenant {tenant!r}; register it with POST /_sandbox/tenants")
    return rec


def _as_list(body: Any, key: str) -> tuple[list[dict[str, Any]], bool]:
    """Accept one object, a list, or ``{key: [...]}``; returns (items, was_single)."""
    if isinstance(body, dict) and key in body and isinstance(body[key], list):
        body = body[key]
    if isinstance(body, dict):
        return [body], True
    if isinstance(body, list) and all(isinstance(item, dict) for item in body):
        return body, False
    raise HTTPException(422, f"expected an object, a list of objects or {{{key!r}: [...]}}")


# -- settings ---------------------------------------------------------------------------------
@router.get("/settings")
def get_settings(state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """The current behaviour switches."""
    return state.settings.snapshot()


@router.put("/settings")
def put_settings(body: dict[str, Any] = Body(...), state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Merge the given switches into the current ones; returns all switches."""
    try:
        result = state.settings.update(body)
    except SettingsError as exc:
        raise HTTPException(422, str(exc)) from exc
    state.buckets.reset()
    return result


# -- tenants ----------------------------------------------------------------------------------
@router.post("/tenants", status_code=201)
def register_tenant(body: dict[str, Any] = Body(...), state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Register (or update) a tenant: ``{tenant, client_id, client_secret,
    token_lifetime_seconds?, scopes?, timezone_id?}``; returns the tenant record."""
    try:
        return state.registry.register(body)
    except RegistryError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


@router.get("/tenants")
def list_tenants(state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Every tenant with its record counts."""
    out = []
    for rec in state.registry.tenants():
        out.append({**rec, "counts": _counts(state, rec["tenant"])})
    return {"tenants": out}


def _counts(state: PersonioState, tenant: str) -> dict[str, int]:
    return {
        "persons": state.store.count(tenant, PERSONS),
        "absence_types": state.store.count(tenant, ABSENCE_TYPES),
        "absence_periods": state.store.count(tenant, ABSENCE_PERIODS),
    }


@router.get("/tenants/{tenant}")
def get_tenant(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """One tenant with its record counts."""
    return {**_tenant(state, tenant), "counts": _counts(state, tenant)}


@router.delete("/tenants/{tenant}")
def delete_tenant(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Forget a tenant, its tokens and its data."""
    _tenant(state, tenant)
    with state.write_lock:
        state.registry.remove(tenant)
    return {"deleted": tenant}


@router.post("/tenants/{tenant}/invalidate-tokens")
def invalidate_tokens(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, int]:
    """Invalidate every token of the tenant (its next call answers 401); returns how many."""
    _tenant(state, tenant)
    return {"invalidated": state.registry.invalidate(tenant)}


@router.get("/tenants/{tenant}/tokens")
def list_tokens(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """The tenant's tokens (kind, prefix, scopes, seconds left)."""
    _tenant(state, tenant)
    return {"tokens": state.registry.tokens_of(tenant)}


@router.get("/tenants/{tenant}/client-headers")
def client_headers(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """The X-Personio-App-ID / X-Personio-Partner-ID the tenant's last request carried, counts
    of requests with and without them, and whether the values are UPPER_SNAKE_CASE."""
    _tenant(state, tenant)
    return state.registry.client_headers(tenant)


# -- persons ----------------------------------------------------------------------------------
def _person_record(
    state: PersonioState, tenant: str, item: dict[str, Any], taken_emails: set[str], taken_ids: set[str]
) -> dict[str, Any]:
    unknown = set(item) - PERSON_FIELDS
    if unknown:
        raise HTTPException(422, f"unknown person fields: {sorted(unknown)}")
    email = item.get("email")
    if not isinstance(email, str) or not EMAIL.match(email):
        raise HTTPException(422, f"person email {email!r} is not an e-mail address")
    if email.lower() in taken_emails:
        raise HTTPException(409, f"a person with email {email!r} already exists")
    for name in ("first_name", "last_name"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise HTTPException(422, f"person {name} is required")
    status = str(item.get("status", "ACTIVE")).upper()
    if status not in persons.STATUSES:
        raise HTTPException(422, f"person status must be one of {persons.STATUSES}")
    pid = item.get("id")
    if pid is None:
        pid = str(state.store.next_id("personio.person", start=100001))
        while pid in taken_ids:
            pid = str(state.store.next_id("personio.person", start=100001))
    elif not str(pid).isdigit():
        raise HTTPException(422, "person id must be a numeric string (v1 employee id)")
    pid = str(pid)
    if pid in taken_ids:
        raise HTTPException(409, f"a person with id {pid} already exists")
    attributes = item.get("custom_attributes", [])
    if not isinstance(attributes, list) or not all(isinstance(a, dict) for a in attributes):
        raise HTTPException(422, "custom_attributes must be a list of objects")
    stamp = write_stamp()
    try:
        created = normalize_instant(item["created_at"]) if item.get("created_at") else stamp
        updated = normalize_instant(item["updated_at"]) if item.get("updated_at") else stamp
    except ValueError as exc:
        raise HTTPException(422, f"created_at/updated_at: {exc}") from exc
    taken_emails.add(email.lower())
    taken_ids.add(pid)
    return {
        "id": pid,
        "seq": state.next_seq(),
        "email": email,
        "first_name": item["first_name"],
        "last_name": item["last_name"],
        "preferred_name": item.get("preferred_name"),
        "gender": item.get("gender"),
        "status": status,
        "custom_attributes": attributes,
        "employments": [{"id": str(state.store.next_id("personio.employment", start=500001))}],
        "profile_picture_url": item.get("profile_picture_url"),
        "created_at": created,
        "updated_at": updated,
    }


@router.post("/tenants/{tenant}/persons", status_code=201)
def create_persons(tenant: str, body: Any = Body(...), state: PersonioState = Depends(get_state)) -> Any:
    """Create one person (object) or many (list, or ``{"persons": [...]}``); returns the v2 JSON
    of what was created (an object or ``{"persons": [...]}``)."""
    _tenant(state, tenant)
    items, single = _as_list(body, "persons")
    with state.write_lock:
        existing = list(state.store.iter_shared(tenant, PERSONS))
        emails = {p["email"].lower() for p in existing}
        ids = {p["id"] for p in existing}
        records = [_person_record(state, tenant, item, emails, ids) for item in items]
        state.store.put_many(tenant, PERSONS, [(r["id"], r) for r in records])
    rendered = [persons.render(r) for r in records]
    return rendered[0] if single else {"persons": rendered}


@router.get("/tenants/{tenant}/persons")
def list_persons(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Every person of the tenant (v2 JSON), in listing order."""
    _tenant(state, tenant)
    records = sorted(state.store.iter_shared(tenant, PERSONS), key=lambda r: r["seq"])
    return {"persons": [persons.render(r) for r in records]}


@router.patch("/tenants/{tenant}/persons/{person_id}")
def update_person(
    tenant: str, person_id: str, body: dict[str, Any] = Body(...), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    """Change a person's fields (e-mail, names, status, ...); bumps ``updated_at``."""
    _tenant(state, tenant)
    unknown = set(body) - (PERSON_FIELDS - {"id", "created_at"})
    if unknown:
        raise HTTPException(422, f"unknown or read-only person fields: {sorted(unknown)}")
    with state.write_lock:
        rec = state.store.get(tenant, PERSONS, person_id)
        if rec is None:
            raise HTTPException(404, f"unknown person {person_id}")
        if "email" in body:
            email = body["email"]
            if not isinstance(email, str) or not EMAIL.match(email):
                raise HTTPException(422, f"person email {email!r} is not an e-mail address")
            if any(
                p["email"].lower() == email.lower() and p["id"] != person_id
                for p in state.store.iter_shared(tenant, PERSONS)
            ):
                raise HTTPException(409, f"a person with email {email!r} already exists")
        if "status" in body:
            body = {**body, "status": str(body["status"]).upper()}
            if body["status"] not in persons.STATUSES:
                raise HTTPException(422, f"person status must be one of {persons.STATUSES}")
        for name in ("first_name", "last_name"):
            if name in body and (not isinstance(body[name], str) or not body[name]):
                raise HTTPException(422, f"person {name} must be a non-empty string")
        explicit = body.pop("updated_at", None) if "updated_at" in body else None
        rec.update(body)
        try:
            rec["updated_at"] = normalize_instant(explicit) if explicit else write_stamp(rec["updated_at"])
        except ValueError as exc:
            raise HTTPException(422, f"updated_at: {exc}") from exc
        state.store.put(tenant, PERSONS, person_id, rec)
    return persons.render(rec)


@router.delete("/tenants/{tenant}/persons/{person_id}")
def delete_person(tenant: str, person_id: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Delete a person and (as Personio does with an employee) their absence periods."""
    _tenant(state, tenant)
    with state.write_lock:
        if not state.store.delete(tenant, PERSONS, person_id):
            raise HTTPException(404, f"unknown person {person_id}")
        doomed = [r["id"] for r in state.store.iter_shared(tenant, ABSENCE_PERIODS) if r["person_id"] == person_id]
        for pid in doomed:
            state.store.delete(tenant, ABSENCE_PERIODS, pid)
    return {"deleted": person_id, "absence_periods_deleted": len(doomed)}


@router.post("/tenants/{tenant}/persons/{person_id}/touch-absence-periods")
def touch_periods(tenant: str, person_id: str, state: PersonioState = Depends(get_state)) -> dict[str, int]:
    """Bump ``updated_at`` of all the person's periods without changing them, as a working-time
    model change does in Personio; returns how many were touched."""
    _tenant(state, tenant)
    with state.write_lock:
        touched = [dict(r) for r in state.store.iter_shared(tenant, ABSENCE_PERIODS) if r["person_id"] == person_id]
        for rec in touched:
            rec["updated_at"] = write_stamp(rec["updated_at"])
        state.store.put_many(tenant, ABSENCE_PERIODS, [(r["id"], r) for r in touched])
    return {"touched": len(touched)}


@router.post("/tenants/{tenant}/absence-periods/{period_id}/stamp")
def stamp_period(
    tenant: str, period_id: str, body: dict[str, Any] = Body(...), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    """Set a period's ``updated_at`` to ``body["updated_at"]`` as is, also earlier than before: a
    write stamped by a Personio server whose clock lags, or committed late (issue #12)."""
    _tenant(state, tenant)
    if set(body) != {"updated_at"}:
        raise HTTPException(422, 'body must be {"updated_at": "<ISO date-time>"}')
    try:
        stamp = normalize_instant(body["updated_at"])
    except ValueError as exc:
        raise HTTPException(422, f"updated_at: {exc}") from exc
    with state.write_lock:
        rec = state.store.get(tenant, ABSENCE_PERIODS, period_id)
        if rec is None:
            raise HTTPException(404, f"unknown absence period {period_id}")
        rec["updated_at"] = stamp
        state.store.put(tenant, ABSENCE_PERIODS, period_id, rec)
    return {"id": period_id, "updated_at": stamp}


# -- absence types ----------------------------------------------------------------------------
def _category(value: Any) -> str | None:
    if value is None:
        return None
    category = str(value).upper()
    if category not in absence_types.CATEGORIES:
        raise HTTPException(422, f"category must be null or one of {absence_types.CATEGORIES}")
    return category


def _type_record(state: PersonioState, item: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    unknown = set(item) - TYPE_FIELDS
    if unknown:
        raise HTTPException(422, f"unknown absence type fields: {sorted(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise HTTPException(422, "absence type name is required")
    if name in taken:
        raise HTTPException(409, f"an absence type named {name!r} already exists")
    unit = str(item.get("unit", "DAY")).upper()
    if unit not in absence_types.UNITS:
        raise HTTPException(422, f"unit must be one of {absence_types.UNITS}")
    tid = str(item.get("id") or uuid.uuid4())
    approval_required = item.get("approval_required", True)
    if not isinstance(approval_required, bool):
        raise HTTPException(422, "approval_required must be true or false")
    taken.add(name)
    stamp = write_stamp()
    return {
        "id": tid,
        "seq": state.next_seq(),
        "name": name,
        "category": _category(item.get("category")),
        "unit": unit,
        "approval_required": approval_required,
        "created_at": stamp,
        "updated_at": stamp,
    }


@router.post("/tenants/{tenant}/absence-types", status_code=201)
def create_types(tenant: str, body: Any = Body(...), state: PersonioState = Depends(get_state)) -> Any:
    """Create one absence type or many: ``{name, category, unit: DAY|HOUR, approval_required?}``;
    returns the v2 JSON (an object or ``{"absence_types": [...]}``)."""
    _tenant(state, tenant)
    items, single = _as_list(body, "absence_types")
    with state.write_lock:
        existing = list(state.store.iter_shared(tenant, ABSENCE_TYPES))
        names = {t["name"] for t in existing}
        ids = {t["id"] for t in existing}
        records = [_type_record(state, item, names) for item in items]
        if any(r["id"] in ids for r in records):
            raise HTTPException(409, "an absence type with that id already exists")
        state.store.put_many(tenant, ABSENCE_TYPES, [(r["id"], r) for r in records])
    rendered = [absence_types.render(r) for r in records]
    return rendered[0] if single else {"absence_types": rendered}


@router.get("/tenants/{tenant}/absence-types")
def list_types(tenant: str, state: PersonioState = Depends(get_state)) -> dict[str, Any]:
    """Every absence type of the tenant (v2 JSON plus ``approval_required``)."""
    _tenant(state, tenant)
    records = sorted(state.store.iter_shared(tenant, ABSENCE_TYPES), key=lambda r: r["seq"])
    return {
        "absence_types": [
            {**absence_types.render(r), "approval_required": r.get("approval_required", True)} for r in records
        ]
    }


@router.patch("/tenants/{tenant}/absence-types/{type_id}")
def update_type(
    tenant: str, type_id: str, body: dict[str, Any] = Body(...), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    """Rename or re-categorise a type (its unit is fixed once periods use it)."""
    _tenant(state, tenant)
    unknown = set(body) - (TYPE_FIELDS - {"id"})
    if unknown:
        raise HTTPException(422, f"unknown absence type fields: {sorted(unknown)}")
    with state.write_lock:
        rec = state.store.get(tenant, ABSENCE_TYPES, type_id)
        if rec is None:
            raise HTTPException(404, f"unknown absence type {type_id}")
        if "name" in body:
            if any(
                t["name"] == body["name"] and t["id"] != type_id for t in state.store.iter_shared(tenant, ABSENCE_TYPES)
            ):
                raise HTTPException(409, f"an absence type named {body['name']!r} already exists")
            rec["name"] = str(body["name"])
        if "category" in body:
            rec["category"] = _category(body["category"])
        if "approval_required" in body:
            rec["approval_required"] = bool(body["approval_required"])
        if "unit" in body:
            unit = str(body["unit"]).upper()
            if unit not in absence_types.UNITS:
                raise HTTPException(422, f"unit must be one of {absence_types.UNITS}")
            if unit != rec["unit"] and any(
                p["absence_type_id"] == type_id for p in state.store.iter_shared(tenant, ABSENCE_PERIODS)
            ):
                raise HTTPException(409, "the unit of a type in use cannot change")
            rec["unit"] = unit
        rec["updated_at"] = write_stamp(rec["updated_at"])
        state.store.put(tenant, ABSENCE_TYPES, type_id, rec)
    return absence_types.render(rec)


@router.delete("/tenants/{tenant}/absence-types/{type_id}")
def delete_type(tenant: str, type_id: str, state: PersonioState = Depends(get_state)) -> dict[str, str]:
    """Delete an unused absence type (409 while periods use it)."""
    _tenant(state, tenant)
    with state.write_lock:
        if any(p["absence_type_id"] == type_id for p in state.store.iter_shared(tenant, ABSENCE_PERIODS)):
            raise HTTPException(409, "the absence type is used by absence periods")
        if not state.store.delete(tenant, ABSENCE_TYPES, type_id):
            raise HTTPException(404, f"unknown absence type {type_id}")
    return {"deleted": type_id}
