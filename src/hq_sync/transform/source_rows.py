"""Source records as staging rows: the raw payload plus the typed columns ``staging/schema.py``
declares for them (awork users, types of work, projects, task lists, tasks and time entries;
Personio persons, absence types and absence periods).

Pure functions over one item as the vendor API returns it. The pipelines stage with them, the
webhook runs re-read with them and the audit compares with them (issue 13: one home, below all).
"""

from __future__ import annotations

from typing import Any

from hq_sync.clients.awork import user_email
from hq_sync.timeutil import parse_day, parse_timestamp


def _base(item: dict[str, Any], updated_key: str) -> dict[str, Any]:
    return {"source_id": str(item["id"]), "source_updated_at": parse_timestamp(item.get(updated_key)), "payload": item}


# -- awork ------------------------------------------------------------------------------------------
def awork_user_row(item: dict[str, Any]) -> dict[str, Any]:
    return {**_base(item, "updatedOn"), "email": user_email(item)}


def awork_type_row(item: dict[str, Any]) -> dict[str, Any]:
    return {**_base(item, "updatedOn"), "name": str(item.get("name") or "")}


def awork_project_row(item: dict[str, Any]) -> dict[str, Any]:
    return {**_base(item, "updatedOn"), "name": str(item.get("name") or "")}


def awork_list_row(item: dict[str, Any], project_id: str) -> dict[str, Any]:
    order = item.get("order")
    return {
        **_base(item, "updatedOn"),
        "project_id": project_id,
        "name": str(item.get("name") or ""),
        "list_order": int(order) if isinstance(order, int | float) else None,
    }


def awork_task_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base(item, "updatedOn"),
        "project_id": item.get("projectId") or item.get("entityId"),
        "name": str(item.get("name") or ""),
        "type_of_work_id": item.get("typeOfWorkId"),
        "planned_duration_s": item.get("plannedDuration"),
    }


def awork_entry_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base(item, "updatedOn"),
        "user_id": str(item.get("userId") or ""),
        "project_id": item.get("projectId"),
        "task_id": item.get("taskId"),
        "start_date": parse_day(item.get("startDateUtc") or item.get("startDateLocal") or "1970-01-01"),
        "duration_s": int(item.get("duration") or 0),
        "is_billed": bool(item.get("isBilled")),
    }


# -- Personio ---------------------------------------------------------------------------------------
def _half(marker: dict[str, Any] | None) -> str | None:
    return (marker or {}).get("type")


def personio_period_row(item: dict[str, Any]) -> dict[str, Any]:
    """A Personio v2 absence period as a staging row (raw payload + typed columns)."""
    ends = item.get("ends_at") or None
    return {
        **_base(item, "updated_at"),
        "person_id": str((item.get("person") or {}).get("id") or ""),
        "absence_type_id": str((item.get("absence_type") or {}).get("id") or ""),
        "starts_at": str((item.get("starts_from") or {}).get("date_time") or "")[:19],
        "starts_half": _half(item.get("starts_from")),
        "ends_at": str(ends["date_time"])[:19] if ends and ends.get("date_time") else None,
        "ends_half": _half(ends),
        "approval_status": str((item.get("approval") or {}).get("status") or "").upper() or None,
    }


def personio_person_row(item: dict[str, Any]) -> dict[str, Any]:
    return {**_base(item, "updated_at"), "email": item.get("email"), "status": item.get("status")}


def personio_type_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **_base(item, "updated_at"),
        "name": str(item.get("name") or ""),
        "category": item.get("category"),
        "unit": item.get("unit"),
    }
