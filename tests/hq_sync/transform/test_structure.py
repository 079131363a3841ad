"""The phases and tasks a run plans for the linked awork projects (hq_sync.transform.structure)."""

from __future__ import annotations

from hq_sync.transform.structure import StagedTask, TaskTypes, phase_sync_id, plan_structure

PROJECT = "p-1"
LINKED = {PROJECT: 30001}
TYPES = TaskTypes.of(
    [{"Id": 1, "Name": "Beratung", "IsDefault": False}, {"Id": 2, "Name": "Allgemein", "IsDefault": True}]
)


def _task(task_id: str, *, lists: list[dict] | None = None, type_of_work: str | None = "tw-1", name: str = "Konzept",
          planned: float | None = 7200) -> StagedTask:
    return StagedTask(task_id, PROJECT, name, type_of_work, planned, {"lists": lists or []})


def _plan(tasks, *, by_list=False, lists=None, type_names=None):
    return plan_structure(
        tasks,
        linked=LINKED,
        lists=lists or {},
        type_names={"tw-1": " beratung "} if type_names is None else type_names,
        task_types=TYPES,
        by_list=by_list,
        default_phase_name="awork - Zeiten",
    )


def test_a_task_goes_under_the_default_phase_with_the_type_of_the_same_name():
    plan = _plan([_task("t-1")])
    default = phase_sync_id("times", PROJECT)
    assert plan.phases == {
        default: {"ProjectId": 30001, "Name": "awork - Zeiten", "SyncId": default, "PlannedEffort": None}
    }
    assert plan.tasks["t-1"] == {
        "ProjectId": 30001, "Name": "Konzept", "TaskTypeId": 1, "PlannedEffort": 2.0, "SyncId": "t-1",
        "ParentSyncId": default,
    }
    assert plan.issues == {"phase": {}, "task": {}}


def test_an_unmatched_type_of_work_gets_the_default_task_type_and_is_reported():
    plan = _plan([_task("t-1", type_of_work="tw-9", name="  ", planned=None)], type_names={"tw-9": "Kaffee"})
    assert plan.tasks["t-1"]["TaskTypeId"] == 2
    assert plan.tasks["t-1"]["Name"] == "(ohne Namen)"
    assert plan.tasks["t-1"]["PlannedEffort"] == 0.0
    detail, context = plan.issues["task"][("t-1", "type_of_work_unmatched")]
    assert "'Kaffee'" in detail and context == {"type_of_work": "Kaffee", "default_task_type": "Allgemein"}


def test_by_list_a_task_goes_under_the_phase_of_its_list_with_the_bracket_as_planned_effort():
    lists = {"l-1": {"id": "l-1", "name": "Umsetzung [2d]", "order": 1, "isArchived": False}}
    plan = _plan([_task("t-1", lists=[{"id": "l-1"}])], by_list=True, lists=lists)
    phase = phase_sync_id("list", "l-1")
    assert plan.phases[phase] == {"ProjectId": 30001, "Name": "Umsetzung", "SyncId": phase, "PlannedEffort": 16.0}
    assert plan.tasks["t-1"]["ParentSyncId"] == phase
    assert phase_sync_id("times", PROJECT) in plan.phases  # every linked project keeps its default phase


def test_by_list_a_task_in_several_lists_takes_the_lowest_order_and_is_reported():
    lists = {
        "l-1": {"id": "l-1", "name": "Später", "order": 5},
        "l-2": {"id": "l-2", "name": "Zuerst [viel]", "order": 1},
    }
    plan = _plan([_task("t-1", lists=[{"id": "l-1"}, {"id": "l-2"}])], by_list=True, lists=lists)
    phase = phase_sync_id("list", "l-2")
    assert plan.tasks["t-1"]["ParentSyncId"] == phase
    assert ("t-1", "task_in_several_lists") in plan.issues["task"]
    assert (phase, "malformed_bracket") in plan.issues["phase"]  # the bracket stays in the name
    assert plan.phases[phase]["Name"] == "Zuerst [viel]"


def test_without_by_list_the_lists_are_ignored():
    lists = {"l-1": {"id": "l-1", "name": "Umsetzung", "order": 1}}
    plan = _plan([_task("t-1", lists=[{"id": "l-1"}])], lists=lists)
    assert list(plan.phases) == [phase_sync_id("times", PROJECT)]


def test_an_entry_is_booked_on_its_task_only_when_the_task_is_planned_in_the_same_project():
    plan = _plan([_task("t-1")])
    default = phase_sync_id("times", PROJECT)
    assert plan.task_sync_id("t-1", PROJECT) == "t-1"
    assert plan.task_sync_id(None, PROJECT) == default
    assert plan.task_sync_id("t-unknown", PROJECT) == default


def test_a_linked_project_without_tasks_gets_its_default_phase_when_an_entry_asks_for_it():
    plan = plan_structure([], linked={"p-2": 30002}, lists={}, type_names={}, task_types=TaskTypes({}, None),
                          by_list=False, default_phase_name="awork - Zeiten")
    assert plan.phases == {}
    assert plan.task_sync_id("t-1", "p-2") == phase_sync_id("times", "p-2")
    assert plan.phases[phase_sync_id("times", "p-2")]["ProjectId"] == 30002
