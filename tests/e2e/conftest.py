"""End-to-end harness: tenant files, Airflow connections and a staging DB pointing at the sandboxes.

``World`` runs a tenant's DAG with ``dag.test()`` (a real Airflow run, in process) against the
sandbox APIs over HTTP, and reads back what HQ holds and what the run reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml

from sandboxes.testing import SandboxServers
from tests.conftest import REPO_ROOT

TENANT = "acme"
AWORK_KEY = "acme-awork-key"


class PersonioAdmin:
    """Vendor-side edits a person would make in Personio (over the sandbox's v2 API)."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        token = self.session.post(
            f"{base_url}/v2/auth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
            timeout=10,
        ).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def periods(self) -> list[dict[str, Any]]:
        items, url = [], f"{self.base_url}/v2/absence-periods?limit=100"
        while url:
            body = self.session.get(url, timeout=10).json()
            items += body["_data"]
            url = ((body["_meta"]["links"].get("next") or {}).get("href")) if body["_data"] else None
        return items

    def find(self, comment: str) -> dict[str, Any]:
        [period] = [p for p in self.periods() if p.get("comment") == comment]
        return period

    def patch(self, period_id: str, body: dict[str, Any]) -> None:
        resp = self.session.patch(f"{self.base_url}/v2/absence-periods/{period_id}", json=body, timeout=10)
        assert resp.status_code == 200, resp.text

    def delete(self, period_id: str) -> None:
        assert self.session.delete(f"{self.base_url}/v2/absence-periods/{period_id}", timeout=10).status_code == 204

    def stamp(self, tenant: str, period_id: str, updated_at: str) -> None:
        """Give a period an ``updated_at`` as a lagging Personio server would (sandbox admin API)."""
        resp = requests.post(f"{self.base_url}/_sandbox/tenants/{tenant}/absence-periods/{period_id}/stamp",
                             json={"updated_at": updated_at}, timeout=10)
        assert resp.status_code == 200, resp.text

    def touch_person_periods(self, tenant: str, person_id: str) -> int:
        """Bump ``updated_at`` of all a person's periods, as a working-time model change does."""
        resp = requests.post(f"{self.base_url}/_sandbox/tenants/{tenant}/persons/{person_id}/touch-absence-periods", timeout=10)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["touched"])

    def ends_at(self, exclusive_end: str, type_: str | None = None) -> dict[str, Any]:
        """A day-unit period's ``ends_at`` for the given exclusive end (midnight after the last
        day), written in the convention the sandbox is switched to (``day_end_boundary``)."""
        boundary = requests.get(f"{self.base_url}/_sandbox/settings", timeout=10).json()["day_end_boundary"]
        moment = datetime.fromisoformat(exclusive_end)
        if boundary == "inclusive":
            moment -= timedelta(days=1)
        return {"date_time": moment.strftime("%Y-%m-%dT%H:%M:%S"), "type": type_}


