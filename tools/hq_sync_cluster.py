"""The production shape, natively on this machine (issue #11): CeleryExecutor, Redis as broker,
PostgreSQL as metadata database, and a separate api-server, scheduler, dag-processor, triggerer and
two Celery workers, each in its own session (so that a worker and every task it runs can be killed
together, like a lost machine).

    python tools/hq_sync_cluster.py start    # `make demo-distributed`: sandboxes + demo tenants
    python tools/hq_sync_cluster.py stop     # `make stop-demo-distributed`
    python tools/hq_sync_cluster.py status

``start`` needs the PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379) of this kind of
machine; it uses databases ``hq_sync_demo_airflow`` / ``hq_sync_demo_staging`` and Redis db 2 of
its own, and the demo's fixed ports (sandboxes 8301–8303, Airflow 8080: stop ``make demo`` first).
The ``Cluster`` class is also what ``tests/distributed`` runs, on free ports, with random database
names and a Redis db of its own.

Every Airflow process imports this module for its ``[core] hostname_callable``
(``hq_sync_cluster.worker_hostname``): keep its top-level imports to the standard library.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("HQ_SYNC_CLUSTER_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("HQ_SYNC_CLUSTER_REDIS", "redis://127.0.0.1:6379")
LOGIN = ("admin", "admin")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the cluster: ``$HQ_SYNC_WORKER_NAME`` (set per worker, so
    that task instances say which worker ran them), else the machine's FQDN."""
    return os.environ.get("HQ_SYNC_WORKER_NAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


def session_pids(session: int) -> list[int]:
    """Every live process of a session (the worker, its pool, the task supervisors and tasks)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == session and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _kill_session(session: int, sig: int) -> None:
    for pid in session_pids(session):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class Cluster:
    """One Airflow with CeleryExecutor: databases, Redis db, processes, REST API, clean-up."""

    root: Path  # AIRFLOW_HOME, logs and pid files live here
    api_port: int
    name: str  # database names and Redis key prefix are derived from it
    redis_db: int
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)  # conn_id -> connection JSON
    env_extra: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    worker_concurrency: int = 2
    pg_admin_url: str = PG_ADMIN_URL  # where the cluster's databases are created and dropped
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _secrets: tuple[str, str] = field(default_factory=lambda: (secrets.token_urlsafe(24), secrets.token_urlsafe(24)))

    # -- names -----------------------------------------------------------------------------
    @property
    def metadata_db(self) -> str:
        return f"{self.name}_airflow"

    @property
    def staging_db(self) -> str:
        return f"{self.name}_staging"

    def pg_url(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.pg_admin_url).set(database=database).render_as_string(hide_password=False)

    @property
    def redis_url(self) -> str:
        return f"{REDIS_BASE}/{self.redis_db}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def home(self) -> Path:
        return self.root / "airflow-home"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    # -- environment -----------------------------------------------------------------------
    def env(self, worker: str | None = None) -> dict[str, str]:
        """The environment of every Airflow process (``worker``: that worker's name)."""
        jwt_secret, api_secret = self._secrets
        metadata = self.pg_url(self.metadata_db)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HQ_SYNC_", "_AIRFLOW"))}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata,
            AIRFLOW__CELERY__BROKER_URL=self.redis_url,
            AIRFLOW__CELERY__RESULT_BACKEND="db+" + metadata,
            AIRFLOW__CELERY__WORKER_CONCURRENCY=str(self.worker_concurrency),
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX=f"{self.name}:",
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",  # the Test button of the connection types
            AIRFLOW__CORE__HOSTNAME_CALLABLE="hq_sync_cluster.worker_hostname",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{LOGIN[0]}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / "passwords.json"),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=jwt_secret,
            AIRFLOW__API__SECRET_KEY=api_secret,
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            # A lost worker's task is retried elsewhere ~25 s after the loss (default: 300 s).
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="2",
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="3",
            HQ_SYNC_STAGING_URL=self.pg_url(self.staging_db),
            HQ_SYNC_REDIS_URL=self.redis_url,
            HQ_SYNC_REDIS_PREFIX=self.name,
            HQ_SYNC_DATA_DIR=str(self.root / "data"),
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tools")]),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        for conn_id, body in self.connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(body)
        env.update(self.env_extra)
        if worker is not None:
            env["HQ_SYNC_WORKER_NAME"] = worker
        return env

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True,
                                timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    # -- databases -------------------------------------------------------------------------
    def _admin(self, statements: list[str]) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def create_databases(self) -> None:
        self.drop_databases()
        self._admin([f'CREATE DATABASE "{self.metadata_db}"', f'CREATE DATABASE "{self.staging_db}"'])

    def drop_databases(self) -> None:
        self._admin([f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in (self.metadata_db, self.staging_db)])

    def reset_staging(self) -> None:
        """An empty staging database at the current schema (no task may run meanwhile)."""
        from hq_sync.staging import create_staging_engine, upgrade

        self._admin([f'DROP DATABASE IF EXISTS "{self.staging_db}" WITH (FORCE)', f'CREATE DATABASE "{self.staging_db}"'])
        engine = create_staging_engine(self.pg_url(self.staging_db))
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def flush_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()

    # -- processes -------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.log(name).parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log(name), "ab")  # noqa: SIM115 - handed to the child
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.root,
        )
        (self.root / "pids").mkdir(exist_ok=True)
        (self.root / "pids" / name).write_text(str(self.processes[name].pid))

    @property
    def worker_names(self) -> list[str]:
        return [f"worker{i + 1}" for i in range(self.workers)]

    def prepare(self) -> None:
        """Databases, Airflow's migration, the staging schema, the admin's password (the Redis db
        is the caller's: empty it first, ``flush_redis``)."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({LOGIN[0]: LOGIN[1]}))
        say(f"databases {self.metadata_db}, {self.staging_db}; Redis db {self.redis_db}")
        self.create_databases()
        say("migrating Airflow's metadata database")
        self.airflow("db", "migrate", timeout=300)
        self.reset_staging()

    def start(self, timeout: float = 240) -> None:
        """Start every component; return when all are healthy and both workers are ready."""
        for component in COMPONENTS:
            self._spawn(component, [component], self.env())
        for worker in self.worker_names:
            self._spawn(worker, ["celery", "worker", "--skip-serve-logs", "--celery-hostname", f"{worker}@%h",
                                 "--concurrency", str(self.worker_concurrency)], self.env(worker))
        say(f"started {', '.join(self.processes)}; waiting until they are healthy")

        def healthy() -> bool:
            import requests

            body = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            return all(body.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "dag_processor", "triggerer"))

        self.wait_for("the api-server, scheduler, dag-processor and triggerer to be healthy", healthy, timeout)
        for worker in self.worker_names:
            self.wait_for(f"{worker} to be ready", lambda w=worker: " ready." in self.log(w).read_text(errors="replace"),
                          timeout)
        self.create_pools()

    def create_pools(self) -> None:
        sys.path.insert(0, str(ROOT / "src"))
        from hq_sync.airflow.dag_factory import DEFAULT_POOL_SLOTS

        api = self.api()
        existing = {p["name"] for p in api.get("/pools", limit=100)["pools"]}
        for pool, slots in DEFAULT_POOL_SLOTS.items():
            body = {"name": pool, "slots": slots, "description": f"hq-sync: requests to the {pool.split('_')[0]} API"}
            if pool in existing:
                api.patch(f"/pools/{pool}", body)
            else:
                api.post("/pools", body)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"cluster processes exited: {dead}; see {self.root / 'logs'}")

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0,
                 allow_dead: tuple[str, ...] = ()) -> Any:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = check()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last = exc
            dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None and n not in allow_dead}
            if dead:
                raise RuntimeError(f"while waiting for {what}: cluster processes exited {dead}; "
                                   f"see {self.root / 'logs'}\n{self.tails()}")
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} ({last!r})\n{self.tails()}")

    def tails(self, chars: int = 1500) -> str:
        out = []
        for name in self.processes:
            path = self.log(name)
            if path.exists():
                out.append(f"--- {name} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)

    def kill_worker(self, worker: str) -> list[int]:
        """SIGKILL the worker and everything in its session (its running tasks too); returns the pids."""
        proc = self.processes[worker]
        pids = session_pids(proc.pid)
        _kill_session(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return pids

    def stop(self) -> list[int]:
        """Stop every process of every session started here; returns pids still alive (none)."""
        sessions = [p.pid for p in self.processes.values()]
        pid_dir = self.root / "pids"
        if pid_dir.is_dir():  # also those of an earlier `start` (the demo's `stop`)
            sessions += [int(f.read_text()) for f in pid_dir.iterdir() if f.read_text().strip().isdigit()]
        for session in set(sessions):
            _kill_session(session, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(session_pids(s) for s in set(sessions)):
            time.sleep(0.5)
        for session in set(sessions):
            _kill_session(session, signal.SIGKILL)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if pid_dir.is_dir():
            for f in pid_dir.iterdir():
                f.unlink()
        self.processes.clear()
        time.sleep(0.5)
        return [pid for s in set(sessions) for pid in session_pids(s)]

    # -- REST API --------------------------------------------------------------------------
    def api(self) -> Any:
        sys.path.insert(0, str(ROOT / "src"))
        from hq_sync.ops.airflow_api import AirflowApi

        return AirflowApi(self.url, username=LOGIN[0], password=LOGIN[1], timeout=30)

    def wait_dags(self, dag_ids: set[str], timeout: float = 180) -> None:
        api = self.api()
        self.wait_for(f"the DAG processor to register {len(dag_ids)} DAGs",
                      lambda: dag_ids <= {d["dag_id"] for d in api.dags(tag=None)}, timeout, interval=2)

    def quiesce(self, dag_ids: list[str], timeout: float = 120) -> list[str]:
        """Pause the DAGs, fail their unfinished runs (e.g. a schedule tick's, which a pause would
        leave half-done), and wait until no task instance is queued or running anywhere; returns
        the runs it failed."""
        from urllib.parse import quote

        api = self.api()
        failed = []
        for dag_id in dag_ids:
            api.set_paused(dag_id, True)
        for dag_id in dag_ids:
            for run in api.dag_runs(dag_id, state=["queued", "running"]):
                api.patch(f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run['dag_run_id'], safe='')}", {"state": "failed"})
                failed.append(f"{dag_id}/{run['dag_run_id']}")

        def idle() -> bool:
            busy = api.get("/dags/~/dagRuns/~/taskInstances", state=["queued", "running", "scheduled"], limit=1)
            return busy["total_entries"] == 0

        self.wait_for("no task instance to be queued or running", idle, timeout, interval=1,
                      allow_dead=tuple(n for n, p in self.processes.items() if p.poll() is not None))
        return failed

    def wait_runs(self, runs: dict[str, str], timeout: float, allow_dead: tuple[str, ...] = ()) -> dict[str, str]:
        """Wait until every (dag_id → run_id) is finished; returns their states."""
        from urllib.parse import quote

        api = self.api()
        states: dict[str, str] = {}

        def done() -> bool:
            for dag_id, run_id in runs.items():
                if states.get(dag_id) not in ("success", "failed"):
                    states[dag_id] = api.get(f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")["state"]
            return all(s in ("success", "failed") for s in states.values())

        self.wait_for(f"the runs {sorted(runs)} to finish", done, timeout, interval=2, allow_dead=allow_dead)
        return states


# -- the demo -------------------------------------------------------------------------------------
DEMO_ROOT = ROOT / ".airflow-distributed"
DEMO_REDIS_DB = 2
DEMO_PORT = int(os.environ.get("DEMO_AIRFLOW_PORT", "8080"))


def demo_connections(urls: dict[str, str], credentials: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The demo tenants' Airflow connections, pointing at the sandboxes (as ``make demo``)."""
    sys.path.insert(0, str(ROOT / "src"))
    from hq_sync.config import load_tenants

    conns: dict[str, dict[str, Any]] = {}
    for tenant in load_tenants(ROOT / "include" / "tenants").tenants:
        creds = credentials[tenant.id]
        conns[tenant.connection_id("hq")] = {"conn_type": "hq", "host": f"{urls['hq']}/v1", "port": urlsplit(urls["hq"]).port,
                                             "password": creds["hq_sync_token"]}
        conns[tenant.connection_id("awork")] = {"conn_type": "awork", "host": f"{urls['awork']}/api/v1", "port": urlsplit(urls["awork"]).port,
                                                "password": creds["awork_api_key"]}
        conns[tenant.connection_id("personio")] = {"conn_type": "personio", "host": urls["personio"], "port": urlsplit(urls["personio"]).port,
                                                   "login": creds["personio_client_id"],
                                                   "password": creds["personio_client_secret"],
                                                   "extra": {"app_id": "HQ_SYNC_DEMO"}}
    return conns


