"""Fast and lean runs (issue #12), end to end: what a run asks the vendors, counted in the sandboxes'
request logs. A no-change run stays within 10 requests per source; the Personio steps share one
token; a bulk update is read once; a change stamped with an older time still arrives; unchanged
awork projects cost no list/task requests, in both positions of the sandbox switch
``project_updated_on_child_change`` (docs/sandbox.md)."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from tests.e2e.conftest import TENANT
from tests.e2e.test_awork_times import CARLA, hq_state, tenant_file
from tests.e2e.test_awork_times import seed as seed_awork_world
from tests.e2e.test_personio_absences import TENANT_FILE, absence, day
from tests.e2e.test_personio_absences import seed as seed_personio_world

OVERLAP_S = 1  # the tenants' cursor overlap here, so that a test can wait it out


def settle() -> None:
    """Let more than the cursor overlap pass: the next run is a steady-state run."""
    time.sleep(OVERLAP_S + 1.5)


def position(world, vendor: str) -> int:
    log = world.sandboxes.admin(vendor).requests()
    return log[-1]["seq"] if log else 0


def requests_since(world, vendor: str, since: int) -> list[dict]:
    return world.sandboxes.admin(vendor).requests(since=since)


def personio_world(world, **source: object):
    admin = seed_personio_world(world)
    tenant = copy.deepcopy(TENANT_FILE)
    tenant["sources"]["personio"].update({"cursor_overlap_seconds": OVERLAP_S, **source})
    world.write_tenant(tenant)
    return admin


def incremental_since(log: list[dict]) -> datetime:
    """The ``updated_at.gte`` of the run's one incremental period listing."""
    [listing] = [r for r in log if r["path"] == "/v2/absence-periods" and "updated_at.gte" in r["query"]]
    [value] = parse_qs(listing["query"])["updated_at.gte"]
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_personio_steps_share_one_token_and_a_no_change_run_stays_lean(world):
    personio_world(world)
    start = position(world, "personio")
    world.run("personio")
    first = requests_since(world, "personio", start)
    # extract and reconcile_deletions (separate tasks) use one token between them
    assert len([r for r in first if r["path"] == "/v2/auth/token"]) <= 1

    settle()
    start = position(world, "personio")
    world.run("personio")
    second = requests_since(world, "personio", start)
    assert [r for r in second if r["path"] == "/v2/auth/token"] == []  # still valid: reused by the next run too
    assert len(second) <= 10, [r["path"] for r in second]
    incremental_since(second)  # exactly one incremental listing


def test_a_bulk_update_is_read_once_not_on_every_run(world):
    admin = personio_world(world)
    world.run("personio")
    person = admin.find("vacation")["person"]["id"]
    assert admin.touch_person_periods(TENANT, person) >= 5  # a working-time model change touches them all
    stamps = [datetime.fromisoformat(p["updated_at"].replace("Z", "+00:00")) for p in admin.periods() if p["person"]["id"] == person]

    settle()
    start = position(world, "personio")
    world.run("personio")
    assert incremental_since(requests_since(world, "personio", start)) <= min(stamps)  # this run reads them

    settle()
    start = position(world, "personio")
    world.run("personio")
    # the cursor moved past them although nothing newer changed: not read again
    assert incremental_since(requests_since(world, "personio", start)) > max(stamps)


