"""Projects: ``/projects`` CRUD, ``/projects/key/{key}``, ``setprojectkey``, ``changestatus``,
``POST /projects/{id}/delete``, and the project's statuses and types of work. Also the
workspace's ``/projectstatuses``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.clock import new_guid, now_iso
from sandboxes.awork.errors import AworkError, not_found, validation_failed
from sandboxes.awork.listing import flag, json_response, paged_list, query
from sandboxes.awork.render import SCHEMAS, Lookups
from sandboxes.awork.routes.common import (
    Form,
    no_content,
    read_json,
    require,
    require_ref,
    touch_time_entries,
)
from sandboxes.awork.state import (
    COMPANIES,
    DEFAULT_TASK_STATUSES,
    PROJECT_STATUSES,
    PROJECTS,
    TASK_LISTS,
    TASK_STATUSES,
    TASKS,
    TIME_ENTRIES,
    TYPES_OF_WORK,
    Ctx,
)

router = APIRouter(prefix="/api/v1")

_COMPUTED = {
    "projectType",
    "projectStatus",
    "company",
    "plannedDuration",
    "totalPlannedDurationWithHierarchy",
    "tasksCount",
    "tasksDoneCount",
    "trackedDuration",
}
STORED_PROJECT_FIELDS = [k for k in SCHEMAS["project"] if k not in _COMPUTED]
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Fields of ExtendedProjectForm (POST) and ProjectPutForm (PUT) we keep.
_PUT_FIELDS = (
    "name",
    "isPrivate",
    "description",
    "startDate",
    "dueDate",
    "companyId",
    "timeBudget",
    "isBillableByDefault",
    "projectTypeId",
    "color",
    "deductNonBillableHours",
    "isProjectKeyVisible",
)


def _read_form(ctx: Ctx, body: Any, *, post: bool) -> dict[str, Any]:
    form = Form(body, "project")
    values: dict[str, Any] = {
        "name": form.string("name", required=True, max_length=1000),
        "isPrivate": form.boolean("isPrivate", default=False),
        "description": form.string("description", max_length=25000),
        "startDate": form.datetime("startDate"),
        "dueDate": form.datetime("dueDate"),
        "companyId": form.guid("companyId"),
        "timeBudget": form.integer("timeBudget", minimum=0),
        "isBillableByDefault": form.boolean("isBillableByDefault", default=True),
        "projectTypeId": form.guid("projectTypeId"),
        "color": form.string("color", max_length=14),
        "deductNonBillableHours": form.boolean("deductNonBillableHours", default=False),
        "isProjectKeyVisible": form.boolean("isProjectKeyVisible"),
    }
    if post:
        values.update(
            projectKey=form.string("projectKey", max_length=32),
            projectStatusId=form.guid("projectStatusId"),
            projectTemplateId=form.guid("projectTemplateId"),
            publicProjectTemplateId=form.guid("publicProjectTemplateId"),
            workflowId=form.guid("workflowId"),
        )
        if values["projectTemplateId"] and values["workflowId"]:
            form.errors.append(("WorkflowId", "'ProjectTemplateId' and 'WorkflowId' cannot be combined."))
    form.check()
    if values["companyId"]:
        require_ref(ctx, COMPANIES, values["companyId"], "Company")
    if values["projectTypeId"]:
        # Project types are not modelled; a reference to one cannot resolve.
        raise AworkError(404, "not-found", f"The project type with the id '{values['projectTypeId']}' was not found.")
    if values["startDate"] and values["dueDate"] and values["dueDate"] < values["startDate"]:
        raise AworkError(400, "date-dependency", "The due date lies before the start date.")
    return values


def normalise_key(ctx: Ctx, key: str, own_id: str | None = None) -> str:
    """A valid, workspace-unique project key in upper case; raises awork's 400 otherwise."""
    if not _KEY.match(key):
        raise validation_failed(
            [("ProjectKey", "'ProjectKey' may contain only letters, digits, '-' and '_' (1-32 characters).")]
        )
    key = key.upper()
    for other in ctx.all(PROJECTS):
        if other["id"] != own_id and (other.get("projectKey") or "").upper() == key:
            raise AworkError(
                400, "duplication-violation", f"The project key '{key}' is already used by another project."
            )
    return key


