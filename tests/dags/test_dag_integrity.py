"""DAG integrity: every DAG file imports cleanly and every tenant DAG is configured as promised."""

from __future__ import annotations

import os
import shutil
import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from hq_sync.airflow.dag_factory import DEFAULT_POOL_SLOTS, build_dags
from hq_sync.config import load_tenants
from tests.conftest import REPO_ROOT

DAGS_DIR = REPO_ROOT / "dags"


def dagbag(tenants_dir: Path | None = None):
    from airflow.dag_processing.dagbag import DagBag

    previous = os.environ.get("HQ_SYNC_TENANTS_DIR")
    if tenants_dir is not None:
        os.environ["HQ_SYNC_TENANTS_DIR"] = str(tenants_dir)
    try:
        return DagBag(dag_folder=str(DAGS_DIR), known_pools=set(DEFAULT_POOL_SLOTS) | {"default_pool"})
    finally:
        if tenants_dir is not None:
            if previous is None:
                os.environ.pop("HQ_SYNC_TENANTS_DIR")
            else:
                os.environ["HQ_SYNC_TENANTS_DIR"] = previous


@pytest.fixture(scope="module")
def bag():
    return dagbag()


def test_no_import_errors(bag):
    assert bag.import_errors == {}


def expected_dag_ids(tenant) -> set[str]:
    ids = {tenant.dag_id(s) for s in tenant.enabled_sources()}
    if "hq_to_awork" in tenant.enabled_sources():
        ids.add(tenant.dag_id("hq_offer"))  # the manual offers DAG comes with HQ → awork
    if "timesheets" in tenant.enabled_sources():
        ids.add(tenant.dag_id("timesheets_inbox"))  # the asset-triggered dispatcher comes with the import
    if tenant.audited_sources():
        ids.add(tenant.dag_id("audit"))  # the daily drift audit (F2)
    return ids


def test_exactly_one_dag_per_enabled_tenant_and_source(bag):
    tenants = load_tenants(REPO_ROOT / "include" / "tenants").tenants
    expected = set().union(*(expected_dag_ids(t) for t in tenants))
    assert {"personio", "awork", "hq_to_awork"} <= {s for t in tenants for s in t.enabled_sources()}
    assert set(bag.dag_ids) == expected


def test_hq_to_awork_dags(bag):
    for tenant in load_tenants(REPO_ROOT / "include" / "tenants").tenants:
        if "hq_to_awork" not in tenant.enabled_sources():
            continue
        projects = bag.dags[tenant.dag_id("hq_to_awork")]
        assert projects.timetable.expression == tenant.sources.hq_to_awork.schedule
        assert [t.task_id for t in projects.topological_sort()] == ["sync_projects", "report"]
        offer = bag.dags[tenant.dag_id("hq_offer")]
        assert offer.timetable.__class__.__name__ == "NullTimetable"  # triggered by hand
        assert set(offer.params) == {"offer_number", "awork_project"}
        for dag in (projects, offer):
            assert dag.catchup is False and dag.max_active_runs == 1 and dag.doc_md
            assert {t.pool for t in dag.tasks} <= set(DEFAULT_POOL_SLOTS) | {"default_pool"}
            assert all(t.retries >= 2 for t in dag.tasks)


def test_every_tenant_dag_is_configured_as_documented(bag):
    for tenant in load_tenants(REPO_ROOT / "include" / "tenants").tenants:
        for source in tenant.enabled_sources():
            if source in ("hq_to_awork", "timesheets"):
                continue  # test_hq_to_awork_dags, test_timesheet_and_audit_dags
            dag = bag.dags[tenant.dag_id(source)]
            cfg = tenant.source(source)
            assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
            assert dag.timetable.expression == cfg.schedule
            assert dag.start_date == datetime.combine(cfg.sync_start_date, datetime.min.time(), ZoneInfo(tenant.timezone))
            assert dag.catchup is False
            assert dag.max_active_runs == 1
            assert {"hq-sync", f"tenant:{tenant.id}", f"source:{source}"} <= set(dag.tags)
            assert dag.doc_md and "airflow backfill create" in dag.doc_md and tenant.display_name in dag.doc_md
            assert [t.task_id for t in dag.topological_sort()] == [
                "extract", "reconcile_deletions", "transform", "load", "report",
            ]
            for task in dag.tasks:
                assert task.retries >= 2, task.task_id
                assert task.retry_exponential_backoff
                assert task.execution_timeout is not None
                assert task.pool in set(DEFAULT_POOL_SLOTS) | {"default_pool"}
            pools = {t.task_id: t.pool for t in dag.tasks}
            assert pools["extract"] == f"{source}_api" and pools["load"] == "hq_api"


