"""Webhooks end to end (issue #14): the sandboxes push to the receiver, events runs reach HQ.

The receiver runs in this process over real HTTP (tests/webhook_support.py) against the world's
staging database; the DAG runs with ``dag.test()`` as elsewhere. An events run is what an
asset-triggered run does (``run_mode`` auto → events); here it is asked for with the DAG param.
tests/webhooks/test_airflow_receiver.py covers the asset → run part inside a real Airflow.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from hq_sync.staging import create_staging_engine, upgrade
from sandboxes.awork.seed import seed_tenant as seed_awork
from sandboxes.hq.seed import seed_tenant as seed_hq
from tests.e2e import test_awork_times as aw
from tests.e2e import test_personio_absences as pa
from tests.e2e.conftest import TENANT, AworkAdmin
from tests.webhook_support import ReceiverServer, personio_envelope

SECRET = {"personio": "hqsw_e2e_personio", "awork": "hqsw_e2e_awork"}
EVENTS = {"run_mode": "events"}


@pytest.fixture
def receiver(world):
    engine = create_staging_engine(world.staging_url)
    upgrade(engine)
    with ReceiverServer(engine, {(TENANT, s): v for s, v in SECRET.items()}) as server:
        yield server
    engine.dispose()


def vendor_requests(world, vendor: str, since: int) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in world.sandboxes.admin(vendor).requests(since=since)
            if not r["path"].startswith("/v2/auth")]


def log_position(world, vendor: str) -> int:
    log = world.sandboxes.admin(vendor).requests()
    return log[-1]["seq"] if log else 0


def delivered(world, vendor: str) -> list[dict[str, Any]]:
    assert world.sandboxes.admin(vendor).post("/webhooks/wait?timeout=30", {})["idle"]
    return world.sandboxes.admin(vendor).get("/webhooks/deliveries")["deliveries"]


# -- Personio ----------------------------------------------------------------------------------
def personio_world(world, receiver):
    tenant = copy.deepcopy(pa.TENANT_FILE)
    tenant["sources"]["personio"]["webhooks"] = {"enabled": True}
    world.write_tenant(tenant)
    seed_hq(world.sandboxes.url("hq"), TENANT, pa.HQ_SECTION)
    from sandboxes.personio.seed import seed_tenant

    seed_tenant(world.sandboxes.url("personio"), TENANT, pa.personio_section())
    personio = pa.PersonioAdmin(world.sandboxes.url("personio"), "acme-personio", "acme-secret")
    world.sandboxes.admin("personio").put("/webhooks/settings", {"retry_delays": [0.1]})
    resp = personio.session.post(f"{personio.base_url}/v2/webhooks", json={
        "url": receiver.url(TENANT, "personio"), "description": "hq-sync", "status": "ENABLED", "token": SECRET["personio"],
        "enabled_events": ["absence-period.created", "absence-period.updated.timerange",
                           "absence-period.updated.status", "absence-period.deleted"]}, timeout=10)
    assert resp.status_code == 201, resp.text
    return personio


def test_personio_events_run_reads_only_what_the_events_name(world, receiver):
    personio = personio_world(world, receiver)
    world.run()  # the first (polling) run

    personio.patch(personio.find("to-edit")["id"], {"starts_from": {"date_time": pa.day(74), "type": None},
                                                    "ends_at": {"date_time": pa.day(76), "type": None}})
    gone = personio.find("to-delete")["id"]
    personio.delete(gone)
    assert {d["outcome"] for d in delivered(world, "personio")} == {"delivered"}
    assert sorted((r["event_name"], r["consumed_at"]) for r in receiver.inbox()) == [
        ("absence-period.deleted", None), ("absence-period.updated.timerange", None)]

    position = log_position(world, "personio")
    run_id = world.run(conf=EVENTS)
    expected = [a for a in pa.expected_after_first_run() if a["Start"] not in (pa.day(70), pa.day(80))]
    expected.append(pa.absence(pa.ANNA, "Vacation", pa.day(74), pa.day(76), "PAID_VACATION"))
    assert world.hq_absences() == sorted(expected, key=lambda a: (a["email"], a["Start"], a["Type"]))
    # What changed since the last run (one page), and the deleted period by id (404): nothing else.
    assert vendor_requests(world, "personio", position) == ["GET /v2/absence-periods", f"GET /v2/absence-periods/{gone}"]
    summary = world.summary(run_id)
    assert (summary["updated"], summary["deleted"]) == (1, 1)
    assert all(r["consumed_by"] == run_id for r in receiver.inbox())


def test_dropped_events_reach_hq_through_polling_and_personios_event_history(world, receiver):
    personio = personio_world(world, receiver)
    world.run()
    admin = world.sandboxes.admin("personio")

    # A dropped event starts no run; the next polling run finds the change anyway.
    admin.post("/webhooks/faults", {"mode": "drop", "count": 1})
    personio.patch(personio.find("to-edit")["id"], {"ends_at": {"date_time": pa.day(75), "type": None}})
    assert [d["outcome"] for d in delivered(world, "personio")] == ["dropped"]
    assert receiver.inbox() == []
    world.run()  # polling
    assert pa.absence(pa.ANNA, "Vacation", pa.day(70), pa.day(75), "PAID_VACATION") in world.hq_absences()

    # The receiver misses a deletion; a later events run reads Personio's event history (its
    # catch-up is due after an hour) and deletes the absence without the polling reconciliation.
    admin.post("/webhooks/faults", {"mode": "drop", "count": 1})
    personio.delete(personio.find("to-delete")["id"])
    personio.patch(personio.find("pending")["id"], {"approval": {"status": "APPROVED"}})
    assert [d["outcome"] for d in delivered(world, "personio")][-2:] == ["dropped", "delivered"]
    engine = sa.create_engine(world.staging_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sync_cursors SET cursor = '2020-01-01T00:00:00+00:00' WHERE entity = 'webhook_catchup'"))
    engine.dispose()
    world.run(conf=EVENTS)
    absences = world.hq_absences()
    assert not [a for a in absences if a["Start"] == pa.day(80)]  # deleted, learnt from the event history
    assert pa.absence(pa.ANNA, "Vacation", pa.day(60), pa.day(62), "PAID_VACATION") in absences
    assert [(r["via"], r["event_name"]) for r in receiver.inbox() if r["event_name"].endswith("deleted")] == [
        ("catchup", "absence-period.deleted")]


def window_listings(world, since: int) -> list[dict[str, Any]]:
    """The deletion check's listings of the recent window (periods overlapping it)."""
    return [r for r in world.sandboxes.admin("personio").requests(since=since)
            if r["path"] == "/v2/absence-periods" and "ends_at.date_time.gte" in r["query"]]


