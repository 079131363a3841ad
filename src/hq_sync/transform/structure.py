"""awork tasks → HQ phases and tasks (product.md A5/A6): the plan of a run's structure.

Pure functions over staged data (tasks, task lists, types of work) and HQ master data (task types),
no I/O; ``docs/awork.md`` states the rules. Every linked project gets the default phase
(``default_phase_name``); with ``phase_mode: by_list`` a task goes under a phase named after its awork
list (``hq_sync.transform.phases``). A task's HQ task type is the one named like its awork type of
work, else HQ's default task type (reported). Phases and tasks are keyed by ``SyncId``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hq_sync.transform.phases import choose_list, parse_list_name

# (source id, reason) → (detail, context): what a plan reports or holds back, per entity
Issues = dict[tuple[str, str], tuple[str, dict[str, Any]]]


def phase_sync_id(kind: str, ident: str) -> str:
    """The HQ ``SyncId`` of a phase: ``awork-times:<project>`` (default) or ``awork-list:<list>``."""
    return f"awork-{kind}:{ident}"


@dataclass(frozen=True)
class StagedTask:
    id: str
    project_id: str
    name: str
    type_of_work_id: str | None
    planned_duration_s: float | None
    payload: dict[str, Any]  # the awork task as read (its ``lists``)


@dataclass(frozen=True)
class TaskTypes:
    """HQ's task types by case-folded name, and its default one (None when HQ marks none)."""

    by_name: dict[str, int]
    default: dict[str, Any] | None

    @classmethod
    def of(cls, task_types: Sequence[Mapping[str, Any]]) -> TaskTypes:
        by_name = {str(tt["Name"]).strip().casefold(): int(tt["Id"]) for tt in task_types}
        return cls(by_name, next((dict(tt) for tt in task_types if tt.get("IsDefault")), None))


@dataclass
class StructurePlan:
    """The phases and tasks wanted in HQ (SyncId → body), and what to report about them."""

    linked: Mapping[str, int]  # awork project id → HQ project id
    default_phase_name: str
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_project: dict[str, str] = field(default_factory=dict)  # task SyncId → awork project id
    issues: dict[str, Issues] = field(default_factory=lambda: {"phase": {}, "task": {}})

    def default_phase(self, awork_project: str) -> str:
        """The SyncId of a linked project's default phase (planned the first time it is asked for)."""
        sync_id = phase_sync_id("times", awork_project)
        self.phases.setdefault(
            sync_id,
            {
                "ProjectId": self.linked[awork_project],
                "Name": self.default_phase_name,
                "SyncId": sync_id,
                "PlannedEffort": None,
            },
        )
        return sync_id

    def task_sync_id(self, task_id: str | None, awork_project: str) -> str:
        """Where a time entry of ``awork_project`` is booked: its task when that is planned under the
        same project, else the project's default phase."""
        if task_id is not None and task_id in self.tasks and self.task_project.get(task_id) == awork_project:
            return task_id
        return self.default_phase(awork_project)


def plan_structure(
    tasks: Iterable[StagedTask],
    *,
    linked: Mapping[str, int],
    lists: Mapping[str, Mapping[str, Any]],
    type_names: Mapping[str, str],
    task_types: TaskTypes,
    by_list: bool,
    default_phase_name: str,
) -> StructurePlan:
    """Plan the phases and tasks of the linked projects' ``tasks`` (see the module docstring)."""
    plan = StructurePlan(linked, default_phase_name)
    for task in tasks:
        parent = plan.default_phase(task.project_id)
        if by_list:
            parent = _list_phase(plan, task, lists) or parent
        planned = task.planned_duration_s
        plan.tasks[task.id] = {
            "ProjectId": linked[task.project_id],
            "Name": task.name.strip() or "(ohne Namen)",
            "TaskTypeId": _task_type(plan, task, type_names, task_types),
            "PlannedEffort": round(planned / 3600, 4) if planned else 0.0,
            "SyncId": task.id,
            "ParentSyncId": parent,
        }
        plan.task_project[task.id] = task.project_id
    return plan


def _list_phase(plan: StructurePlan, task: StagedTask, lists: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Plan the phase of the task's list (None: the task is in no list); returns its SyncId."""
    memberships = task.payload.get("lists") or []
    choice = choose_list(memberships, lists)
    if choice.list_id is None:
        return None
    listed = lists.get(choice.list_id) or next(m for m in memberships if str(m.get("id")) == choice.list_id)
    phase = parse_list_name(str(listed.get("name") or ""))
    sync_id = phase_sync_id("list", choice.list_id)
    plan.phases[sync_id] = {
        "ProjectId": plan.linked[task.project_id],
        "Name": phase.name,
        "SyncId": sync_id,
        "PlannedEffort": phase.planned_hours,
    }
    if phase.problem:
        context = {"list_id": choice.list_id, "list_name": listed.get("name")}
        plan.issues["phase"][(sync_id, "malformed_bracket")] = (phase.problem, context)
    if choice.ambiguous:
        names = [str((lists.get(c) or {}).get("name") or c) for c in choice.candidates]
        plan.issues["task"][(task.id, "task_in_several_lists")] = (
            f"awork task {task.name!r} is in {len(names)} lists ({', '.join(names)}); it goes under "
            f"{phase.name!r} (lowest list order, then name, then id)",
            {"lists": names, "chosen": choice.list_id},
        )
    return sync_id


def _task_type(plan: StructurePlan, task: StagedTask, type_names: Mapping[str, str], types: TaskTypes) -> int | None:
    """The HQ task type named like the task's type of work, else HQ's default one (reported)."""
    type_name = type_names.get(str(task.type_of_work_id or ""))
    type_id = types.by_name.get(type_name.strip().casefold()) if type_name else None
    if type_id is not None:
        return type_id
    default_name = types.default.get("Name") if types.default else None
    plan.issues["task"][(task.id, "type_of_work_unmatched")] = (
        f"awork task {task.name!r}: type of work {type_name!r} has no HQ task type of that name; the task "
        f"gets HQ's default task type {default_name!r}",
        {"type_of_work": type_name, "default_task_type": default_name},
    )
    return int(types.default["Id"]) if types.default else None
