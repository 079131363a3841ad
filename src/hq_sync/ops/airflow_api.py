"""A small client of Airflow 3's public REST API (``/api/v2``), used by the ops commands and the
status page. It never touches Airflow's metadata database.

Authentication: a JWT sent as ``Authorization: Bearer``. Either a token is given (e.g. the UI
user's own token, forwarded by the status page), or one is fetched with ``POST /auth/token`` from
a username and password (SimpleAuthManager, or any auth manager that offers that endpoint).

Settings for the commands (flags override them):

- ``HQ_SYNC_AIRFLOW_URL``: the API server's base URL (default ``http://localhost:8080``)
- ``HQ_SYNC_AIRFLOW_TOKEN``: a ready JWT, or
- ``HQ_SYNC_AIRFLOW_USERNAME`` / ``HQ_SYNC_AIRFLOW_PASSWORD``: credentials for ``POST /auth/token``
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://localhost:8080"
PAGE = 100  # Airflow's default [api] maximum_page_limit
TENANT_TAG = "hq-sync"  # every DAG the factory generates carries it


class RunState(StrEnum):
    """A DAG run's ``state`` in the API's answers (Airflow's ``DagRunState``; this client does not
    import Airflow)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class TaskState(StrEnum):
    """The task instance ``state`` values the ops commands look for (Airflow's ``TaskInstanceState``)."""

    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"  # a sensor in reschedule mode: the run lock waits so


