"""Registering a tenant's webhooks (issue #14): idempotent, a fresh secret in the connection, show, remove.

Against the sandboxes over HTTP and a real Airflow metadata database (the session's); deliveries
are checked against a receiver that reads the secret from the connection like the plugin does.
"""

from __future__ import annotations

import json

import pytest
import requests
import yaml

from hq_sync.airflow.webhooks import connection_secrets
from hq_sync.connect.webhooks import main
from hq_sync.staging import create_staging_engine, upgrade
from sandboxes.awork.seed import seed_tenant as seed_awork
from sandboxes.personio.seed import seed_tenant as seed_personio
from tests.e2e.conftest import AworkAdmin, PersonioAdmin
from tests.webhook_support import ReceiverServer

TENANT = "hookco"


def _connections(**conns: dict) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        for conn_id, fields in conns.items():
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
            session.add(Connection(conn_id=conn_id, conn_type="http", **fields))


def _extra(conn_id: str) -> dict:
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(conn_id).extra_dejson


@pytest.fixture
def hookco(fresh_sandboxes, tmp_path, monkeypatch, airflow_db):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / f"{TENANT}.yaml").write_text(yaml.safe_dump({"id": TENANT, "display_name": "Hook Co", "sources": {
        "personio": {"sync_start_date": "2026-01-01", "webhooks": {"enabled": True}},
        "awork": {"sync_start_date": "2026-01-01"}}}))
    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", str(tenants))
    seed_personio(fresh_sandboxes.url("personio"), TENANT, {
        "client_id": "hookco-personio", "client_secret": "hookco-secret",
        "persons": [{"email": "ada@hookco.example", "first_name": "Ada", "last_name": "A"}],
        "absence_types": [{"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"}],
        "absence_periods": [{"person": "ada@hookco.example", "type": "Urlaub", "start": "2026-12-01", "end": "2026-12-02",
                             "comment": "one"}]})
    seed_awork(fresh_sandboxes.url("awork"), TENANT, {
        "credentials": {"api_keys": ["hookco-awork-key"]},
        "users": [{"first_name": "Ada", "last_name": "A", "email": "ada@hookco.example", "admin": True}],
        "types_of_work": ["Design"], "projects": [{"name": "Web", "key": "WEB"}],
        "time_entries": [{"user": "ada@hookco.example", "project": "Web", "type_of_work": "Design", "date": "2026-11-20",
                          "start": "09:00", "hours": 1, "note": "one"}]})
    _connections(
        personio_hookco={"host": fresh_sandboxes.url("personio"), "login": "hookco-personio", "password": "hookco-secret",
                         "extra": json.dumps({"app_id": "HQ_SYNC_TEST"})},
        awork_hookco={"host": f"{fresh_sandboxes.url('awork')}/api/v1", "password": "hookco-awork-key"})
    engine = create_staging_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    upgrade(engine)
    with ReceiverServer(engine, lookup=connection_secrets) as receiver:
        yield fresh_sandboxes, receiver
    engine.dispose()


def test_register_is_idempotent_rotates_the_secret_shows_and_removes(hookco, capsys):
    sandboxes, receiver = hookco
    args = ["--tenant", TENANT, "--receiver-url", receiver.base_url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "personio: created webhook" in out and "awork: created webhook" in out
    first = {c: _extra(c)["webhook_secret"] for c in ("personio_hookco", "awork_hookco")}
    assert not any(secret in out for secret in first.values())
    assert _extra("personio_hookco")["app_id"] == "HQ_SYNC_TEST"  # the rest of the extra is kept

    assert main(args) == 0  # again: the same subscriptions, updated with a fresh secret
    out = capsys.readouterr().out
    assert "personio: updated webhook" in out and "awork: updated webhook" in out
    personio = PersonioAdmin(sandboxes.url("personio"), "hookco-personio", "hookco-secret")
    awork = AworkAdmin(sandboxes.url("awork"), "hookco-awork-key")
    hooks = personio.session.get(f"{personio.base_url}/v2/webhooks", timeout=10).json()["_data"]
    assert [(h["url"], h["status"]) for h in hooks] == [(receiver.url(TENANT, "personio"), "ENABLED")]
    assert [(h["uri"], h["isActive"]) for h in awork.get("/webhooks")] == [(receiver.url(TENANT, "awork"), True)]
    extra = _extra("personio_hookco")
    assert extra["webhook_secret"] != first["personio_hookco"] and extra["webhook_secret_previous"] == first["personio_hookco"]
    assert extra["webhook_id"] == hooks[0]["id"]

    # The vendors now deliver with the secret the receiver finds in the tenant's connections.
    personio.patch(personio.find("one")["id"], {"approval": {"status": "REJECTED"}})
    awork.edit_entry("one", duration=1800)
    for vendor in ("personio", "awork"):
        assert sandboxes.admin(vendor).post("/webhooks/wait?timeout=30", {})["idle"]
    assert sorted((r["source"], r["event_name"]) for r in receiver.inbox(TENANT)) == [
        ("awork", "timetracking_updated"), ("personio", "absence-period.updated.status")]

    assert main([*args, "--show"]) == 0
    shown = capsys.readouterr().out
    assert f"hq-sync {hooks[0]['id']}  active" in shown and "holds a webhook secret" in shown

    assert main([*args, "--remove"]) == 0
    assert "removed 1 webhook(s)" in capsys.readouterr().out
    assert personio.session.get(f"{personio.base_url}/v2/webhooks", timeout=10).json()["_data"] == []
    assert awork.get("/webhooks") == [] and "webhook_secret" not in _extra("awork_hookco")
    resp = requests.post(receiver.url(TENANT, "personio"), json={}, headers={"Authorization": extra["webhook_secret"]},
                         timeout=10)
    assert resp.status_code == 401  # the removed secret no longer opens the door


def test_a_connection_from_the_environment_cannot_hold_the_secret(hookco, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_CONN_PERSONIO_HOOKCO", json.dumps({"conn_type": "http", "host": "http://x"}))
    assert main(["--tenant", TENANT, "--receiver-url", "https://airflow.example.com", "--source", "personio"]) == 2
    assert "AIRFLOW_CONN_PERSONIO_HOOKCO" in capsys.readouterr().err
