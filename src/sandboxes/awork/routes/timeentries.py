"""Time entries (v1 ``TimeTracking``): list, create, get, update, delete, ``POST /timeentries/delete``,
``POST /timeentries/batch/{operation}``, and the lists per project and per task.

Deleted entries simply disappear: there is no deletion feed, and ``GET /timeentries/{id}`` answers 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.errors import AworkError, invalid_operation, validation_failed
from sandboxes.awork.listing import json_response, paged_list
from sandboxes.awork.render import SCHEMAS, STORED_TIME_ENTRY_FIELDS, Lookups
from sandboxes.awork.routes.common import (
    Form,
    guid_list,
    no_content,
    read_json,
    require,
    require_ref,
)
from sandboxes.awork.state import PROJECTS, TASKS, TIME_ENTRIES, TYPES_OF_WORK, USERS, Ctx
from sandboxes.awork.timecalc import LOCAL_FIELDS, UTC_FIELDS, fields, resolve, zone

router = APIRouter(prefix="/api/v1")
Record = dict[str, Any]

BATCH_OPERATIONS = ("delete", "settypeofwork", "setisbillable", "setisbilled", "setproject", "settask", "setuser")


# Switch ``time_entries_query``: whether GET /timeentries honours filterby/orderby (unconfirmed for
# this endpoint, awork.md §9.5; awork ignores parameters an endpoint lacks, §1).
IGNORED_PARAMETERS = {
    "honoured": (),
    "filter_ignored": ("filterby",),
    "order_ignored": ("orderby",),
    "ignored": ("filterby", "orderby"),
}


def _list(request: Request, ctx: Ctx, records: Any, ignored: tuple[str, ...] = ()) -> Response:
    return paged_list(
        request,
        records,
        schema=SCHEMAS["time_entry"],
        render=Lookups(ctx).time_entry,
        settings=ctx.settings,
        stored_fields=STORED_TIME_ENTRY_FIELDS,
        me_id=ctx.user_id,
        ignored=ignored,
    )


@router.get("/timeentries")
async def list_time_entries(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """All time entries of the workspace (filterby ``updatedOn ge datetime'…'``, ``projectId eq
    guid'…'``, ``startDateUtc`` ranges, …), unless the ``time_entries_query`` switch drops them."""
    return _list(request, ctx, ctx.all(TIME_ENTRIES), IGNORED_PARAMETERS[ctx.settings["time_entries_query"]])


@router.get("/projects/{project_id}/timeentries")
async def list_project_time_entries(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    require(ctx, PROJECTS, project_id, "Project")
    return _list(request, ctx, [e for e in ctx.all(TIME_ENTRIES) if e.get("projectId") == project_id])


@router.get("/tasks/{task_id}/timeentries")
async def list_task_time_entries(task_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    require(ctx, TASKS, task_id, "Task")
    return _list(request, ctx, [e for e in ctx.all(TIME_ENTRIES) if e.get("taskId") == task_id])


def _read_form(ctx: Ctx, body: Any, *, post: bool, current: Record | None = None) -> Record:
    """Validate a TimeEntryPostForm/TimeTrackingPutForm; returns the entry's stored fields
    (without id and audit fields)."""
    form = Form(body, "time entry")
    timezone = form.string("timezone", required=True)
    type_id = form.guid("typeOfWorkId", required=True)
    user_id = form.guid("userId", required=post)
    project_id = form.guid("projectId")
    task_id = form.guid("taskId")
    note = form.string("note")
    is_billable = form.boolean("isBillable")
    is_billed = form.boolean("isBilled", default=False)
    form.integer("duration", minimum=0)
    break_duration = form.integer("breakDuration", minimum=0)
    times = {name: form.raw(name) for name in (*UTC_FIELDS, *LOCAL_FIELDS)}
    times["duration"] = form.raw("duration")
    form.check()

    tz = zone(timezone)
    span = resolve(times, tz)
    if user_id is None and current is not None:
        user_id = current.get("userId")
    if user_id is not None:
        require_ref(ctx, USERS, user_id, "User")
    type_of_work = require_ref(ctx, TYPES_OF_WORK, type_id, "Type of work")
    if type_of_work["isArchived"] and (current is None or current.get("typeOfWorkId") != type_id):
        raise AworkError(400, "entity-archived", "The type of work is archived and cannot be used.")
    project = None
    if task_id is not None:
        task = require_ref(ctx, TASKS, task_id, "Task")
        if task.get("baseType") == "projecttask":
            if project_id is not None and project_id != task.get("projectId"):
                raise invalid_operation("The task does not belong to the given project.")
            project_id = task.get("projectId")
    if project_id is not None:
        project = require_ref(ctx, PROJECTS, project_id, "Project")
    if is_billable is None:
        # awork: isBillable defaults from the project's isBillableByDefault.
        is_billable = bool(project.get("isBillableByDefault", True)) if project else True
    entry: Record = {
        "isBillable": is_billable,
        "isBilled": bool(is_billed),
        "taskId": task_id,
        "projectId": project_id,
        "note": note,
    }
    entry.update(fields(span, tz))
    duration = entry.pop("duration")
    entry.update(
        timezone=timezone, duration=duration, breakDuration=break_duration, typeOfWorkId=type_id, userId=user_id
    )
    return entry


def _stored(entry: Record) -> Record:
    """The entry's fields in the model's order."""
    return {k: entry.get(k) for k in SCHEMAS["time_entry"] if k in STORED_TIME_ENTRY_FIELDS}


@router.post("/timeentries")
async def create_time_entry(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Create a time entry; answers 200 with the ``TimeTracking``."""
    entry = _read_form(ctx, await read_json(request), post=True)
    entry.update(
        id=None, createdBy=None, createdOn=None, updatedBy=None, updatedOn=None, resourceVersion=0, isExternal=False
    )
    entry = _stored(ctx.stamp_new(entry))
    ctx.put(TIME_ENTRIES, entry)
    return json_response(Lookups(ctx).time_entry(entry))


