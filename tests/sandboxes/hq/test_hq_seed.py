"""The scenario loader: a section goes in over HTTP, and what it describes comes out of the API."""

from __future__ import annotations

import pytest

from sandboxes.hq.seed import SeedError, seed_tenant

from .conftest import ACME, HQ, acme_scenario


def test_seed_reports_what_it_loaded(hq: HQ) -> None:
    assert hq.summary[0] == (
        "hq acme: 3 users, 2 companies, 3 projects, 4 tasks, 1 quotations, 2 absences, 3 reportings (1 billed)"
    )
    assert hq.summary[1].startswith("hq globex: 1 users")


def test_seeded_master_data_and_links(hq: HQ) -> None:
    sync = hq.sync
    names = {t["Name"]: t for t in sync.values("/v1/TaskTypes")}
    assert set(names) == {"Standard", "Konzeption", "Design"}
    assert names["Standard"]["IsDefault"] is True
    project = sync.get(f"/v1/Projects({hq.project('Website Relaunch')['Id']})", **{"$expand": "CustomFields,Members"}).json()
    fields = {f["Name"]: f["Value"] for f in project["CustomFields"]}
    assert fields["awork Link"] == "https://acme.awork.com/projects/abc"
    assert fields["awork-Projekt anlegen"] == "true"
    assert len(project["Members"]) == 2
    phases = sync.values("/v1/ProjectTasks", **{"$filter": f"ProjectId eq {project['Id']} and ParentId eq null", "$orderby": "Order"})
    assert [p["Name"] for p in phases] == ["Konzeption", "awork - Zeiten"]
    assert phases[0]["PlannedEffort"] == 40.0


def test_seed_names_the_record_that_fails(hq_empty: HQ) -> None:
    section = acme_scenario()
    section["reportings"] = [{"email": "nobody@acme.example", "project": "Website Relaunch", "start": "2025-02-03T08:00:00Z", "hours": 1}]
    with pytest.raises(SeedError, match="nobody@acme.example"):
        seed_tenant(hq_empty.url, ACME, section)


def test_seed_rejects_unknown_references_and_token_clashes(hq: HQ) -> None:
    section = acme_scenario()
    section["projects"][0]["members"][0]["role"] = "Astronaut"
    with pytest.raises(SeedError, match="unknown project role 'Astronaut'"):
        seed_tenant(hq.url, "other", {**section, "sync_token": "other-sync", "user_tokens": {}})
    resp = hq.admin.session.post(f"{hq.url}/_sandbox/tenants", json={"tenant": "thief", "sync_token": "hq-acme-sync"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "Conflict"


def test_seeding_twice_updates_master_data_instead_of_duplicating(hq: HQ) -> None:
    section = {k: v for k, v in acme_scenario().items()
               if k in ("sync_token", "user_tokens", "users", "task_types", "project_roles", "project_statuses",
                        "project_templates", "custom_fields", "rate_rules")}
    seed_tenant(hq.url, ACME, section)
    assert len(hq.sync.values("/v1/Users", includedeactivated="true")) == 3
    assert len(hq.sync.values("/v1/TaskTypes")) == 3
    assert len(hq.sync.values("/v1/Projects")) == 3  # re-registering keeps the tenant's data


YAML_SECTION = """
users: [{name: Dora Demo, email: dora@demo.example}]
project_statuses: [Laufend]
project_templates: [{name: Kundenprojekt}]
project_roles: [PL]
custom_fields: [{name: awork Link, type: Link}, {name: awork-Projekt anlegen, type: Boolean}]
companies:
  - {name: Kunde, address: {street: Weg, zip_code: 20457, city: Hamburg}, tax_id: 123}
projects:
  - name: P1
    company: Kunde
    start: 2025-01-01
    members: [{email: dora@demo.example, role: PL}]
    custom_fields: {awork-Projekt anlegen: true, awork Link: "https://demo.awork.com/projects/1"}
    phases: [{name: Phase, tasks: [{name: T, planned_hours: 2.5}]}]
absences:
  - {email: dora@demo.example, type: Vacation, start: 2025-03-03, end: 2025-03-04}
  - {email: dora@demo.example, type: SickLeave, start: 2025-03-05, end: 2025-03-05T12:00:00}
  - {email: dora@demo.example, type: PrivateAbsence, start: 2025-03-06T08:00:00Z, end: 2025-03-06T10:00:00Z}
reportings:
  - {email: dora@demo.example, project: P1, task: Phase/T, start: 2025-02-03T08:00:00Z, hours: 1.25}
"""


def test_seed_takes_what_yaml_produces(hq_empty: HQ) -> None:
    import yaml

    summary = seed_tenant(hq_empty.url, "demo", yaml.safe_load(YAML_SECTION))
    assert summary == ["hq demo: 1 users, 1 companies, 1 projects, 2 tasks, 0 quotations, 3 absences, 1 reportings (0 billed)"]
    client = hq_empty.client("hq-demo-sync")
    dora = client.one("/v1/Users")["Id"]
    absences = client.values(f"/v1/Users({dora})/Absences", **{"$select": "Start,End,MissedDays"})
    assert absences == [
        {"Start": "2025-03-03T00:00:00", "End": "2025-03-04T00:00:00", "MissedDays": 1.0},
        {"Start": "2025-03-05T00:00:00", "End": "2025-03-05T12:00:00", "MissedDays": 0.5},
        {"Start": "2025-03-06T08:00:00Z", "End": "2025-03-06T10:00:00Z", "MissedDays": 0.0},
    ]
    assert client.one("/v1/UserReportings")["Duration"] == 4500
    company = client.one("/v1/Companies", **{"$expand": "DefaultAddress"})
    assert company["DefaultAddress"]["ZipCode"] == "20457" and company["TaxId"] == "123"
