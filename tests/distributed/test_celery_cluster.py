"""The production shape for real (issue #11): CeleryExecutor, Redis broker, PostgreSQL metadata
database, separate api-server, scheduler, dag-processor, triggerer and two Celery workers, running
the demo tenants' DAGs (``include/tenants``) against the sandboxes with a smaller demo scenario.

One cluster for the module (``tools/hq_sync_cluster.py``): databases with random names, a Redis db
found empty and claimed, free ports; every process is stopped and checked gone at the end. The
tests run in file order:

1. two DAGs of one tenant on one awork workspace with a low limit, concurrently on both workers:
   one budget (in Redis), no 429, the awork log never over the limit in any window;
2. every demo tenant DAG runs to success, task instances on both workers;
3. a worker killed during a ``load`` step: the retry on the other worker leaves HQ in the state of
   the fault-free run of test 2 (nothing lost, nothing twice).

Skipped with the reason when PostgreSQL or Redis does not answer.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from sandboxes.testing import SandboxServers
from tests.conftest import POSTGRES_URL, REPO_ROOT, _postgres_unavailable_reason

sys.path.insert(0, str(REPO_ROOT / "tools"))

import hq_sync_cluster  # noqa: E402

REDIS_BASE = "redis://127.0.0.1:6379"
TENANT = "muster-agentur"  # has awork, Personio and HQ → awork
WORKERS = {"worker1", "worker2"}
AWORK_PER_SECOND, AWORK_PER_MINUTE = 3, 120  # the low limit of test 1 (muster-agentur's workspace)
STATE: dict[str, Any] = {}  # what one test leaves for the next (file order)
# The sync DAGs run on their cron here; the manual (offer, timesheet import), asset-started
# (timesheet inbox) and audit DAGs have their own end-to-end tests.
# The whole module runs alone on the cores (its processes are most of the machine), its tests on one
# xdist worker, in file order (tests/conftest.py).
pytestmark = [pytest.mark.serial, pytest.mark.xdist_group("celery_cluster")]
SYNC_PREFIXES = tuple(f"{prefix}__" for prefix in ("personio_absences", "awork_times", "hq_to_awork"))


def _claim_redis_db(name: str) -> int:
    """An empty Redis db (3–15), marked as ours; skips when Redis does not answer."""
    redis = pytest.importorskip("redis")
    import random

    for db in random.sample(range(3, 16), 13):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{db}", socket_connect_timeout=2)
        try:
            if client.dbsize() == 0 and client.set("hq_sync_cluster_claim", name, nx=True, ex=3600):
                if client.dbsize() == 1:
                    return db
                client.delete("hq_sync_cluster_claim")
        except redis.RedisError as exc:
            pytest.skip(f"Redis at {REDIS_BASE} does not answer ({exc})")
        finally:
            client.close()
    pytest.skip("no empty Redis db (3–15) to run the cluster on")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    reason = _postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from sandboxes.scenario import load_scenario
    from sandboxes.scenarios.demo import demo_credentials, demo_scenario

    root = tmp_path_factory.mktemp("cluster")
    name = f"hqs_t{uuid.uuid4().hex[:8]}"
    redis_db = _claim_redis_db(name)
    sandboxes = SandboxServers(root / "sandboxes").start()
    urls = {v: sandboxes.url(v) for v in ("hq", "awork", "personio")}
    scenario = demo_scenario(persons=8, entry_days=10)
    load_scenario(scenario, urls, reset=True)
    connections = hq_sync_cluster.demo_connections(urls, demo_credentials())
    connections[f"awork_{TENANT.replace('-', '_')}"]["extra"] = {
        "requests_per_second": AWORK_PER_SECOND, "requests_per_minute": AWORK_PER_MINUTE, "timeout": 10}
    env = {"HQ_SYNC_RETRY_DELAY_SECONDS": "2"}
    cl = hq_sync_cluster.Cluster(root=root / "airflow", api_port=hq_sync_cluster.free_port(), name=name,
                                 redis_db=redis_db, connections=connections, env_extra=env,
                                 worker_concurrency=1, pg_admin_url=POSTGRES_URL)
    try:
        cl.prepare()
        cl.start(timeout=240)
        cl.wait_dags(set(hq_sync_cluster.demo_dag_ids()), timeout=180)
        yield cl, sandboxes, scenario
    finally:
        left = cl.stop()
        cl.drop_databases()
        cl.flush_redis()
        sandboxes.stop()
        assert left == [], f"cluster processes still alive after stop: {left}"


# -- helpers --------------------------------------------------------------------------------------
def scheduled_runs(cl, dag_ids: list[str], timeout: float = 90) -> dict[str, str]:
    """Unpause the DAGs and return the run the scheduler creates for each (its latest interval)."""
    api = cl.api()
    for dag_id in dag_ids:
        api.set_paused(dag_id, False)

    def created() -> dict[str, str] | None:
        runs = {d: api.dag_runs(d, order_by="run_after") for d in dag_ids}
        return {d: r[0]["dag_run_id"] for d, r in runs.items()} if all(runs.values()) else None

    return cl.wait_for(f"scheduled runs of {dag_ids}", created, timeout, interval=1)


def task_instances(cl, runs: dict[str, str]) -> list[dict[str, Any]]:
    api = cl.api()
    return [ti for dag_id, run_id in runs.items() for ti in api.task_instances(dag_id, run_id)]


def interval(ti: dict[str, Any]) -> tuple[float, float]:
    return (datetime.fromisoformat(ti["start_date"]).timestamp(), datetime.fromisoformat(ti["end_date"]).timestamp())


def arrivals(log: list[dict[str, Any]]) -> list[float]:
    """When each logged request reached the sandbox (the log stamps the answer)."""
    return sorted(datetime.fromisoformat(r["at"]).timestamp() - r["duration_ms"] / 1000 for r in log)


def most_in_window(stamps: list[float], seconds: float) -> int:
    return max((sum(1 for s in stamps[i:] if s - start < seconds) for i, start in enumerate(stamps)), default=0)


def hq_absences(sandboxes: SandboxServers, token: str) -> list[tuple[Any, ...]]:
    """Every HQ absence of the tenant as (e-mail, type, start, end, note), sorted, duplicates kept."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    base = f"{sandboxes.url('hq')}/v1"
    result = []
    for user in session.get(f"{base}/Users", params={"$top": 1000}, timeout=30).json()["value"]:
        for a in session.get(f"{base}/Users({user['Id']})/Absences", params={"$top": 1000}, timeout=30).json()["value"]:
            result.append((user["EMailWork"], a["Type"], a["Start"], a["End"], a.get("Note")))
    return sorted(result, key=repr)