@dataclass
class World:
    sandboxes: SandboxServers
    tmp: Path
    tenant_file: Path
    staging_url: str
    hq_token: str

    # -- configuration ---------------------------------------------------------------------
    def write_tenant(self, content: dict[str, Any]) -> None:
        self.tenant_file.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")

    def tenant(self) -> dict[str, Any]:
        return yaml.safe_load(self.tenant_file.read_text(encoding="utf-8"))

    # -- running ---------------------------------------------------------------------------
    def run(self, source: str = "personio", *, conf: dict[str, Any] | None = None, logical_date: datetime | None = None, expect: str = "success") -> str:
        """One DAG run with dag.test(); returns its run_id."""
        from hq_sync.airflow.dag_factory import build_dags
        from hq_sync.config import dag_id_for

        dag = build_dags()[dag_id_for(source, TENANT)]
        for task in dag.tasks:
            # dag.test() waits out retry delays (minutes): here a failure must show at once.
            task.retries = 0
        kwargs: dict[str, Any] = {"run_conf": conf}
        if logical_date is not None:
            kwargs["logical_date"] = logical_date
        dag_run = dag.test(**kwargs)
        assert dag_run.state == expect, f"DAG run ended {dag_run.state}, expected {expect}"
        return str(dag_run.run_id)

    def step_result(self, run_id: str, step: str, source: str = "personio") -> Any:
        """What a step of a run returned (its XCom), e.g. ``extract``'s counts and read modes."""
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        from hq_sync.config import dag_id_for

        with create_session() as session:
            dag_id = dag_id_for(source, TENANT)
            query = XComModel.get_many(run_id=run_id, key="return_value", dag_ids=dag_id, task_ids=step)
            [row] = session.scalars(query).all()
            return XComModel.deserialize_value(row)

    def summary(self, run_id: str, entity: str = "absence") -> dict[str, Any]:
        engine = sa.create_engine(self.staging_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text("SELECT * FROM run_summaries WHERE run_id = :r AND entity = :e"), {"r": run_id, "e": entity}
                ).mappings().one()
                summary = dict(row)
                if isinstance(summary["details"], str):  # SQLite hands JSON back as text here
                    summary["details"] = json.loads(summary["details"])
                return summary
        finally:
            engine.dispose()

    def open_quarantine(self) -> list[dict[str, Any]]:
        engine = sa.create_engine(self.staging_url)
        try:
            with engine.connect() as conn:
                return [dict(r) for r in conn.execute(sa.text("SELECT * FROM quarantine WHERE resolved_at IS NULL")).mappings()]
        finally:
            engine.dispose()

    # -- HQ state --------------------------------------------------------------------------
    def hq(self, path: str, **params: Any) -> Any:
        """GET from HQ with the sync token; a collection comes back whole (its ``value`` holds every
        page, whatever the sandbox's server page size and ``next_link`` switches are)."""
        url = f"{self.sandboxes.url('hq')}/v1/{path}"
        headers = {"Authorization": f"Bearer {self.hq_token}"}
        resp = requests.get(url, params=params, headers=headers, timeout=10)
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, dict) or "value" not in body or "$top" in params:
            return body
        values = list(body["value"])
        while body["value"]:
            resp = requests.get(url, params={**params, "$skip": len(values)}, headers=headers, timeout=10)
            resp.raise_for_status()
            body = resp.json()
            values += body["value"]
        return {**body, "value": values}

    def hq_absences(self) -> list[dict[str, Any]]:
        """Every absence in HQ as (email, Type, Start, End, Note) dicts, sorted."""
        result = []
        for user in self.hq("Users")["value"]:
            for absence in self.hq(f"Users({user['Id']})/Absences")["value"]:
                result.append({
                    "email": user["EMailWork"], "Type": absence["Type"], "Start": absence["Start"],
                    "End": absence["End"], "Note": absence.get("Note"),
                })
        return sorted(result, key=lambda a: (a["email"], a["Start"], a["Type"]))

    def hq_writes(self, since: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.sandboxes.admin("hq").requests(since=since) if r["method"] in ("POST", "PUT", "DELETE", "PATCH")]

    def hq_log_position(self) -> int:
        log = self.sandboxes.admin("hq").requests()
        return log[-1]["seq"] if log else 0


