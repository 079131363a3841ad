"""Scenario seeding (``seed_tenant``), performance at demo size, and persistence across restarts."""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
import requests

from sandboxes.personio.seed import SeedError, demo_section, seed_tenant
from sandboxes.testing import SandboxServers

SECTION = {
    "client_id": "acme-personio",
    "client_secret": "acme-secret",
    "token_lifetime_seconds": 600,
    "persons": [
        {"email": "anna@acme.test", "first_name": "Anna", "last_name": "Schmidt"},
        {"email": "ben@acme.test", "first_name": "Ben", "last_name": "Meyer", "status": "INACTIVE"},
    ],
    "absence_types": [
        {"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"},
        {"name": "Krankheit", "category": "SICK_LEAVE", "unit": "DAY", "approval_required": False},
        {"name": "Arzttermin", "category": "OTHER", "unit": "HOUR"},
        {"name": "Bergfest (custom)", "category": None, "unit": "DAY"},
    ],
    "absence_periods": [
        {"person": "anna@acme.test", "type": "Urlaub", "start": date(2026, 6, 10),
         "end": date(2026, 6, 12), "half_day_start": True, "comment": "summer"},
        {"person": "ANNA@acme.test", "type": "Arzttermin", "start": datetime(2026, 6, 15, 9),
         "end": "2026-06-15T10:30:00"},
        {"person": "ben@acme.test", "type": "Krankheit", "start": "2026-07-01", "end": None},
        {"person": "anna@acme.test", "type": "Urlaub", "start": "2026-08-03", "end": "2026-08-03",
         "half_day_end": True, "status": "PENDING"},
        {"person": "anna@acme.test", "type": "Bergfest (custom)", "start": "2026-08-10",
         "end": "2026-08-10", "start_type": None, "end_type": None, "status": "REJECTED"},
        {"person": "anna@acme.test", "type": "Urlaub", "start": "2026-08-10", "end": "2026-08-14",
         "status": "CANCELLED"},
    ],
}