def _generated_key(ctx: Ctx, name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    if len(words) >= 2:
        base = "".join(w[0] for w in words[:4])
    else:
        base = words[0][:3] if words else "PRJ"
    base = base.upper() or "PRJ"
    used = {(p.get("projectKey") or "").upper() for p in ctx.all(PROJECTS)}
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}{n}"
    return key


def default_project_status(ctx: Ctx) -> str:
    statuses = sorted(ctx.all(PROJECT_STATUSES), key=lambda s: s["order"] or 0)
    for status in statuses:
        if status["type"] == "not-started":
            return str(status["id"])
    if not statuses:
        raise AworkError(400, "invalid-operation", "The workspace has no project statuses.")
    return str(statuses[0]["id"])


def _create_task_statuses(ctx: Ctx, project_id: str) -> None:
    now = now_iso()
    for order, (name, kind, icon) in enumerate(DEFAULT_TASK_STATUSES, start=1):
        sid = new_guid()
        ctx.put(
            TASK_STATUSES,
            {
                "id": sid,
                "name": name,
                "type": kind,
                "order": float(order),
                "icon": icon,
                "projectId": project_id,
                "projectTypeId": None,
                "workflowId": None,
                "createdOn": now,
                "createdBy": ctx.user_id,
                "updatedOn": now,
                "updatedBy": ctx.user_id,
                "isExternal": False,
            },
        )


