"""The drift audit end to end (F2): awork + Personio + HQ sandboxes, real DAG runs, real staging.

The audit must find every drift injected into HQ behind the sync's back (through the HQ sandbox's
admin API) and nothing else; explained differences (quarantine, billed conflict, written by
someone else, not synced yet) never count as drift.
"""

from __future__ import annotations

import json
from time import sleep
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from sandboxes.awork.seed import seed_tenant as seed_awork
from sandboxes.hq.seed import seed_tenant as seed_hq
from sandboxes.personio.seed import seed_tenant as seed_personio
from tests.e2e.conftest import AWORK_KEY, TENANT, AworkAdmin, PersonioAdmin

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = datetime.now(BERLIN).date()
ANNA, BEN, CARLA = "anna@acme.example", "ben@acme.example", "carla@acme.example"


def d(days: int) -> date:
    return TODAY + timedelta(days=days)


def tenant_file(folder=None, **audit) -> dict:
    sources = {"awork": {"sync_start_date": d(-30).isoformat()}, "personio": {"sync_start_date": d(-30).isoformat()}}
    if folder is not None:
        sources["timesheets"] = {"folder": str(folder)}
    return {"id": TENANT, "display_name": "ACME", "timezone": "Europe/Berlin", "audit": audit, "sources": sources}


SOURCES_AFTER_H = 0.0001  # staging_max_age_hours that makes the audit read the sources (0.36 s)


def read_the_sources(world, folder=None) -> None:
    """Make the next audit read the sources, not staging: a tiny ``staging_max_age_hours``, waited
    out. Staging written by a run less than that before the audit still counts as fresh (the
    audit would then, by design, not see source changes made after that run)."""
    world.write_tenant(tenant_file(folder, staging_max_age_hours=SOURCES_AFTER_H))
    sleep(SOURCES_AFTER_H * 3600 * 1.5)


def entry(user, task, days, start, hours, note):
    return {"user": user, "project": "Website", "task": task, "date": d(days).isoformat(), "start": start, "hours": hours, "note": note}


AWORK = {
    "workspace": {"name": "acme"}, "timezone": "Europe/Berlin", "credentials": {"api_keys": [AWORK_KEY]},
    "users": [{"first_name": "Anna", "last_name": "Berg", "email": ANNA, "admin": True},
              {"first_name": "Ben", "last_name": "Kurz", "email": BEN},
              {"first_name": "Carla", "last_name": "Neu", "email": CARLA}],
    "types_of_work": ["Konzeption"],
    "projects": [{"name": "Website", "key": "WEB", "tasks": [{"name": "Sitemap", "type_of_work": "Konzeption"}]}],
    "time_entries": [
        entry(ANNA, "Sitemap", -3, "09:00", 1.5, "edit-me"),
        entry(ANNA, "Sitemap", -3, "11:00", 2, "delete-me"),
        entry(BEN, "Sitemap", -2, "09:00", 1, "keep"),
        entry(BEN, "Sitemap", -2, "13:00", 3, "billed"),
        entry(CARLA, "Sitemap", -2, "10:00", 4, "no HQ user"),  # quarantine: unknown_email
        entry(ANNA, "Sitemap", -1, "09:00", 0.5, "later"),
    ],
}


def hq_section(link: str) -> dict:
    return {
        "sync_token": "hq-acme-sync", "personio_sync": True,
        "users": [{"name": "Anna Berg", "email": ANNA}, {"name": "Ben Kurz", "email": BEN}],
        "user_tokens": {BEN: "hq-acme-ben"},
        "task_types": ["Konzeption"],
        "project_statuses": [{"name": "Laufend", "in_progress": True}],
        "project_templates": [{"name": "Kundenprojekt", "statuses": ["Laufend"]}],
        "company_types": ["Kunde"],
        "custom_fields": [{"name": "awork Link", "type": "Link", "category": "Project"}],
        "companies": [{"name": "Kunde GmbH", "types": ["Kunde"]}],
        "projects": [{"name": "Website", "company": "Kunde GmbH", "custom_fields": {"awork Link": link},
                      "phases": [{"name": "Extern", "tasks": [{"name": "Termine"}]}]}],
        # Someone else's bookings in HQ (e.g. timeBro, or typed by hand): explained, never drift.
        "reportings": [{"email": BEN, "project": "Website", "task": "Extern/Termine",
                        "start": f"{d(-2).isoformat()}T15:00:00Z", "hours": 0.5, "note": "timeBro"}],
        "absences": [{"email": ANNA, "type": "TradeSchool", "start": d(5).isoformat(), "end": d(6).isoformat()}],
    }