def test_a_change_stamped_with_an_older_time_still_arrives(world):
    # A one-day deletion window: the edit can only arrive through the incremental read.
    admin = personio_world(world, cursor_overlap_seconds=900, recent_window_past_days=1, recent_window_future_days=1)
    time.sleep(1.5)  # the seeded stamps lie well before the first run's cursor, however fast the run is
    world.run("personio")
    edited = admin.find("to-edit")
    admin.patch(edited["id"], {"starts_from": {"date_time": day(74), "type": None}, "ends_at": admin.ends_at(day(76))})
    # Personio stamps the write with a time from before the first run (a lagging server clock, a
    # late commit): just after the period's previous version, older than the first run's cursor.
    previous = datetime.fromisoformat(edited["updated_at"].replace("Z", "+00:00"))
    older = previous + timedelta(milliseconds=1)
    assert older < datetime.now(UTC) - timedelta(seconds=1)
    admin.stamp(TENANT, edited["id"], older.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")

    world.run("personio")
    state = world.hq_absences()
    assert absence("anna.berg@acme.example", "Vacation", day(74), day(76), "PAID_VACATION") in state
    assert not [a for a in state if a["Start"] == day(70)]


def awork_world(world, *, bumps: bool):
    """The awork world of test_awork_times, with the switch in the position the test is about
    (whatever ``HQ_SYNC_E2E_SWITCHES`` chose for the session)."""
    world.sandboxes.admin("awork").put("/settings", {"project_updated_on_child_change": bumps})
    awork = seed_awork_world(world)
    tenant = tenant_file()
    tenant["sources"]["awork"]["cursor_overlap_seconds"] = OVERLAP_S
    world.write_tenant(tenant)
    return awork


def test_an_awork_no_change_run_stays_lean_and_a_change_reads_only_its_project(world):
    awork = awork_world(world, bumps=True)
    world.run("awork")

    settle()
    start = position(world, "awork")
    world.run("awork")
    log = requests_since(world, "awork", start)
    assert len(log) <= 10, [r["path"] for r in log]
    assert not [r for r in log if r["path"].endswith(("/projecttasks", "/tasklists"))]  # unchanged projects

    awork.rename_task("Website", "Styleguide", "Styleguide 2.0")  # bumps the Website project (switch on)
    settle()
    start = position(world, "awork")
    world.run("awork")
    log = requests_since(world, "awork", start)
    website = awork.project("Website")["id"]
    assert {r["path"] for r in log if r["path"].endswith(("/projecttasks", "/tasklists"))} == {
        f"/api/v1/projects/{website}/projecttasks", f"/api/v1/projects/{website}/tasklists"}
    assert any(t[1].endswith("/Styleguide 2.0") for t in hq_state(world)["tasks"])


def test_where_a_task_change_leaves_its_project_alone_every_project_is_read(world):
    awork = awork_world(world, bumps=False)  # the non-default position
    world.run("awork")  # sees tasks newer than their projects: awork does not bump projects

    awork.rename_task("Website", "Styleguide", "Styleguide 2.0")
    settle()
    start = position(world, "awork")
    world.run("awork")
    log = requests_since(world, "awork", start)
    read = {r["path"].split("/")[4] for r in log if r["path"].endswith("/projecttasks")}
    assert read == {awork.project("Website")["id"], awork.project("App")["id"]}  # every linked project
    assert any(t[1].endswith("/Styleguide 2.0") for t in hq_state(world)["tasks"])


def hq_reads(log: list[dict]) -> dict[str, list[str]]:
    """What a run read from HQ: collection → the ``$filter`` of each read (ProjectTasks by project)."""
    out: dict[str, list[str]] = {}
    for r in log:
        if r["method"] == "GET":
            out.setdefault(r["path"].rsplit("/", 1)[-1], []).append(parse_qs(r["query"]).get("$filter", [""])[0])
    return out


def test_an_awork_no_change_run_reads_no_hq_tasks_and_a_change_reads_only_its_project(world):
    awork = awork_world(world, bumps=True)
    world.run("awork")
    settle()
    world.run("awork")  # its workspace-wide incremental read stages entries the first run had no need of

    settle()
    start, hq_start = position(world, "awork"), position(world, "hq")
    world.run("awork")
    log, hq_log = requests_since(world, "awork", start), requests_since(world, "hq", hq_start)
    read = hq_reads(hq_log)
    # Nothing changed: the phases and tasks are what we wrote, so no project's tasks are read. This
    # world keeps an unknown e-mail and an unmatched type of work in quarantine, so HQ's users and
    # task types are read each run (A8: booked as soon as the user exists); nothing else is.
    assert set(read) == {"Projects", "CustomFieldDefinitions", "Users", "TaskTypes"}, read
    assert [r for r in hq_log if r["method"] != "GET"] == []
    assert len(log) + len(hq_log) <= 10, [r["path"] for r in log + hq_log]

    awork.rename_task("Website", "Styleguide", "Styleguide 2.0")
    settle()
    hq_start = position(world, "hq")
    world.run("awork")
    read = hq_reads(requests_since(world, "hq", hq_start))
    [renamed] = [t for t in world.hq("ProjectTasks")["value"] if t["Name"] == "Styleguide 2.0"]
    assert read["ProjectTasks"] == [f"ProjectId eq {renamed['ProjectId']}"]  # that project only, once
    assert "Users" in read and "TaskTypes" in read  # awork changed: planned with what HQ says now
    assert any(t[1].endswith("/Styleguide 2.0") for t in hq_state(world)["tasks"])


def test_with_nothing_waiting_a_no_change_run_plans_with_the_hq_users_and_task_types_it_kept(world):
    """Issue #12: HQ's users and task types are kept in staging; a no-change run with no record
    waiting for an HQ user or task type (A8) asks HQ for neither."""
    awork_world(world, bumps=True)
    admin = world.sandboxes.admin("hq")
    admin.post(f"/tenants/{TENANT}/users", {"FirstName": "Carla", "LastName": "Neu", "EMailWork": CARLA})
    admin.post(f"/tenants/{TENANT}/task-types", {"Name": "Recherche"})  # the unmatched type of work
    world.run("awork")
    settle()
    world.run("awork")  # stages what the first run's workspace-wide read left for later
    waiting = [q["reason"] for q in world.open_quarantine()]
    assert "unknown_email" not in waiting and "type_of_work_unmatched" not in waiting, waiting

    settle()
    hq_start = position(world, "hq")
    world.run("awork")
    read = hq_reads(requests_since(world, "hq", hq_start))
    assert set(read) == {"Projects", "CustomFieldDefinitions"}, read  # which projects are linked: no more


def window_reads(log: list[dict]) -> dict[str, list[dict]]:
    """A run's ``/timeentries`` reads by the window (``startDateUtc``): counts (one item) and pages."""
    reads: dict[str, list[dict]] = {"counts": [], "pages": []}
    for r in log:
        query = parse_qs(r["query"])
        if r["path"] == "/api/v1/timeentries" and "startDateUtc ge" in query.get("filterby", [""])[0]:
            reads["counts" if query.get("pageSize") == ["1"] else "pages"].append(query)
    return reads


def test_an_awork_deletion_check_counts_the_window_and_lists_it_only_when_an_entry_is_gone(world):
    """Issue #12: the recent window's deletion check is one count request while awork counts as
    many entries as staging holds; a deletion makes the counts differ, and only then is the window
    listed and the reporting removed (A9)."""
    awork = awork_world(world, bumps=True)
    world.run("awork")
    settle()
    start = position(world, "awork")
    world.run("awork")
    reads = window_reads(requests_since(world, "awork", start))
    [count] = reads["counts"]
    linked = {awork.project("Website")["id"], awork.project("App")["id"]}
    assert {p for p in linked if p in count["filterby"][0]} == linked  # one request for both projects
    assert reads["pages"] == []  # nothing deleted: the window is not listed

    awork.delete_entry("to-delete")
    settle()
    start = position(world, "awork")
    world.run("awork")
    reads = window_reads(requests_since(world, "awork", start))
    assert len(reads["counts"]) == 1 and reads["pages"]  # one fewer at awork: listed
    assert not [r for r in hq_state(world)["reportings"] if r[5] == "to-delete"]

    settle()
    start = position(world, "awork")
    world.run("awork")
    reads = window_reads(requests_since(world, "awork", start))
    assert (len(reads["counts"]), reads["pages"]) == (1, [])  # equal again


def test_where_awork_refuses_the_count_the_deletion_check_lists_the_window(world, monkeypatch):
    """A 400 on the count's filter (``projectId eq … or …``: awork documents that not every
    combination is supported; no sandbox switch makes it refuse one) falls back to listing."""
    from hq_sync.clients.awork import AworkClient
    from hq_sync.clients.http import ClientError

    awork = awork_world(world, bumps=True)
    world.run("awork")

    def refuse(self, **_):
        raise ClientError("awork GET /timeentries: 400 unsupported filter", status=400, method="GET", url="")

    monkeypatch.setattr(AworkClient, "time_entry_count", refuse)
    awork.delete_entry("to-delete")
    settle()
    start = position(world, "awork")
    world.run("awork")
    assert window_reads(requests_since(world, "awork", start))["pages"]
    assert not [r for r in hq_state(world)["reportings"] if r[5] == "to-delete"]