def test_with_personios_deleted_events_a_polling_run_does_not_list_the_deletion_window(world, receiver):
    """Issue #12: a polling run reads the webhook's event history since the last run; with
    absence-period.deleted among its events every deletion is known, so the recent window is not
    listed (a dropped delivery still arrives through the history). Without that event it is."""
    personio = personio_world(world, receiver)
    admin = world.sandboxes.admin("personio")
    world.run()  # first run: its full read is the deletion check; the catch-up only notes the moment
    position = log_position(world, "personio")
    world.run()
    assert window_listings(world, position) == []

    admin.post("/webhooks/faults", {"mode": "drop", "count": 1})
    personio.delete(personio.find("to-delete")["id"])
    assert [d["outcome"] for d in delivered(world, "personio")][-1] == "dropped"
    position = log_position(world, "personio")
    world.run()
    assert window_listings(world, position) == []
    assert not [a for a in world.hq_absences() if a["Start"] == pa.day(80)]  # deleted, from the event history

    [hook] = personio.session.get(f"{personio.base_url}/v2/webhooks", timeout=10).json()["_data"]
    resp = personio.session.patch(f"{personio.base_url}/v2/webhooks/{hook['id']}", json={
        "enabled_events": ["absence-period.created", "absence-period.updated.timerange"]}, timeout=10)
    assert resp.status_code == 200, resp.text
    position = log_position(world, "personio")
    world.run()
    assert window_listings(world, position)  # deletions are no longer announced: the window is listed