def test_timesheet_and_audit_dags(bag):
    from hq_sync.airflow.triggers import TimesheetFolderTrigger
    from hq_sync.timesheets.files import folder_of

    tenants = load_tenants(REPO_ROOT / "include" / "tenants").tenants
    assert any("timesheets" in t.enabled_sources() for t in tenants), "the demo has a timesheets tenant"
    for tenant in tenants:
        if tenant.audited_sources():
            audit = bag.dags[tenant.dag_id("audit")]
            assert audit.timetable.expression == tenant.audit.schedule and audit.catchup is False
            assert [t.task_id for t in audit.topological_sort()] == ["compare", "verdict"]
            assert set(audit.params) == {"month"} and "docs/audit.md" in audit.doc_md
        if "timesheets" not in tenant.enabled_sources():
            continue
        inbox, importer = bag.dags[tenant.dag_id("timesheets_inbox")], bag.dags[tenant.dag_id("timesheets")]
        [asset] = inbox.timetable.asset_condition.objects  # scheduled on exactly one asset
        assert asset.name == tenant.dag_id("timesheets_inbox") and asset.uri == f"file://{folder_of(tenant).as_posix()}"
        [watcher] = asset.watchers
        assert isinstance(watcher.trigger, TimesheetFolderTrigger) and watcher.trigger.directory == str(folder_of(tenant))
        assert [t.task_id for t in inbox.topological_sort()] == ["dispatch", "start_import"]
        assert importer.timetable.__class__.__name__ == "NullTimetable" and importer.max_active_runs == 1
        assert [t.task_id for t in importer.topological_sort()] == ["read", "transform", "load", "report"]
        assert set(importer.params) == {"file", "name"}


def test_personio_dags_run_every_three_hours(bag):
    for dag_id in bag.dag_ids:
        if dag_id.startswith("personio_absences__"):
            assert bag.dags[dag_id].timetable.expression == "0 */3 * * *"


def test_parsing_touches_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("DAG parsing opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert build_dags(REPO_ROOT / "include" / "tenants")


def test_a_task_run_builds_only_its_own_dag(tmp_path, monkeypatch):
    shutil.copy(REPO_ROOT / "include/tenants/muster-agentur.yaml", tmp_path)
    (tmp_path / "zz-broken.yaml").write_text("id: zz-broken\n")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "awork_times__muster-agentur")
    assert list(build_dags(tmp_path)) == ["awork_times__muster-agentur"]


def test_broken_tenant_file_is_its_own_visible_problem(tmp_path):
    shutil.copy(REPO_ROOT / "include/tenants/muster-agentur.yaml", tmp_path)
    bad = yaml.safe_load((REPO_ROOT / "include/tenants/nordlicht-digital.yaml").read_text())
    bad["sources"]["personio"]["schedule"] = "every three hours"
    (tmp_path / "nordlicht-digital.yaml").write_text(yaml.safe_dump(bad))

    bag = dagbag(tmp_path)
    assert bag.import_errors == {}
    assert {"personio_absences__muster-agentur", "awork_times__muster-agentur"} <= set(bag.dag_ids)
    assert not any(d.endswith("__nordlicht-digital") and not d.startswith("tenant_config_error") for d in bag.dag_ids)
    error_dag = bag.dags["tenant_config_error__nordlicht-digital"]
    assert "nordlicht-digital.yaml" in error_dag.doc_md
    assert "sources.personio.schedule" in error_dag.doc_md
    assert "not a valid cron expression" in error_dag.doc_md
    assert "config-error" in error_dag.tags
    task = error_dag.get_task("explain_config_error")
    with pytest.raises(RuntimeError, match="sources.personio.schedule"):
        task.python_callable(**task.op_kwargs)