class AirflowApiError(RuntimeError):
    """An answer of the REST API that is not what we asked for (status and body included)."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"{method} {url} answered {status}: {body[:500]}")


class AirflowApi:
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._username = username
        self._password = password
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The connection flags shared by the ops commands."""
        group = parser.add_argument_group("Airflow REST API")
        from hq_sync.settings import settings

        env = settings()
        group.add_argument(
            "--airflow-url",
            default=env.airflow_url or DEFAULT_URL,
            help="API server base URL (env HQ_SYNC_AIRFLOW_URL; default %(default)s)",
        )
        group.add_argument("--token", default=env.airflow_token, help="a JWT for the API (env HQ_SYNC_AIRFLOW_TOKEN)")
        group.add_argument(
            "--username", default=env.airflow_username, help="user for POST /auth/token (env HQ_SYNC_AIRFLOW_USERNAME)"
        )
        group.add_argument(
            "--password",
            default=env.airflow_password,
            help="password for POST /auth/token (env HQ_SYNC_AIRFLOW_PASSWORD)",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AirflowApi:
        if not args.token and not (args.username and args.password):
            raise SystemExit(
                "no credentials for the Airflow API: pass --token, or --username and --password "
                "(or set HQ_SYNC_AIRFLOW_TOKEN, or HQ_SYNC_AIRFLOW_USERNAME and HQ_SYNC_AIRFLOW_PASSWORD)"
            )
        return cls(args.airflow_url, token=args.token, username=args.username, password=args.password)

    # -- plumbing ---------------------------------------------------------------------------
    def login(self) -> str:
        """Fetch a JWT with ``POST /auth/token`` and use it from now on."""
        url = f"{self.base_url}/auth/token"
        resp = self.session.post(
            url, json={"username": self._username, "password": self._password}, timeout=self.timeout
        )
        if resp.status_code not in (200, 201):
            raise AirflowApiError("POST", url, resp.status_code, resp.text)
        token: str = resp.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if "Authorization" not in self.session.headers and self._username:
            self.login()
        url = f"{self.base_url}/api/v2{path}"
        resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if resp.status_code == 401 and self._username:  # expired: log in again once
            self.login()
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if resp.status_code >= 400:
            raise AirflowApiError(method, url, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Any, **params: Any) -> Any:
        return self.request("PATCH", path, json=body, params=params)

    # -- DAGs -------------------------------------------------------------------------------
    def dags(self, tag: str | None = TENANT_TAG, **filters: Any) -> list[dict[str, Any]]:
        """Every DAG (with ``tag``), all pages; the pages after the first are fetched in parallel."""
        params: dict[str, Any] = {"limit": PAGE, "order_by": "dag_id", **filters}
        if tag:
            params["tags"] = tag
        first = self.get("/dags", **params, offset=0)
        dags = list(first["dags"])
        total = int(first.get("total_entries") or len(dags))
        offsets = range(len(dags), total, PAGE) if len(dags) == PAGE else range(0)
        if offsets:
            with ThreadPoolExecutor(max_workers=8) as pool:
                for page in pool.map(lambda o: self.get("/dags", **params, offset=o)["dags"], offsets):
                    dags += page
        return dags

    def dag(self, dag_id: str) -> dict[str, Any]:
        dag: dict[str, Any] = self.get(f"/dags/{quote(dag_id, safe='')}")
        return dag

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        dag: dict[str, Any] = self.patch(
            f"/dags/{quote(dag_id, safe='')}", {"is_paused": paused}, update_mask="is_paused"
        )
        return dag

    # -- DAG runs ---------------------------------------------------------------------------
    def dag_runs(self, dag_id: str, **params: Any) -> list[dict[str, Any]]:
        """Runs of one DAG (one page; pass ``limit``/``order_by``/filters)."""
        params.setdefault("limit", PAGE)
        runs: list[dict[str, Any]] = self.get(f"/dags/{quote(dag_id, safe='')}/dagRuns", **params)["dag_runs"]
        return runs

    def latest_runs(self, dag_ids: Iterable[str], since: datetime | None = None) -> dict[str, dict[str, Any]]:
        """The latest run (by ``run_after``) of each DAG, with few requests for many DAGs.

        One batch request (``POST /dags/~/dagRuns/list``) returns the newest runs of the DAGs not
        seen yet; the DAGs found are dropped from the next request. As tenant DAGs share their
        schedules, one round finds up to a page of DAGs; a short page means the rest have no run.
        """
        remaining = set(dag_ids)
        latest: dict[str, dict[str, Any]] = {}
        while remaining:
            body: dict[str, Any] = {
                "dag_ids": sorted(remaining),
                "order_by": "-run_after",
                "page_limit": PAGE,
            }
            if since is not None:
                body["run_after_gte"] = since.isoformat()
            runs = self.post("/dags/~/dagRuns/list", body)["dag_runs"]
            for run in runs:
                if run["dag_id"] in remaining and run["dag_id"] not in latest:
                    latest[run["dag_id"]] = run
            remaining -= set(latest)
            if len(runs) < PAGE:
                break
        return latest

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None
    ) -> dict[str, Any]:
        run: dict[str, Any] = self.post(
            f"/dags/{quote(dag_id, safe='')}/dagRuns", {"conf": conf or {}, "logical_date": logical_date}
        )
        return run

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        tis: list[dict[str, Any]] = self.get(path, limit=PAGE)["task_instances"]
        return tis

    def clear_failed(self, dag_id: str, run_id: str, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """Clear the failed (and upstream-failed) tasks of one run; returns the task instances."""
        body = {
            "dag_run_id": run_id,
            "only_failed": True,
            "dry_run": dry_run,
            "reset_dag_runs": True,
            "note": "cleared by hq_sync.ops.rerun_failed",
        }
        result = self.post(f"/dags/{quote(dag_id, safe='')}/clearTaskInstances", body)
        return list(result.get("task_instances", []))

    # -- backfills --------------------------------------------------------------------------
    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        backfills: list[dict[str, Any]] = self.get("/backfills", dag_id=dag_id, limit=PAGE, order_by="-id")["backfills"]
        return backfills

    def backfill(self, backfill_id: int) -> dict[str, Any]:
        backfill: dict[str, Any] = self.get(f"/backfills/{backfill_id}")
        return backfill

    def iter_backfill_runs(self, dag_id: str, backfill_id: int) -> Iterator[dict[str, Any]]:
        """The runs of one backfill (run type ``backfill``, matched by the backfill id)."""
        offset = 0
        while True:
            page = self.get(
                f"/dags/{quote(dag_id, safe='')}/dagRuns",
                run_type="backfill",
                limit=PAGE,
                offset=offset,
                order_by="logical_date",
            )["dag_runs"]
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE
