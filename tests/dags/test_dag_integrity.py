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
            if source == "hq_to_awork":
                continue  # test_hq_to_awork_dags
            dag = bag.dags[tenant.dag_id(source)]
            cfg = tenant.source(source)
            if cfg.webhooks.enabled:  # issue #14: the polling cron or the tenant's webhook asset
                assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
                assert dag.timetable.timetable.expression == cfg.effective_schedule
            else:
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


def test_personio_dags_run_every_three_hours(bag):
    """B2 — unless webhooks are on: then polling is the safety net and may be relaxed (issue #14)."""
    tenants = {t.id: t for t in load_tenants(REPO_ROOT / "include" / "tenants").tenants}
    for dag_id in bag.dag_ids:
        if dag_id.startswith("personio_absences__"):
            cfg = tenants[dag_id.split("__", 1)[1]].sources.personio
            timetable = bag.dags[dag_id].timetable
            if cfg.webhooks.enabled:
                assert timetable.timetable.expression == cfg.effective_schedule
            else:
                assert timetable.expression == "0 */3 * * *"


def test_with_webhooks_a_dag_runs_on_its_polling_cron_or_its_webhook_asset(tmp_path):
    tenant = yaml.safe_load((REPO_ROOT / "include/tenants/nordlicht-digital.yaml").read_text())
    tenant["sources"]["personio"]["webhooks"] = {"enabled": True, "polling_schedule": "0 6,18 * * *"}
    (tmp_path / "nordlicht-digital.yaml").write_text(yaml.safe_dump(tenant))
    bag = dagbag(tmp_path)
    assert bag.import_errors == {}
    personio, awork = bag.dags["personio_absences__nordlicht-digital"], bag.dags["awork_times__nordlicht-digital"]
    assert type(personio.timetable).__name__ == "AssetOrTimeSchedule"
    assert personio.timetable.timetable.expression == "0 6,18 * * *"
    asset = personio.timetable.asset_condition
    assert (asset.name, asset.uri) == ("hq_sync_webhooks__nordlicht-digital__personio",
                                       "hq-sync://webhooks/nordlicht-digital/personio")
    assert personio.params["run_mode"] == "auto" and "Webhooks:** on" in personio.doc_md
    assert type(awork.timetable).__name__ == "CronDataIntervalTimetable" and "run_mode" not in awork.params


def test_an_asset_triggered_run_reads_what_the_events_name_unless_told_otherwise():
    from hq_sync.airflow.tasks import run_mode
    from hq_sync.pipelines.context import RunMode

    assert run_mode({"run_mode": "auto"}, "asset_triggered") is RunMode.EVENTS
    assert run_mode({}, "scheduled") is RunMode.FULL and run_mode({"run_mode": "auto"}, "manual") is RunMode.FULL
    assert run_mode({"run_mode": "full"}, "asset_triggered") is RunMode.FULL
    assert run_mode({"run_mode": "events"}, "manual") is RunMode.EVENTS


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
