"""HQ → awork end to end (A2–A4): projects and offers, dag.test() against the sandboxes."""

from __future__ import annotations

import pytest
import requests

from sandboxes.scenario import load_scenario
from tests.e2e.conftest import AWORK_KEY, TENANT

WORKSPACE_URL = "https://acme.awork.com"
DEAD = "https://acme.awork.com/projects/00000000-0000-0000-0000-000000000000"

SCENARIO = {
    "tenants": [{
        "id": TENANT,
        "hq": {
            "sync_token": "hq-acme-sync",
            "users": [{"name": "Anna Berg", "email": "anna@acme.example"}],
            "custom_fields": [
                {"name": "awork Link", "type": "Link", "category": "Project"},
                {"name": "awork-Projekt anlegen", "type": "Boolean", "category": "Project"},
            ],
            "project_templates": [{"name": "Kundenprojekt"}],
            "companies": [{"name": "Kunde GmbH "}, {"name": "Nur-in-HQ AG"}],
            "projects": [
                {"name": "Neue Website", "company": "Kunde GmbH ", "custom_fields": {"awork-Projekt anlegen": True}},
                {"name": "Ohne Kunde", "company": "Nur-in-HQ AG", "custom_fields": {"awork-Projekt anlegen": True}},
                {"name": "Manuell verknüpft", "company": "Kunde GmbH "},
                {"name": "Toter Link", "company": "Kunde GmbH ", "custom_fields": {"awork Link": DEAD}},
                {"name": "Nicht markiert", "company": "Kunde GmbH "},
            ],
            "quotations": [{
                "project": "Neue Website", "subject": "Relaunch",
                "positions": [
                    {"type": "GroupHeader", "text": "Konzeption"},
                    {"text": "Workshop <b>vor Ort</b>", "amount": 2, "unit": "Tage", "price": 1000},
                    {"text": "Wireframes", "amount": 16, "unit": "h", "price": 120},
                    {"type": "Subtotal"},
                    {"type": "GroupHeader", "text": "Design"},
                    {"text": "Screendesign", "amount": 1.5, "unit": "d", "price": 900},
                    {"type": "Subtotal"},
                    {"text": "Projektmanagement", "amount": 1, "unit": "Pauschal", "price": 500},
                ],
            }],
        },
        "awork": {
            "credentials": {"api_keys": [AWORK_KEY]},
            "users": [{"first_name": "Anna", "last_name": "Berg", "email": "anna@acme.example", "admin": True}],
            "companies": ["Kunde GmbH"],
            "types_of_work": ["Projektarbeit", "Konzeption"],
            "projects": [{"name": "Manuell verknüpft", "company": "Kunde GmbH"}],
        },
        "links": [{"hq_project": "Manuell verknüpft", "awork_project": "Manuell verknüpft"}],
    }]
}


@pytest.fixture
def hq_to_awork(world):
    world.write_tenant({
        "id": TENANT, "display_name": "ACME Werbeagentur",
        "sources": {"hq_to_awork": {"workspace_url": WORKSPACE_URL}},
    })
    load_scenario(SCENARIO, {v: world.sandboxes.url(v) for v in ("hq", "awork", "personio")})
    return world


def awork(world, path: str, **params):
    resp = requests.get(f"{world.sandboxes.url('awork')}/api/v1/{path}", params={"pageSize": 1000, **params},
                        headers={"Authorization": f"Bearer {AWORK_KEY}"}, timeout=10)
    resp.raise_for_status()
    return resp.json()


def hq_links(world) -> dict[str, str | None]:
    projects = world.hq("Projects", **{"$expand": "CustomFields"})["value"]
    return {p["Name"]: {f["Name"]: f["Value"] for f in p["CustomFields"]}.get("awork Link") for p in projects}


def awork_posts(world, path: str) -> list[dict]:
    return [r for r in world.sandboxes.admin("awork").requests(path=path) if r["method"] == "POST"]


