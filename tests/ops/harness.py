"""A real Airflow for the ops and status-page tests, started once for all of them.

``airflow standalone`` (API server with our plugin, scheduler, DAG processor, triggerer) in a temp
AIRFLOW_HOME on a free port, SimpleAuthManager with a known user (standalone creates the metadata
database itself before it starts the components: no separate ``airflow db migrate``).
Tenants come from a temp tenants dir:

- ``acme`` (Personio + awork), ``beta`` (Personio), ``delta`` (awork, paused: backfilled): valid;
- ``echo`` (Personio with webhooks: scheduled on its cron or its webhook asset, unpaused);
- ``gamma``: a broken file (becomes the real factory's ``tenant_config_error__gamma`` DAG).

The tenants' DAGs are built by a small test DAG file with the factory's DAG ids and tags, whose one
task needs the tenant's ``hq_<tenant>`` connection: ``hq_acme`` exists (env), ``hq_beta`` does not,
so beta's runs fail for real until the connection is added (``World.add_connection``). The real
pipelines are tested elsewhere (tests/e2e); here the subject is Airflow's run bookkeeping.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
USER, PASSWORD = "ops", "ops-secret"
ECHO_SECRET = "hqsw_echo_personio_secret"  # tenant echo's Personio webhook secret (its connection)

DAG_FILE = '''
"""Test DAGs with the hq-sync factory's ids and tags; the task needs connection hq_<tenant>."""
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from hq_sync.airflow.dag_factory import build_config_error_dag, source_schedule
from hq_sync.config import load_tenants


def needs_hq_connection(tenant_slug):
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(f"hq_{tenant_slug}")  # fails when the connection is missing
    print(f"hq connection of {tenant_slug}: {conn.host}")


loaded = load_tenants()
tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
for tenant in loaded.tenants:
    for source in tenant.enabled_sources():
        scheduled = source == "awork"  # awork: daily (acme: from tomorrow, so a next run but no run yet)
        backfilled = tenant.id == "delta"  # paused until the backfill command unpauses it
        webhooks = tenant.source(source).webhooks.enabled  # echo: the factory's cron-or-asset schedule (#14)
        with DAG(
            dag_id=tenant.dag_id(source),
            schedule=source_schedule(tenant, source) if webhooks else "0 3 * * *" if scheduled else None,
            start_date=tomorrow if (scheduled or webhooks) and not backfilled else datetime(2026, 1, 1, tzinfo=timezone.utc),
            catchup=False,
            is_paused_upon_creation=backfilled and not webhooks,
            max_active_runs=1,
            default_args={"retries": 0},
            tags=["hq-sync", f"tenant:{tenant.id}", f"source:{source}"],
        ) as dag:
            first = PythonOperator(task_id="extract", python_callable=lambda: None)
            second = PythonOperator(task_id="load", python_callable=needs_hq_connection,
                                    op_kwargs={"tenant_slug": tenant.slug})
            third = PythonOperator(task_id="report", python_callable=lambda: None)
            first >> second >> third
        globals()[dag.dag_id] = dag
for error in loaded.errors:
    dag = build_config_error_dag(error)
    globals()[dag.dag_id] = dag
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tenants(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "acme.yaml").write_text(yaml.safe_dump({
        "id": "acme", "display_name": "ACME Agentur",
        "sources": {"personio": {"sync_start_date": "2026-01-01"}, "awork": {"sync_start_date": "2026-01-01"}},
    }))
    (directory / "beta.yaml").write_text(yaml.safe_dump({
        "id": "beta", "display_name": "Beta Studio", "sources": {"personio": {"sync_start_date": "2026-03-01"}},
    }))
    (directory / "delta.yaml").write_text(yaml.safe_dump({
        "id": "delta", "display_name": "Delta Digital", "sources": {"awork": {"sync_start_date": "2026-01-01"}},
    }))
    (directory / "echo.yaml").write_text(yaml.safe_dump({  # webhooks on (issue #14; tests/plugins/test_webhooks_plugin.py)
        "id": "echo", "display_name": "Echo Events", "sources": {"personio": {
            "sync_start_date": "2026-01-01", "webhooks": {"enabled": True, "polling_schedule": "0 3 * * *"}}},
    }))
    (directory / "gamma.yaml").write_text(yaml.safe_dump({
        "id": "gamma", "display_name": "Gamma GmbH",
        "sources": {"personio": {"sync_start_date": "2026-01-01", "schedule": "every three hours"}},
    }))


