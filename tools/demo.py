"""`make demo`: sandbox APIs with the demo scenario + Airflow standalone with the demo tenants.

    python tools/demo.py start    # (re)start everything from a fresh demo state, then return
    python tools/demo.py stop     # stop the sandboxes and Airflow
    python tools/demo.py status   # what is running
    python tools/demo.py audit    # after the first sync runs: run each tenant's drift audit once (start does it)
    python tools/demo.py env      # the exports a CLI command needs against the demo: eval "$(python tools/demo.py env)"

Ports (environment): DEMO_AIRFLOW_PORT (8080), DEMO_AWORK_PORT (8301), DEMO_PERSONIO_PORT (8302),
DEMO_HQ_PORT (8303). The demo only ever talks to servers it started: ``start`` first stops the
processes of an earlier demo (by their pid files), then refuses to start, naming the port and what
to do, when any of its ports is still taken by something else (it would otherwise take that server
for its own sandbox and reset its data).

Everything lives inside the repository and is git-ignored: the Airflow home in ``.airflow/`` and
the sandbox and staging data in ``.data/``. Each ``start`` begins from the demo scenario again
(sandbox data, staging database and Airflow's run history are reset), so the demo is repeatable.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hq_sync.config import load_tenants  # noqa: E402
from sandboxes import DEFAULT_PORTS  # noqa: E402

# Where the demo keeps its state (default: the repository; DEMO_STATE_DIR for a second one, or tests).
STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR") or ROOT).resolve()
AIRFLOW_HOME = STATE_DIR / ".airflow"
DATA_DIR = STATE_DIR / ".data"
SANDBOX_DIR = DATA_DIR / "sandboxes"
PIDS = {"sandboxes": DATA_DIR / "sandboxes.pid", "airflow": AIRFLOW_HOME / "standalone.pid", "audit": DATA_DIR / "demo-audit.pid"}
LOGS = {"sandboxes": DATA_DIR / "sandboxes.log", "airflow": AIRFLOW_HOME / "standalone.log", "audit": DATA_DIR / "demo-audit.log"}

def _port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"[demo] {name}={value!r} is not a TCP port")
    return int(value)


AIRFLOW_PORT = _port("DEMO_AIRFLOW_PORT", 8080)
# The sandboxes' ports: configurable, so that the demo never has to share one with another server.
SANDBOX_PORTS = {vendor: _port(f"DEMO_{vendor.upper()}_PORT", port) for vendor, port in DEFAULT_PORTS.items()}
LOGIN = ("admin", "admin")
POOLS = None  # filled from the DAG factory below (single source of truth)
# What `start` takes on this kind of machine (2 cores): measured 1,102 s with the machine shared by
# several test runs (load average ~20); the step timestamps put an idle machine at a few minutes.
EXPECTED_START = "a few minutes on an idle 2-core machine, up to ~20 minutes on a busy one"
STARTED_AT = time.monotonic()


def say(message: str) -> None:
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    print(f"[demo {stamp} UTC +{time.monotonic() - STARTED_AT:4.0f}s] {message}", flush=True)


def sandbox_url(vendor: str) -> str:
    return f"http://127.0.0.1:{SANDBOX_PORTS[vendor]}"


class PortTaken(SystemExit):
    """A demo port is in use by a process the demo did not start."""


def port_user(port: int) -> str | None:
    """Why ``port`` cannot be used, or None when it is free (nothing listens on any address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return "something is listening on it"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no user
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            return f"it cannot be bound ({exc.strerror or exc})"
    return None


def check_ports() -> None:
    """Refuse to start when a demo port is taken by a server the demo did not start."""
    wanted = {"Airflow": ("DEMO_AIRFLOW_PORT", AIRFLOW_PORT)}
    wanted.update({f"{vendor} sandbox": (f"DEMO_{vendor.upper()}_PORT", port) for vendor, port in SANDBOX_PORTS.items()})
    ports = [port for _, port in wanted.values()]
    duplicates = sorted({p for p in ports if ports.count(p) > 1})
    if duplicates:
        raise PortTaken(f"[demo] refusing to start: port(s) {', '.join(map(str, duplicates))} configured twice")
    problems = []
    for what, (variable, port) in wanted.items():
        reason = port_user(port)
        if reason:
            problems.append(f"port {port} ({what}, {variable}): {reason}")
    if problems:
        raise PortTaken(
            "[demo] refusing to start: the demo only talks to servers it starts, and these ports are taken by "
            "processes it did not start:\n  " + "\n  ".join(problems)
            + "\nStop those processes, or choose free ports, e.g. DEMO_AIRFLOW_PORT=8090 DEMO_AWORK_PORT=8311 "
            "DEMO_PERSONIO_PORT=8312 DEMO_HQ_PORT=8313 make demo")


def airflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(AIRFLOW_HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",  # the Test button of the hq, awork and personio connections
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{LOGIN[0]}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(AIRFLOW_HOME / "passwords.json"),
        AIRFLOW__API__PORT=str(AIRFLOW_PORT),
        AIRFLOW__API__BASE_URL=f"http://localhost:{AIRFLOW_PORT}",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        HQ_SYNC_DATA_DIR=str(DATA_DIR),
        PYTHONPATH=str(ROOT / "src"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _spawn(name: str, cmd: list[str], env: dict[str, str]) -> None:
    LOGS[name].parent.mkdir(parents=True, exist_ok=True)
    log = open(LOGS[name], "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    PIDS[name].write_text(str(proc.pid))


def _stop(name: str) -> None:
    pid = _alive(PIDS[name])
    if pid is None:
        return
    say(f"stopping {name} (pid {pid})")
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        if _alive(PIDS[name]) is None:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    PIDS[name].unlink(missing_ok=True)


def _wait(what: str, check, timeout: float, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while True:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            hint = f"; see {log.relative_to(STATE_DIR)}" if log else ""
            raise SystemExit(f"[demo] {what} not ready after {timeout:.0f}s{hint}")
        if time.monotonic() - last > 15:
            say(f"... still waiting for {what}")
            last = time.monotonic()
        time.sleep(1)


def run(cmd: list[str], env: dict[str, str], quiet: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"[demo] failed: {' '.join(cmd)}")
    if not quiet:
        print(result.stdout, end="")
    return result


def start_sandboxes() -> dict[str, object]:
    say(f"starting the sandbox APIs (data in {SANDBOX_DIR.relative_to(STATE_DIR)})")
    shutil.rmtree(SANDBOX_DIR, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    ports = [arg for vendor, port in SANDBOX_PORTS.items() for arg in (f"--{vendor}-port", str(port))]
    _spawn("sandboxes", [sys.executable, "-m", "sandboxes", "serve", "--data-dir", str(SANDBOX_DIR), *ports], env)
    for vendor in SANDBOX_PORTS:
        url = f"{sandbox_url(vendor)}/_sandbox/health"
        _wait(f"{vendor} sandbox", lambda url=url: requests.get(url, timeout=2).ok, 60, LOGS["sandboxes"])
    say("loading the demo scenario into the sandboxes")
    from sandboxes.scenario import load_scenario

    for line in load_scenario("demo", {v: sandbox_url(v) for v in SANDBOX_PORTS}, reset=True):
        say(f"  {line}")
    from sandboxes.scenarios.demo import demo_credentials

    return demo_credentials()


def connection_specs(credentials: dict[str, object]) -> list[dict[str, object]]:
    """Airflow connections for every demo tenant, pointing at the sandboxes."""
    specs = []
    for tenant in load_tenants(ROOT / "include" / "tenants").tenants:
        creds = credentials[tenant.id]  # type: ignore[index]
        specs += [
            {
                "conn_id": tenant.connection_id("hq"),
                "conn_type": "hq",  # hq-sync's connection type (form fields, Test button)
                "host": f"{sandbox_url('hq')}/v1",
                "port": SANDBOX_PORTS["hq"],  # the UI's Test button of Airflow 3.3.2 needs a port
                "password": creds["hq_sync_token"],  # type: ignore[index]
            },
            {
                "conn_id": tenant.connection_id("awork"),
                "conn_type": "awork",  # hq-sync's connection type (form fields, Test button)
                "host": f"{sandbox_url('awork')}/api/v1",
                "port": SANDBOX_PORTS["awork"],
                "password": creds["awork_api_key"],  # type: ignore[index]
            },
            {
                "conn_id": tenant.connection_id("personio"),
                "conn_type": "personio",  # hq-sync's connection type (form fields, Test button)
                "host": sandbox_url("personio"),
                "port": SANDBOX_PORTS["personio"],
                "login": creds["personio_client_id"],  # type: ignore[index]
                "password": creds["personio_client_secret"],  # type: ignore[index]
                "extra": json.dumps({"app_id": "HQ_SYNC_DEMO"}),
            },
        ]
    return specs


def prepare_airflow(credentials: dict[str, object]) -> None:
    from hq_sync.airflow.dag_factory import DEFAULT_POOL_SLOTS

    env = airflow_env()
    AIRFLOW_HOME.mkdir(exist_ok=True)
    for stale in ("airflow.db", "airflow.db-wal", "airflow.db-shm"):
        (AIRFLOW_HOME / stale).unlink(missing_ok=True)
    (DATA_DIR / "staging.sqlite").unlink(missing_ok=True)
    (AIRFLOW_HOME / "passwords.json").write_text(json.dumps({LOGIN[0]: LOGIN[1]}))
    say("migrating Airflow's metadata database (SQLite in .airflow/)")
    run(["airflow", "db", "migrate"], env)
    say("migrating the staging database (.data/staging.sqlite)")
    run([sys.executable, "-m", "hq_sync.staging.migrate"], env)
    for pool, slots in DEFAULT_POOL_SLOTS.items():
        run(["airflow", "pools", "set", pool, str(slots), f"hq-sync: requests to the {pool.split('_')[0]} API"], env)
    say(f"pools: {', '.join(f'{p} ({s})' for p, s in DEFAULT_POOL_SLOTS.items())}")
    specs = connection_specs(credentials)
    for spec in specs:
        args = ["airflow", "connections", "add", str(spec["conn_id"]), "--conn-type", str(spec["conn_type"])]
        for field in ("host", "port", "login", "password", "extra"):
            if field in spec:
                args += [f"--conn-{field}", str(spec[field])]
        subprocess.run(["airflow", "connections", "delete", str(spec["conn_id"])], cwd=ROOT, env=env, capture_output=True)
        run(args, env)
    say(f"connections: {', '.join(str(s['conn_id']) for s in specs)}")
    register_webhooks(env)


def register_webhooks(env: dict[str, str]) -> None:
    """Subscribe the sandboxes' webhooks of every tenant with webhooks on to Airflow's receiver (#14)."""
    for tenant in load_tenants(ROOT / "include" / "tenants").tenants:
        if any(getattr(tenant.source(s), "webhooks", None) and tenant.source(s).webhooks.enabled  # type: ignore[union-attr]
               for s in tenant.enabled_sources()):
            out = run([sys.executable, "-m", "hq_sync.connect.webhooks", "--tenant", tenant.id,
                       "--receiver-url", f"http://localhost:{AIRFLOW_PORT}"], env)
            for line in out.stdout.splitlines():
                if line.startswith(("personio:", "awork:", "  note:")):  # not the libraries' log lines
                    say(f"  {line}")


def start_airflow() -> list[str]:
    env = airflow_env()
    say(f"starting Airflow standalone on port {AIRFLOW_PORT} (log: .airflow/standalone.log)")
    _spawn("airflow", ["airflow", "standalone"], env)
    base = f"http://localhost:{AIRFLOW_PORT}"

    def healthy() -> bool:
        body = requests.get(f"{base}/api/v2/monitor/health", timeout=3).json()
        return all(
            body.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")
        )

    _wait("Airflow to report every component healthy", healthy, 240, LOGS["airflow"])
    tenants = load_tenants(ROOT / "include" / "tenants").tenants
    expected = sorted(
        {t.dag_id(s) for t in tenants for s in t.enabled_sources()}
        | {t.dag_id("hq_offer") for t in tenants if "hq_to_awork" in t.enabled_sources()}  # manual, but a paused DAG's runs never start
        | {t.dag_id("timesheets_inbox") for t in tenants if "timesheets" in t.enabled_sources()}
    )

    def parsed() -> bool:
        out = subprocess.run(["airflow", "dags", "list", "-o", "json"], cwd=ROOT, env=env, capture_output=True, text=True)
        # Warnings may precede the JSON on stdout: read the line that holds the list.
        listing = next((line for line in out.stdout.splitlines() if line.startswith("[")), "[]")
        return out.returncode == 0 and set(expected) <= {d["dag_id"] for d in json.loads(listing)}

    _wait("the DAG processor to register the demo tenants' DAGs", parsed, 180, LOGS["airflow"])
    for dag_id in expected:
        run(["airflow", "dags", "unpause", dag_id], env)
    say(f"unpaused: {', '.join(expected)}")
    return expected


def drop_timesheets() -> list[str]:
    """Drop the demo's sample timesheets into the tenants' folders (C1): the triggerer's watcher
    sees them, and each file gets its own timesheet_import__<tenant> run."""
    from hq_sync.timesheets.files import folder_of
    from sandboxes.scenarios.demo import demo_timesheets

    dropped = []
    os.environ["HQ_SYNC_DATA_DIR"] = str(DATA_DIR)  # folders are relative to the demo's data directory
    for tenant in load_tenants(ROOT / "include" / "tenants").tenants:
        if "timesheets" not in tenant.enabled_sources():
            continue
        folder = folder_of(tenant)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, content in demo_timesheets(tenant.id):
            partial = folder / f".{name}.part"  # written aside, then renamed: never seen half-written
            partial.write_bytes(content)
            partial.rename(folder / name)
            dropped.append(f"{tenant.id}: {name}")
    return dropped


def run_audits(base: str, timeout: float) -> None:
    """After the tenants' first sync runs: unpause and run each drift audit once, and say what it
    found (the demo data has no unexplained drift). Audits unpaused earlier would run before the
    first syncs and find only "not synced yet"."""
    from hq_sync.ops.airflow_api import AirflowApi

    tenants = [t for t in load_tenants(ROOT / "include" / "tenants").tenants if t.audited_sources()]
    api = AirflowApi(base, username=LOGIN[0], password=LOGIN[1])

    def finished(dag_ids: list[str]) -> bool:
        runs = api.latest_runs(dag_ids)
        return all((runs.get(d) or {}).get("state") in ("success", "failed") for d in dag_ids)

    syncs = [t.dag_id(s) for t in tenants for s in t.audited_sources()]
    say(f"waiting for the first sync runs, then the drift audits ({', '.join(syncs)})")
    _wait("the first sync runs", lambda: finished(syncs), timeout, LOGS["airflow"])
    audits = [t.dag_id("audit") for t in tenants]
    for dag_id in audits:
        api.set_paused(dag_id, False)
        api.trigger(dag_id)
    _wait("the drift audits", lambda: finished(audits), timeout, LOGS["airflow"])
    from hq_sync.audit.report import latest_audits
    from hq_sync.staging import create_staging_engine

    engine = create_staging_engine(f"sqlite:///{DATA_DIR / 'staging.sqlite'}")
    with engine.connect() as conn:
        latest = latest_audits(conn)
    engine.dispose()
    for tenant in tenants:
        audit = latest.get(tenant.id)
        if audit is None:
            say(f"  audit {tenant.id}: no result (see the audit__{tenant.id} run's log)")
            continue
        say(f"  audit {tenant.id}: {audit['status']}, {audit['explained']} explained, {audit['unexplained']} unexplained difference(s)")


def start() -> None:
    say(f"starting the demo; this takes {EXPECTED_START} (sandboxes, Airflow, the first DAG parse)")
    stop()
    check_ports()
    credentials = start_sandboxes()
    prepare_airflow(credentials)
    start_airflow()
    base = f"http://localhost:{AIRFLOW_PORT}"
    for line in drop_timesheets():
        say(f"timesheet dropped: {line}")
    if os.environ.get("DEMO_AUDIT", "1") != "0":
        if os.environ.get("DEMO_WAIT_AUDIT") == "1":  # e.g. for a check of the demo's audit result
            run_audits(base, float(os.environ.get("DEMO_AUDIT_TIMEOUT", "900")))
        else:
            _spawn("audit", [sys.executable, str(Path(__file__).resolve()), "audit"], dict(os.environ))
            say(f"the drift audits run after the first syncs (minutes); progress: {LOGS['audit'].relative_to(STATE_DIR)}")
    print(
        f"""
hq-sync demo is running.

  Airflow UI     {base}    login: {LOGIN[0]} / {LOGIN[1]}
  Sync status    {base}/hq-sync/status   (also in the UI: Browse → Sync status; drift audit below the table)
  Timesheets     {base}/hq-sync/timesheets   (drop .xlsx/.csv into {DATA_DIR.relative_to(STATE_DIR)}/timesheets/<tenant>/)
  Webhooks       {base}/hq-sync-webhooks/<tenant>/<personio|awork>   (docs/webhooks.md: edit in a
                 sandbox, e.g. an absence of muster-agentur, and watch the asset-triggered run)
  Health         {base}/api/v2/monitor/health
  Sandboxes      awork    {sandbox_url('awork')}/api/v1
                 Personio {sandbox_url('personio')}/v2
                 HQ       {sandbox_url('hq')}/v1
  Demo tokens    {DATA_DIR.relative_to(STATE_DIR)}/demo-credentials.json (curl examples: docs/sandbox.md)
  CLI commands   eval "$(python tools/demo.py env)"   (then e.g. python -m hq_sync.ops.rerun_failed --help)
  Stop           make stop-demo
""",
        flush=True,
    )
    (DATA_DIR / "demo-credentials.json").write_text(json.dumps(credentials, indent=2))
    say(f"ready after {time.monotonic() - STARTED_AT:.0f}s")


def env_exports() -> dict[str, str]:
    """What a CLI command (``python -m hq_sync.ops.*``, ``hq_sync.connect.*``, ``airflow ...``) needs
    to work against the demo: its Airflow home and configuration, its data and its API login."""
    env = airflow_env()
    wanted = {k: v for k, v in env.items() if k.startswith("AIRFLOW") or k in ("HQ_SYNC_DATA_DIR", "PYTHONPATH")}
    wanted.update(
        HQ_SYNC_AIRFLOW_URL=f"http://localhost:{AIRFLOW_PORT}",
        HQ_SYNC_AIRFLOW_USERNAME=LOGIN[0],
        HQ_SYNC_AIRFLOW_PASSWORD=LOGIN[1],
        HQ_SYNC_STAGING_URL=f"sqlite:///{DATA_DIR / 'staging.sqlite'}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}$PATH",
    )
    return wanted


def print_env() -> None:
    print("# the demo's environment for CLI commands: eval \"$(python tools/demo.py env)\"")
    for key, value in env_exports().items():
        quoted = f'"{value}"' if key == "PATH" else shlex.quote(value)  # PATH keeps the caller's $PATH
        print(f"export {key}={quoted}")


def stop() -> None:
    _stop("audit")
    _stop("airflow")
    _stop("sandboxes")


def status() -> None:
    for name in PIDS:
        pid = _alive(PIDS[name])
        print(f"{name:<10} {'running (pid %d)' % pid if pid else 'stopped'}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    commands = {"start": start, "stop": stop, "status": status, "env": print_env,
                "audit": lambda: run_audits(f"http://localhost:{AIRFLOW_PORT}", float(os.environ.get("DEMO_AUDIT_TIMEOUT", "900")))}
    commands.get(command, lambda: sys.exit(f"unknown command {command}"))()
