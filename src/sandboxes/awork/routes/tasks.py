"""Tasks and task lists.

Task lists: ``/projects/{id}/tasklists`` CRUD, ``addtasks``, ``removetasks``, ``setarchived``,
``delete``. Tasks: ``POST /tasks``, ``/tasks/{id}``, ``/tasks/key/{identifier}``,
``/tasks/changelists``, ``/tasks/changestatuses``, ``/tasks/changetypeofwork``,
``/tasks/{id}/setassignees``, ``POST /tasks/delete``, ``/projects/{id}/projecttasks``.
A task can sit in several lists of its project; its memberships live on the task record.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.clock import new_guid, now_iso
from sandboxes.awork.errors import AworkError, invalid_operation, not_found, validation_failed
from sandboxes.awork.listing import flag, json_response, paged_list, query
from sandboxes.awork.render import SCHEMAS, Lookups
from sandboxes.awork.routes.common import (
    Form,
    guid_list,
    no_content,
    read_json,
    require,
    require_ref,
    touch_time_entries,
)
from sandboxes.awork.state import (
    DEFAULT_TASK_STATUSES,
    PROJECTS,
    TASK_LISTS,
    TASK_STATUSES,
    TASKS,
    TIME_ENTRIES,
    TYPES_OF_WORK,
    USERS,
    Ctx,
)

router = APIRouter(prefix="/api/v1")
Record = dict[str, Any]

_TASK_COMPUTED = {
    "taskIdentifier",
    "taskStatus",
    "typeOfWork",
    "assignees",
    "project",
    "parentTask",
    "numberOfSubtasks",
    "lists",
    "trackedDuration",
    "totalTrackedDuration",
    "totalPlannedDuration",
}
STORED_TASK_FIELDS = [k for k in SCHEMAS["task"] if k not in _TASK_COMPUTED]
_LIST_COMPUTED = {"plannedDuration", "totalPlannedDuration", "totalPlannedDurationWithHierarchy", "trackedDuration"}
STORED_LIST_FIELDS = [k for k in SCHEMAS["task_list"] if k not in _LIST_COMPUTED]


# -- task lists ------------------------------------------------------------------------------
def _task_list(ctx: Ctx, project_id: str, list_id: str) -> Record:
    tl = require(ctx, TASK_LISTS, list_id, "Task list")
    if tl.get("_projectId") != project_id:
        raise not_found("Task list")
    return tl


@router.get("/projects/{project_id}/tasklists")
async def list_task_lists(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    require(ctx, PROJECTS, project_id, "Project")
    show_archived = flag(query(request), "showArchived")
    items = sorted(
        (
            t
            for t in ctx.all(TASK_LISTS)
            if t.get("_projectId") == project_id and (show_archived or not t["isArchived"])
        ),
        key=lambda t: t["order"] or 0,
    )
    return paged_list(
        request,
        items,
        schema=SCHEMAS["task_list"],
        render=Lookups(ctx).task_list,
        settings=ctx.settings,
        stored_fields=STORED_LIST_FIELDS,
    )


@router.post("/projects/{project_id}/tasklists")
async def create_task_list(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    project = require(ctx, PROJECTS, project_id, "Project")
    form = Form(await read_json(request), "task list")
    name = form.string("name", required=True, min_length=1, max_length=1000)
    hidden = form.boolean("isHiddenForConnectUsers", default=False)
    order = form.number("order")
    form.check()
    if order is None:
        orders = [t["order"] or 0 for t in ctx.all(TASK_LISTS) if t.get("_projectId") == project["id"]]
        order = (max(orders) if orders else 0) + 1
    rec = ctx.stamp_new(
        {
            "id": None,
            "createdOn": None,
            "createdBy": None,
            "updatedOn": None,
            "updatedBy": None,
            "name": name,
            "order": float(order),
            "isArchived": False,
            "isHiddenForConnectUsers": bool(hidden),
            "_projectId": project["id"],
        }
    )
    ctx.put(TASK_LISTS, rec)
    return json_response(Lookups(ctx).task_list(rec))


@router.get("/projects/{project_id}/tasklists/{list_id}")
async def get_task_list(project_id: str, list_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).task_list(_task_list(ctx, project_id, list_id)))


@router.put("/projects/{project_id}/tasklists/{list_id}")
async def update_task_list(
    project_id: str, list_id: str, request: Request, ctx: Ctx = Depends(authenticate)
) -> Response:
    tl = _task_list(ctx, project_id, list_id)
    form = Form(await read_json(request), "task list")
    name = form.string("name", required=True, min_length=1, max_length=1000)
    hidden = form.boolean("isHiddenForConnectUsers", default=False)
    form.check()
    tl.update(name=name, isHiddenForConnectUsers=bool(hidden))
    ctx.put(TASK_LISTS, ctx.stamp_update(tl))
    return json_response(Lookups(ctx).task_list(tl))


@router.post("/projects/{project_id}/tasklists/{list_id}/setarchived")
async def archive_task_list(
    project_id: str, list_id: str, request: Request, ctx: Ctx = Depends(authenticate)
) -> Response:
    tl = _task_list(ctx, project_id, list_id)
    form = Form(await read_json(request), "archive form")
    archived = form.boolean("isArchived", default=False)
    form.check()
    tl["isArchived"] = bool(archived)
    ctx.put(TASK_LISTS, ctx.stamp_update(tl))
    return json_response(Lookups(ctx).task_list(tl))


def _next_order(ctx: Ctx, list_id: str) -> float:
    orders = [m.get("orderOfTask") or 0 for t in ctx.all(TASKS) for m in t.get("_lists") or [] if m["id"] == list_id]
    return float(max(orders) if orders else 0) + 1


@router.post("/projects/{project_id}/tasklists/{list_id}/addtasks")
async def add_tasks(project_id: str, list_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Put tasks of the project into the list (they keep their other lists); answers
    ``[{id, order}]`` with each task's order in the list."""
    tl = _task_list(ctx, project_id, list_id)
    body = await read_json(request)
    if not isinstance(body, list):
        raise validation_failed([("$", "An array of {taskId, order} is required.")])
    forms = []
    for item in body:
        form = Form(item, "task assignment")
        task_id = form.guid("taskId", required=True)
        order = form.number("order")
        form.check()
        forms.append((task_id, order))
    results = []
    for task_id, order in forms:
        task = require_ref(ctx, TASKS, task_id, "Task")
        if task.get("projectId") != project_id:
            raise invalid_operation("Only tasks of the list's project can be added to it.")
        memberships = [m for m in task.get("_lists") or [] if m["id"] != tl["id"]]
        position = float(order) if order is not None else _next_order(ctx, tl["id"])
        memberships.append({"id": tl["id"], "orderOfTask": position})
        task["_lists"] = memberships
        ctx.put(TASKS, ctx.stamp_update(task))
        results.append({"id": task["id"], "order": position})
    return json_response(results)