def demo_dag_ids() -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from hq_sync.airflow.dag_factory import DAG_KINDS
    from hq_sync.config import dag_id_for, load_tenants

    return sorted(dag_id_for(kind.name, t.id) for t in load_tenants(ROOT / "include" / "tenants").tenants
                  for kind in DAG_KINDS if kind.enabled(t))


def demo_cluster() -> Cluster:
    from sandboxes import DEFAULT_PORTS
    from sandboxes.scenarios.demo import demo_credentials

    urls = {vendor: f"http://127.0.0.1:{port}" for vendor, port in DEFAULT_PORTS.items()}
    return Cluster(root=DEMO_ROOT, api_port=DEMO_PORT, name="hq_sync_demo", redis_db=DEMO_REDIS_DB,
                   connections=demo_connections(urls, demo_credentials()),
                   env_extra={"HQ_SYNC_RETRY_DELAY_SECONDS": "30"})


def demo_start() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tools"))
    import demo  # tools/demo.py: the sandboxes with the demo scenario, as in `make demo`

    demo_stop()
    from sandboxes import DEFAULT_PORTS

    for port in (DEMO_PORT, *DEFAULT_PORTS.values()):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"[cluster] port {port} is in use (another demo? `make stop-demo`); "
                                 "the distributed demo needs 8080 and 8301-8303 (DEMO_AIRFLOW_PORT moves 8080)")
    credentials = demo.start_sandboxes()
    cluster = demo_cluster()
    cluster.flush_redis()
    cluster.prepare()
    cluster.start()
    dag_ids = demo_dag_ids()
    cluster.wait_dags(set(dag_ids))
    api = cluster.api()
    for dag_id in dag_ids:
        api.set_paused(dag_id, False)
    say(f"unpaused: {', '.join(dag_ids)}")
    (demo.DATA_DIR / "demo-credentials.json").write_text(json.dumps(credentials, indent=2))
    print(f"""
hq-sync distributed demo is running (CeleryExecutor, Redis db {DEMO_REDIS_DB}, PostgreSQL).

  Airflow UI     {cluster.url}    login: {LOGIN[0]} / {LOGIN[1]}
  Processes      {', '.join(cluster.processes)}  (logs: {cluster.root.relative_to(ROOT)}/logs/)
  Databases      {cluster.metadata_db} (Airflow), {cluster.staging_db} (staging) on 127.0.0.1:5432
  Budgets        one per vendor account, in Redis db {DEMO_REDIS_DB} (keys {cluster.name}:budget:*)
  Task hosts     the Grid's task instance details name worker1 or worker2
  Stop           make stop-demo-distributed
""", flush=True)


