"""Projects (``do.Create``, ``do.ChangeStatus``, ``do.AddMember``), members and project tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandboxes.hq import fields as F
from sandboxes.hq.api import Api, Ctx
from sandboxes.hq.errors import bad_request, not_found
from sandboxes.hq.model import CHARGE_TYPES, Record, blank, entity
from sandboxes.hq.rates import RATE_RULES
from sandboxes.hq.timeutil import comparable

TASK_WRITABLE: dict[str, F.Converter] = {
    "Name": F.as_str,
    "Order": F.as_int,
    "ParentId": F.as_int,
    "ProjectId": F.as_int,
    "IsDone": F.as_bool,
    "PlannedEffort": F.as_float,
    "PercentDone": F.as_int,
    "Description": F.as_str,
    "StartOn": F.as_on,
    "EndOn": F.as_on,
    "TaskTypeId": F.as_int,
    "TaskTypeStatusId": F.as_int,
    "IsAppointment": F.as_bool,
    "SyncId": F.as_str,
    "Sync": F.as_bool,
    "JiraProjectName": F.as_str,
    "Remaining": F.as_float,
    "ProjectBudgetId": F.as_int,
    "ChargeType": F.enum(CHARGE_TYPES),
    "ChargeValue": F.as_float,
}
TASK_DEFAULTS: dict[str, Any] = {
    "IsDone": False,
    "PercentDone": 0,
    "IsAppointment": False,
    "Sync": False,
    "ChargeType": "NotSet",
    "PlannedEffort": 0.0,
}


def project_number(ctx: Ctx, template: Record, requested: str | None) -> str:
    """Returns the new project's number.

    With a number schema on the template, any requested number is ignored (HQ's do.Create text);
    without one, the requested number is used, or the next free number is generated.
    """
    schema = template.get("_number_schema")
    taken = {p.get("Number") for p in ctx.data.records("Projects")}
    if schema:
        while True:
            seq = ctx.data.store.next_id(f"hq:{ctx.data.tenant.id}:project-number:{template['Id']}")
            number = schema.format(seq=seq, year=datetime.now(UTC).year)
            if number not in taken:
                return number
    if requested:
        if requested in taken:
            raise bad_request(f"The project number '{requested}' is already in use.")
        return requested
    while True:
        number = str(ctx.data.store.next_id(f"hq:{ctx.data.tenant.id}:project-number", start=1000))
        if number not in taken:
            return number


def create_task(ctx: Ctx, body: dict[str, Any]) -> Record:
    """Validates and stores a new project task; returns it. Raises 400 on invalid input."""
    rec = blank(entity("Task"))
    F.apply(rec, body, TASK_WRITABLE, replace=True, defaults=TASK_DEFAULTS)
    validate_task(ctx, rec, None)
    return ctx.data.insert("ProjectTasks", rec, ctx.actor)


def _depth(tasks: dict[int, Record], task_id: int | None) -> int:
    depth = 0
    while task_id is not None and task_id in tasks and depth < 100:
        depth += 1
        task_id = tasks[task_id].get("ParentId")
    return depth


def _subtree_height(children: dict[Any, list[Record]], task_id: int) -> int:
    below = children.get(task_id, [])
    return 1 + max((_subtree_height(children, c["Id"]) for c in below), default=0)


def validate_task(ctx: Ctx, rec: Record, existing_id: int | None) -> None:
    """Checks a task's references and hierarchy, filling defaults; raises 400 when invalid."""
    if not rec.get("Name"):
        raise bad_request("The property 'Name' is required.")
    if rec.get("ProjectId") is None:
        raise bad_request("The property 'ProjectId' is required: a task needs a valid project.")
    if ctx.data.get("Projects", rec["ProjectId"]) is None:
        raise bad_request(f"There is no project with the Id {rec['ProjectId']}.")
    tasks = ctx.data.by_id("ProjectTasks")
    parent_id = rec.get("ParentId")
    if parent_id is not None:
        parent = tasks.get(parent_id)
        if parent is None or parent.get("ProjectId") != rec["ProjectId"]:
            raise bad_request(f"The parent task {parent_id} does not exist in project {rec['ProjectId']}.")
        cursor: int | None = parent_id
        while cursor is not None:
            if cursor == existing_id:
                raise bad_request("A task cannot be moved below itself.")
            cursor = tasks[cursor].get("ParentId") if cursor in tasks else None
    limit = ctx.settings.max_task_depth
    if limit is not None:
        height = 1
        if existing_id is not None:
            height = _subtree_height(ctx.data.index("ProjectTasks", "ParentId"), existing_id)
        if _depth(tasks, parent_id) + height > limit:
            raise bad_request(
                f"The project plan allows at most {limit} levels (phases are the top level); "
                "this task would be nested deeper."
            )
    types = ctx.data.by_id("TaskTypes")
    if rec.get("TaskTypeId") is None:
        default = next((t for t in types.values() if t.get("IsDefault")), None)
        rec["TaskTypeId"] = default["Id"] if default else None
    elif rec["TaskTypeId"] not in types:
        raise bad_request(f"There is no task type with the Id {rec['TaskTypeId']}.")
    statuses = ctx.data.index("TaskTypeStatuses", "TaskTypeId").get(rec.get("TaskTypeId"), [])
    if rec.get("TaskTypeStatusId") is None:
        wanted = [s for s in statuses if bool(s.get("IsFinishedState")) == bool(rec.get("IsDone"))]
        rec["TaskTypeStatusId"] = (wanted or statuses or [{"Id": None}])[0]["Id"]
    elif rec["TaskTypeStatusId"] not in {s["Id"] for s in statuses}:
        raise bad_request(
            f"The status {rec['TaskTypeStatusId']} does not belong to the task type {rec.get('TaskTypeId')}."
        )
    if rec.get("Order") is None:
        orders = [t.get("Order") or 0 for t in ctx.data.index("ProjectTasks", "ProjectId").get(rec["ProjectId"], [])]
        rec["Order"] = max(orders, default=0) + 1
    if rec.get("StartOn") and rec.get("EndOn") and comparable(rec["EndOn"]) < comparable(rec["StartOn"]):
        raise bad_request("The task's 'EndOn' must not be before 'StartOn'.")
    for name in ("PlannedEffort", "Remaining"):
        if rec.get(name) is not None and rec[name] < 0:
            raise bad_request(f"The property '{name}' (hours) must not be negative.")


def register(router: APIRouter, api: Api) -> None:
    """Adds the routes of this module to ``router``."""

    # -- projects ----------------------------------------------------------------------------
    @router.get("/v1/Projects")
    def list_projects(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records("Projects"), "Project", "Projects")

    @router.get("/v1/Projects({project_id})")
    def get_project(project_id: str, ctx: Ctx = api.ctx) -> Any:
        rec = ctx.data.require("Projects", api.key(project_id, "Project"), "Project")
        return api.entity(ctx, rec, "Project", "Projects")

    @router.post("/v1/Projects/do.Create", status_code=201)
    async def create_project(request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        allowed = {
            "ProjectTemplateId",
            "Name",
            "Number",
            "CompanyId",
            "ContactPersonId",
            "ResponsibleUserId",
            "LeadId",
            "StartDate",
            "EndDate",
            "ProjectStatusId",
        }
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise bad_request(f"Unknown parameters {unknown}; do.Create takes {sorted(allowed)}.")
        F.require(body, "ProjectTemplateId", "Name")
        with api.state.write_lock:
            template_id = F.as_int("ProjectTemplateId", body["ProjectTemplateId"])
            template = ctx.data.get("ProjectTemplates", template_id)
            if template is None:
                raise bad_request(f"There is no project template with the Id {template_id}.")
            rec = blank(entity("Project"))
            rec["Name"] = F.as_str("Name", body["Name"])
            for name in ("CompanyId", "ContactPersonId", "ResponsibleUserId", "LeadId", "ProjectStatusId"):
                body_value = F.as_int(name, body.get(name))
                if name in rec:
                    rec[name] = body_value
            if template.get("IsInternal"):
                if rec["ResponsibleUserId"] is None:
                    raise bad_request("Internal projects require 'ResponsibleUserId'.")
                if ctx.data.get("Users", rec["ResponsibleUserId"]) is None:
                    raise bad_request(f"There is no user with the Id {rec['ResponsibleUserId']}.")
            else:
                if rec["CompanyId"] is None:
                    raise bad_request("External projects require 'CompanyId'.")
            if rec["CompanyId"] is not None and ctx.data.get("Companies", rec["CompanyId"]) is None:
                raise bad_request(f"There is no company with the Id {rec['CompanyId']}.")
            statuses = template.get("_status_ids") or []
            if rec["ProjectStatusId"] is None:
                rec["ProjectStatusId"] = statuses[0] if statuses else None
            elif rec["ProjectStatusId"] not in statuses:
                raise bad_request(
                    f"The project status {rec['ProjectStatusId']} is not valid for template {template_id}."
                )
            status = ctx.data.get("ProjectStatuses", rec["ProjectStatusId"]) if rec["ProjectStatusId"] else None
            rec["Status"] = status["Name"] if status else None
            rec["ProjectTemplateId"] = template_id
            rec["Number"] = project_number(ctx, template, F.as_str("Number", body.get("Number")))
            rec["StartDate"] = rec["PlannedStartDate"] = F.as_date("StartDate", body.get("StartDate"))
            rec["EndDate"] = rec["PlannedEndDate"] = F.as_date("EndDate", body.get("EndDate"))
            if rec["StartDate"] and rec["EndDate"] and rec["EndDate"] < rec["StartDate"]:
                raise bad_request("'EndDate' must not be before 'StartDate'.")
            ctx.data.insert("Projects", rec, ctx.actor)
            for order, phase in enumerate(template.get("_phases") or [], start=1):
                start_on = f"{rec['StartDate'][:10]}T00:00:00Z" if rec["StartDate"] else None
                create_task(ctx, {"Name": phase, "ProjectId": rec["Id"], "Order": order, "StartOn": start_on})
        rendered = api.render(ctx, rec, "Project", "Projects")
        if ctx.settings.project_create_answer == "array":
            rendered.pop("@odata.context", None)
            return JSONResponse([rendered], status_code=201)
        return JSONResponse(rendered, status_code=201)

    @router.post("/v1/Projects({project_id})/do.ChangeStatus", status_code=201)
    async def change_status(project_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.require(body, "ProjectStatusId")
        with api.state.write_lock:
            rec = ctx.data.require("Projects", api.key(project_id, "Project"), "Project")
            status_id = F.as_int("ProjectStatusId", body["ProjectStatusId"])
            template = ctx.data.get("ProjectTemplates", rec.get("ProjectTemplateId")) or {}
            if status_id not in (template.get("_status_ids") or []):
                raise bad_request(f"The project status {status_id} is not valid for this project's template.")
            rec["ProjectStatusId"] = status_id
            rec["Status"] = ctx.data.require("ProjectStatuses", status_id, "ProjectStatus")["Name"]
            ctx.data.save("Projects", rec, ctx.actor)
        return api.entity(ctx, rec, "Project", "Projects", status=201)

    # -- members -----------------------------------------------------------------------------
    @router.post("/v1/Projects({project_id})/do.AddMember", status_code=201)
    async def add_member(project_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        allowed = {
            "UserId",
            "ProjectRoleId",
            "ExternalChargeRateId",
            "ExternalChargeRateValue",
            "ExternalChargeRateCurrency",
        }
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise bad_request(f"Unknown parameters {unknown}; do.AddMember takes {sorted(allowed)}.")
        F.require(body, "UserId", "ProjectRoleId")
        with api.state.write_lock:
            project = ctx.data.require("Projects", api.key(project_id, "Project"), "Project")
            user_id = F.as_int("UserId", body["UserId"])
            role_id = F.as_int("ProjectRoleId", body["ProjectRoleId"])
            if ctx.data.get("Users", user_id) is None:
                raise bad_request(f"There is no user with the Id {user_id}.")
            if ctx.data.get("ProjectRoles", role_id) is None:
                raise bad_request(f"There is no project role with the Id {role_id}.")
            rule_id = F.as_int("ExternalChargeRateId", body.get("ExternalChargeRateId"))
            if rule_id is not None and ctx.data.get(RATE_RULES, rule_id) is None:
                raise bad_request(f"There is no charge rate with the Id {rule_id}.")
            existing = [
                m
                for m in ctx.data.index("ProjectMembers", "ProjectId").get(project["Id"], [])
                if m["UserId"] == user_id
            ]
            if existing:
                raise bad_request(f"The user {user_id} is already a member of project {project['Id']}.")
            rate = F.as_float("ExternalChargeRateValue", body.get("ExternalChargeRateValue"))
            currency = F.as_str("ExternalChargeRateCurrency", body.get("ExternalChargeRateCurrency"))
            rec = blank(entity("ProjectMember"))
            rec.update(
                {
                    "UserId": user_id,
                    "ProjectRoleId": role_id,
                    "ProjectId": project["Id"],
                    "ExternalChargeRateValue": rate,
                    "ExternalChargeRateCurrency": currency or ("EUR" if rate is not None else None),
                    "_rate_rule_id": rule_id,
                }
            )
            ctx.data.insert("ProjectMembers", rec, ctx.actor)
        return api.entity(ctx, rec, "ProjectMember", "ProjectMembers", status=201)

    @router.get("/v1/Projects({project_id})/Members")
    def list_members(project_id: str, ctx: Ctx = api.ctx) -> Any:
        project = ctx.data.require("Projects", api.key(project_id, "Project"), "Project")
        members = ctx.data.index("ProjectMembers", "ProjectId").get(project["Id"], [])
        return api.collection(ctx, members, "ProjectMember", f"Projects({project['Id']})/Members")

    def member_of(ctx: Ctx, project_id: str, member_id: str) -> Record:
        project = ctx.data.require("Projects", api.key(project_id, "Project"), "Project")
        member = ctx.data.get("ProjectMembers", api.key(member_id, "ProjectMember"))
        if member is None or member["ProjectId"] != project["Id"]:
            raise not_found("ProjectMember", member_id)
        return member

    @router.get("/v1/Projects({project_id})/Members({member_id})")
    def get_member(project_id: str, member_id: str, ctx: Ctx = api.ctx) -> Any:
        return api.entity(ctx, member_of(ctx, project_id, member_id), "ProjectMember", "ProjectMembers")

    @router.delete("/v1/Projects({project_id})/Members({member_id})")
    def delete_member(project_id: str, member_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            member = member_of(ctx, project_id, member_id)
            ctx.data.delete("ProjectMembers", member["Id"])
        return api.no_content()

    @router.get("/v1/Users({user_id})/ProjectMembers")
    def user_memberships(user_id: str, ctx: Ctx = api.ctx) -> Any:
        user = ctx.data.require("Users", api.key(user_id, "User"), "User")
        members = ctx.data.index("ProjectMembers", "UserId").get(user["Id"], [])
        return api.collection(ctx, members, "ProjectMember", f"Users({user['Id']})/ProjectMembers")

    # -- project tasks -----------------------------------------------------------------------
    @router.get("/v1/ProjectTasks")
    def list_tasks(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records("ProjectTasks"), "Task", "ProjectTasks")

    @router.get("/v1/ProjectTasks({task_id})")
    def get_task(task_id: str, ctx: Ctx = api.ctx) -> Any:
        rec = ctx.data.require("ProjectTasks", api.key(task_id, "Task"), "Task")
        return api.entity(ctx, rec, "Task", "ProjectTasks")

    @router.post("/v1/ProjectTasks", status_code=201)
    async def post_task(request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("Task"))
        with api.state.write_lock:
            rec = create_task(ctx, body)
        return api.entity(ctx, rec, "Task", "ProjectTasks", status=201)

    @router.put("/v1/ProjectTasks({task_id})")
    async def put_task(task_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("Task"))
        with api.state.write_lock:
            rec = ctx.data.require("ProjectTasks", api.key(task_id, "Task"), "Task")
            project_id = rec["ProjectId"]
            replace = ctx.settings.put_semantics == "replace"
            if replace and body.get("ProjectId") is None:
                raise bad_request("The property 'ProjectId' is required: a task needs a valid project.")
            F.apply(rec, body, TASK_WRITABLE, replace=replace, defaults=TASK_DEFAULTS)
            if rec["ProjectId"] != project_id:
                raise bad_request("A task cannot be moved to another project.")
            validate_task(ctx, rec, rec["Id"])
            ctx.data.save("ProjectTasks", rec, ctx.actor)
        return api.entity(ctx, rec, "Task", "ProjectTasks")

    @router.delete("/v1/ProjectTasks({task_id})")
    def delete_task(task_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            rec = ctx.data.require("ProjectTasks", api.key(task_id, "Task"), "Task")
            if ctx.data.index("ProjectTasks", "ParentId").get(rec["Id"]):
                raise bad_request("The task has sub-tasks; delete them first.")
            if ctx.data.index("UserReportings", "TaskId").get(rec["Id"]):
                raise bad_request("The task has reportings and cannot be deleted.")
            ctx.data.delete("ProjectTasks", rec["Id"])
        return api.no_content()

    def set_done(ctx: Ctx, task_id: str, done: bool, status_id: int | None = None) -> Record:
        rec = ctx.data.require("ProjectTasks", api.key(task_id, "Task"), "Task")
        statuses = ctx.data.index("TaskTypeStatuses", "TaskTypeId").get(rec.get("TaskTypeId"), [])
        if status_id is not None:
            status = next((s for s in statuses if s["Id"] == status_id), None)
            if status is None:
                raise bad_request(f"The status {status_id} does not belong to the task's type.")
            done = bool(status.get("IsFinishedState"))
        else:
            status = next((s for s in statuses if bool(s.get("IsFinishedState")) == done), None)
        rec["IsDone"] = done
        rec["PercentDone"] = 100 if done else (rec.get("PercentDone") if rec.get("PercentDone") != 100 else 0)
        if status is not None:
            rec["TaskTypeStatusId"] = status["Id"]
        return ctx.data.save("ProjectTasks", rec, ctx.actor)

    @router.post("/v1/ProjectTasks({task_id})/do.Finish")
    def finish_task(task_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            rec = set_done(ctx, task_id, True)
        return api.entity(ctx, rec, "Task", "ProjectTasks")

    @router.post("/v1/ProjectTasks({task_id})/do.Open")
    def open_task(task_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            rec = set_done(ctx, task_id, False)
        return api.entity(ctx, rec, "Task", "ProjectTasks")

    @router.post("/v1/ProjectTasks({task_id})/do.SetStatus")
    async def set_task_status(task_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.require(body, "Status")
        with api.state.write_lock:
            rec = set_done(ctx, task_id, False, F.as_int("Status", body["Status"]))
        return api.entity(ctx, rec, "Task", "ProjectTasks")
