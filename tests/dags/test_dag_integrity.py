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
        # Run options are configuration keys named in the doc (declared Params cost every parse).
        assert not offer.params and '"offer_number"' in offer.doc_md and '"awork_project"' in offer.doc_md
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
                "acquire_run_lock", "extract", "reconcile_deletions", "transform", "load", "report", "release_run_lock",
            ]
            # issue 15: one run per tenant and source; the lock is released also after a failure
            assert dag.get_task("acquire_run_lock").mode == "reschedule" and dag.get_task("acquire_run_lock").is_setup
            assert dag.get_task("release_run_lock").is_teardown
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
            # run options are configuration keys named in the doc (no Params: issue #11's parse cost)
            assert not audit.params and '{"month": "YYYY-MM"}' in audit.doc_md and "docs/audit.md" in audit.doc_md
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
        assert not importer.params and '{"file": ' in importer.doc_md and '"include_waiting": true' in inbox.doc_md


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
    # run_mode is a configuration key named in the doc (no Params: issue #11's parse cost)
    assert "Webhooks:** on" in personio.doc_md and '{"run_mode": "full"}' in personio.doc_md
    assert type(awork.timetable).__name__ == "CronDataIntervalTimetable" and "run_mode" not in awork.doc_md


def test_an_asset_triggered_run_reads_what_the_events_name_unless_told_otherwise():
    from hq_sync.airflow.tasks import run_mode
    from hq_sync.errors import NotRetryable
    from hq_sync.run import RunMode

    assert run_mode({"run_mode": "auto"}, "asset_triggered") is RunMode.EVENTS
    assert run_mode({}, "scheduled") is RunMode.FULL and run_mode({"run_mode": "auto"}, "manual") is RunMode.FULL
    assert run_mode({"run_mode": "full"}, "asset_triggered") is RunMode.FULL
    assert run_mode({"run_mode": "events"}, "manual") is RunMode.EVENTS
    with pytest.raises(NotRetryable, match="run_mode must be auto, events or full"):
        run_mode({"run_mode": "fast"}, "manual")


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


def test_a_broken_file_with_a_last_valid_copy_keeps_its_dags(tmp_path, monkeypatch):
    """Issue 15: the tenant keeps syncing on its last valid configuration, and its DAGs say so."""
    monkeypatch.setenv("HQ_SYNC_LAST_VALID_DIR", str(tmp_path / "store"))
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    shutil.copy(REPO_ROOT / "include/tenants/nordlicht-digital.yaml", tenants)
    before = build_dags(tenants)  # valid: parsed, and its copy stored
    bad = yaml.safe_load((tenants / "nordlicht-digital.yaml").read_text())
    bad["sources"]["personio"]["schedule"] = "every three hours"
    (tenants / "nordlicht-digital.yaml").write_text(yaml.safe_dump(bad))

    after = build_dags(tenants)
    assert set(after) == set(before)  # the same DAGs, no tenant_config_error DAG
    dag = after["personio_absences__nordlicht-digital"]
    assert dag.timetable.expression == before["personio_absences__nordlicht-digital"].timetable.expression  # the old schedule
    assert "config:last-valid" in dag.tags and "config-error" in dag.tags
    assert "running on the last valid configuration from" in dag.doc_md and "sources.personio.schedule" in dag.doc_md
    # A task run parses only its own DAG, from the same copy.
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "personio_absences__nordlicht-digital")
    assert list(build_dags(tenants)) == ["personio_absences__nordlicht-digital"]
    from hq_sync.airflow.tasks import load_tenant

    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", str(tenants))
    assert load_tenant("nordlicht-digital").sources.personio.schedule != "every three hours"


# -- parsing at scale (issue #11): kinds, shards, isolation ---------------------------------------
def test_every_dag_id_prefix_is_a_kind_and_maps_back_to_its_tenant():
    from hq_sync.airflow.dag_factory import DAG_KINDS, tenant_of_dag_id
    from hq_sync.config import DAG_ID_PREFIX, dag_id_for

    assert {k.name for k in DAG_KINDS} == set(DAG_ID_PREFIX)
    for kind in DAG_KINDS:
        assert tenant_of_dag_id(dag_id_for(kind.name, "some-tenant")) == "some-tenant"
    assert tenant_of_dag_id("tenant_config_error__some-tenant") == "some-tenant"
    assert tenant_of_dag_id("example_bash_operator") is None


def test_one_dag_file_per_shard_and_each_tenant_in_its_own_shard(tmp_path):
    from hq_sync.airflow.dag_factory import SHARDS, shard_of

    files = sorted(p.name for p in DAGS_DIR.glob("*.py"))
    assert files == sorted([*(f"hq_sync_tenants_{n}.py" for n in range(SHARDS)), "hq_sync_preload.py"])
    for n in range(SHARDS):
        assert f"build_dags(shard={n})" in (DAGS_DIR / f"hq_sync_tenants_{n}.py").read_text()
    template = yaml.safe_load((REPO_ROOT / "include/tenants/muster-agentur.yaml").read_text())
    ids = [f"agency-{i:02d}" for i in range(24)]
    for tenant_id in ids:
        (tmp_path / f"{tenant_id}.yaml").write_text(yaml.safe_dump({**template, "id": tenant_id}))
    assert len({shard_of(t) for t in ids}) > SHARDS // 2  # spread, not all in one file
    from hq_sync.airflow.dag_factory import DAG_KINDS
    from hq_sync.config import parse_tenant_file

    per_tenant = sum(1 for kind in DAG_KINDS if kind.enabled(parse_tenant_file(tmp_path / f"{ids[0]}.yaml")))
    bag = dagbag(tmp_path)
    assert bag.import_errors == {}
    assert len(bag.dag_ids) == per_tenant * len(ids) >= 4 * len(ids)
    for dag_id, dag in bag.dags.items():
        tenant = dag_id.split("__", 1)[1]
        assert Path(dag.fileloc).name == f"hq_sync_tenants_{shard_of(tenant)}.py", dag_id


