"""The drift audit table, drill-down and exports, and the timesheet page and upload (issue 16).

The routes run in the plugin's own FastAPI app (in process, with Airflow's authentication replaced
by a stand-in user); that the real API server refuses them without a session is checked against the
shared Airflow of the status page tests.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from fastapi.testclient import TestClient

from hq_sync.audit.model import AuditKind, Cell, Explanation, Pair, SourceRead, Window
from hq_sync.audit.report import build_result, store
from hq_sync.staging import create_staging_engine, upgrade
from hq_sync.staging.schema import timesheet_files
from tests.ops.harness import World

WEB = Cell(AuditKind.HOURS, "anna@acme.example", "30001", "Website", "2026-03")
VAC = Cell(AuditKind.ABSENCE_DAYS, "ben@acme.example", "Vacation", "Urlaub", "2026-04")


def load_plugin():
    """The plugin module, imported from plugins/ as Airflow's plugin manager does."""
    import importlib.util
    import sys

    from tests.conftest import REPO_ROOT

    if "hq_sync_status_plugin" not in sys.modules:
        spec = importlib.util.spec_from_file_location("hq_sync_status_plugin", REPO_ROOT / "plugins" / "hq_sync_status_plugin.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["hq_sync_status_plugin"] = module
        spec.loader.exec_module(module)
    return sys.modules["hq_sync_status_plugin"]


def pairs() -> list[Pair]:
    same = Pair(AuditKind.HOURS, "e1", "1000001", source={WEB: 2.0}, hq={WEB: 2.0})
    edited = Pair(AuditKind.HOURS, "e2", "1000002", source={WEB: 1.5}, hq={WEB: 3.0})
    edited.explain(Explanation.UNEXPLAINED, "changed_in_hq", "HQ reporting 1000002 was changed in HQ by ben", "ben@acme.example")
    held = Pair(AuditKind.HOURS, "e3", None, source={WEB: 4.0})
    held.explain(Explanation.QUARANTINE, "unknown_email", "carla is no HQ user")
    gone = Pair(AuditKind.ABSENCE_DAYS, "p1", "200001", source={VAC: 3.0})
    gone.explain(Explanation.UNEXPLAINED, "deleted_in_hq", "HQ absence 200001 is gone")
    return [same, edited, held, gone]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(yaml.safe_dump({
        "id": "acme", "display_name": "ACME Agentur",
        "sources": {"awork": {"sync_start_date": "2026-01-01"}, "personio": {"sync_start_date": "2026-01-01"},
                    "timesheets": {"folder": str(tmp_path / "inbox"), "max_file_mb": 0.01}}}))
    (tenants / "beta.yaml").write_text(yaml.safe_dump({
        "id": "beta", "display_name": "Beta", "sources": {"personio": {"sync_start_date": "2026-01-01"}}}))
    url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", str(tenants))
    monkeypatch.setenv("HQ_SYNC_STAGING_URL", url)
    engine = create_staging_engine(url)
    upgrade(engine)
    window = Window(date(2026, 3, 1), date(2026, 4, 30))
    with engine.begin() as conn:
        store(conn, tenant="acme", run_id="scheduled__2026-05-01", started_at=datetime(2026, 5, 1, 5, 30, tzinfo=UTC),
              window=window, reads=[SourceRead("awork", "staging", "fresh"), SourceRead("personio", "source", "stale")],
              result=build_result(pairs(), window))
        conn.execute(timesheet_files.insert().values(
            tenant="acme", run_id="timesheet__x", name="kaputt.csv", path="/x", status="refused",
            error="kaputt.csv is not a timesheet: none of its first 20 rows ...", received_at=datetime.now(UTC)))
    plugin = load_plugin()
    from hq_sync.airflow import hooks

    monkeypatch.setattr(hooks, "_shared_engine", None)  # the plugin's engine: this test's staging database
    monkeypatch.setattr(plugin, "_ui_base", lambda: "")
    fastapi_app = plugin.create_app()
    fastapi_app.dependency_overrides[plugin.require_dag_reader] = lambda: "reader"
    fastapi_app.dependency_overrides[plugin.require_dag_runner] = lambda: "runner"
    with TestClient(fastapi_app) as client:
        client.engine = engine
        client.inbox = tmp_path / "inbox"
        yield client
    engine.dispose()


def test_the_status_page_has_an_audit_table_per_tenant(app):
    from hq_sync.ops.audit_status import audit_section

    html = audit_section(app.engine, base="/hq-sync")
    assert 'data-audit-tenant="acme" data-status="drift"' in html
    assert 'data-audit-tenant="beta" data-status="none"' in html and "no audit yet" in html
    row = html.split('data-audit-tenant="acme"')[1].split("</tr>")[0]
    assert '<td class="n" data-field="unexplained"><b>2</b></td>' in row
    assert '<td class="n" data-field="explained"' in row and ">1</td>" in row  # the held-back entry
    assert 'data-field="hours">7.5 / 5' in row and 'data-field="absence_days">3 / 0' in row
    assert "/hq-sync/status/audit?tenant=acme" in row and "/hq-sync/status/audit.xlsx?tenant=acme" in row
    assert "/hq-sync/timesheets" in html


def test_drill_down_lists_the_differing_records(app):
    page = app.get("/status/audit", params={"tenant": "acme"}).text
    assert page.count("<tr data-explanation=") == 3
    assert 'data-explanation="unexplained" data-hq-ref="1000002" data-source-ref="e2"' in page
    assert "HQ reporting 1000002 was changed in HQ by ben" in page and "ben@acme.example" in page
    only = app.get("/status/audit", params={"tenant": "acme", "explanation": "quarantine"}).text
    assert only.count("<tr data-explanation=") == 1 and "carla is no HQ user" in only
    body = app.get("/status/audit.json", params={"tenant": "acme"}).json()
    assert body["audit"]["status"] == "drift" and body["audit"]["sources"]["personio"]["mode"] == "source"
    assert {(d["hq_ref"], d["reason"]) for d in body["differences"]} == {
        ("1000002", "changed_in_hq"), (None, "unknown_email"), ("200001", "deleted_in_hq")}


def test_exports_open_in_a_spreadsheet(app):
    resp = app.get("/status/audit.csv", params={"tenant": "acme"})
    assert resp.status_code == 200 and "attachment" in resp.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(resp.content), sep=";", decimal=",", encoding="utf-8-sig")
    assert len(table) == 3 and set(table["Erklärung"]) == {"unexplained", "quarantine"}
    assert table.loc[table["HQ-Id"] == 1000002.0, "HQ"].item() == 3.0
    cells = pd.read_csv(io.BytesIO(app.get("/status/audit.csv", params={"tenant": "acme", "table": "cells"}).content),
                        sep=";", decimal=",", encoding="utf-8-sig")
    web = cells[cells["Projekt / Abwesenheitstyp"] == "Website"].iloc[0]
    assert (web["Quelle"], web["HQ"], web["Differenz erklärt"], web["Differenz unerklärt"]) == (7.5, 5.0, -4.0, 1.5)
    book = pd.read_excel(io.BytesIO(app.get("/status/audit.xlsx", params={"tenant": "acme"}).content), sheet_name=None)
    assert set(book) == {"Übersicht", "Stunden", "Abwesenheitstage", "Abweichungen"}
    assert len(book["Abweichungen"]) == 3 and book["Abwesenheitstage"]["Differenz unerklärt"].tolist() == [-3.0]
    assert app.get("/status/audit.csv", params={"tenant": "beta"}).status_code == 404