@router.get("/projects")
async def list_projects(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    return paged_list(
        request,
        list(ctx.all(PROJECTS)),
        schema=SCHEMAS["project"],
        render=Lookups(ctx).project,
        settings=ctx.settings,
        stored_fields=STORED_PROJECT_FIELDS,
    )


@router.post("/projects")
async def create_project(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Create a project (200, awork answers creates with 200) with its task statuses."""
    values = _read_form(ctx, await read_json(request), post=True)
    if values["projectKey"]:
        key: str | None = normalise_key(ctx, values["projectKey"])
    elif ctx.settings["auto_project_key"]:
        key = _generated_key(ctx, values["name"])
    else:
        key = None
    status_id = values["projectStatusId"]
    if status_id:
        require_ref(ctx, PROJECT_STATUSES, status_id, "Project status")
    else:
        status_id = default_project_status(ctx)
    rec: dict[str, Any] = {k: values[k] for k in _PUT_FIELDS}
    rec.update(
        projectStatusId=status_id,
        projectTemplateId=values["projectTemplateId"],
        publicProjectTemplateId=values["publicProjectTemplateId"],
        workflowId=values["workflowId"],
        id=None,
        projectKey=key,
        hasImage=False,
        createdOn=None,
        createdBy=None,
        updatedOn=None,
        updatedBy=None,
        closedOn=None,
        closedBy=None,
        createdByProjectTemplateId=None,
        tags=[],
        members=[],
        customFields=[],
        resourceVersion=0,
        teams=[],
        isExternal=False,
        isRetainer=False,
        isMultiAssignmentAllowed=True,
    )
    ctx.stamp_new(rec)
    ctx.put(PROJECTS, rec)
    _create_task_statuses(ctx, rec["id"])
    return json_response(Lookups(ctx).project(rec))


@router.get("/projects/key/{project_key}")
async def get_project_by_key(project_key: str, ctx: Ctx = Depends(authenticate)) -> Response:
    for project in ctx.all(PROJECTS):
        if (project.get("projectKey") or "").lower() == project_key.lower():
            return json_response(Lookups(ctx).project(project))
    raise not_found("Project")


@router.get("/projects/{project_id}")
async def get_project(project_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).project(require(ctx, PROJECTS, project_id, "Project")))


@router.put("/projects/{project_id}")
async def update_project(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Replace the project's editable fields (ProjectPutForm: omitted fields are reset)."""
    rec = require(ctx, PROJECTS, project_id, "Project")
    values = _read_form(ctx, await read_json(request), post=False)
    rec.update({k: values[k] for k in _PUT_FIELDS})
    ctx.put(PROJECTS, ctx.stamp_update(rec))
    touch_time_entries(ctx, lambda e: e.get("projectId") == rec["id"])
    return json_response(Lookups(ctx).project(rec))


@router.post("/projects/{project_id}/setprojectkey")
async def set_project_key(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    rec = require(ctx, PROJECTS, project_id, "Project")
    form = Form(await read_json(request), "project key form")
    key = form.string("projectKey", required=True, max_length=32)
    form.check()
    rec["projectKey"] = normalise_key(ctx, str(key), rec["id"])
    ctx.put(PROJECTS, ctx.stamp_update(rec))
    touch_time_entries(ctx, lambda e: e.get("projectId") == rec["id"])
    return json_response(Lookups(ctx).project(rec))


@router.post("/projects/{project_id}/changestatus")
async def change_status(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    rec = require(ctx, PROJECTS, project_id, "Project")
    form = Form(await read_json(request), "status form")
    status_id = form.guid("projectStatusId", required=True)
    form.check()
    status = require_ref(ctx, PROJECT_STATUSES, status_id, "Project status")
    rec["projectStatusId"] = status["id"]
    closed = status["type"] == "closed"
    rec["closedOn"] = (rec.get("closedOn") or now_iso()) if closed else None
    rec["closedBy"] = (rec.get("closedBy") or ctx.user_id) if closed else None
    ctx.put(PROJECTS, ctx.stamp_update(rec))
    return no_content()


def delete_project_data(ctx: Ctx, project: dict[str, Any], *, delete_time_entries: bool) -> None:
    """Delete a project with its tasks, lists and task statuses. Its time entries are deleted,
    or kept with ``projectId``/``taskId`` cleared (awork's default)."""
    pid = project["id"]
    task_ids = {t["id"] for t in ctx.all(TASKS) if t.get("projectId") == pid}
    for entry in [dict(e) for e in ctx.all(TIME_ENTRIES) if e.get("projectId") == pid or e.get("taskId") in task_ids]:
        if delete_time_entries:
            ctx.delete(TIME_ENTRIES, entry["id"])
        else:
            entry["projectId"] = None
            entry["taskId"] = None
            ctx.put(TIME_ENTRIES, ctx.stamp_update(entry))
    for tid in task_ids:
        ctx.delete(TASKS, tid)
    for tl in [t["id"] for t in ctx.all(TASK_LISTS) if t.get("_projectId") == pid]:
        ctx.delete(TASK_LISTS, tl)
    for st in [s["id"] for s in ctx.all(TASK_STATUSES) if s.get("projectId") == pid]:
        ctx.delete(TASK_STATUSES, st)
    ctx.delete(PROJECTS, pid)


@router.post("/projects/{project_id}/delete")
async def delete_project(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    rec = require(ctx, PROJECTS, project_id, "Project")
    form = Form(await read_json(request, required=False) or {}, "delete form")
    delete_times = form.boolean("deleteTimeTrackings", default=False)
    form.check()
    delete_project_data(ctx, rec, delete_time_entries=bool(delete_times))
    return no_content()


def _project_statuses(request: Request, ctx: Ctx) -> Response:
    show_archived = flag(query(request), "showArchived")
    items = [s for s in ctx.all(PROJECT_STATUSES) if show_archived or not s.get("_isArchived")]
    return paged_list(
        request,
        items,
        schema=SCHEMAS["project_status"],
        render=Lookups(ctx).project_status,
        settings=ctx.settings,
        stored_fields=SCHEMAS["project_status"],
    )


@router.get("/projectstatuses")
async def list_project_statuses(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """The workspace's project statuses (one default workflow)."""
    return _project_statuses(request, ctx)


@router.get("/projects/{project_id}/projectstatuses")
async def list_statuses_of_project(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """The statuses a project can take: the workspace's, as every project uses the default workflow."""
    require(ctx, PROJECTS, project_id, "Project")
    return _project_statuses(request, ctx)


@router.get("/projects/{project_id}/taskstatuses")
async def list_task_statuses(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    require(ctx, PROJECTS, project_id, "Project")
    items = [s for s in ctx.all(TASK_STATUSES) if s.get("projectId") == project_id]
    return paged_list(
        request,
        items,
        schema=SCHEMAS["task_status"],
        render=Lookups(ctx).task_status,
        settings=ctx.settings,
        stored_fields=SCHEMAS["task_status"],
    )


@router.get("/projects/{project_id}/typeofwork")
async def list_project_types(project_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    """Types of work usable in the project: every active type (no per-project restriction)."""
    require(ctx, PROJECTS, project_id, "Project")
    lookups = Lookups(ctx)
    return json_response([lookups.type_of_work(t) for t in ctx.all(TYPES_OF_WORK) if not t["isArchived"]])
