"""awork's response models, built from the stored records (field names and order follow the spec).

Stored records keep the model's own scalar fields exactly as rendered (so list filters can run
on them directly) plus internal ``_``-prefixed fields; nested objects and computed sums are added
here. ``SCHEMAS`` declares each model's filterable properties and their types.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from sandboxes.awork.state import (
    COMPANIES,
    PROJECT_STATUSES,
    PROJECTS,
    TASK_LISTS,
    TASK_STATUSES,
    TASKS,
    TIME_ENTRIES,
    TYPES_OF_WORK,
    USERS,
    Ctx,
)

Record = dict[str, Any]

# One letter per awork field type keeps the schema table below readable (kept as a table: fmt off).
# fmt: off
G, D, S, B, I, N, O, A = "guid", "datetime", "string", "bool", "int", "number", "object", "array"  # noqa: E741
_AUDIT = {"createdOn": D, "createdBy": G, "updatedOn": D, "updatedBy": G}

SCHEMAS: dict[str, dict[str, str]] = {
    "user": {
        "firstName": S, "lastName": S, "birthDate": D, "gender": S, "title": S, "position": S,
        "language": S, "id": G, "status": O, **_AUDIT, "isArchived": B, "isDeactivated": B,
        "isAgent": B, "deactivatedOn": D, "deletedOn": D, "hasImage": B,
        "shouldMigrateToConnect": B, "userContactInfos": A, "resourceVersion": I, "tags": A,
        "teams": A, "isExternal": B,
    },
    "contact_info": {
        "label": S, "value": S, "type": S, "subType": S, "addressLine1": S, "addressLine2": S,
        "zipCode": S, "city": S, "state": S, "country": S, "isAddress": B, "id": G, **_AUDIT,
    },
    "company": {
        "name": S, "description": S, "industry": S, "id": G, "hasImage": B,
        "companyContactInfos": A, **_AUDIT, "resourceVersion": I, "tags": A, "projectsCount": I,
        "projectsInProgressCount": I, "isExternal": B,
    },
    "project": {
        "name": S, "isPrivate": B, "description": S, "startDate": D, "dueDate": D, "companyId": G,
        "timeBudget": I, "isBillableByDefault": B, "projectTypeId": G, "color": S,
        "deductNonBillableHours": B, "isProjectKeyVisible": B, "projectStatusId": G,
        "projectTemplateId": G, "publicProjectTemplateId": G, "workflowId": G, "id": G,
        "projectKey": S, "hasImage": B, **_AUDIT, "closedOn": D, "closedBy": G,
        "createdByProjectTemplateId": G, "projectType": O, "projectStatus": O, "company": O,
        "tags": A, "plannedDuration": I, "totalPlannedDurationWithHierarchy": I, "tasksCount": I,
        "tasksDoneCount": I, "members": A, "trackedDuration": I, "customFields": A,
        "resourceVersion": I, "teams": A, "isExternal": B, "isRetainer": B,
        "isMultiAssignmentAllowed": B,
    },
    "task_list": {
        "id": G, **_AUDIT, "name": S, "order": N, "plannedDuration": I, "totalPlannedDuration": I,
        "totalPlannedDurationWithHierarchy": I, "isArchived": B, "isHiddenForConnectUsers": B,
        "trackedDuration": I,
    },
    "task": {
        "name": S, "description": S, "isPrio": B, "startOn": D, "dueOn": D, "laneOrder": I,
        "plannedDuration": I, "id": G, "taskNumber": I, "taskIdentifier": S, "isExternal": B,
        "createdVia": S, "isHiddenForConnectUsers": B, "baseType": S, "taskStatusId": G,
        "taskStatus": O, "typeOfWorkId": G, "typeOfWork": O, "assignees": A, "projectId": G,
        "project": O, "correlationId": G, "parentId": G, "parentTask": O, "isSubtask": B,
        "numberOfSubtasks": I, "hasAttachment": B, "lists": A, "entityId": G, "userId": G,
        "tags": A, **_AUDIT, "closedOn": D, "closedBy": G, "order": N, "subtaskOrder": N,
        "createdFromTaskId": G, "isRecurring": B, "customFields": A, "trackedDuration": I,
        "totalTrackedDuration": I, "totalPlannedDuration": I, "resourceVersion": I,
        "checklistItemsDoneCount": I, "checklistItemsCount": I, "taskSchedulesCount": I,
        "isCompletelyScheduled": B, "commentCount": I,
    },
    "type_of_work": {
        "id": G, "name": S, "description": S, "icon": S, "isArchived": B, **_AUDIT,
    },
    "time_entry": {
        "isBillable": B, "isBilled": B, "taskId": G, "projectId": G, "note": S, "startDateUtc": D,
        "startTimeUtc": S, "endDateUtc": D, "endTimeUtc": S, "startDateLocal": D,
        "startTimeLocal": S, "endDateLocal": D, "endTimeLocal": S, "timezone": S, "duration": I,
        "breakDuration": I, "typeOfWorkId": G, "userId": G, "id": G, "createdBy": G,
        "createdOn": D, "updatedBy": G, "updatedOn": D, "typeOfWork": O, "user": O, "task": O,
        "project": O, "breaks": A, "resourceVersion": I, "isExternal": B,
    },
    "project_status": {
        "id": G, "name": S, "type": S, "order": I, "createdOn": D, "createdBy": G,
        "updatedOn": D, "projectTemplateId": G, "projectId": G, "workflowId": G,
        "updatedBy": G, "isExternal": B,
    },
    "task_status": {
        "id": G, "name": S, "type": S, "order": N, "icon": S, "projectId": G,
        "projectTypeId": G, "workflowId": G, **_AUDIT, "isExternal": B,
    },
}
# fmt: on

# The fields a stored record carries exactly as rendered (list filters run on raw records then).
STORED_TIME_ENTRY_FIELDS = frozenset(
    k for k in SCHEMAS["time_entry"] if k not in ("typeOfWork", "user", "task", "project", "breaks")
)


def public(record: Mapping[str, Any]) -> Record:
    """A copy of ``record`` without the internal ``_``-prefixed fields."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Lookups:
    """The tenant's records by id plus computed sums, built lazily once per request."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.omit_nulls = ctx.settings["null_nested_objects"] == "omit"

    def _index(self, kind: str) -> dict[str, Record]:
        return {r["id"]: r for r in self.ctx.all(kind)}

    @cached_property
    def users(self) -> dict[str, Record]:
        return self._index(USERS)

    @cached_property
    def companies(self) -> dict[str, Record]:
        return self._index(COMPANIES)

    @cached_property
    def projects(self) -> dict[str, Record]:
        return self._index(PROJECTS)

    @cached_property
    def tasks(self) -> dict[str, Record]:
        return self._index(TASKS)

    @cached_property
    def task_lists(self) -> dict[str, Record]:
        return self._index(TASK_LISTS)

    @cached_property
    def types(self) -> dict[str, Record]:
        return self._index(TYPES_OF_WORK)

    @cached_property
    def project_statuses(self) -> dict[str, Record]:
        return self._index(PROJECT_STATUSES)

    @cached_property
    def task_statuses(self) -> dict[str, Record]:
        return self._index(TASK_STATUSES)

    @cached_property
    def tracked(self) -> dict[str, dict[str, int]]:
        """Tracked seconds: ``tracked["task"][taskId]``, ``["project"]`` (billable only unless the
        project deducts nothing: awork's rule), ``["project_all"]``."""
        by_task: dict[str, int] = defaultdict(int)
        by_project: dict[str, int] = defaultdict(int)
        by_project_all: dict[str, int] = defaultdict(int)
        for entry in self.ctx.all(TIME_ENTRIES):
            duration = entry.get("duration") or 0
            if entry.get("taskId"):
                by_task[entry["taskId"]] += duration
            if entry.get("projectId"):
                by_project_all[entry["projectId"]] += duration
                if entry.get("isBillable"):
                    by_project[entry["projectId"]] += duration
        return {"task": by_task, "project": by_project, "project_all": by_project_all}

    @cached_property
    def tasks_by_project(self) -> dict[str, list[Record]]:
        result: dict[str, list[Record]] = defaultdict(list)
        for task in self.tasks.values():
            if task.get("projectId"):
                result[task["projectId"]].append(task)
        return result

    @cached_property
    def tasks_by_list(self) -> dict[str, list[Record]]:
        result: dict[str, list[Record]] = defaultdict(list)
        for task in self.tasks.values():
            for membership in task.get("_lists") or []:
                result[membership["id"]].append(task)
        return result

    # -- nested pieces ---------------------------------------------------------------------
    def put(self, out: Record, key: str, value: Any) -> None:
        """Set a nested-object field; a missing object is omitted or null (switch)."""
        if value is not None or not self.omit_nulls:
            out[key] = value

    def type_nested(self, type_id: str | None) -> Record | None:
        t = self.types.get(type_id or "")
        if t is None:
            return None
        return {"id": t["id"], "name": t["name"], "icon": t["icon"], "isArchived": t["isArchived"]}

    def status_nested(self, status_id: str | None) -> Record | None:
        s = self.project_statuses.get(status_id or "")
        if s is None:
            return None
        return {
            "id": s["id"],
            "name": s["name"],
            "description": s.get("_description"),
            "type": s["type"],
            "isArchived": bool(s.get("_isArchived")),
        }

    def company_nested(self, company_id: str | None) -> Record | None:
        c = self.companies.get(company_id or "")
        if c is None:
            return None
        return {"id": c["id"], "name": c["name"], "hasImage": c["hasImage"], "description": c["description"]}

    def project_key(self, project_id: str | None) -> str | None:
        p = self.projects.get(project_id or "")
        return p["projectKey"] if p else None

    def task_identifier(self, task: Mapping[str, Any]) -> str | None:
        key = self.project_key(task.get("projectId"))
        if key and task.get("taskNumber") is not None:
            return f"{key}-{task['taskNumber']}"
        return None

    def project_for_time_entry(self, project_id: str | None) -> Record | None:
        p = self.projects.get(project_id or "")
        if p is None:
            return None
        out: Record = {"id": p["id"], "name": p["name"]}
        self.put(out, "projectStatus", self.status_nested(p["projectStatusId"]))
        self.put(out, "company", self.company_nested(p["companyId"]))
        self.put(out, "projectType", None)
        out.update(
            projectKey=p["projectKey"],
            isPrivate=p["isPrivate"],
            hasImage=p["hasImage"],
            isExternal=p["isExternal"],
            isBillableByDefault=p["isBillableByDefault"],
            createdBy=p["createdBy"],
        )
        return out

    def task_for_time_entry(self, task_id: str | None) -> Record | None:
        t = self.tasks.get(task_id or "")
        if t is None:
            return None
        out: Record = {
            "id": t["id"],
            "name": t["name"],
            "baseType": t["baseType"],
            "taskIdentifier": self.task_identifier(t),
            "taskStatusId": t["taskStatusId"],
            "typeOfWorkId": t["typeOfWorkId"],
        }
        self.put(out, "project", self.project_for_time_entry(t.get("projectId")))
        out.update(projectId=t.get("projectId"), plannedDuration=t.get("plannedDuration"), closedOn=t.get("closedOn"))
        s = self.task_statuses.get(t["taskStatusId"] or "")
        self.put(
            out,
            "taskStatus",
            None
            if s is None
            else {
                "id": s["id"],
                "name": s["name"],
                "description": None,
                "type": s["type"],
                "order": s["order"],
                "icon": s["icon"],
            },
        )
        out.update(createdBy=t["createdBy"], correlationId=t["correlationId"], parentId=t.get("parentId"))
        self.put(out, "parentTask", self.parent_nested(t.get("parentId")))
        return out

    def parent_nested(self, parent_id: str | None) -> Record | None:
        p = self.tasks.get(parent_id or "")
        return None if p is None else {"id": p["id"], "name": p["name"]}

    # -- models ----------------------------------------------------------------------------
    def time_entry(self, rec: Mapping[str, Any]) -> Record:
        """``TimeTracking``."""
        out = public(rec)
        self.put(out, "typeOfWork", self.type_nested(rec.get("typeOfWorkId")))
        u = self.users.get(rec.get("userId") or "")
        self.put(
            out,
            "user",
            None
            if u is None
            else {
                "id": u["id"],
                "firstName": u["firstName"],
                "lastName": u["lastName"],
                "hasImage": u["hasImage"],
                "isExternal": u["isExternal"],
            },
        )
        self.put(out, "task", self.task_for_time_entry(rec.get("taskId")))
        self.put(out, "project", self.project_for_time_entry(rec.get("projectId")))
        out["breaks"] = []
        return out

    def user(self, rec: Mapping[str, Any]) -> Record:
        """``User``."""
        return public(rec)

    def user_and_workspace(self, rec: Mapping[str, Any]) -> Record:
        """``UserAndWorkspace`` (``/me``)."""
        out = public(rec)
        tenant = self.ctx.state.tenant(self.ctx.tenant) or {}
        out["accountId"] = rec.get("_accountId")
        out["workspace"] = {"id": tenant.get("workspaceId"), "name": tenant.get("name"), "url": tenant.get("url")}
        return out

    def company(self, rec: Mapping[str, Any]) -> Record:
        """``Company`` with its project counts."""
        out = public(rec)
        projects = [p for p in self.projects.values() if p.get("companyId") == rec["id"]]
        out["projectsCount"] = len(projects)
        out["projectsInProgressCount"] = sum(
            1 for p in projects if (self.project_statuses.get(p["projectStatusId"]) or {}).get("type") == "progress"
        )
        out["isExternal"] = rec.get("isExternal", False)
        return out

    def project(self, rec: Mapping[str, Any]) -> Record:
        """``Project`` with status, company and the computed sums."""
        out = public(rec)
        tasks = self.tasks_by_project.get(rec["id"], [])
        planned = sum(t.get("plannedDuration") or 0 for t in tasks)
        done = sum(1 for t in tasks if (self.task_statuses.get(t["taskStatusId"]) or {}).get("type") == "done")
        self.put(out, "projectType", None)
        status = self.project_statuses.get(rec["projectStatusId"] or "")
        self.put(
            out,
            "projectStatus",
            None
            if status is None
            else {
                "id": status["id"],
                "name": status["name"],
                "description": status.get("_description"),
                "type": status["type"],
                "isArchived": bool(status.get("_isArchived")),
                "typeOrder": status["order"],
                "isExternal": False,
            },
        )
        company = self.companies.get(rec.get("companyId") or "")
        self.put(
            out,
            "company",
            None
            if company is None
            else {
                "id": company["id"],
                "name": company["name"],
                "hasImage": company["hasImage"],
                "description": company["description"],
                "tags": [],
            },
        )
        # awork.md 8.2: with deductNonBillableHours false only billable entries count.
        tracked = self.tracked["project_all" if rec.get("deductNonBillableHours") else "project"]
        out.update(
            plannedDuration=planned,
            totalPlannedDurationWithHierarchy=planned,
            tasksCount=len(tasks),
            tasksDoneCount=done,
            trackedDuration=tracked.get(rec["id"], 0),
        )
        return out

    def task_list(self, rec: Mapping[str, Any]) -> Record:
        """``TaskList`` with planned and tracked sums of its tasks."""
        out = public(rec)
        tasks = self.tasks_by_list.get(rec["id"], [])
        planned = sum(t.get("plannedDuration") or 0 for t in tasks)
        tracked = self.tracked["task"]
        out.update(
            plannedDuration=None,
            totalPlannedDuration=planned,
            totalPlannedDurationWithHierarchy=planned,
            trackedDuration=sum(tracked.get(t["id"], 0) for t in tasks),
        )
        return _ordered(out, SCHEMAS["task_list"])

    def task(self, rec: Mapping[str, Any]) -> Record:
        """``TaskModel`` with status, type of work, project, lists and sums."""
        out = public(rec)
        out["taskIdentifier"] = self.task_identifier(rec)
        out["plannedDuration"] = rec.get("plannedDuration") or 0
        status = self.task_statuses.get(rec.get("taskStatusId") or "")
        self.put(out, "taskStatus", None if status is None else public(status))
        self.put(out, "typeOfWork", self.type_nested(rec.get("typeOfWorkId")))
        assignees = []
        for uid in rec.get("_assignees") or []:
            u = self.users.get(uid)
            if u is not None:
                assignees.append(
                    {
                        "id": u["id"],
                        "firstName": u["firstName"],
                        "lastName": u["lastName"],
                        "hasImage": u["hasImage"],
                        "plannedEffort": 0,
                        "isDistributedPlannedEffort": True,
                        "updatedOn": rec["updatedOn"],
                        "isExternal": u["isExternal"],
                    }
                )
        out["assignees"] = assignees
        p = self.projects.get(rec.get("projectId") or "")
        self.put(out, "project", None if p is None else self._project_for_task(p))
        self.put(out, "parentTask", None)
        if rec.get("parentId") and rec["parentId"] in self.tasks:
            parent = self.tasks[rec["parentId"]]
            out["parentTask"] = {
                "id": parent["id"],
                "name": parent["name"],
                "createdBy": parent["createdBy"],
                "userId": parent.get("userId"),
                "assigneeIds": list(parent.get("_assignees") or []),
            }
        lists = []
        for membership in rec.get("_lists") or []:
            tl = self.task_lists.get(membership["id"])
            if tl is None:
                continue
            lists.append(
                {
                    "id": tl["id"],
                    "createdOn": tl["createdOn"],
                    "createdBy": tl["createdBy"],
                    "updatedOn": tl["updatedOn"],
                    "updatedBy": tl["updatedBy"],
                    "name": tl["name"],
                    "order": tl["order"],
                    "plannedDuration": None,
                    "totalPlannedDuration": None,
                    "totalPlannedDurationWithHierarchy": None,
                    "isArchived": tl["isArchived"],
                    "isHiddenForConnectUsers": tl["isHiddenForConnectUsers"],
                    "orderOfTask": membership.get("orderOfTask"),
                }
            )
        out["lists"] = lists
        tracked = self.tracked["task"].get(rec["id"], 0)
        out.update(
            trackedDuration=tracked,
            totalTrackedDuration=tracked,
            totalPlannedDuration=out["plannedDuration"],
            numberOfSubtasks=sum(1 for t in self.tasks.values() if t.get("parentId") == rec["id"]) or None,
        )
        return _ordered(out, SCHEMAS["task"])

    def _project_for_task(self, p: Mapping[str, Any]) -> Record:
        out: Record = {"id": p["id"], "name": p["name"], "projectKey": p["projectKey"]}
        self.put(out, "projectStatus", self.status_nested(p["projectStatusId"]))
        self.put(out, "company", self.company_nested(p.get("companyId")))
        out["companyId"] = p.get("companyId")
        self.put(out, "projectType", None)
        out.update(
            hasImage=p["hasImage"],
            isPrivate=p["isPrivate"],
            isBillableByDefault=p["isBillableByDefault"],
            members=[],
            color=p["color"],
            createdBy=p["createdBy"],
            teams=[],
            customFields=[],
            isExternal=p["isExternal"],
        )
        return out

    def type_of_work(self, rec: Mapping[str, Any]) -> Record:
        """``TypeOfWork``."""
        return public(rec)

    def project_status(self, rec: Mapping[str, Any]) -> Record:
        """``ProjectStatus``."""
        return public(rec)

    def task_status(self, rec: Mapping[str, Any]) -> Record:
        """``TaskStatus``."""
        return public(rec)


def _ordered(out: Record, schema: Mapping[str, str]) -> Record:
    """``out`` with keys in the model's order (unknown keys last); JSON readers do not care, people do."""
    ordered = {k: out[k] for k in schema if k in out}
    ordered.update({k: v for k, v in out.items() if k not in ordered})
    return ordered