def personio_section() -> dict:
    period = lambda person, type_, start, end, **kw: {"person": person, "type": type_, "start": start, "end": end, **kw}  # noqa: E731
    return {
        "client_id": "acme-personio", "client_secret": "acme-secret",
        "persons": [{"email": ANNA, "first_name": "Anna", "last_name": "Berg"},
                    {"email": BEN, "first_name": "Ben", "last_name": "Kurz"},
                    {"email": CARLA, "first_name": "Carla", "last_name": "Neu"}],
        "absence_types": [{"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"},
                          {"name": "Sabbatical", "category": "UNPAID_VACATION", "unit": "DAY"}],
        "absence_periods": [
            period(ANNA, "Urlaub", d(10), d(12), comment="edit-me"),
            period(BEN, "Urlaub", d(20), d(21), comment="delete-me"),
            period(BEN, "Urlaub", d(30), d(30), comment="keep"),
            period(CARLA, "Urlaub", d(15), d(16), comment="unknown-email"),  # quarantine
            period(BEN, "Sabbatical", d(40), d(41), comment="unmapped"),  # quarantine
        ],
    }


@pytest.fixture
def audited(world):
    world.write_tenant(tenant_file())
    seed_awork(world.sandboxes.url("awork"), TENANT, AWORK)
    awork = AworkAdmin(world.sandboxes.url("awork"))
    seed_hq(world.sandboxes.url("hq"), TENANT, hq_section(f"https://acme.awork.com/projects/{awork.project('Website')['id']}"))
    seed_personio(world.sandboxes.url("personio"), TENANT, personio_section())
    world.awork = awork
    world.personio = PersonioAdmin(world.sandboxes.url("personio"), "acme-personio", "acme-secret")
    world.run("awork")
    world.run("personio")
    return world


def reporting_of(world, note: str) -> dict:
    [rep] = [r for r in world.hq("UserReportings")["value"] if r.get("Note") == note]
    return rep


def absence_of(world, email: str, start: date) -> dict:
    users = {u["EMailWork"]: u["Id"] for u in world.hq("Users")["value"]}
    [absence] = [a for a in world.hq(f"Users({users[email]})/Absences")["value"] if a["Start"].startswith(start.isoformat())]
    return absence


def latest(world) -> tuple[dict, pd.DataFrame]:
    engine = sa.create_engine(world.staging_url)
    with engine.connect() as conn:
        run = conn.execute(sa.text("SELECT * FROM audit_runs ORDER BY id DESC LIMIT 1")).mappings().one()
        diffs = pd.read_sql(sa.text("SELECT * FROM audit_differences WHERE audit_id = :a"), conn, params={"a": run["id"]})
    engine.dispose()
    return dict(run), diffs


def unexplained(diffs: pd.DataFrame) -> dict[str, str]:
    rows = diffs[diffs["explanation"] == "unexplained"]
    return dict(sorted({(str(r.hq_ref), str(r.reason)) for r in rows.itertuples()}))


def explained(diffs: pd.DataFrame) -> set[tuple[str, str]]:
    rows = diffs[diffs["explanation"] != "unexplained"]
    return {(str(r.explanation), str(r.reason)) for r in rows.itertuples()}