def demo_stop() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import demo

    cluster = demo_cluster()
    if (cluster.root / "pids").is_dir() and any((cluster.root / "pids").iterdir()):
        say("stopping the distributed demo's processes")
    left = cluster.stop()
    if left:
        raise SystemExit(f"[cluster] processes still alive: {left}")
    demo.stop()  # the sandboxes
    try:  # leave the shared PostgreSQL and Redis as we found them (logs stay in .airflow-distributed/)
        cluster.drop_databases()
        cluster.flush_redis()
    except Exception as exc:  # noqa: BLE001 - nothing to clean when they are not running
        say(f"databases / Redis db not cleaned ({type(exc).__name__}: {exc})")


def demo_status() -> None:
    pid_dir = DEMO_ROOT / "pids"
    names = sorted(f.name for f in pid_dir.iterdir()) if pid_dir.is_dir() else []
    if not names:
        print("distributed demo: stopped")
    for name in names:
        session = int((pid_dir / name).read_text())
        alive = session_pids(session)
        print(f"{name:<14} {'running (%d processes)' % len(alive) if alive else 'stopped'}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    actions = {"start": demo_start, "stop": demo_stop, "status": demo_status}
    if command not in actions:
        sys.exit(f"unknown command {command}; use start, stop or status")
    actions[command]()