def offer_number(sandboxes: SandboxServers, token: str) -> str:
    resp = requests.get(f"{sandboxes.url('hq')}/v1/Quotations", params={"$top": 10},
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    [quotation] = resp.json()["value"]
    return str(quotation["Number"])


# -- tests ----------------------------------------------------------------------------------------
def test_two_dags_on_two_workers_share_one_awork_budget(cluster):
    cl, sandboxes, _ = cluster
    awork = sandboxes.admin("awork")
    awork.set_rate_limit(AWORK_PER_MINUTE, per_second=AWORK_PER_SECOND)  # the workspace's real limit
    start = (awork.requests() or [{"seq": 0}])[-1]["seq"]
    pair = [f"awork_times__{TENANT}", f"hq_to_awork__{TENANT}"]
    # awork_times first takes its run lock (a task of its own); hq_to_awork starts once it holds it,
    # so that awork_times' extract and hq_to_awork's sync_projects reach awork at the same time.
    runs = scheduled_runs(cl, pair[:1])

    def lock_taken() -> bool:
        states = {ti["task_id"]: ti["state"] for ti in task_instances(cl, runs)}
        return states.get("acquire_run_lock") == "success"

    cl.wait_for("awork_times' run lock", lock_taken, 180, interval=0.5)
    runs.update(scheduled_runs(cl, pair[1:]))
    states = cl.wait_runs(runs, timeout=240)
    cl.quiesce(pair)  # a schedule tick meanwhile must not run into the next test
    assert states == {d: "success" for d in pair}, cl.tails()
    STATE.setdefault("runs", {}).update(runs)

    tis = {(ti["dag_id"], ti["task_id"]): ti for ti in task_instances(cl, runs)}
    extract, projects = tis[(pair[0], "extract")], tis[(pair[1], "sync_projects")]
    assert {extract["hostname"], projects["hostname"]} == WORKERS  # one on each worker …
    (a0, a1), (b0, b1) = interval(extract), interval(projects)
    assert a0 < b1 and b0 < a1  # … at the same time

    log = [r for r in awork.requests(since=start)]
    assert len(log) > 3 * AWORK_PER_SECOND, "too few awork requests to test a budget"
    assert [r for r in log if r["status"] == 429] == []
    stamps = arrivals(log)
    assert most_in_window(stamps, 1.0) <= AWORK_PER_SECOND
    assert most_in_window(stamps, 60.0) <= AWORK_PER_MINUTE
    assert stamps[-1] - stamps[0] >= (len(log) - 1) / AWORK_PER_SECOND - 1  # paced, not bursting


def test_demo_tenant_dags_succeed_with_task_instances_on_both_workers(cluster):
    cl, sandboxes, _ = cluster
    from sandboxes.scenarios.demo import demo_credentials

    all_dags = hq_sync_cluster.demo_dag_ids()
    sync_dags = [d for d in all_dags if d.startswith(SYNC_PREFIXES)]
    scheduled = [d for d in sync_dags if d not in STATE.get("runs", {})]
    runs = scheduled_runs(cl, scheduled)
    api = cl.api()
    token = demo_credentials()[TENANT]["hq_sync_token"]
    offer_dag = f"hq_offer_to_awork__{TENANT}"
    api.set_paused(offer_dag, False)
    runs[offer_dag] = api.trigger(offer_dag, conf={"offer_number": offer_number(sandboxes, token)})["dag_run_id"]
    states = cl.wait_runs(runs, timeout=300)
    cl.quiesce(all_dags)
    assert states == {d: "success" for d in runs}, cl.tails()
    every = {**STATE.get("runs", {}), **runs}
    assert set(every) >= set(sync_dags) | {offer_dag}

    tis = task_instances(cl, every)
    assert {ti["state"] for ti in tis} == {"success"}
    assert Counter(ti["hostname"] for ti in tis).keys() == WORKERS  # both workers ran tasks
    STATE["absences"] = hq_absences(sandboxes, token)
    assert len(STATE["absences"]) > 20


def test_a_worker_killed_during_load_leaves_hq_as_the_fault_free_run(cluster):
    if "absences" not in STATE:
        pytest.skip("needs the fault-free run of the previous test")
    cl, sandboxes, scenario = cluster
    from sandboxes.scenario import load_scenario
    from sandboxes.scenarios.demo import demo_credentials

    api = cl.api()
    # The same inputs again: sandboxes and staging as before the fault-free run.
    load_scenario(scenario, {v: sandboxes.url(v) for v in ("hq", "awork", "personio")}, reset=True)
    cl.reset_staging()
    hq = sandboxes.admin("hq")
    hq.add_fault(path=r"/Absences$", method="POST", mode="delay", seconds=0.3, ratio=1.0)
    dag_id = f"personio_absences__{TENANT}"
    api.set_paused(dag_id, False)
    run_id = api.trigger(dag_id)["dag_run_id"]
    path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/load"

    def load_is_writing() -> dict[str, Any] | None:
        ti = api.get(path)
        writes = [r for r in hq.requests(path=r"/Absences$") if r["method"] == "POST"]
        return ti if ti["state"] == "running" and ti["hostname"] and len(writes) >= 5 else None

    first = cl.wait_for("the load step to be writing absences", load_is_writing, timeout=180, interval=0.3)
    victim = first["hostname"]
    killed = cl.kill_worker(victim)
    written_before = len([r for r in hq.requests(path=r"/Absences$") if r["method"] == "POST"])
    hq.clear_faults()
    assert len(killed) >= 3  # the Celery worker, its pool process and the running task at least

    states = cl.wait_runs({dag_id: run_id}, timeout=240, allow_dead=(victim,))
    assert states[dag_id] == "success", cl.tails()
    retried = api.get(path)
    assert retried["try_number"] >= 2
    assert retried["hostname"] == (WORKERS - {victim}).pop()  # the retry ran on the other worker
    assert written_before < len(STATE["absences"])  # the kill came in the middle of the load

    after = hq_absences(sandboxes, demo_credentials()[TENANT]["hq_sync_token"])
    assert len(after) == len(set(after)), "duplicates in HQ"
    assert after == STATE["absences"]  # nothing lost, nothing twice: the fault-free state