def test_an_events_run_takes_its_cursor_from_personios_clock_so_a_bulk_update_is_read_once(world, receiver):
    """Issue #12, as for polling runs: an events run's next cursor is Personio's clock when its read
    began minus the tenant's overlap (not the newest ``updated_at`` minus a fixed 15 minutes), so a
    bulk update is read by one events run, not again by the next."""
    from tests.e2e.test_lean_runs import incremental_since, settle

    personio = personio_world(world, receiver)
    tenant = copy.deepcopy(pa.TENANT_FILE)
    tenant["sources"]["personio"].update({"webhooks": {"enabled": True}, "cursor_overlap_seconds": 1})
    world.write_tenant(tenant)
    world.run()  # the first (polling) run
    person = personio.find("vacation")["person"]["id"]
    assert personio.touch_person_periods(TENANT, person) >= 5  # a working-time model change touches them all
    stamps = [datetime.fromisoformat(p["updated_at"].replace("Z", "+00:00"))
              for p in personio.periods() if p["person"]["id"] == person]

    settle()
    position = log_position(world, "personio")
    world.run(conf=EVENTS)
    assert incremental_since(world.sandboxes.admin("personio").requests(since=position)) <= min(stamps)

    settle()
    position = log_position(world, "personio")
    world.run(conf=EVENTS)
    assert incremental_since(world.sandboxes.admin("personio").requests(since=position)) > max(stamps)


