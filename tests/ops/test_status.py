"""Status assembly and rendering without a running Airflow (a fake REST reader)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hq_sync.ops.status import build_status
from hq_sync.ops.status_html import render_status
from hq_sync.staging import create_staging_engine
from tests.ops.harness import write_tenants
from tests.plugins.seed import EXPECTED_COUNTS, seed


class FakeAirflow:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def dags(self) -> list[dict[str, Any]]:
        if self.fail:
            raise ConnectionError("api-server unreachable")
        return [{"dag_id": "personio_absences__acme", "is_paused": False, "next_dagrun_run_after": "2026-11-27T12:00:00Z"},
                {"dag_id": "personio_absences__beta", "is_paused": True, "next_dagrun_run_after": "2026-11-27T12:00:00Z"}]

    def dag_runs(self, dag_id: str, **params: Any) -> list[dict[str, Any]]:
        if self.fail:
            raise ConnectionError("api-server unreachable")
        from tests.plugins.seed import OLD_RUN, PERSONIO_RUN

        runs = {"personio_absences__acme": [
            {"dag_run_id": "manual__failed", "state": "failed", "duration": 30.0,
             "end_date": datetime.now(UTC).isoformat()},  # after the seeded runs
            {"dag_run_id": PERSONIO_RUN, "state": "success", "duration": 95.0, "end_date": "2026-11-27T00:01:35Z"},
            {"dag_run_id": OLD_RUN, "state": "success", "duration": 80.0, "end_date": "2026-11-26T00:01:20Z"}]}
        return runs.get(dag_id, [])

    def latest_runs(self, dag_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {"personio_absences__beta": {
            "dag_id": "personio_absences__beta", "dag_run_id": "manual__x", "state": "failed", "run_type": "manual",
            "run_after": "2026-11-27T09:00:00Z", "start_date": "2026-11-27T09:00:01Z", "end_date": "2026-11-27T09:02:00Z",
            "duration": 119.0}}


@pytest.fixture
def staging(tmp_path: Path) -> tuple[Any, Path]:
    url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    seed(url)
    write_tenants(tmp_path / "tenants")
    return create_staging_engine(url), tmp_path / "tenants"


def test_status_combines_files_staging_and_airflow(staging: tuple[Any, Path]) -> None:
    engine, tenants = staging
    report = build_status(engine, FakeAirflow(), tenants_dir=tenants, ui_base="/airflow")
    by_key = {(s.tenant, s.source): s for s in report.sources()}
    for key, counts in EXPECTED_COUNTS.items():
        assert by_key[key].counts == counts
    beta = by_key[("beta", "personio")]
    assert beta.paused is True and beta.next_run is None  # paused: no next run shown
    assert beta.last_run.state == "failed" and beta.last_run.grid_url == "/airflow/dags/personio_absences__beta/runs/manual__x"
    assert beta.needs_attention and not by_key[("delta", "awork")].in_airflow
    totals = report.totals()
    assert totals["failed_last_run"] == 1 and totals["config_errors"] == 1
    html = render_status(report, base="/hq-sync", ui_base="/airflow")
    assert 'href="/airflow/dags/personio_absences__beta/runs/manual__x"' in html and "1m 59s" in html
    assert "not in Airflow (yet)" in html


def test_airflow_failure_keeps_the_staging_data(staging: tuple[Any, Path]) -> None:
    engine, tenants = staging
    report = build_status(engine, FakeAirflow(fail=True), tenants_dir=tenants, now=datetime.now(UTC))
    assert "api-server unreachable" in report.airflow_error
    assert {(s.tenant, s.source): s.counts for s in report.sources()}[("acme", "awork")] == EXPECTED_COUNTS[("acme", "awork")]
    assert 'id="airflow-error"' in render_status(report)


def test_up_for_retry_and_failures_show_their_reason(staging: tuple[Any, Path]) -> None:
    """Issue 15: a run whose task is up for retry says so, with the reason and the earliest next
    try; a failed run says why it failed; a note of an older run is not shown."""
    from datetime import timedelta

    from hq_sync.staging.run_control import NoteKind, write_note

    engine, tenants = staging
    retry_at = datetime.now(UTC) + timedelta(minutes=4)
    write_note(engine, tenant="acme", source="personio", dag_id="personio_absences__acme", run_id="scheduled__y",
               task_id="extract", kind=NoteKind.RETRY, reason="personio GET /v2/persons: ConnectionError after 6 attempts",
               try_number=2, max_tries=4, retry_at=retry_at)
    write_note(engine, tenant="beta", source="personio", dag_id="personio_absences__beta", run_id="manual__x",
               task_id="extract", kind=NoteKind.FAILED,
               reason="credentials refused: Personio rejected the client credentials (401: Invalid client credentials.)")
    write_note(engine, tenant="acme", source="awork", dag_id="awork_times__acme", run_id="old__run",
               task_id="load", kind=NoteKind.RETRY, reason="hq POST /Reportings -> 503")

    class Airflow(FakeAirflow):
        def latest_runs(self, dag_ids: list[str]) -> dict[str, dict[str, Any]]:
            runs = super().latest_runs(dag_ids)
            runs["personio_absences__acme"] = {
                "dag_id": "personio_absences__acme", "dag_run_id": "scheduled__y", "state": "running",
                "run_type": "scheduled", "run_after": "2026-11-27T09:00:00Z", "start_date": "2026-11-27T09:00:01Z",
                "end_date": None, "duration": None}
            runs["awork_times__acme"] = {**runs["personio_absences__acme"], "dag_id": "awork_times__acme",
                                         "dag_run_id": "newer__run"}
            return runs

        def dags(self) -> list[dict[str, Any]]:
            return [*super().dags(), {"dag_id": "awork_times__acme", "is_paused": False}]

    report = build_status(engine, Airflow(), tenants_dir=tenants)
    by_key = {(s.tenant, s.source): s for s in report.sources()}
    acme = by_key[("acme", "personio")]
    assert acme.last_run.state == "running" and acme.run_note.label == "up for retry" and acme.needs_attention
    assert report.totals()["up_for_retry"] == 1
    assert by_key[("acme", "awork")].run_note is None  # the note belongs to an older run
    data = report.as_dict()
    [acme_json] = [s for t in data["tenants"] if t["id"] == "acme" for s in t["sources"] if s["source"] == "personio"]
    assert acme_json["run_note"]["kind"] == "retry" and acme_json["run_note"]["try_number"] == 2
    assert acme_json["run_note"]["reason"].startswith("personio GET /v2/persons") and acme_json["run_note"]["retry_at"]
    html = render_status(report)
    assert "up for retry</b> (extract, try 2 of 4): personio GET /v2/persons: ConnectionError after 6 attempts" in html
    assert "credentials refused: Personio rejected the client credentials" in html


def test_a_broken_tenant_file_keeps_its_rows_and_says_how_it_syncs(staging: tuple[Any, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: last data, the error, and "running on the last valid configuration from <time>"."""
    import shutil

    engine, tenants = staging
    monkeypatch.setenv("HQ_SYNC_LAST_VALID_DIR", str(tmp_path / "store"))
    build_status(engine, FakeAirflow(), tenants_dir=tenants)  # acme is valid: its copy is stored
    (tenants / "acme.yaml").write_text((tenants / "acme.yaml").read_text() + "\nunknown_field: 1\n")

    report = build_status(engine, FakeAirflow(), tenants_dir=tenants)
    [acme] = [t for t in report.tenants if t.id == "acme"]
    assert [s.source for s in acme.sources] == ["personio", "awork"] and acme.sources[0].counts == EXPECTED_COUNTS[("acme", "personio")]
    assert acme.config_error is not None and acme.config_error.last_valid_from is not None
    assert acme.config_error.problems[0]["field"] == "unknown_field"
    assert {e.file: e.last_valid_from is not None for e in report.config_errors} == {"acme.yaml": True, "gamma.yaml": False}
    assert report.as_dict()["tenants"][0]["config_error"]["last_valid_from"].endswith("Z")
    html = render_status(report, base="/hq-sync")
    assert html.count("running on the last valid configuration from") == 3  # its two rows and the broken-files table

    shutil.rmtree(tmp_path / "store")  # no copy: the tenant does not sync, but its rows and data stay
    report = build_status(engine, FakeAirflow(), tenants_dir=tenants)
    [acme] = [t for t in report.tenants if t.id == "acme"]
    assert [s.source for s in acme.sources] == ["personio", "awork"] and acme.sources[1].held_back == 14
    assert acme.config_error is not None and acme.config_error.last_valid_from is None
    assert "not syncing: no last valid configuration" in render_status(report, base="/hq-sync")


