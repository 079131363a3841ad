"""Scenarios: a YAML file through the CLI, and the generated demo scenario with every product rule."""

from __future__ import annotations

import subprocess
import sys

import requests
import yaml

from sandboxes.scenarios.demo import demo_credentials, demo_scenario

SCENARIO = {
    "tenants": [{
        "id": "yaml-co",
        "hq": {
            "sync_token": "yaml-hq", "users": [{"name": "Ann Yaml", "email": "ann@yaml.example"}],
            "custom_fields": [{"name": "awork Link", "type": "Link", "category": "Project"}],
            "project_templates": [{"name": "Kundenprojekt"}],
            "companies": [{"name": "Kunde"}],
            "projects": [{"name": "Relaunch", "company": "Kunde"}],
        },
        "awork": {
            "credentials": {"api_keys": ["yaml-awork"]},
            "users": [{"first_name": "Ann", "last_name": "Yaml", "email": "ann@yaml.example"}],
            "projects": [{"name": "Relaunch", "task_lists": ["Konzeption [5,4d]"]}],
        },
        "personio": {
            "client_id": "yaml-p", "client_secret": "yaml-s",
            "persons": [{"email": "ann@yaml.example", "first_name": "Ann", "last_name": "Yaml"}],
            "absence_types": [{"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"}],
            "absence_periods": [{"person": "ann@yaml.example", "type": "Urlaub", "start": "2026-06-01", "end": "2026-06-02"}],
        },
        "links": [{"hq_project": "Relaunch", "awork_project": "Relaunch"}],
    }]
}


def test_yaml_scenario_loads_through_the_cli_and_links_projects(fresh_sandboxes, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    ports = [arg for v in ("hq", "awork", "personio") for arg in (f"--{v}-port", str(fresh_sandboxes.ports[v]))]
    out = subprocess.run([sys.executable, "-m", "sandboxes", "seed", str(path), *ports], capture_output=True, text=True, check=True)
    assert "personio yaml-co: 1 persons" in out.stdout
    assert "links yaml-co: 1 HQ projects linked" in out.stdout

    hq = requests.Session()
    hq.headers["Authorization"] = "Bearer yaml-hq"
    [project] = hq.get(fresh_sandboxes.url("hq") + "/v1/Projects", params={"$expand": "CustomFields"}, timeout=5).json()["value"]
    [awork_project] = requests.get(fresh_sandboxes.url("awork") + "/api/v1/projects", headers={"Authorization": "Bearer yaml-awork"}, timeout=5).json()
    link = {f["Name"]: f["Value"] for f in project["CustomFields"]}["awork Link"]
    assert link == f"https://yaml-co.awork.com/projects/{awork_project['id']}"


def test_demo_scenario_exercises_every_rule():
    scenario = demo_scenario()
    assert [t["id"] for t in scenario["tenants"]] == list(demo_credentials())
    for tenant in scenario["tenants"]:
        hq_emails = {u["email"] for u in tenant["hq"]["users"]}
        awork, personio = tenant["awork"], tenant["personio"]
        assert 20 <= len(tenant["hq"]["users"]) <= 30
        assert len(awork["projects"]) == 10
        lists = awork["projects"][0]["task_lists"]
        assert {"Konzeption [5,4d]", "Review [2,5h]", "Abnahme [viel]"} <= set(lists)
        assert any(len(task.get("lists", [])) == 2 for task in awork["projects"][0]["tasks"])  # a task in two lists
        hq_types = set(tenant["hq"]["task_types"])
        assert set(awork["types_of_work"]) - hq_types == {"Meeting intern"}  # no HQ match (A7)
        assert {u["email"] for u in awork["users"]} - hq_emails  # an awork user without HQ user (A8)
        assert {p["email"] for p in personio["persons"]} - hq_emails  # a Personio person without HQ user
        periods = personio["absence_periods"]
        assert any(p["end"] is None for p in periods)  # open-ended sick leave
        assert any(p.get("status") == "PENDING" for p in periods)
        assert any(p["type"] == "Elternzeit" and p.get("half_day_end") for p in periods)  # half day, nur ganztägig
        assert {"Workation", "Sonderurlaub Umzug"} <= {t["name"] for t in personio["absence_types"]}  # custom types
        assert any(p.get("comment") == "demo: delete me" for p in periods)
        assert tenant["hq"]["personio_sync"] is True
        assert tenant["links"]
