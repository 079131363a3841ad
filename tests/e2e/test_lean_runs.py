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

import sqlalchemy as sa

from tests.e2e.conftest import TENANT
from tests.e2e.test_awork_times import CARLA, hq_state, tenant_file
from tests.e2e.test_awork_times import seed as seed_awork_world
from tests.e2e.test_personio_absences import TENANT_FILE, absence, d, day
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


# -- persons: read incrementally, in full on a first run, once a day and for an unknown person ------
MANY = [{"email": f"extra{i:02d}@acme.example", "first_name": "Extra", "last_name": f"{i:02d}"} for i in range(60)]
DAILY = timedelta(hours=24)


def persons_reads(log: list[dict]) -> list[dict[str, list[str]]]:
    """The query of each ``GET /v2/persons`` of a run, parsed."""
    return [parse_qs(r["query"] or "") for r in log if r["path"] == "/v2/persons"]


def full_page(query: dict[str, list[str]]) -> bool:
    """A page of the unfiltered listing (its first page, or a cursor page)."""
    return "updated_at.gt" not in query


def staged_person(world, person_id: str) -> dict:
    engine = sa.create_engine(world.staging_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM personio_persons WHERE source_id = :i"), {"i": person_id})
            return dict(row.mappings().one())
    finally:
        engine.dispose()


def set_cursor_back(world, entity: str, by: timedelta) -> None:
    engine = sa.create_engine(world.staging_url)
    try:
        with engine.begin() as conn:
            value = conn.execute(sa.text("SELECT cursor FROM sync_cursors WHERE source = 'personio' AND entity = :e"),
                                 {"e": entity}).scalar_one()
            earlier = (datetime.fromisoformat(value) - by).isoformat()
            conn.execute(sa.text("UPDATE sync_cursors SET cursor = :c WHERE source = 'personio' AND entity = :e"),
                         {"c": earlier, "e": entity})
    finally:
        engine.dispose()


def seed_personio_world_periods(world, periods: list[dict]) -> None:
    """New absence periods in Personio (the scenario loader, onto the seeded tenant)."""
    from sandboxes.personio.seed import seed_tenant

    seed_tenant(world.sandboxes.url("personio"), TENANT, {"client_id": "acme-personio", "client_secret": "acme-secret",
                                                           "absence_periods": periods})


def many_persons_world(world):
    """The Personio world of test_personio_absences with 64 persons: more than one page of 50."""
    admin = personio_world(world)
    world.sandboxes.admin("personio").post(f"/tenants/{TENANT}/persons", {"persons": MANY})
    settle()  # the persons are older than the first run's read by more than the overlap
    return admin


def test_a_no_change_run_reads_only_the_persons_changed_since_the_last_read(world):
    many_persons_world(world)
    start = position(world, "personio")
    first_run = world.run()
    first = persons_reads(requests_since(world, "personio", start))
    assert len(first) == 2 and all(full_page(q) for q in first)  # 64 persons: two pages, no filter
    assert world.step_result(first_run, "extract")["persons_mode"] == "full (first run)"

    settle()
    start = position(world, "personio")
    run_id = world.run()
    log = requests_since(world, "personio", start)
    [query] = persons_reads(log)  # one page, filtered
    [since] = query["updated_at.gt"]
    changed_since = datetime.fromisoformat(since.replace("Z", "+00:00"))
    assert changed_since > datetime.now(UTC) - timedelta(minutes=5)  # from the first run's read, not ever
    extract = world.step_result(run_id, "extract")
    assert extract["persons_mode"].startswith("changed since ")
    assert extract["persons"] == {"inserted": 0, "updated": 0, "unchanged": 0, "stale": 0}
    assert len(log) <= 10, [r["path"] for r in log]


def change_carlas_e_mail(world) -> dict:
    """Carla (no HQ user under her old e-mail) gets a new e-mail in Personio that HQ knows; her person."""
    carla = next(p for p in world.sandboxes.admin("personio").get(f"/tenants/{TENANT}/persons")["persons"]
                 if p["email"] == "carla.neu@acme.example")
    world.sandboxes.admin("hq").post(f"/tenants/{TENANT}/users", {"EMailWork": "carla.berg@acme.example",
                                                                 "FirstName": "Carla", "LastName": "Berg"})
    world.sandboxes.admin("personio").patch(f"/tenants/{TENANT}/persons/{carla['id']}",
                                            {"email": "carla.berg@acme.example"})
    return carla


def test_a_changed_e_mail_reaches_the_next_run_and_its_absences_go_to_that_hq_user(world):
    personio_world(world)
    world.run()  # Carla has no HQ user: her vacation waits in quarantine (unknown_email)
    assert not [a for a in world.hq_absences() if a["Start"] == day(15)]
    carla = change_carlas_e_mail(world)

    settle()
    start = position(world, "personio")
    run_id = world.run()
    [query] = persons_reads(requests_since(world, "personio", start))
    assert "updated_at.gt" in query
    assert staged_person(world, carla["id"])["email"] == "carla.berg@acme.example"
    assert world.step_result(run_id, "extract")["persons"]["updated"] == 1
    assert absence("carla.berg@acme.example", "Vacation", day(15), day(17), "PAID_VACATION") in world.hq_absences()


def test_where_personio_takes_only_dates_in_the_persons_filter_a_changed_e_mail_still_arrives(world):
    """Sandbox switch ``person_date_filters = date_only`` (pysonio's report, personio.md §4.4): the
    documented date-time is refused with a 400 once; the sync then sends the day before as a date,
    keeps the persons changed since its cursor itself, and remembers it."""
    personio_world(world)
    world.sandboxes.admin("personio").put("/settings", {"person_date_filters": "date_only"})
    world.run()
    change_carlas_e_mail(world)

    settle()
    start = position(world, "personio")
    run_id = world.run()
    log = [r for r in requests_since(world, "personio", start) if r["path"] == "/v2/persons"]
    assert [r["status"] for r in log] == [400, 200]  # the date-time refused, then the date
    [refused, taken] = [parse_qs(r["query"])["updated_at.gt"][0] for r in log]
    assert "T" in refused and len(taken) == 10
    extract = world.step_result(run_id, "extract")
    assert extract["persons_mode"].startswith("changed since ") and extract["persons"]["updated"] == 1
    assert absence("carla.berg@acme.example", "Vacation", day(15), day(17), "PAID_VACATION") in world.hq_absences()

    settle()
    start = position(world, "personio")
    world.run()
    log = [r for r in requests_since(world, "personio", start) if r["path"] == "/v2/persons"]
    assert [(r["status"], len(parse_qs(r["query"])["updated_at.gt"][0])) for r in log] == [(200, 10)]  # remembered


def test_a_period_of_a_person_staging_does_not_know_makes_the_run_read_every_person(world):
    many_persons_world(world)
    world.run()
    # A person whose record Personio stamps before the first run's read (a late commit, a lagging
    # clock): the incremental read cannot see them, their new vacation names them.
    older = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    world.sandboxes.admin("personio").post(f"/tenants/{TENANT}/persons", {
        "email": "emil.spaet@acme.example", "first_name": "Emil", "last_name": "Spät",
        "created_at": older, "updated_at": older})
    world.sandboxes.admin("hq").post(f"/tenants/{TENANT}/users", {"EMailWork": "emil.spaet@acme.example",
                                                                 "FirstName": "Emil", "LastName": "Spät"})
    seed_personio_world_periods(world, [{"person": "emil.spaet@acme.example", "type": "Urlaub", "start": d(110),
                                         "end": d(111), "comment": "late-person"}])

    settle()
    start = position(world, "personio")
    run_id = world.run()
    reads = persons_reads(requests_since(world, "personio", start))
    assert "updated_at.gt" in reads[0] and len(reads) == 3 and all(full_page(q) for q in reads[1:])
    assert world.step_result(run_id, "extract")["persons_mode"] == "full (unknown person)"
    assert absence("emil.spaet@acme.example", "Vacation", day(110), day(112), "PAID_VACATION") in world.hq_absences()

    settle()
    start = position(world, "personio")
    world.run()
    [query] = persons_reads(requests_since(world, "personio", start))  # known now: incremental again
    assert "updated_at.gt" in query


def test_persons_are_read_in_full_once_a_day(world):
    many_persons_world(world)
    world.run()
    set_cursor_back(world, "person_full", DAILY - timedelta(minutes=1))
    settle()
    start = position(world, "personio")
    world.run()
    [query] = persons_reads(requests_since(world, "personio", start))  # 23:59 h: not yet
    assert "updated_at.gt" in query

    set_cursor_back(world, "person_full", timedelta(minutes=2))  # now older than 24 h
    settle()
    start = position(world, "personio")
    run_id = world.run()
    reads = persons_reads(requests_since(world, "personio", start))
    assert len(reads) == 2 and all(full_page(q) for q in reads)
    assert world.step_result(run_id, "extract")["persons_mode"] == "full (daily)"
    assert world.step_result(run_id, "extract")["persons"]["unchanged"] == len(MANY) + 4

    settle()
    start = position(world, "personio")
    world.run()
    [query] = persons_reads(requests_since(world, "personio", start))  # the day starts again
    assert "updated_at.gt" in query