@dataclass
class World:
    root: Path
    port: int
    env: dict[str, str]
    staging_url: str
    tenants_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "standalone.log"

    def token(self) -> str:
        resp = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        assert resp.status_code == 201, resp.text
        return resp.json()["access_token"]

    def api(self) -> Any:
        from hq_sync.ops.airflow_api import AirflowApi

        return AirflowApi(self.url, username=USER, password=PASSWORD)

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def ops(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m hq_sync.ops.<module>`` as a data engineer runs it (credentials from env)."""
        env = dict(self.env, HQ_SYNC_AIRFLOW_URL=self.url, HQ_SYNC_AIRFLOW_USERNAME=USER, HQ_SYNC_AIRFLOW_PASSWORD=PASSWORD)
        return subprocess.run([sys.executable, "-m", f"hq_sync.ops.{module}", *args], env=env, capture_output=True,
                              text=True, timeout=170)

    def wait_for(self, what: str, check: Any, timeout: float = 90, interval: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = check()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last_exc = exc
            time.sleep(interval)
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        raise AssertionError(f"timed out waiting for {what} ({last_exc!r})\n--- standalone.log tail ---\n{tail}")

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root)

        def healthy() -> bool:
            body = requests.get(f"{self.url}/api/v2/monitor/health", timeout=3).json()
            return all(body.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "dag_processor"))

        # A loaded shared machine can take longer (HQ_SYNC_TEST_AIRFLOW_START_S, default 300 s).
        start_s = float(os.environ.get("HQ_SYNC_TEST_AIRFLOW_START_S") or 300)
        self.wait_for("Airflow to be healthy", healthy, timeout=start_s)
        expected = {"personio_absences__acme", "awork_times__acme", "personio_absences__beta", "awork_times__delta",
                    "personio_absences__echo", "tenant_config_error__gamma"}
        api = self.api()
        self.wait_for("the test DAGs to be parsed", lambda: expected <= {d["dag_id"] for d in api.dags()}, timeout=90)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        # The components (scheduler, dag-processor, ...) may outlive standalone: end the whole group.
        # Nothing of this throwaway Airflow needs a graceful end: 5 s, then SIGKILL (tests wait for it).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None


def make_world(root: Path) -> World:
    port = free_port()
    home = root / "airflow-home"
    home.mkdir(parents=True)
    dags = root / "dags"
    dags.mkdir()
    (dags / "test_tenant_dags.py").write_text(textwrap.dedent(DAG_FILE))
    tenants = root / "tenants"
    write_tenants(tenants)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    staging_url = f"sqlite:///{root / 'staging.sqlite'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HQ_SYNC_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO_ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",  # the Test button of hq-sync's connection types
        AIRFLOW_CONN_HQ_ACME=json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/v1"}),
        AIRFLOW_CONN_HQ_DELTA=json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/v1"}),
        AIRFLOW_CONN_HQ_ECHO=json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/v1"}),
        AIRFLOW_CONN_PERSONIO_ECHO=json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9",
                                               "extra": {"webhook_secret": ECHO_SECRET}}),
        HQ_SYNC_TENANTS_DIR=str(tenants),
        HQ_SYNC_STAGING_URL=staging_url,
        HQ_SYNC_DATA_DIR=str(root / "data"),
        PYTHONPATH=str(REPO_ROOT / "src"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return World(root, port, env, staging_url, tenants)


_WORLD: World | None = None


def shared_world(tmp_path_factory: Any) -> World:
    """One Airflow for the plugin and the ops tests, started by the first of them. tests/conftest.py
    stops it after the last of them (they run one after the other: one xdist group) and at the end
    of the session; a test that needs it after that gets a new one."""
    global _WORLD
    if _WORLD is None:
        world = make_world(tmp_path_factory.mktemp("airflow-world"))
        try:
            world.start()
        except BaseException:
            world.stop()
            raise
        _WORLD = world
    return _WORLD


def stop_shared_world() -> None:
    global _WORLD
    if _WORLD is not None:
        _WORLD.stop()
        _WORLD = None


def now() -> datetime:
    return datetime.now(UTC)


def ago(**kwargs: float) -> datetime:
    return now() - timedelta(**kwargs)