def _token(url: str, client_id: str, secret: str) -> requests.Session:
    session = requests.Session()
    token = requests.post(url + "/v2/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=5).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _all(session: requests.Session, url: str) -> list[dict]:
    items, href = [], url
    while href:
        body = session.get(href, timeout=10).json()
        items.extend(body["_data"])
        href = body["_meta"]["links"].get("next", {}).get("href")
    return items


def test_seed_loads_master_data_and_periods(personio):
    lines = seed_tenant(personio.url, "acme", SECTION)
    assert lines == ["personio acme: 2 persons, 4 absence types, 6 absence periods"]
    api = _token(personio.url, "acme-personio", "acme-secret")
    persons = {p["email"]: p for p in _all(api, personio.url + "/v2/persons")}
    assert persons["ben@acme.test"]["status"] == "INACTIVE"
    types = {t["id"]: t for t in _all(api, personio.url + "/v2/absence-types")}
    assert {t["name"]: (t["category"], t["unit"]) for t in types.values()}["Bergfest (custom)"] == \
        (None, "DAY")
    periods = _all(api, personio.url + "/v2/absence-periods")
    summer, doctor, sick, half, rejected, cancelled = periods
    assert summer["starts_from"] == {"date_time": "2026-06-10T00:00:00", "type": "SECOND_HALF"}
    assert summer["ends_at"] == {"date_time": "2026-06-13T00:00:00", "type": "SECOND_HALF"}
    assert summer["comment"] == "summer" and summer["approval"]["status"] == "APPROVED"
    assert doctor["ends_at"]["date_time"] == "2026-06-15T10:30:00"
    assert types[doctor["absence_type"]["id"]]["unit"] == "HOUR"
    assert sick["ends_at"] is None and sick["person"]["id"] == persons["ben@acme.test"]["id"]
    assert half["ends_at"] == {"date_time": "2026-08-04T00:00:00", "type": "FIRST_HALF"}
    assert half["approval"]["status"] == "PENDING"
    assert rejected["starts_from"]["type"] is None and rejected["approval"]["status"] == "REJECTED"
    assert cancelled["approval"]["status"] == "CANCELLED"
    tenant = personio.admin.get("/tenants/acme")
    assert tenant["token_lifetime_seconds"] == 600
    assert tenant["counts"] == {"persons": 2, "absence_types": 4, "absence_periods": 6}


def test_seed_writes_scenario_end_days_in_the_active_boundary_convention(personio):
    personio.settings(day_end_boundary="inclusive")
    seed_tenant(personio.url, "acme", {**SECTION, "absence_periods": SECTION["absence_periods"][:1]})
    api = _token(personio.url, "acme-personio", "acme-secret")
    assert _all(api, personio.url + "/v2/absence-periods")[0]["ends_at"]["date_time"] == \
        "2026-06-12T00:00:00"


def test_seed_reuses_existing_master_data(personio):
    master = {k: v for k, v in SECTION.items() if k != "absence_periods"}
    seed_tenant(personio.url, "acme", master)
    seed_tenant(personio.url, "acme", SECTION)
    assert personio.admin.get("/tenants/acme")["counts"] == {
        "persons": 2, "absence_types": 4, "absence_periods": 6}


def test_seed_applies_restricted_scopes_after_loading(personio):
    seed_tenant(personio.url, "acme", {**SECTION, "scopes": ["personio:absences:read"]})
    api = _token(personio.url, "acme-personio", "acme-secret")
    assert api.get(personio.url + "/v2/absence-periods", timeout=5).status_code == 200
    assert api.get(personio.url + "/v2/persons", timeout=5).status_code == 401


@pytest.mark.parametrize("section, message", [
    ({**SECTION, "absence_periods": [{"person": "nobody@acme.test", "type": "Urlaub",
                                      "start": "2026-01-05", "end": "2026-01-06"}]}, "unknown person"),
    ({**SECTION, "absence_periods": [{"person": "anna@acme.test", "type": "Gone",
                                      "start": "2026-01-05"}]}, "unknown absence type"),
    ({**SECTION, "absence_periods": [{"person": "anna@acme.test", "type": "Arzttermin",
                                      "start": "2026-01-05T09:00:00"}]}, "need 'end'"),
    ({**SECTION, "absence_periods": [{"person": "anna@acme.test", "type": "Urlaub",
                                      "start": "2026-01-05", "end": "2026-01-09"},
                                     {"person": "anna@acme.test", "type": "Urlaub",
                                      "start": "2026-01-07", "end": "2026-01-07"}]}, "409"),
    ({**SECTION, "holidays": []}, "unknown keys"),
    ({"persons": []}, "client_id"),
])
def test_seed_errors_name_the_problem(personio, section, message):
    with pytest.raises(SeedError, match=message):
        seed_tenant(personio.url, "acme", section)


@pytest.mark.serial  # time budgets: alone on the cores
def test_demo_size_seeds_quickly_and_pages_fast(personio):
    started = time.monotonic()
    for tenant in ("acme", "globex"):
        section = demo_section(tenant)
        assert 500 <= len(section["absence_periods"]) <= 1000
        seed_tenant(personio.url, tenant, section)
    assert time.monotonic() - started < 40
    api = _token(personio.url, "acme-personio", "acme-secret")
    durations, href, count = [], personio.url + "/v2/absence-periods?limit=100", 0
    while href:
        began = time.monotonic()
        body = api.get(href, timeout=10).json()
        durations.append(time.monotonic() - began)
        count += len(body["_data"])
        href = body["_meta"]["links"].get("next", {}).get("href")
    assert count == personio.admin.get("/tenants/acme")["counts"]["absence_periods"]
    assert max(durations) < 0.5 and sum(durations) / len(durations) < 0.1
    began = time.monotonic()
    window = api.get(personio.url + "/v2/absence-periods", params={
        "starts_from.date_time.gte": "2026-06-01T00:00:00",
        "ends_at.date_time.lte": "2026-06-30T00:00:00"}, timeout=10)
    assert window.status_code == 200 and window.json()["_data"]
    assert time.monotonic() - began < 0.5


def test_data_tokens_and_settings_survive_a_restart(tmp_path):
    with SandboxServers(tmp_path) as servers:
        url = servers.url("personio")
        seed_tenant(url, "acme", SECTION)
        servers.admin("personio").put("/settings", {"day_end_boundary": "inclusive"})
        api = _token(url, "acme-personio", "acme-secret")
        before = _all(api, url + "/v2/absence-periods")
        token = api.headers["Authorization"]
    with SandboxServers(tmp_path) as servers:
        url = servers.url("personio")
        after = requests.get(url + "/v2/absence-periods", headers={"Authorization": token},
                             timeout=5)
        assert after.status_code == 200
        assert after.json()["_data"] == before
        assert servers.admin("personio").get("/settings")["day_end_boundary"] == "inclusive"