def test_timesheet_upload_drops_the_file_into_the_tenants_folder(app):
    resp = app.post("/timesheets/upload", data={"tenant": "acme"}, headers={"Accept": "application/json"},
                    files={"file": ("maerz.csv", b"Datum;Projekt;Dauer\n02.03.2026;App;1\n", "text/csv")})
    assert resp.status_code == 201, resp.text
    assert (app.inbox / "maerz.csv").read_bytes().startswith(b"Datum;")
    assert not [p for p in app.inbox.iterdir() if p.name.endswith(".part")]
    # Too large for the tenant's limit (10 kB here): refused, nothing written.
    big = app.post("/timesheets/upload", data={"tenant": "acme"}, headers={"Accept": "application/json"},
                   files={"file": ("gross.csv", b"x" * 20_000, "text/csv")})
    assert big.status_code == 413 and "larger than 0.01 MB" in big.json()["detail"]
    assert not (app.inbox / "gross.csv").exists()
    assert app.post("/timesheets/upload", data={"tenant": "beta"}, files={"file": ("a.csv", b"x")},
                    headers={"Accept": "application/json"}).status_code == 404
    foreign = app.post("/timesheets/upload", data={"tenant": "acme"}, files={"file": ("a.csv", b"x")},
                       headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    # A browser form is sent back to the page, which lists the files and the refusal reason.
    form = app.post("/timesheets/upload", data={"tenant": "acme"}, files={"file": ("april.csv", b"Datum;Projekt;Dauer\n")},
                    follow_redirects=False)
    assert form.status_code == 303 and "uploaded=april.csv" in form.headers["location"]
    page = app.get("/timesheets", params={"uploaded": "april.csv"}).text
    assert 'data-upload="acme"' in page and 'data-file="kaputt.csv" data-status="refused"' in page
    assert "is not a timesheet" in page and "april.csv uploaded" in page and "beta" not in page.split("<h2")[-1]


def test_the_new_endpoints_need_an_airflow_session(seeded_world: World) -> None:
    for method, path in (("GET", "/hq-sync/status/audit?tenant=acme"), ("GET", "/hq-sync/status/audit.xlsx?tenant=acme"),
                         ("GET", "/hq-sync/timesheets"), ("POST", "/hq-sync/timesheets/upload")):
        resp = requests.request(method, seeded_world.url + path, headers={"Accept": "application/json"}, timeout=10,
                                allow_redirects=False)
        assert resp.status_code == 401, (path, resp.status_code)
    token = seeded_world.token()
    page = requests.get(seeded_world.url + "/hq-sync/status", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    assert 'id="audit-table"' in page and 'data-audit-tenant="acme"' in page