# -- awork -------------------------------------------------------------------------------------
def awork_world(world, receiver):
    tenant = aw.tenant_file()
    tenant["sources"]["awork"]["webhooks"] = {"enabled": True}
    world.write_tenant(tenant)
    section = copy.deepcopy(aw.AWORK)
    section["time_entries"] += [aw.entry(aw.ANNA, "Website", "Sitemap", -5, f"{8 + i // 4}:{15 * (i % 4):02d}", 0.25,
                                         f"bulk {i}") for i in range(12)]
    seed_awork(world.sandboxes.url("awork"), TENANT, section)
    awork = AworkAdmin(world.sandboxes.url("awork"))
    website, app = awork.project("Website")["id"], awork.project("App")["id"]
    seed_hq(world.sandboxes.url("hq"), TENANT, aw.hq_section({"Website": f"https://acme.awork.com/projects/{website}",
                                                              "App": f"https://acme.awork.com/projects/{app}"}))
    world.sandboxes.admin("awork").put("/webhooks/settings", {"retry_delays": [0.1]})
    admin = AworkAdmin(world.sandboxes.url("awork"))
    resp = admin.session.post(f"{admin.base}/webhooks", json={
        "name": "hq-sync", "uri": receiver.url(TENANT, "awork"), "isActive": True,
        "events": "timetracking_added,timetracking_updated,timetracking_deleted,project_updated",
        "authenticationType": "header", "authentication": f"X-Hq-Sync-Secret={SECRET['awork']}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return admin


def test_awork_events_runs_read_the_changed_entries_and_a_burst_by_project(world, receiver):
    admin = awork_world(world, receiver)
    world.run("awork")

    admin.edit_entry("Styles", duration=3 * 3600)
    admin.delete_entry("Markt")
    delivered(world, "awork")
    position, hq_position = log_position(world, "awork"), log_position(world, "hq")
    world.run("awork", conf=EVENTS)
    hq_reads = vendor_requests(world, "hq", hq_position)
    assert sum("ProjectTasks" in r for r in hq_reads) == 1  # the phases and tasks of Website only, not of App
    requests_made = vendor_requests(world, "awork", position)
    assert requests_made[0] == "GET /api/v1/timeentries"  # what changed since the last run
    assert len(requests_made) == 2 and requests_made[1].startswith("GET /api/v1/timeentries/")  # the deleted one: 404
    reportings = {r[5]: r[4] for r in aw.hq_state(world)["reportings"]}  # note → seconds
    assert reportings["Styles"] == 3 * 3600 and "Markt" not in reportings and reportings["bulk 0"] == 900

    # A project change fires timetracking_updated for each of its entries; the entries did not change.
    website = admin.project("Website")
    resp = admin.session.put(f"{admin.base}/projects/{website['id']}", json={"name": "Website"}, timeout=10)
    assert resp.status_code == 200, resp.text
    burst = [d for d in delivered(world, "awork") if d["event_name"] == "timetracking_updated"]
    assert len(burst) > 12
    # (Entries unchanged for long: the incremental read of the run brings none of them.)
    engine = sa.create_engine(world.staging_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sync_cursors SET cursor = :c WHERE entity = 'time_entry'"),
                     {"c": (datetime.now(UTC) + timedelta(minutes=30)).isoformat()})
    engine.dispose()
    position = log_position(world, "awork")
    world.run("awork", conf=EVENTS)
    made = vendor_requests(world, "awork", position)
    assert not [r for r in made if r.startswith("GET /api/v1/timeentries/")]  # not one request per entry ...
    assert sum(1 for r in made if r == "GET /api/v1/timeentries") == 2  # ... the changes, and the project once
    assert {r[5]: r[4] for r in aw.hq_state(world)["reportings"]} == reportings


def test_a_receiver_writing_staging_while_a_run_plans_does_not_break_the_run(world, receiver, monkeypatch):
    """On SQLite a concurrent commit (here: the receiver recording an event) made a planning step
    that wrote while still reading its rows fail with "database is locked" (found in the demo)."""
    from hq_sync.pipelines import personio_absences

    personio_world(world, receiver)
    original, calls = personio_absences._save_plan, []

    def save_plan_while_an_event_arrives(*args, **kwargs):
        if not calls:
            resp = requests.post(receiver.url(TENANT, "personio"), headers={"Authorization": SECRET["personio"]},
                                 json={"company_id": TENANT, "event_name": "absence-period.created",
                                       "occurred_at": "2026-11-27T10:00:00Z", "payload": {"id": "p-concurrent"}}, timeout=10)
            assert resp.json()["status"] == "recorded"
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(personio_absences, "_save_plan", save_plan_while_an_event_arrives)
    run_id = world.run()
    assert world.summary(run_id)["created"] == 10 and len(calls) > 10


# -- Personio person events in polling runs (issue #12: persons are read incrementally) ---------------
def test_a_person_event_is_settled_by_the_incremental_persons_read_when_it_brought_that_person(world, receiver):
    from tests.e2e.test_lean_runs import OVERLAP_S, persons_reads, settle

    pa.seed(world)
    tenant = copy.deepcopy(pa.TENANT_FILE)
    tenant["sources"]["personio"].update({"cursor_overlap_seconds": OVERLAP_S, "webhooks": {"enabled": True}})
    world.write_tenant(tenant)
    world.run()
    persons = world.sandboxes.admin("personio").get(f"/tenants/{TENANT}/persons")["persons"]
    carla, anna = (next(p["id"] for p in persons if p["email"].startswith(n)) for n in ("carla", "anna"))

    def person_event(person_id: str) -> None:
        resp = requests.post(receiver.url(TENANT, "personio"), json=personio_envelope(person_id, "person.updated"),
                             headers={"Authorization": SECRET["personio"]}, timeout=10)
        assert resp.status_code < 300, resp.text

    settle()
    world.sandboxes.admin("personio").patch(f"/tenants/{TENANT}/persons/{carla}", {"last_name": "Neu-Berg"})
    person_event(carla)
    position = log_position(world, "personio")
    run_id = world.run()
    # Carla changed after the last read: the incremental read brought her, nothing more is read.
    [query] = persons_reads(world.sandboxes.admin("personio").requests(since=position))
    assert "updated_at.gt" in query
    assert world.step_result(run_id, "extract")["webhook_events"]["consumed"] == 1

    # An event about a person the incremental read did not bring (no newer stamp): all are read.
    settle()
    person_event(anna)
    position = log_position(world, "personio")
    run_id = world.run()
    reads = persons_reads(world.sandboxes.admin("personio").requests(since=position))
    assert "updated_at.gt" in reads[0] and [q for q in reads[1:] if "updated_at.gt" not in q]
    assert world.step_result(run_id, "extract")["webhook_events"]["persons"]["unchanged"] == 4