@router.get("/timeentries/{entry_id}")
async def get_time_entry(entry_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).time_entry(require(ctx, TIME_ENTRIES, entry_id, "Time entry")))


@router.put("/timeentries/{entry_id}")
async def update_time_entry(entry_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Replace the entry (TimeTrackingPutForm: omitted fields are reset, a missing userId keeps the user)."""
    current = require(ctx, TIME_ENTRIES, entry_id, "Time entry")
    entry = _read_form(ctx, await read_json(request), post=False, current=current)
    current.update(entry)
    entry = _stored(ctx.stamp_update(current))
    ctx.put(TIME_ENTRIES, entry)
    return json_response(Lookups(ctx).time_entry(entry))


@router.delete("/timeentries/{entry_id}")
async def delete_time_entry(entry_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    entry = require(ctx, TIME_ENTRIES, entry_id, "Time entry")
    ctx.delete(TIME_ENTRIES, entry["id"])
    return no_content()


@router.post("/timeentries/delete")
async def delete_time_entries(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Delete the entries with the given ``ids`` (deprecated by awork in favour of batch/delete)."""
    form = Form(await read_json(request), "delete form")
    ids = form.array("ids") or []
    form.check()
    for entry_id in guid_list(ids, "Ids"):
        ctx.delete(TIME_ENTRIES, entry_id)
    return no_content()


@router.post("/timeentries/batch/{operation}")
async def batch(operation: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Apply one operation to many entries; answers 207 ``MultiStatusResult``."""
    op = operation.lower()
    if op not in BATCH_OPERATIONS:
        raise AworkError(404, "not-found", f"The batch operation '{operation}' does not exist.")
    form = Form(await read_json(request), "batch form")
    ids_raw = form.array("timeEntryIds")
    new_type = form.guid("newTypeOfWorkId")
    is_billable = form.boolean("isBillable")
    is_billed = form.boolean("isBilled")
    new_user = form.guid("newUserId")
    new_project = form.guid("newProjectId")
    new_task = form.guid("newTaskId")
    require_all = bool(form.boolean("requireAllTimeEntries", default=False))
    if ids_raw is None:
        form.errors.append(("TimeEntryIds", "'TimeEntryIds' must not be empty."))
    form.check()
    ids = guid_list(ids_raw, "TimeEntryIds")
    needed = {
        "settypeofwork": new_type,
        "setisbillable": is_billable,
        "setisbilled": is_billed,
        "setuser": new_user,
        "setproject": new_project,
        "settask": new_task,
    }
    if op in needed and needed[op] is None and op not in ("setproject", "settask"):
        raise validation_failed([("$", f"The operation '{operation}' needs its value.")])
    if op == "settypeofwork":
        require_ref(ctx, TYPES_OF_WORK, new_type, "Type of work")
    if op == "setuser":
        require_ref(ctx, USERS, new_user, "User")
    task = require_ref(ctx, TASKS, new_task, "Task") if op == "settask" and new_task else None
    if op == "setproject" and new_project:
        require_ref(ctx, PROJECTS, new_project, "Project")

    found = [e for e in (ctx.get(TIME_ENTRIES, i) for i in ids) if e is not None]
    missing = [i for i in ids if i not in {e["id"] for e in found}]
    if require_all and missing:
        raise AworkError(404, "not-found", "Not all time entries were found.", details=missing)
    for entry in found:
        if op == "delete":
            ctx.delete(TIME_ENTRIES, entry["id"])
            continue
        if op == "settypeofwork":
            entry["typeOfWorkId"] = new_type
        elif op == "setisbillable":
            entry["isBillable"] = is_billable
        elif op == "setisbilled":
            entry["isBilled"] = is_billed
        elif op == "setuser":
            entry["userId"] = new_user
        elif op == "setproject":
            entry["projectId"], entry["taskId"] = new_project, None
        elif op == "settask":
            entry["taskId"] = new_task
            if task is not None:
                entry["projectId"] = task.get("projectId")
        ctx.put(TIME_ENTRIES, ctx.stamp_update(entry))
    return json_response(
        {
            "ok": {"ids": [e["id"] for e in found]},
            "notFound": {"ids": missing},
            "unauthorized": {"ids": []},
            "badRequest": {"ids": []},
        },
        status=207,
    )