@router.post("/projects/{project_id}/tasklists/{list_id}/removetasks")
async def remove_tasks(project_id: str, list_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    tl = _task_list(ctx, project_id, list_id)
    for task_id in guid_list(await read_json(request)):
        task = ctx.get(TASKS, task_id)
        if task is None or not any(m["id"] == tl["id"] for m in task.get("_lists") or []):
            continue
        task["_lists"] = [m for m in task["_lists"] if m["id"] != tl["id"]]
        ctx.put(TASKS, ctx.stamp_update(task))
    return no_content()


@router.post("/projects/{project_id}/tasklists/{list_id}/delete")
async def delete_task_list(
    project_id: str, list_id: str, request: Request, ctx: Ctx = Depends(authenticate)
) -> Response:
    """Delete a list. Its tasks are only taken out of it, unless ``deleteTasks`` (then their
    time entries are deleted with ``deleteTimes``, else they lose their task)."""
    tl = _task_list(ctx, project_id, list_id)
    form = Form(await read_json(request, required=False) or {}, "delete form")
    delete_tasks = bool(form.boolean("deleteTasks", default=False))
    delete_times = bool(form.boolean("deleteTimes", default=False))
    form.check()
    members = [dict(t) for t in ctx.all(TASKS) if any(m["id"] == tl["id"] for m in t.get("_lists") or [])]
    if delete_tasks:
        _delete_tasks(ctx, [t["id"] for t in members], delete_times)
    else:
        for task in members:
            task["_lists"] = [m for m in task["_lists"] if m["id"] != tl["id"]]
            ctx.put(TASKS, ctx.stamp_update(task))
    ctx.delete(TASK_LISTS, tl["id"])
    return no_content()


# -- tasks -----------------------------------------------------------------------------------
def _private_status(ctx: Ctx) -> str:
    """The status new private tasks get (private task statuses are made on first use)."""
    for status in ctx.all(TASK_STATUSES):
        if status.get("projectId") is None and status["type"] == "todo":
            return str(status["id"])
    now = now_iso()
    first = ""
    for order, (name, kind, icon) in enumerate(DEFAULT_TASK_STATUSES, start=1):
        sid = new_guid()
        first = first or sid
        ctx.put(
            TASK_STATUSES,
            {
                "id": sid,
                "name": name,
                "type": kind,
                "order": float(order),
                "icon": icon,
                "projectId": None,
                "projectTypeId": None,
                "workflowId": None,
                "createdOn": now,
                "createdBy": ctx.user_id,
                "updatedOn": now,
                "updatedBy": ctx.user_id,
                "isExternal": False,
            },
        )
    return first


def _first_status(ctx: Ctx, project_id: str, kind: str = "todo") -> str:
    statuses = sorted(
        (s for s in ctx.all(TASK_STATUSES) if s.get("projectId") == project_id), key=lambda s: s["order"] or 0
    )
    for status in statuses:
        if status["type"] == kind:
            return str(status["id"])
    if not statuses:
        raise invalid_operation("The project has no task statuses.")
    return str(statuses[0]["id"])


def _default_type_of_work(ctx: Ctx) -> str:
    """The workspace's first active type of work (awork fills it in when a task has none)."""
    for t in ctx.all(TYPES_OF_WORK):
        if not t["isArchived"]:
            return str(t["id"])
    raise validation_failed([("TypeOfWorkId", "The workspace has no type of work; 'TypeOfWorkId' is required.")])


def _usable_type(ctx: Ctx, type_id: str) -> Record:
    t = require_ref(ctx, TYPES_OF_WORK, type_id, "Type of work")
    if t["isArchived"]:
        raise AworkError(400, "entity-archived", "The type of work is archived and cannot be used.")
    return t


@router.post("/tasks")
async def create_task(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Create a project task (``entityId`` = project) or a private task; optionally in lists."""
    form = Form(await read_json(request), "task")
    name = form.string("name", required=True, max_length=1000)
    base_type = form.string("baseType", required=True)
    values = {
        "description": form.string("description"),
        "isPrio": form.boolean("isPrio", default=False),
        "startOn": form.datetime("startOn"),
        "dueOn": form.datetime("dueOn"),
        "laneOrder": form.integer("laneOrder") or 0,
        "plannedDuration": form.integer("plannedDuration", minimum=0) or 0,
    }
    type_id = form.guid("typeOfWorkId")
    status_id = form.guid("taskStatusId")
    order = form.number("order")
    subtask_order = form.number("subtaskOrder")
    entity_id = form.guid("entityId")
    parent_id = form.guid("parentId")
    lists = form.array("lists") or []
    if base_type is not None and base_type not in ("projecttask", "private"):
        form.errors.append(("BaseType", "'BaseType' must be 'projecttask' or 'private'."))
    form.check()
    memberships = []
    for item in lists:
        lf = Form(item, "list assignment")
        list_id = lf.guid("id", required=True)
        list_order = lf.number("order")
        lf.check()
        memberships.append((list_id, list_order))

    project_id = user_id = None
    if base_type == "projecttask":
        if entity_id is None:
            raise validation_failed([("EntityId", "'EntityId' (the project id) is required for project tasks.")])
        project_id = require_ref(ctx, PROJECTS, entity_id, "Project")["id"]
    else:
        user_id = entity_id or ctx.user_id
        require_ref(ctx, USERS, user_id, "User")
        if memberships:
            raise invalid_operation("Private tasks cannot be put into task lists.")
    type_id = _usable_type(ctx, type_id)["id"] if type_id else _default_type_of_work(ctx)
    if status_id:
        status = require_ref(ctx, TASK_STATUSES, status_id, "Task status")
        if status.get("projectId") != project_id:
            raise invalid_operation("The task status does not belong to the task's project.")
    else:
        status_id = _first_status(ctx, project_id) if project_id else _private_status(ctx)
    if parent_id:
        parent = require_ref(ctx, TASKS, parent_id, "Task")
        if parent.get("projectId") != project_id:
            raise invalid_operation("A subtask must belong to its parent's project.")
    lists_out = []
    for list_id, list_order in memberships:
        tl = require_ref(ctx, TASK_LISTS, list_id, "Task list")
        if tl.get("_projectId") != project_id:
            raise invalid_operation("The task list does not belong to the task's project.")
        position = float(list_order) if list_order is not None else _next_order(ctx, tl["id"])
        lists_out.append({"id": tl["id"], "orderOfTask": position})

    task_number = ctx.state.store.next_id(f"awork:{ctx.tenant}:{project_id}:tasknumber") if project_id else None
    status = ctx.get(TASK_STATUSES, status_id) or {}
    rec: Record = {
        "name": name,
        **values,
        "id": None,
        "taskNumber": task_number,
        "isExternal": False,
        "createdVia": None,
        "isHiddenForConnectUsers": False,
        "baseType": base_type,
        "taskStatusId": status_id,
        "typeOfWorkId": type_id,
        "projectId": project_id,
        "correlationId": None,
        "parentId": parent_id,
        "isSubtask": parent_id is not None,
        "hasAttachment": False,
        "entityId": project_id or user_id,
        "userId": user_id,
        "tags": [],
        "createdOn": None,
        "createdBy": None,
        "updatedOn": None,
        "updatedBy": None,
        "closedOn": None,
        "closedBy": None,
        "order": float(order) if order is not None else float(task_number or 0),
        "subtaskOrder": subtask_order,
        "createdFromTaskId": None,
        "isRecurring": False,
        "customFields": [],
        "resourceVersion": 0,
        "checklistItemsDoneCount": 0,
        "checklistItemsCount": 0,
        "taskSchedulesCount": 0,
        "isCompletelyScheduled": False,
        "commentCount": 0,
        "_lists": lists_out,
        "_assignees": [],
    }
    ctx.stamp_new(rec)
    rec["correlationId"] = rec["id"]
    if status.get("type") == "done":
        rec["closedOn"], rec["closedBy"] = rec["createdOn"], ctx.user_id
    ctx.put(TASKS, rec)
    return json_response(Lookups(ctx).task(rec))


@router.get("/tasks/key/{identifier}")
async def get_task_by_key(identifier: str, ctx: Ctx = Depends(authenticate)) -> Response:
    lookups = Lookups(ctx)
    for task in ctx.all(TASKS):
        if (lookups.task_identifier(task) or "").lower() == identifier.lower():
            return json_response(lookups.task(task))
    raise not_found("Task")


@router.get("/tasks/{task_id}")
async def get_task(task_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).task(require(ctx, TASKS, task_id, "Task")))


@router.put("/tasks/{task_id}")
async def update_task(task_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Replace the task's editable fields (GeneralTaskForm: omitted fields are reset)."""
    task = require(ctx, TASKS, task_id, "Task")
    form = Form(await read_json(request), "task")
    task.update(
        name=form.string("name", required=True, max_length=1000),
        description=form.string("description"),
        isPrio=form.boolean("isPrio", default=False),
        startOn=form.datetime("startOn"),
        dueOn=form.datetime("dueOn"),
        laneOrder=form.integer("laneOrder") or 0,
        plannedDuration=form.integer("plannedDuration", minimum=0) or 0,
    )
    form.check()
    ctx.put(TASKS, ctx.stamp_update(task))
    touch_time_entries(ctx, lambda e: e.get("taskId") == task["id"])
    return json_response(Lookups(ctx).task(task))


@router.post("/tasks/changelists")
async def change_lists(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Set each task's list memberships (replacing the old ones); echoes the forms."""
    body = await read_json(request)
    if not isinstance(body, list):
        raise validation_failed([("$", "An array of {taskId, taskLists} is required.")])
    planned: list[tuple[Record, list[Record]]] = []
    for item in body:
        form = Form(item, "task lists form")
        task_id = form.guid("taskId", required=True)
        lists = form.array("taskLists")
        if lists is None:
            form.errors.append(("TaskLists", "'TaskLists' must not be empty."))
        form.check()
        task = require_ref(ctx, TASKS, task_id, "Task")
        memberships = []
        for entry in lists or []:
            lf = Form(entry, "task list")
            list_id = lf.guid("id", required=True)
            order = lf.number("order")
            lf.boolean("isPrimary")
            lf.check()
            tl = require_ref(ctx, TASK_LISTS, list_id, "Task list")
            if tl.get("_projectId") != task.get("projectId"):
                raise invalid_operation("The task list does not belong to the task's project.")
            memberships.append({"id": tl["id"], "orderOfTask": order})
        planned.append((task, memberships))
    for task, memberships in planned:
        old = {m["id"]: m.get("orderOfTask") for m in task.get("_lists") or []}
        for m in memberships:
            if m["orderOfTask"] is None:
                m["orderOfTask"] = old.get(m["id"]) or _next_order(ctx, m["id"])
            else:
                m["orderOfTask"] = float(m["orderOfTask"])
        task["_lists"] = memberships
        ctx.put(TASKS, ctx.stamp_update(task))
    return json_response(body)


@router.post("/tasks/changestatuses")
async def change_statuses(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    body = await read_json(request)
    if not isinstance(body, list):
        raise validation_failed([("$", "An array of {taskId, statusId} is required.")])
    for item in body:
        form = Form(item, "status form")
        task_id = form.guid("taskId", required=True)
        status_id = form.guid("statusId", required=True)
        form.check()
        task = require_ref(ctx, TASKS, task_id, "Task")
        status = require_ref(ctx, TASK_STATUSES, status_id, "Task status")
        if status.get("projectId") != task.get("projectId"):
            raise invalid_operation("The task status does not belong to the task's project.")
        task["taskStatusId"] = status["id"]
        done = status["type"] == "done"
        task["closedOn"] = (task.get("closedOn") or now_iso()) if done else None
        task["closedBy"] = (task.get("closedBy") or ctx.user_id) if done else None
        ctx.put(TASKS, ctx.stamp_update(task))
    return no_content()


@router.post("/tasks/changetypeofwork")
async def change_type_of_work(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Give tasks another type of work (their time entries too with ``changeTimeEntries``)."""
    form = Form(await read_json(request), "type of work form")
    task_ids = form.array("taskIds")
    type_id = form.guid("typeOfWorkId", required=True)
    change_entries = form.boolean("changeTimeEntries", default=False)
    if task_ids is None:
        form.errors.append(("TaskIds", "'TaskIds' must not be empty."))
    form.check()
    _usable_type(ctx, str(type_id))
    for task_id in guid_list(task_ids, "TaskIds"):
        task = require_ref(ctx, TASKS, task_id, "Task")
        task["typeOfWorkId"] = type_id
        ctx.put(TASKS, ctx.stamp_update(task))
        if change_entries:
            for entry in [dict(e) for e in ctx.all(TIME_ENTRIES) if e.get("taskId") == task_id]:
                entry["typeOfWorkId"] = type_id
                ctx.put(TIME_ENTRIES, ctx.stamp_update(entry))
    return no_content()


@router.post("/tasks/{task_id}/setassignees")
async def set_assignees(task_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Replace the task's assignees with the given user ids."""
    task = require(ctx, TASKS, task_id, "Task")
    user_ids = guid_list(await read_json(request))
    for uid in user_ids:
        require_ref(ctx, USERS, uid, "User")
    task["_assignees"] = list(dict.fromkeys(user_ids))
    ctx.put(TASKS, ctx.stamp_update(task))
    return no_content()


def _delete_tasks(ctx: Ctx, task_ids: list[str], delete_time_entries: bool) -> None:
    """Delete tasks; their time entries are deleted too, or keep their project and lose the task."""
    ids = set(task_ids)
    for entry in [dict(e) for e in ctx.all(TIME_ENTRIES) if e.get("taskId") in ids]:
        if delete_time_entries:
            ctx.delete(TIME_ENTRIES, entry["id"])
        else:
            entry["taskId"] = None
            ctx.put(TIME_ENTRIES, ctx.stamp_update(entry))
    for tid in ids:
        ctx.delete(TASKS, tid)


@router.post("/tasks/delete")
async def delete_tasks(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Delete tasks: 204, or 207 ``MultiStatusResult`` when some ids were not found."""
    form = Form(await read_json(request), "delete form")
    task_ids = form.array("taskIds")
    delete_times = bool(form.boolean("deleteTimeTrackings", default=False))
    if task_ids is None:
        form.errors.append(("TaskIds", "'TaskIds' must not be empty."))
    form.check()
    ids = guid_list(task_ids, "TaskIds")
    found = [t for t in ids if ctx.get(TASKS, t) is not None]
    missing = [t for t in ids if t not in found]
    _delete_tasks(ctx, found, delete_times)
    if missing:
        return json_response(
            {
                "ok": {"ids": found},
                "notFound": {"ids": missing},
                "unauthorized": {"ids": []},
                "badRequest": {"ids": []},
            },
            status=207,
        )
    return no_content()


def _project_tasks(request: Request, ctx: Ctx, project_id: str) -> Response:
    require(ctx, PROJECTS, project_id, "Project")
    items = [t for t in ctx.all(TASKS) if t.get("projectId") == project_id]
    return paged_list(
        request,
        items,
        schema=SCHEMAS["task"],
        render=Lookups(ctx).task,
        settings=ctx.settings,
        stored_fields=STORED_TASK_FIELDS,
        me_id=ctx.user_id,
    )


@router.get("/projects/{project_id}/projecttasks")
async def list_project_tasks(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """The project's tasks (awork has no ``GET /tasks``)."""
    return _project_tasks(request, ctx, project_id)


@router.get("/projects/{project_id}/tasks")
async def list_project_tasks_alias(project_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Not in awork's spec: served only with the ``project_tasks_alias`` switch."""
    if not ctx.settings["project_tasks_alias"]:
        raise AworkError(404, "not-found", "The requested resource was not found.")
    return _project_tasks(request, ctx, project_id)


@router.get("/projects/{project_id}/projecttasks/{task_id}")
async def get_project_task(project_id: str, task_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    task = require(ctx, TASKS, task_id, "Task")
    if task.get("projectId") != project_id:
        raise not_found("Task")
    return json_response(Lookups(ctx).task(task))