def test_charts_per_source_from_staging_and_airflow(staging: tuple[Any, Path]) -> None:
    """Issue 15: written / held back per run, duration, freshness against the schedule, backlog and its age."""
    from hq_sync.ops.status import charts_data
    from hq_sync.ops.status_html import render_charts
    from tests.plugins.seed import OLD_RUN, PERSONIO_RUN

    engine, tenants = staging
    data = charts_data(engine, FakeAirflow(), "acme", tenants_dir=tenants)
    personio, awork = data["histories"]
    assert (personio.source, awork.source) == ("personio", "awork")
    runs = {p.run_id: p for p in personio.runs}
    assert [p.run_id for p in personio.runs][-1] == "manual__failed"  # oldest first; a run without report too
    assert (runs[PERSONIO_RUN].written, runs[PERSONIO_RUN].held_back, runs[PERSONIO_RUN].duration_s) == (8, 3, 95.0)
    assert runs[OLD_RUN].written == 198 and runs["manual__failed"].written is None and runs["manual__failed"].state == "failed"
    assert personio.freshness.interval_s == 3 * 3600  # "0 */3 * * *"
    assert personio.backlog_now == 3 and personio.backlog_age_days == pytest.approx(10, abs=0.1)
    assert awork.backlog_now == 14  # held back only: the 2 warnings are not backlog
    html = render_charts(data["histories"], tenant="acme", display_name="ACME", runs=30, days=None, base="/hq-sync")
    for name in ("records", "duration", "freshness", "backlog"):
        assert html.count(f'data-chart="{name}"') == 2
    assert 'data-series="held_back" data-value="3"' in html and 'data-series="duration" data-value="95"' in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from elsewhere
    failing = charts_data(engine, FakeAirflow(fail=True), "acme", "personio", tenants_dir=tenants)["histories"]
    assert [h.source for h in failing] == ["personio"] and "unreachable" in failing[0].airflow_error
    assert failing[0].runs[-1].duration_s is None and failing[0].runs[-1].written == 8
