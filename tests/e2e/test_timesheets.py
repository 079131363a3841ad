"""Timesheets → HQ reportings end to end (C1): files, HQ sandbox over HTTP, real staging.

Most imports run the library's steps in process (``import_file``: the same functions the tasks
call); one import and the dispatcher run as real DAG runs (``dag.test()``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa

from hq_sync.airflow.hooks import ConnectionClients
from hq_sync.config import load_tenants
from hq_sync.pipelines import RunContext
from hq_sync.pipelines.timesheets import import_file
from hq_sync.staging import create_staging_engine, ensure_schema
from hq_sync.timesheets.reader import TimesheetRefused
from sandboxes.hq.seed import seed_tenant as seed_hq
from tests.e2e.conftest import TENANT

BERLIN = ZoneInfo("Europe/Berlin")
ANNA, BEN, CLARA = "anna@acme.example", "ben@acme.example", "clara@acme.example"

HQ = {
    "sync_token": "hq-acme-sync",
    "users": [{"name": "Anna Berg", "email": ANNA}, {"name": "Ben Kurz", "email": BEN},
              {"name": "Clara Kurz", "email": CLARA}, {"name": "Clara Kurz", "email": "clara2@acme.example"}],
    "task_types": ["Konzeption", "Design"],
    "project_roles": ["Projektleitung"],
    "project_statuses": [{"name": "Laufend", "in_progress": True}],
    "project_templates": [{"name": "Kundenprojekt", "statuses": ["Laufend"]}],
    "company_types": ["Kunde"],
    "companies": [{"name": "Kunde GmbH", "types": ["Kunde"]}],
    "projects": [
        {"name": "Website Relaunch", "number": "1001", "company": "Kunde GmbH",
         "phases": [{"name": "Konzeption", "tasks": [{"name": "Wireframes", "task_type": "Konzeption"}]},
                    {"name": "Allgemein", "tasks": [{"name": "Sonstiges"}]}]},
        {"name": "App", "number": "1002", "company": "Kunde GmbH",
         "phases": [{"name": "Allgemein", "tasks": [{"name": "Sonstiges"}, {"name": "Screens", "task_type": "Design"}]}]},
    ],
}
HEADER = ["Datum", "Projekt", "Dauer", "Kommentar", "E-Mail", "Mitarbeiter", "Aufgabe"]


def tenant_file(folder: Path, **timesheets) -> dict:
    return {"id": TENANT, "display_name": "ACME", "timezone": "Europe/Berlin",
            "sources": {"timesheets": {"folder": str(folder), "default_task": "Allgemein/Sonstiges", **timesheets}}}


@pytest.fixture
def sheet_world(world, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    world.write_tenant(tenant_file(folder))
    seed_hq(world.sandboxes.url("hq"), TENANT, HQ)
    world.folder = folder
    return world


def xlsx(folder: Path, name: str, rows: list[list], title: str | None = "Zeiterfassung") -> Path:
    wb = openpyxl.Workbook()
    if title:
        wb.active.append([title])
    wb.active.append(HEADER)
    for row in rows:
        wb.active.append(row)
    path = folder / "archive" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def csv_file(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / "archive" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


_runs = iter(range(1, 10_000))


def run_import(world, path: Path, name: str | None = None) -> dict:
    """One import in process (the steps the DAG's tasks call), with its own run id."""
    tenant = load_tenants().tenants[0]
    engine = create_staging_engine(world.staging_url)
    ensure_schema(engine)
    ctx = RunContext(tenant=tenant, source="timesheets", dag_id=tenant.dag_id("timesheets"), run_id=f"test__{next(_runs)}",
                     data_interval_start=None, data_interval_end=None, staging=engine,
                     clients=ConnectionClients(tenant, engine), params={"file": str(path), "name": name or path.name})
    try:
        return import_file(ctx)["entities"]["reporting"]
    finally:
        engine.dispose()


def reportings(world) -> list[tuple]:
    users = {u["Id"]: u["EMailWork"] for u in world.hq("Users")["value"]}
    projects = {p["Id"]: p["Name"] for p in world.hq("Projects")["value"]}
    tasks = {t["Id"]: t for t in world.hq("ProjectTasks")["value"]}

    def task(tid):
        if tid is None:
            return None
        t = tasks[tid]
        return f"{tasks[t['ParentId']]['Name']}/{t['Name']}" if t.get("ParentId") else t["Name"]

    return sorted(
        (users[r["UserId"]], projects[r["ProjectId"]], task(r.get("TaskId")),
         datetime.fromisoformat(r["StartOn"].replace("Z", "+00:00")).astimezone(BERLIN).strftime("%Y-%m-%d %H:%M"),
         r["Duration"] / 3600, r.get("Note") or "")
        for r in world.hq("UserReportings")["value"])


def held(world) -> list[tuple]:
    return sorted((q["source_id"], q["reason"]) for q in world.open_quarantine() if q["source"] == "timesheets")


def test_rows_become_reportings_and_unmatched_rows_are_held_back_with_line_and_reason(sheet_world):
    w = sheet_world
    path = xlsx(w.folder, "maerz.xlsx", [
        [date(2026, 3, 2), "Website Relaunch", time(1, 30), "Wireframes v1", ANNA.upper(), None, "Konzeption/Wireframes"],
        [datetime(2026, 3, 2), "1002 - App", "2,25", "Screens", None, "Ben Kurz", "Screens"],      # number prefix, name, German comma
        ["03.03.2026", "App", "0:45", None, None, "kurz, ben", None],                             # "Last, First"; default task
        ["03.03.2026", "Website Relaunch", 1, "Abstimmung", ANNA, None, "Gibt es nicht"],          # unknown task → default task
        ["04.03.2026", "Website Relaunch", 2, "wer?", "nobody@acme.example", None, None],          # unknown person
        ["04.03.2026", "Unbekannt", 2, "x", ANNA, None, None],                                     # unknown project
        ["31.02.2026", "App", 1, "x", ANNA, None, None],                                          # not a date
        ["05.03.2026", "App", 1, "x", None, "Clara Kurz", None],                                   # two HQ users of that name
        [None, None, 5.5, "Summe", None, None, None],                                             # a total line
    ])
    counts = run_import(w, path)
    assert reportings(w) == [
        (ANNA, "Website Relaunch", "Allgemein/Sonstiges", "2026-03-03 00:00", 1.0, "Abstimmung"),
        (ANNA, "Website Relaunch", "Konzeption/Wireframes", "2026-03-02 00:00", 1.5, "Wireframes v1"),
        (BEN, "App", "Allgemein/Screens", "2026-03-02 00:00", 2.25, "Screens"),
        (BEN, "App", "Allgemein/Sonstiges", "2026-03-03 00:00", 0.75, ""),
    ]
    # Title in row 1, header in row 2: the first booking is Excel row 3.
    assert held(w) == [("maerz.xlsx#10", "person_ambiguous"), ("maerz.xlsx#7", "unknown_person"),
                       ("maerz.xlsx#8", "project_unmatched"), ("maerz.xlsx#9", "invalid_date")]
    detail = {q["source_id"]: q["detail"] for q in w.open_quarantine()}
    assert "line 7: no HQ user has the e-mail or name 'nobody@acme.example'" in detail["maerz.xlsx#7"]
    assert "line 9: date '31.02.2026' matches none of the formats" in detail["maerz.xlsx#9"]
    assert counts["created"] == 4 and counts["quarantined"] == 4
    assert counts["details"]["reported"] == {"task_fallback_default": 1, "total_or_note_lines": 1}


@pytest.mark.parametrize("world", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_reimport_and_overlap_book_nothing_twice_a_corrected_file_updates(sheet_world):
    w = sheet_world
    week1 = "Datum;Projekt;Dauer;Kommentar;E-Mail\n" \
            "02.03.2026;Website Relaunch;1,5;Konzept;anna@acme.example\n" \
            "02.03.2026;Website Relaunch;1,5;Konzept;anna@acme.example\n" \
            "03.03.2026;App;2;Screens;ben@acme.example\n"
    first = run_import(w, csv_file(w.folder, "woche1.csv", week1, "cp1252"))
    assert first["created"] == 3
    booked = reportings(w)
    mark = w.hq_log_position()

    again = run_import(w, csv_file(w.folder, "woche1-nochmal.csv", week1))  # the same file dropped again
    assert (again["created"], again["updated"], again["deleted"], again["skipped"]) == (0, 0, 0, 3)
    overlap = run_import(w, csv_file(w.folder, "woche1-2.csv", week1 + "09.03.2026;App;3;Neu;anna@acme.example\n"))
    assert (overlap["created"], overlap["skipped"]) == (1, 3)
    assert [r for r in w.hq_writes(mark) if r["method"] != "GET"] and len(w.hq_writes(mark)) == 1  # only the new row
    assert reportings(w) == sorted([*booked, (ANNA, "App", "Allgemein/Sonstiges", "2026-03-09 00:00", 3.0, "Neu")])

    # Corrected: one of Anna's two rows on 2 March is gone, Ben's duration and comment changed.
    corrected = "Datum;Projekt;Dauer;Kommentar;E-Mail\n" \
                "02.03.2026;Website Relaunch;1,5;Konzept;anna@acme.example\n" \
                "03.03.2026;App;2,5;Screens final;ben@acme.example\n"
    fixed = run_import(w, csv_file(w.folder, "woche1-korrigiert.csv", corrected))
    assert (fixed["created"], fixed["updated"], fixed["deleted"]) == (0, 1, 1)
    assert reportings(w) == [
        (ANNA, "App", "Allgemein/Sonstiges", "2026-03-09 00:00", 3.0, "Neu"),  # another day: untouched
        (ANNA, "Website Relaunch", "Allgemein/Sonstiges", "2026-03-02 00:00", 1.5, "Konzept"),
        (BEN, "App", "Allgemein/Sonstiges", "2026-03-03 00:00", 2.5, "Screens final"),
    ]


def test_a_billed_reporting_is_never_changed_by_a_corrected_file(sheet_world):
    w = sheet_world
    run_import(w, csv_file(w.folder, "a.csv", "Datum;Projekt;Dauer;E-Mail\n02.03.2026;App;2;ben@acme.example\n"))
    [rep] = w.hq("UserReportings")["value"]
    w.sandboxes.admin("hq").post(f"/tenants/{TENANT}/invoices", {"reporting_ids": [rep["Id"]]})
    counts = run_import(w, csv_file(w.folder, "b.csv", "Datum;Projekt;Dauer;E-Mail\n02.03.2026;App;3;ben@acme.example\n"))
    assert counts["conflicts"] == 1 and w.hq("UserReportings")["value"][0]["Duration"] == 7200
    assert ("billed_conflict" in {q["reason"] for q in w.open_quarantine()})


@pytest.mark.parametrize(("name", "content", "message"), [
    ("wrong-columns.csv", "Name;Betrag\nx;1\n", "is not a timesheet"),
    ("junk.xlsx", b"PK\x03\x04" + bytes(range(256)) * 20, "is not a readable Excel workbook"),
    ("binary.csv", bytes(range(256)) * 20, "is a binary file"),
])
def test_a_file_that_is_not_a_timesheet_is_refused_and_nothing_is_written(sheet_world, name, content, message):
    w = sheet_world
    path = w.folder / "archive" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    mark = w.hq_log_position()
    with pytest.raises(TimesheetRefused, match=message):
        run_import(w, path)
    assert w.sandboxes.admin("hq").requests(since=mark) == []  # not even a read
    assert message in path.with_name(name + ".refused.txt").read_text()
    engine = sa.create_engine(w.staging_url)
    with engine.connect() as conn:
        status, error, rows = conn.execute(sa.text("SELECT status, error, rows FROM timesheet_files")).one()
        assert (status, rows) == ("refused", None) and message in error
        assert conn.execute(sa.text("SELECT count(*) FROM timesheet_rows")).scalar() == 0
    engine.dispose()


def test_a_50_mb_file_is_refused_by_the_dag_run_unread(sheet_world):
    w = sheet_world
    path = w.folder / "archive" / "riesig.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    mark = w.hq_log_position()
    w.run("timesheets", conf={"file": "archive/riesig.csv"}, expect="failed")
    assert w.sandboxes.admin("hq").requests(since=mark) == []
    assert "riesig.csv is 50.0 MB; timesheets may be at most 10 MB" in path.with_name("riesig.csv.refused.txt").read_text()


def test_a_dropped_file_is_claimed_once_dispatched_and_imported_by_its_own_run(sheet_world):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    from hq_sync.airflow.triggers import TimesheetFolderTrigger

    w = sheet_world
    (w.folder / "anna@acme.example woche.csv").write_text("Datum;Projekt;Dauer\n02.03.2026;App;1\n", encoding="utf-8")
    (w.folder / "ben.csv").write_text("Datum;Projekt;Dauer;E-Mail\n02.03.2026;App;2;ben@acme.example\n", encoding="utf-8")
    (w.folder / "~$ben.xlsx").write_bytes(b"lock")  # Office lock file: never a timesheet
    (w.folder / "halb.csv.part").write_bytes(b"Datum;")  # still being copied

    async def two_events():
        trigger = TimesheetFolderTrigger(directory=str(w.folder), tenant=TENANT, poke_interval=0.05)
        events, stream = [], trigger.run()
        async for event in stream:
            events.append(event.payload)
            if len(events) == 2:
                break
        await stream.aclose()
        return events

    events = asyncio.run(asyncio.wait_for(two_events(), timeout=10))
    assert sorted(e["name"] for e in events) == ["anna@acme.example woche.csv", "ben.csv"]
    assert sorted(p.name for p in w.folder.iterdir() if p.is_file()) == ["halb.csv.part", "~$ben.xlsx"]

    w.run("timesheets_inbox")
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == f"timesheet_import__{TENANT}",
                                            DagRun.run_id.startswith("timesheet__")).all()
        confs = sorted((r.conf or {}).get("name") for r in runs)
        files = [Path(r.conf["file"]) for r in runs]
    assert confs == ["anna@acme.example woche.csv", "ben.csv"]
    assert all(f.is_file() and "archive" in f.parts for f in files)
    assert not any((w.folder / ".queue").iterdir())

    # The import of one dispatched file, as a real DAG run.
    anna = next(r for r in runs if r.conf["name"].startswith("anna"))
    w.run("timesheets", conf=anna.conf)
    assert reportings(w) == [(ANNA, "App", "Allgemein/Sonstiges", "2026-03-02 00:00", 1.0, "")]