class AworkAdmin:
    """Vendor-side edits a person would make in awork (over the sandbox's v1 API, API key)."""

    def __init__(self, base_url: str, key: str = AWORK_KEY) -> None:
        self.base = f"{base_url}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, **params: Any) -> Any:
        resp = self.session.get(f"{self.base}{path}", params={"pageSize": 1000, **params}, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def project(self, name: str) -> dict[str, Any]:
        [project] = [p for p in self.get("/projects") if p["name"] == name]
        return project

    def task(self, project: str, name: str) -> dict[str, Any]:
        [task] = [t for t in self.get(f"/projects/{self.project(project)['id']}/projecttasks") if t["name"] == name]
        return task

    def user(self, email: str) -> dict[str, Any]:
        from hq_sync.clients.awork import user_email

        [user] = [u for u in self.get("/users") if (user_email(u) or "").lower() == email.lower()]
        return user

    def entry(self, note: str) -> dict[str, Any]:
        [entry] = [e for e in self.get("/timeentries") if e.get("note") == note]
        return entry

    def edit_entry(self, which: str, **changes: Any) -> None:
        """PUT the entry noted ``which`` with ``changes`` (awork's PUT replaces: the rest is sent as read)."""
        e = self.entry(which)
        start = f"{e['startDateUtc'][:10]}T{e['startTimeUtc']}Z"
        body = {"timezone": e["timezone"], "typeOfWorkId": e["typeOfWorkId"], "userId": e["userId"],
                "projectId": e.get("projectId"), "taskId": e.get("taskId"), "startDateUtc": start,
                "duration": e["duration"], "note": e.get("note"), "isBillable": e.get("isBillable", True)}
        body.update(changes)
        resp = self.session.put(f"{self.base}/timeentries/{e['id']}", json=body, timeout=10)
        assert resp.status_code == 200, resp.text

    def delete_entry(self, note: str) -> None:
        resp = self.session.delete(f"{self.base}/timeentries/{self.entry(note)['id']}", timeout=10)
        assert resp.status_code == 204, resp.text

    def rename_task(self, project: str, name: str, new_name: str) -> None:
        task = self.task(project, name)
        body = {"name": new_name, "description": task.get("description"), "plannedDuration": task.get("plannedDuration"),
                "isPrio": task.get("isPrio", False)}
        resp = self.session.put(f"{self.base}/tasks/{task['id']}", json=body, timeout=10)
        assert resp.status_code == 200, resp.text


def _conn_env(conn_id: str, body: dict[str, Any]) -> tuple[str, str]:
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", **body})


SWITCHES_ENV = "HQ_SYNC_E2E_SWITCHES"


def switches_from_env() -> dict[str, dict[str, Any]]:
    """Sandbox switches for every e2e test, from ``$HQ_SYNC_E2E_SWITCHES`` (JSON, per vendor):
    ``{"hq": {"server_page_size": 7}, "personio": {"day_end_boundary": "inclusive"}, "awork": {...}}``.
    Runs the whole e2e suites in a non-default switch position (docs/sandbox.md#switch-positions)."""
    raw = os.environ.get(SWITCHES_ENV, "").strip()
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not set(value) <= {"hq", "personio", "awork"}:
        raise ValueError(f"{SWITCHES_ENV} must be a JSON object with keys hq, personio, awork; got {raw!r}")
    return value


@pytest.fixture
def switches(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """The sandbox switches of a test (merged over ``$HQ_SYNC_E2E_SWITCHES``). Parametrise a
    focused test over positions with ``@pytest.mark.parametrize("switches", [...], indirect=True)``."""
    merged = switches_from_env()
    for vendor, values in (getattr(request, "param", None) or {}).items():
        merged[vendor] = {**merged.get(vendor, {}), **values}
    return merged


def apply_switches(sandboxes: SandboxServers, switches: dict[str, dict[str, Any]]) -> None:
    """Set the switches as every vendor's global defaults (HQ: for tenants registered afterwards)."""
    for vendor, values in switches.items():
        if values:
            sandboxes.admin(vendor).put("/settings", values)


@pytest.fixture
def world(
    request: pytest.FixtureRequest, fresh_sandboxes: SandboxServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    airflow_db: None, switches: dict[str, dict[str, Any]],
) -> Iterator[World]:
    """A tenant 'acme' wired to freshly reset sandboxes, with its own staging database.

    SQLite by default; ``@pytest.mark.parametrize("world", ["postgresql"], indirect=True)`` runs
    the test on an emptied PostgreSQL staging schema (skipped when PostgreSQL does not answer).
    The sandboxes' switches are set from the ``switches`` fixture before the test seeds them.
    """
    apply_switches(fresh_sandboxes, switches)
    tenants_dir = tmp_path / "tenants"
    tenants_dir.mkdir()
    if getattr(request, "param", "sqlite") == "postgresql":
        from hq_sync.staging import create_staging_engine, upgrade
        from hq_sync.staging.schema import metadata

        staging_url = request.getfixturevalue("postgres_schema_url")
        engine = create_staging_engine(staging_url)
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in metadata.sorted_tables) + " RESTART IDENTITY"))
        engine.dispose()
    else:
        staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    hq_token = "hq-acme-sync"
    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", str(tenants_dir))
    monkeypatch.setenv("HQ_SYNC_STAGING_URL", staging_url)
    for key, value in (
        # Every client's back-off waits are capped at 0.25 s (Retry-After at 1 s): the fault tests
        # retry as often as in production, without its seconds of waiting.
        _conn_env("hq_acme", {"host": f"{fresh_sandboxes.url('hq')}/v1", "password": hq_token,
                              "extra": {"max_retry_delay": 0.25}}),
        _conn_env(
            "awork_acme",
            {"host": f"{fresh_sandboxes.url('awork')}/api/v1", "password": AWORK_KEY,
             "extra": {"timeout": 3, "max_retry_delay": 0.25}},
        ),
        _conn_env(
            "personio_acme",
            {"host": fresh_sandboxes.url("personio"), "login": "acme-personio", "password": "acme-secret",
             "extra": {"app_id": "HQ_SYNC_TEST", "timeout": 3, "max_retry_delay": 0.25}},
        ),
    ):
        monkeypatch.setenv(key, value)
    yield World(fresh_sandboxes, tmp_path, tenants_dir / f"{TENANT}.yaml", staging_url, hq_token)


def days_from_today(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