def test_a_task_parse_of_another_shard_builds_nothing(tmp_path, monkeypatch):
    from hq_sync.airflow.dag_factory import SHARDS, shard_of

    shutil.copy(REPO_ROOT / "include/tenants/muster-agentur.yaml", tmp_path)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "hq_offer_to_awork__muster-agentur")
    home = shard_of("muster-agentur")
    assert list(build_dags(tmp_path, shard=home)) == ["hq_offer_to_awork__muster-agentur"]
    assert build_dags(tmp_path, shard=(home + 1) % SHARDS) == {}


def _two_tenants_and(tmp_path: Path, name: str, content: str) -> None:
    shutil.copy(REPO_ROOT / "include/tenants/muster-agentur.yaml", tmp_path)
    shutil.copy(REPO_ROOT / "include/tenants/nordlicht-digital.yaml", tmp_path)
    (tmp_path / name).write_text(content)


def test_an_alias_bomb_tenant_file_is_refused_fast_and_hides_no_one(tmp_path):
    import time

    lines = ["id: bomb", "display_name: Bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values expanded
    _two_tenants_and(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    started = time.perf_counter()
    dags = build_dags(tmp_path)
    assert time.perf_counter() - started < 5
    assert {"awork_times__muster-agentur", "personio_absences__nordlicht-digital"} <= set(dags)
    assert "more than 20000 values" in dags["tenant_config_error__bomb"].doc_md


def test_an_oversized_tenant_file_is_its_own_error(tmp_path):
    _two_tenants_and(tmp_path, "huge.yaml", "id: huge\ndisplay_name: Huge\n# " + "x" * 300_000 + "\n")
    dags = build_dags(tmp_path)
    assert "awork_times__nordlicht-digital" in dags
    assert "a tenant file may hold at most" in dags["tenant_config_error__huge"].doc_md


def test_a_tenant_whose_dag_fails_to_build_hides_no_one(tmp_path, monkeypatch):
    from hq_sync.airflow import dag_factory

    shutil.copy(REPO_ROOT / "include/tenants/muster-agentur.yaml", tmp_path)
    shutil.copy(REPO_ROOT / "include/tenants/nordlicht-digital.yaml", tmp_path)
    real = dag_factory.build_source_dag

    def fragile(tenant, source):  # a builder bug that only one tenant's settings trigger
        if tenant.id == "nordlicht-digital" and source == "awork":
            raise KeyError("phase_mode")
        return real(tenant, source)

    kinds = tuple(
        dag_factory.DagKind(k.name, k.enabled, (lambda t, s=k.name: fragile(t, s)))
        if k.name in ("personio", "awork") else k
        for k in dag_factory.DAG_KINDS
    )
    monkeypatch.setattr(dag_factory, "DAG_KINDS", kinds)
    dags = build_dags(tmp_path)
    assert {"awork_times__muster-agentur", "personio_absences__nordlicht-digital"} <= set(dags)
    assert "awork_times__nordlicht-digital" not in dags
    error = dags["tenant_config_error__nordlicht-digital"]
    assert "awork_times__nordlicht-digital" in error.doc_md and "KeyError" in error.doc_md
    # The error DAG's own task run rebuilds it (its parse needs every kind of that tenant).
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "tenant_config_error__nordlicht-digital")
    assert list(build_dags(tmp_path)) == ["tenant_config_error__nordlicht-digital"]


def test_parsing_imports_no_clients_staging_or_pipelines():
    import subprocess
    import sys

    code = (
        "import sys, airflow.sdk\nfrom pathlib import Path\n"
        "from airflow.providers.standard.operators.python import PythonOperator\n"
        "before = set(sys.modules)\n"
        "from hq_sync.airflow.dag_factory import build_dags\n"
        f"build_dags(Path({str(REPO_ROOT / 'include' / 'tenants')!r}))\n"
        "new = {m for m in set(sys.modules) - before if m.startswith(('hq_sync', 'alembic', 'requests'))}\n"
        "print(sorted(new))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own printed list
    heavy = [m for m in loaded if m.startswith(("alembic", "requests", "hq_sync.clients", "hq_sync.staging",
                                                "hq_sync.airflow.tasks", "hq_sync.airflow.hooks"))]
    assert heavy == []


def test_the_dag_processor_pre_imports_the_trigger_operator_and_a_task_parse_does_not():
    """issue #11: the module of ``TriggerDagRunOperator`` (Airflow's ORM models) is named at the top of
    ``hq_sync_preload.py``, which the DAG processor's manager pre-imports before it forks parsers and
    keeps; the shard files do not name it, so a task's own parse imports it only for the DAG that
    uses it."""
    from airflow.utils.file import iter_airflow_imports, might_contain_dag_via_default_heuristic

    trigger = "airflow.providers.standard.operators.trigger_dagrun"
    preload = DAGS_DIR / "hq_sync_preload.py"
    assert might_contain_dag_via_default_heuristic(str(preload))  # listed for parsing (safe mode)
    assert trigger in set(iter_airflow_imports(str(preload)))
    for shard in DAGS_DIR.glob("hq_sync_tenants_*.py"):
        assert trigger not in set(iter_airflow_imports(str(shard))), shard.name