@pytest.mark.parametrize("world", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_audit_finds_exactly_the_injected_drift(audited):
    w = audited
    # A billed reporting whose entry changes in awork afterwards: a conflict the sync reports (A9).
    w.sandboxes.admin("hq").post(f"/tenants/{TENANT}/invoices", {"reporting_ids": [reporting_of(w, "billed")["Id"]]})
    w.awork.edit_entry("billed", duration=5 * 3600)
    w.run("awork")

    # A timesheet booked on the linked project (C1): in HQ, not from awork: explained.
    from tests.e2e.test_timesheets import csv_file, run_import

    w.write_tenant(tenant_file(w.tmp / "sheets"))
    sheet = f"Datum;Projekt;Dauer;E-Mail\n{d(-2).strftime('%d.%m.%Y')};Website;1,5;{ANNA}\n"
    assert run_import(w, csv_file(w.tmp / "sheets", "anna.csv", sheet))["created"] == 1

    w.run("audit")  # before any drift: differences, but every one explained
    run, diffs = latest(w)
    assert (run["status"], run["unexplained"]) == ("explained", 0)
    assert explained(diffs) == {
        ("quarantine", "unknown_email"),  # Carla's hours (awork) and vacation (Personio)
        ("quarantine", "unmapped_type"),  # Ben's sabbatical
        ("billed_conflict", "billed_conflict"),
        ("written_by_others", "not_from_awork"),  # the timeBro booking
        ("written_by_others", "timesheet_import"),  # the timesheet row
        ("written_by_others", "not_from_personio"),  # the trade school day
    }

    # Drift behind the sync's back, through the HQ sandbox's admin API (and a user's own token).
    admin = w.sandboxes.admin("hq")
    edited, deleted = reporting_of(w, "edit-me"), reporting_of(w, "delete-me")
    admin.patch(f"/tenants/{TENANT}/records/UserReportings/{edited['Id']}?as={BEN}", {"Duration": 3 * 3600})
    admin.delete(f"/tenants/{TENANT}/records/UserReportings/{deleted['Id']}")
    moved = reporting_of(w, "later")  # a person moves a booking by a month in HQ
    start = datetime.fromisoformat(moved["StartOn"].replace("Z", "+00:00")) - timedelta(days=20)
    admin.patch(f"/tenants/{TENANT}/records/UserReportings/{moved['Id']}", {"StartOn": start.strftime("%Y-%m-%dT%H:%M:%SZ")})
    longer, gone = absence_of(w, ANNA, d(10)), absence_of(w, BEN, d(20))
    admin.patch(f"/tenants/{TENANT}/records/UserAbsences/{longer['Id']}", {"End": f"{d(15).isoformat()}T00:00:00"})
    admin.delete(f"/tenants/{TENANT}/records/UserAbsences/{gone['Id']}")

    w.run("audit", expect="failed")  # unexplained drift fails the run: it alerts like a failed run
    run, diffs = latest(w)
    assert unexplained(diffs) == {
        str(edited["Id"]): "changed_in_hq", str(deleted["Id"]): "deleted_in_hq", str(moved["Id"]): "changed_in_hq",
        str(longer["Id"]): "changed_in_hq", str(gone["Id"]): "deleted_in_hq",
    }
    assert run["unexplained"] == 5 and run["status"] == "drift"
    detail = diffs.set_index("hq_ref").loc[str(edited["Id"]), "detail"]
    assert f"changed in HQ by {BEN}" in detail and "the sync wrote 1.5 h" in detail and "HQ holds 3 h" in detail
    assert explained(diffs) >= {("quarantine", "unknown_email"), ("billed_conflict", "billed_conflict")}

    # Reading the sources instead of staging (staging too old) finds the same drift, nothing more.
    read_the_sources(w, w.tmp / "sheets")
    w.run("audit", expect="failed")
    run, source_diffs = latest(w)
    sources = json.loads(run["sources"]) if isinstance(run["sources"], str) else run["sources"]
    assert {s: v["mode"] for s, v in sources.items()} == {"awork": "source", "personio": "source"}
    assert unexplained(source_diffs) == unexplained(diffs)


def test_changes_not_yet_synced_are_explained_and_the_export_opens(audited, tmp_path, monkeypatch):
    w = audited
    w.awork.edit_entry("keep", duration=2 * 3600)  # changed in awork after the last run
    w.personio.patch(w.personio.find("keep")["id"], {"ends_at": {"date_time": f"{d(33).isoformat()}T00:00:00", "type": None}})
    read_the_sources(w)  # staging does not know these changes yet

    from hq_sync.ops.audit import main

    csv_path, xlsx_path = tmp_path / "audit.csv", tmp_path / "audit.xlsx"
    assert main(["--tenant", TENANT, "--csv", str(csv_path), "--xlsx", str(xlsx_path)]) == 0
    run, diffs = latest(w)
    assert run["run_id"].startswith("cli__") and run["unexplained"] == 0
    sources = json.loads(run["sources"]) if isinstance(run["sources"], str) else run["sources"]
    assert {s: v["mode"] for s, v in sources.items()} == {"awork": "source", "personio": "source"}
    awaiting = diffs[diffs["explanation"] == "awaiting_sync"]
    assert set(awaiting["reason"]) == {"changed_after_last_run"} and len(set(awaiting["source_ref"])) == 2

    table = pd.read_csv(csv_path, sep=";", decimal=",", encoding="utf-8-sig")
    assert {"Person", "Monat", "Quelle", "HQ", "Erklärung", "Details"} <= set(table.columns)
    assert (table["Erklärung"] == "awaiting_sync").sum() == len(awaiting)
    book = pd.read_excel(xlsx_path, sheet_name=None)
    assert set(book) == {"Übersicht", "Stunden", "Abwesenheitstage", "Abweichungen"}
    hours = book["Stunden"]
    keep = hours[(hours["Person"] == BEN) & (hours["Quelle"] != hours["HQ"])]
    assert not keep.empty and float(keep["Differenz erklärt"].sum()) != 0

    # One month only: the CLI's --month narrows the window.
    month = d(-2).strftime("%Y-%m")
    assert main(["--tenant", TENANT, "--month", month]) == 0
    run, _ = latest(w)
    assert run["month"] == month and str(run["window_start"]).startswith(month) and str(run["window_end"]).startswith(month)
