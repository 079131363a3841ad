"""The loaders (absences, reportings, HQ phases and tasks) against the real HQ sandbox over HTTP and a
real staging database: what transform planned (``planned_hq_state``) is created, left alone when
unchanged (no HQ request), updated, deleted; a lost answer is adopted, never booked twice; a load
that stops in the middle of a chunk leaves pending links that the next run settles without
duplicates. Faults are the sandbox's own (``/_sandbox/faults``), no fake."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

from hq_sync.clients.hq import HqClient
from hq_sync.clients.http import AmbiguousWriteError, RetryPolicy, TransientError
from hq_sync.config import TenantConfig
from hq_sync.load.absences import load_absences
from hq_sync.load.hq_tasks import StructureLoader
from hq_sync.load.reportings import load_reportings
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.states import LinkState, Plan
from sandboxes.hq.seed import seed_tenant
from sandboxes.testing import SandboxServers

TENANT = "loaders"
TOKEN = "hq-loaders-sync"
# Lookups fail for the rest of the load: a lost answer cannot be settled, the load stops mid-chunk.
UNREADABLE = {"mode": "500", "count": 50}


@dataclass
class World:
    sb: SandboxServers
    hq: HqClient
    staging: Engine
    user: int
    other_user: int
    project: int

    def ctx(self, run_id: str = "run") -> RunContext:
        hq = self.hq

        class Clients:
            def hq(self) -> HqClient:
                return hq

        tenant = TenantConfig.model_validate(
            {
                "id": TENANT,
                "display_name": "Loaders",
                "timezone": "Europe/Berlin",
                "sources": {"personio": {"sync_start_date": "2026-01-01"}},
            }
        )
        return RunContext(
            tenant=tenant,
            source="test",
            dag_id="loaders",
            run_id=run_id,
            data_interval_start=None,
            data_interval_end=None,
            staging=self.staging,
            clients=Clients(),  # type: ignore[arg-type]
        )

    def plan(self, source: str, entity: str, source_id: str, plan: Plan, **values: Any) -> None:
        with self.staging.begin() as conn:
            repo.save_plan(conn, tenant=TENANT, source=source, entity=entity, source_id=source_id, plan=plan, **values)

    def links(self, source: str, entity: str) -> dict[str, repo.Link]:
        with self.staging.connect() as conn:
            return {link.source_id: link for link in repo.links(conn, TENANT, source, entity)}

    def fault(self, path: str, method: str, **rule: Any) -> None:
        self.sb.admin("hq").add_fault(path=path, method=method, **rule)

    def lost_answers(self) -> int:
        return sum(r["fault"] == "lose_answer" for r in self.sb.admin("hq").requests())

    def requests(self, action: Callable[[], Any]) -> tuple[Any, list[tuple[str, str]]]:
        """What ``action`` returned and the HQ requests it sent (method, path)."""
        start = self.sb.admin("hq").requests()[-1]["seq"]
        result = action()
        return result, [(r["method"], r["path"]) for r in self.sb.admin("hq").requests(since=start)]


@pytest.fixture
def world(fresh_sandboxes: SandboxServers, staging_engine: Engine) -> World:
    url = fresh_sandboxes.url("hq")
    seed_tenant(
        url,
        TENANT,
        {
            "sync_token": TOKEN,
            "users": [
                {"name": "Anna Schmidt", "email": "anna@loaders.example"},
                {"name": "Bob Meier", "email": "bob@loaders.example"},
            ],
            "companies": [{"name": "Kunde GmbH"}],
            "project_templates": [{"name": "Kundenprojekt"}],
            "projects": [{"name": "Relaunch", "company": "Kunde GmbH", "start": "2026-01-01"}],
        },
    )
    retry = RetryPolicy(attempts=2, base_delay=0.002, max_delay=0.01, timeout=(1.0, 5.0))
    hq = HqClient(url + "/v1", TOKEN, retry=retry, write_concurrency=4)
    users = {u["EMailWork"]: int(u["Id"]) for u in hq.users()}
    project = int(hq.projects()[0]["Id"])
    return World(
        fresh_sandboxes, hq, staging_engine, users["anna@loaders.example"], users["bob@loaders.example"], project
    )


# -- absences (Personio → HQ) -------------------------------------------------------------------
ABSENCE = ("personio", "absence_period")


def absence(day: int, note: str = "Urlaub") -> dict[str, Any]:
    return {
        "Type": "Vacation",
        "Start": f"2026-03-{day:02d}T00:00:00",
        "End": f"2026-03-{day + 1:02d}T00:00:00",
        "Note": note,
        "IsApproved": True,
    }


def plan_absences(w: World, days: range, note: str = "Urlaub", version: str = "v1") -> None:
    for day in days:
        body = absence(day, note)
        w.plan(*ABSENCE, f"ap{day}", Plan.WANTED, hq_parent_id=str(w.user), body=body, version=version)


def hq_absences(w: World) -> list[tuple[str, str]]:
    return sorted((a["Start"][:10], a.get("Note") or "") for a in w.hq.absences(w.user))


def test_absences_are_created_once_and_an_unchanged_run_sends_nothing(world: World) -> None:
    plan_absences(world, range(2, 6))
    counts, sent = world.requests(lambda: load_absences(world.ctx()))
    assert (counts.created, sent) == (4, [("POST", f"/v1/Users({world.user})/Absences")] * 4)
    assert {link.state for link in world.links(*ABSENCE).values()} == {LinkState.SYNCED}

    counts, sent = world.requests(lambda: load_absences(world.ctx("again")))
    assert (counts.skipped, counts.details, sent) == (4, {"skipped": {"unchanged": 4}}, [])
    assert len(hq_absences(world)) == 4


def test_a_changed_absence_is_replaced_and_a_deleted_one_removed(world: World) -> None:
    plan_absences(world, range(2, 4))
    load_absences(world.ctx())
    world.plan(*ABSENCE, "ap2", Plan.WANTED, hq_parent_id=str(world.user), body=absence(2, "Sommer"), version="v2")
    world.plan(*ABSENCE, "ap3", Plan.NOT_WANTED, reason="deleted_in_source")

    counts = load_absences(world.ctx("edit"))
    assert (counts.updated, counts.deleted, counts.details) == (1, 1, {"deleted": {"deleted_in_source": 1}})
    assert hq_absences(world) == [("2026-03-02", "Sommer")]
    links = world.links(*ABSENCE)
    assert (links["ap2"].state, links["ap3"].state, links["ap3"].hq_id) == (LinkState.SYNCED, LinkState.DELETED, None)


def test_an_absence_whose_answer_was_lost_is_adopted_not_booked_twice(world: World) -> None:
    plan_absences(world, range(2, 8))
    world.fault("/Absences$", "POST", mode="lose_answer", count=2)
    counts = load_absences(world.ctx())
    assert (counts.created, world.lost_answers()) == (6, 2)
    assert len(hq_absences(world)) == 6
    assert len({link.hq_id for link in world.links(*ABSENCE).values()}) == 6


def test_a_load_stopped_mid_chunk_is_finished_by_the_next_run_without_duplicates(world: World) -> None:
    plan_absences(world, range(2, 8))
    world.fault("/Absences$", "POST", mode="lose_answer", count=1)
    world.fault("/Absences", "GET", **UNREADABLE)
    with pytest.raises((AmbiguousWriteError, TransientError)):
        load_absences(world.ctx())
    states = sorted(link.state for link in world.links(*ABSENCE).values())
    assert states == [LinkState.PENDING] + [LinkState.SYNCED] * 5  # the rest of the chunk was confirmed

    world.sb.admin("hq").clear_faults()
    counts = load_absences(world.ctx("retry"))
    assert (counts.created, counts.skipped) == (1, 5)  # the pending one was found and adopted
    assert len(hq_absences(world)) == 6
    assert {link.state for link in world.links(*ABSENCE).values()} == {LinkState.SYNCED}


def test_a_refused_absence_is_quarantined(world: World) -> None:
    world.plan(*ABSENCE, "bad", Plan.WANTED, hq_parent_id=str(world.user), body={**absence(2), "Type": "NoSuchType"})
    counts = load_absences(world.ctx())
    assert counts.details == {"quarantined": {"hq_rejected": 1}}
    with world.staging.connect() as conn:
        [item] = repo.open_quarantine(conn, TENANT)
    assert (item["source_id"], item["reason"]) == ("bad", "hq_rejected")


# -- reportings (awork → HQ) --------------------------------------------------------------------
ENTRY = ("awork", "time_entry")


def reporting(
    w: World, day: int, note: str = "Konzept", *, user: int | None = None, seconds: int = 3600
) -> dict[str, Any]:
    return {
        "AworkProjectId": "aw-1",
        "UserId": user or w.user,
        "ProjectId": w.project,
        "TaskId": None,
        "StartDate": f"2026-03-{day:02d}T09:00:00",
        "Duration": seconds,
        "Description": note,
    }


def plan_reportings(w: World, days: range) -> None:
    for day in days:
        w.plan(*ENTRY, f"te{day}", Plan.WANTED, hq_parent_id=str(w.user), body=reporting(w, day), version="v1")


def hq_reportings(w: World, user: int | None = None) -> list[tuple[str, int, str]]:
    found = w.hq.user_reportings(user or w.user)
    return sorted((r["StartOn"][:10], int(r["Duration"]), r.get("Note") or "") for r in found)


def test_reportings_are_created_once_and_an_unchanged_run_sends_nothing(world: World) -> None:
    plan_reportings(world, range(2, 6))
    counts, sent = world.requests(lambda: load_reportings(world.ctx(), world.hq, {}))
    assert counts.created == 4
    assert sent == [("POST", f"/v1/Projects({world.project})/do.CreateReporting")] * 4

    counts, sent = world.requests(lambda: load_reportings(world.ctx("again"), world.hq, {}))
    assert (counts.skipped, sent) == (4, [])
    assert len(hq_reportings(world)) == 4


def test_an_edited_entry_is_updated_a_moved_one_rebooked_and_a_deleted_one_removed(world: World) -> None:
    plan_reportings(world, range(2, 5))
    load_reportings(world.ctx(), world.hq, {})
    world.plan(*ENTRY, "te2", Plan.WANTED, hq_parent_id=str(world.user), body=reporting(world, 2, "Neu"), version="v2")
    moved = reporting(world, 3, user=world.other_user)
    world.plan(*ENTRY, "te3", Plan.WANTED, hq_parent_id=str(world.other_user), body=moved, version="v2")
    world.plan(*ENTRY, "te4", Plan.NOT_WANTED, reason="deleted_in_source")

    counts = load_reportings(world.ctx("edit"), world.hq, {})
    assert counts.details == {"updated": {"edited": 1, "moved": 1}, "deleted": {"deleted_in_source": 1}}
    assert hq_reportings(world) == [("2026-03-02", 3600, "Neu")]
    assert hq_reportings(world, world.other_user) == [("2026-03-03", 3600, "Konzept")]


def test_a_billed_reporting_is_never_changed(world: World) -> None:
    plan_reportings(world, range(2, 3))
    load_reportings(world.ctx(), world.hq, {})
    hq_id = int(str(world.links(*ENTRY)["te2"].hq_id))
    world.sb.admin("hq").post(f"/tenants/{TENANT}/invoices", {"reporting_ids": [hq_id], "Status": "Sent"})
    changed = reporting(world, 2, seconds=7200)
    world.plan(*ENTRY, "te2", Plan.WANTED, hq_parent_id=str(world.user), body=changed, version="v2")

    counts = load_reportings(world.ctx("edit"), world.hq, {})
    assert (counts.conflicts, counts.updated) == (1, 0)
    assert hq_reportings(world) == [("2026-03-02", 3600, "Konzept")]
    with world.staging.connect() as conn:
        assert [i["reason"] for i in repo.open_quarantine(conn, TENANT)] == ["billed_conflict"]


def test_a_reporting_whose_answer_was_lost_is_adopted_not_booked_twice(world: World) -> None:
    plan_reportings(world, range(2, 8))
    world.fault("do.CreateReporting", "POST", mode="lose_answer", count=2)
    counts = load_reportings(world.ctx(), world.hq, {})
    assert (counts.created, world.lost_answers()) == (6, 2)
    assert len(hq_reportings(world)) == 6


def test_a_reporting_load_stopped_mid_chunk_is_finished_without_duplicates(world: World) -> None:
    plan_reportings(world, range(2, 8))
    world.fault("do.CreateReporting", "POST", mode="lose_answer", count=1)
    world.fault("/Reportings", "GET", **UNREADABLE)
    with pytest.raises((AmbiguousWriteError, TransientError)):
        load_reportings(world.ctx(), world.hq, {})
    assert sorted(link.state for link in world.links(*ENTRY).values()) == [LinkState.PENDING] + [LinkState.SYNCED] * 5

    world.sb.admin("hq").clear_faults()
    counts = load_reportings(world.ctx("retry"), world.hq, {})
    assert (counts.created, counts.skipped) == (1, 5)
    assert len(hq_reportings(world)) == 6


# -- HQ phases and tasks (by SyncId) ------------------------------------------------------------
STRUCTURE = ("awork", "phase"), ("awork", "task")


def plan_structure(w: World, task_name: str = "Wireframes") -> None:
    phase = {"ProjectId": w.project, "Name": "Konzeption", "SyncId": "awork-list:L1", "PlannedEffort": None}
    task = {
        "ProjectId": w.project,
        "Name": task_name,
        "PlannedEffort": 2.0,
        "SyncId": "task-1",
        "ParentSyncId": "awork-list:L1",
    }
    w.plan("awork", "phase", "awork-list:L1", Plan.WANTED, hq_parent_id=str(w.project), body=phase)
    w.plan("awork", "task", "task-1", Plan.WANTED, hq_parent_id=str(w.project), body=task)


def load_structure(w: World, run_id: str = "run") -> StructureLoader:
    loader = StructureLoader(w.ctx(run_id), w.hq)
    with w.staging.connect() as conn:
        phases = repo.planned_records(conn, TENANT, "awork", "phase")
        tasks = repo.planned_records(conn, TENANT, "awork", "task")
    loader.load_project(w.project, phases, tasks)
    return loader


def hq_structure(w: World) -> list[tuple[str, str, bool]]:
    return sorted((str(t["SyncId"]), t["Name"], t.get("ParentId") is None) for t in w.hq.project_tasks(w.project))


def test_phases_and_tasks_are_created_renamed_and_left_alone_by_sync_id(world: World) -> None:
    plan_structure(world)
    loader = load_structure(world)
    assert (loader.counts["phase"].created, loader.counts["task"].created) == (1, 1)
    expected = [("awork-list:L1", "Konzeption", True), ("task-1", "Wireframes", False)]
    assert hq_structure(world) == expected
    task_id = loader.sync_map[(world.project, "task-1")]

    loader, sent = world.requests(lambda: load_structure(world, "again"))
    assert sent == [("GET", "/v1/ProjectTasks")]  # one read of the project, no write
    assert loader.counts["task"].details == {"skipped": {"unchanged": 1}}

    plan_structure(world, "Wireframes v2")
    loader = load_structure(world, "rename")
    assert loader.counts["task"].details == {"updated": {"renamed": 1}}
    assert hq_structure(world)[1] == ("task-1", "Wireframes v2", False)
    assert loader.sync_map[(world.project, "task-1")] == task_id  # renamed, not duplicated


def test_a_task_whose_answer_was_lost_is_found_by_sync_id_not_created_twice(world: World) -> None:
    plan_structure(world)
    world.fault("/ProjectTasks$", "POST", mode="lose_answer", count=2)
    loader = load_structure(world)
    assert (loader.counts["phase"].created, loader.counts["task"].created, world.lost_answers()) == (1, 1, 2)
    assert len(hq_structure(world)) == 2


def test_a_task_created_by_a_run_that_died_before_hearing_back_is_found_not_created_again(world: World) -> None:
    """Phases and tasks keep no pending link: their SyncId in HQ is what the next run finds."""
    plan_structure(world)
    phase = world.hq.create_project_task(
        {"ProjectId": world.project, "Name": "Konzeption", "SyncId": "awork-list:L1", "ParentId": None}
    )
    world.hq.create_project_task(
        {
            "ProjectId": world.project,
            "Name": "Wireframes",
            "SyncId": "task-1",
            "ParentId": phase["Id"],
            "PlannedEffort": 2.0,
        }
    )
    loader, sent = world.requests(lambda: load_structure(world))
    assert [method for method, _ in sent] == ["GET"]
    assert (loader.counts["phase"].skipped, loader.counts["task"].skipped) == (1, 1)
    assert len(hq_structure(world)) == 2
