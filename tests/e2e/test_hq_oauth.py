"""HQ over OAuth end to end (issue #10): the connect command stores the grant, every task redeems and
rotates the refresh token (kept in staging), expiring access tokens never stop the sync."""

from __future__ import annotations

import json

import pytest
import requests
import sqlalchemy as sa

from hq_sync.connect.hq import ConnectError, connect, validate_app_id
from sandboxes.hq.seed import seed_tenant as seed_hq
from sandboxes.personio.seed import seed_tenant as seed_personio
from tests.e2e.conftest import TENANT
from tests.e2e.test_personio_absences import HQ_SECTION, TENANT_FILE, expected_after_first_run, personio_section

APP, SECRET, REDIRECT = "4711-hqsync", "hq-app-secret", "https://acme.hellohq.io/oauth/hq"


def approve(url: str) -> str:
    """What the admin's browser does: open HQ's authorize URL, get sent back with a code."""
    resp = requests.get(url, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    return resp.headers["Location"]


def export_connection(conn_id: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The connection as the connect command stored it, exported the way a worker sees it."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.scalar(sa.select(Connection).where(Connection.conn_id == conn_id))
        body = {"conn_type": conn.conn_type, "host": conn.host, "login": conn.login, "password": conn.password,
                "extra": conn.extra_dejson}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return body


@pytest.mark.parametrize("app_id", ["hqsync", "12345", "abc-hqsync", ""])
def test_the_app_id_must_look_like_hqs(app_id):
    with pytest.raises(ConnectError, match="12345-hqsync"):
        validate_app_id(app_id)


def test_a_tenant_on_hq_oauth_keeps_syncing_across_expiring_tokens(world, monkeypatch):
    world.write_tenant(TENANT_FILE)
    hq_url = world.sandboxes.url("hq")
    # The Personio lock (B7) refuses absence writes of user tokens, and an OAuth token acts as the
    # user who approved: a tenant on OAuth needs HQ's own Personio sync off (docs/runbook.md).
    seed_hq(hq_url, TENANT, {**HQ_SECTION, "personio_sync": False, "settings": {"access_token_lifetime": 1199}})
    seed_personio(world.sandboxes.url("personio"), TENANT, personio_section())
    world.sandboxes.admin("hq").post(f"/tenants/{TENANT}/oauth-clients", {
        "app_id": APP, "app_secret": SECRET, "redirect_uris": [REDIRECT], "user": "anna.berg@acme.example"})

    monkeypatch.delenv("AIRFLOW_CONN_HQ_ACME")
    summary = connect(conn_id="hq_acme", app_id=APP, app_secret=SECRET, redirect_uri=REDIRECT, api_url=f"{hq_url}/v1",
                      callback=approve)
    assert SECRET not in summary and "1199 s" in summary
    conn = export_connection("hq_acme", monkeypatch)
    assert (conn["login"], conn["password"], conn["extra"]["auth"]) == (APP, SECRET, "oauth")

    world.run()
    assert world.hq_absences() == expected_after_first_run()
    engine = sa.create_engine(world.staging_url)
    with engine.connect() as c:
        first = c.execute(sa.text("SELECT refresh_token FROM oauth_tokens WHERE system = 'hq'")).scalar_one()
    # The connection's token was redeemed and replaced: only the stored rotation works now.
    spent = requests.post(f"{hq_url}/Token", auth=(APP, SECRET), timeout=10,
                          data={"grant_type": "refresh_token", "refresh_token": conn["extra"]["refresh_token"]})
    assert spent.json()["error"] == "invalid_grant"

    world.sandboxes.admin("hq").post(f"/tenants/{TENANT}/oauth/expire", {})
    position = world.hq_log_position()
    world.run()  # tokens expired meanwhile: renewed, the sync goes on and changes nothing
    assert [w["path"] for w in world.hq_writes(since=position)] == ["/Token"]  # a refresh, no data written
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT refresh_token FROM oauth_tokens WHERE system = 'hq'")).scalar_one() != first
    engine.dispose()
    writes = [r for r in world.sandboxes.admin("hq").requests(path="/Absences$") if r["method"] == "POST"]
    assert writes and all(r["status"] == 201 for r in writes)

    # A revoked grant fails the run with the command that fixes it.
    world.sandboxes.admin("hq").post(f"/tenants/{TENANT}/oauth/revoke", {})
    revoked = world.run(expect="failed")
    # Not retried (issue 15): the run's note names the kind and the fix.
    engine = sa.create_engine(world.staging_url)
    with engine.connect() as c:
        kind, reason = c.execute(sa.text("SELECT kind, reason FROM run_notes WHERE run_id = :r"), {"r": revoked}).one()
    engine.dispose()
    assert kind == "failed" and reason.startswith("authorisation revoked: ") and "python -m hq_sync.connect.hq" in reason