def test_flagged_projects_get_one_awork_project_with_customer_and_link(hq_to_awork):
    world = hq_to_awork
    run_id = world.run("hq_to_awork")

    projects = {p["name"]: p for p in awork(world, "projects")}
    assert set(projects) == {"Manuell verknüpft", "Neue Website", "Ohne Kunde"}
    [customer] = awork(world, "companies")
    assert projects["Neue Website"]["companyId"] == customer["id"]  # same name after trimming (A2)
    assert not projects["Ohne Kunde"].get("companyId")  # no company of that name in awork: reported
    links = hq_links(world)
    assert links["Neue Website"] == f"{WORKSPACE_URL}/projects/{projects['Neue Website']['id']}"
    assert links["Ohne Kunde"] == f"{WORKSPACE_URL}/projects/{projects['Ohne Kunde']['id']}"
    assert links["Manuell verknüpft"] == f"https://acme.awork.com/projects/{projects['Manuell verknüpft']['id']}"  # A3: as it was
    assert links["Nicht markiert"] is None

    summary = world.summary(run_id, entity="project")
    assert summary["created"] == 2
    assert summary["details"]["reported"] == {"customer_not_matched": 1}
    assert summary["details"]["quarantined"] == {"dead_link": 1}
    [dead] = [q for q in world.open_quarantine() if q["reason"] == "dead_link"]
    assert "Toter Link" in dead["detail"]

    before = len(awork_posts(world, "^/api/v1/projects$"))
    world.run("hq_to_awork")
    assert len(awork_posts(world, "^/api/v1/projects$")) == before  # nothing new
    assert len(awork(world, "projects")) == 3


def test_a_lost_answer_never_creates_a_second_awork_project(hq_to_awork):
    world = hq_to_awork
    world.sandboxes.admin("awork").clear_requests()
    world.sandboxes.admin("awork").add_fault(path="^/api/v1/projects$", method="POST", mode="lose_answer", count=2)
    world.sandboxes.admin("hq").add_fault(path="/CustomFields\\(", method="PUT", mode="503", count=1)
    world.run("hq_to_awork")  # the lost creates are adopted, the failed PUT retried
    names = sorted(p["name"] for p in awork(world, "projects"))
    assert names == ["Manuell verknüpft", "Neue Website", "Ohne Kunde"]
    assert any(r["fault"] == "lose_answer" for r in awork_posts(world, "^/api/v1/projects$"))
    links = hq_links(world)
    ids = {p["name"]: p["id"] for p in awork(world, "projects")}
    assert links["Neue Website"].endswith(ids["Neue Website"]) and links["Ohne Kunde"].endswith(ids["Ohne Kunde"])


def test_offer_groups_become_task_lists_and_positions_tasks_once(hq_to_awork):
    world = hq_to_awork
    world.run("hq_to_awork")
    [offer] = world.hq("Quotations")["value"]
    project_id = next(p["id"] for p in awork(world, "projects") if p["name"] == "Neue Website")

    world.run("hq_offer", conf={"offer_number": offer["Number"]})
    lists = {l["name"]: l["id"] for l in awork(world, f"projects/{project_id}/tasklists")}
    assert set(lists) == {"Konzeption", "Design"}
    tasks = {t["name"]: t for t in awork(world, f"projects/{project_id}/projecttasks")}
    assert set(tasks) == {"Workshop vor Ort", "Wireframes", "Screendesign", "Projektmanagement"}
    in_list = {name: {l["id"] for l in t.get("lists") or []} for name, t in tasks.items()}
    assert in_list["Workshop vor Ort"] == in_list["Wireframes"] == {lists["Konzeption"]}
    assert in_list["Screendesign"] == {lists["Design"]}
    assert in_list["Projektmanagement"] == set()  # outside any group: no list
    assert tasks["Workshop vor Ort"]["plannedDuration"] == 2 * 8 * 3600
    assert tasks["Wireframes"]["plannedDuration"] == 16 * 3600
    assert tasks["Screendesign"]["plannedDuration"] == int(1.5 * 8 * 3600)
    assert not tasks["Projektmanagement"].get("plannedDuration")  # unit is neither hours nor days
    konzeption = next(t["id"] for t in awork(world, "typeofwork") if t["name"] == "Konzeption")
    assert {t["typeOfWorkId"] for t in tasks.values()} == {konzeption}  # first type of work by name

    before = len(awork_posts(world, "^/api/v1/(tasks|projects/.*/tasklists)$"))
    world.run("hq_offer", conf={"offer_number": offer["Number"]})
    assert len(awork_posts(world, "^/api/v1/(tasks|projects/.*/tasklists)$")) == before  # twice: nothing new

    requests.post(f"{world.sandboxes.url('hq')}/v1/Quotations({offer['Id']})/Positions",
                  json={"Text": "Testing", "Amount": 4, "Unit": "h", "Price": 100},
                  headers={"Authorization": f"Bearer {world.hq_token}"}, timeout=10).raise_for_status()
    world.run("hq_offer", conf={"offer_number": offer["Number"]})
    names = sorted(t["name"] for t in awork(world, f"projects/{project_id}/projecttasks"))
    assert names == ["Projektmanagement", "Screendesign", "Testing", "Wireframes", "Workshop vor Ort"]


def test_unknown_offer_fails_the_run_with_a_clear_message(hq_to_awork):
    world = hq_to_awork
    world.run("hq_offer", conf={"offer_number": "AN-does-not-exist"}, expect="failed")
