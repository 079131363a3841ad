"""A1: connect an awork workspace with OAuth (PKCE) and keep its rotating refresh token safe."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet

from hq_sync.airflow.hooks import ConnectionClients
from hq_sync.clients.awork import AworkAuthorizationRevoked
from hq_sync.config import load_tenants
from hq_sync.connect.awork import ConnectError, connect, validate_client_id
from hq_sync.staging.oauth_tokens import StagingTokenStore, TokenStoreError
from hq_sync.staging import create_staging_engine, upgrade
from sandboxes.awork.seed import seed_tenant

TENANT = "oauthco"
CLIENT_ID, SECRET, REDIRECT = "hqsync42", "very-secret-value", "https://oauthco.hellohq.io/oauth/awork"


@pytest.mark.parametrize("bad", ["abc12", "hq-sync1", "hq sync1", "hqsync!1", ""])
def test_client_id_needs_six_letters_or_digits(bad):
    with pytest.raises(ConnectError, match="at least 6 characters, letters and digits only"):
        validate_client_id(bad)
    assert validate_client_id("hqSync42") == "hqSync42"


@pytest.fixture
def oauth_tenant(fresh_sandboxes, tmp_path, monkeypatch, airflow_db):
    seed_tenant(fresh_sandboxes.url("awork"), TENANT, {
        "credentials": {"oauth_clients": [{"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uris": [REDIRECT]}]},
        "users": [{"first_name": "Ada", "last_name": "Admin", "email": "ada@oauthco.example", "admin": True}],
    })
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / f"{TENANT}.yaml").write_text(yaml.safe_dump({
        "id": TENANT, "display_name": "OAuth Co", "sources": {"awork": {"sync_start_date": "2026-01-01"}},
    }))
    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", str(tenants))
    monkeypatch.delenv("AIRFLOW_CONN_AWORK_OAUTHCO", raising=False)
    engine = create_staging_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    upgrade(engine)
    return fresh_sandboxes, engine


def approve(url: str) -> str:
    """What the admin's browser does: open the authorize URL, get redirected with a code."""
    resp = requests.get(url, allow_redirects=False, timeout=10)
    assert resp.status_code in (302, 303), resp.text
    return resp.headers["Location"]


def stored_connection(conn_id: str, monkeypatch):
    """The connection as the metadata DB holds it, exported the way a worker would see it."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.scalar(sa.select(Connection).where(Connection.conn_id == conn_id))
        body = {"conn_type": conn.conn_type, "host": conn.host, "login": conn.login, "password": conn.password,
                "extra": conn.extra_dejson}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return body


def awork_client(engine):
    tenant = load_tenants().tenants[0]
    return ConnectionClients(tenant, engine).awork()


def test_connect_stores_the_grant_and_rotations_survive_new_processes(oauth_tenant, monkeypatch):
    sb, engine = oauth_tenant
    api = sb.url("awork") + "/api/v1"
    summary = connect(conn_id="awork_oauthco", client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT,
                      api_url=api, callback=approve)
    assert SECRET not in summary

    conn = stored_connection("awork_oauthco", monkeypatch)
    assert conn["login"] == CLIENT_ID and conn["password"] == SECRET
    assert conn["extra"]["auth"] == "oauth" and conn["extra"]["refresh_token"]

    assert awork_client(engine).me()["id"]
    with engine.connect() as c:
        first = c.execute(sa.text("SELECT refresh_token FROM oauth_tokens")).scalar_one()
    # The seed in the connection has been used: awork rotated it. A new process (a later task) must
    # use the stored rotation, not the connection's spent token.
    for _ in range(2):
        sb.admin("awork").post(f"/tenants/{TENANT}/oauth/expire", {})
        awork_client(engine).me()
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT refresh_token FROM oauth_tokens")).scalar_one() != first
    token = requests.post(api + "/accounts/token", data={
        "grant_type": "refresh_token", "refresh_token": conn["extra"]["refresh_token"],
        "client_id": CLIENT_ID, "client_secret": SECRET}, timeout=10)
    assert token.status_code >= 400  # the connection's original token was spent long ago


def test_revoked_authorisation_fails_with_how_to_reauthorise(oauth_tenant, monkeypatch):
    sb, engine = oauth_tenant
    connect(conn_id="awork_oauthco", client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT,
            api_url=sb.url("awork") + "/api/v1", callback=approve)
    stored_connection("awork_oauthco", monkeypatch)
    sb.admin("awork").post(f"/tenants/{TENANT}/oauth/revoke", {})
    with pytest.raises(AworkAuthorizationRevoked, match="python -m hq_sync.connect.awork") as err:
        awork_client(engine).me()
    assert f"--tenant {TENANT} " in str(err.value) and "<tenant>" not in str(err.value)  # the command to paste
    assert "crash" in str(err.value)  # honest about the one window a client cannot close (docs/hq-to-awork.md)

    # Re-authorising replaces the stored chain.
    connect(conn_id="awork_oauthco", client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT,
            api_url=sb.url("awork") + "/api/v1", callback=approve)
    stored_connection("awork_oauthco", monkeypatch)
    assert awork_client(engine).me()["id"]


def test_connect_command_never_prints_the_secret(oauth_tenant):
    sb, _ = oauth_tenant
    env = {**os.environ, "HQ_SYNC_AWORK_CLIENT_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hq_sync.connect.awork", "--tenant", TENANT, "--client-id", CLIENT_ID,
         "--redirect-uri", REDIRECT, "--api-url", sb.url("awork") + "/api/v1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        lines.append(line)
        if "/accounts/authorize?" in line:
            break
    out, err = proc.communicate(approve(line.strip()) + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "awork connected" in out
    assert SECRET not in "".join(lines) + out + err

    bad = subprocess.run([sys.executable, "-m", "hq_sync.connect.awork", "--tenant", TENANT, "--client-id", "hq-1",
                          "--redirect-uri", REDIRECT], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "letters and digits only" in bad.stderr


def test_token_store_encrypts_with_the_fernet_key_and_follows_reauthorisation(tmp_path, monkeypatch):
    engine = create_staging_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("HQ_SYNC_FERNET_KEY", key)
    store = StagingTokenStore(engine, "t", "awork", seed="seed-1")
    assert store.load() == "seed-1"
    store.save("rotated-2")
    with engine.connect() as c:
        raw = c.execute(sa.text("SELECT refresh_token, encrypted FROM oauth_tokens")).one()
    assert raw.encrypted and "rotated-2" not in raw.refresh_token
    assert StagingTokenStore(engine, "t", "awork", seed="seed-1").load() == "rotated-2"
    assert StagingTokenStore(engine, "t", "awork", seed="seed-new").load() == "seed-new"  # re-authorised
    monkeypatch.setenv("HQ_SYNC_FERNET_KEY", Fernet.generate_key().decode())
    with pytest.raises(TokenStoreError, match="another Fernet key"):
        StagingTokenStore(engine, "t", "awork", seed="seed-1").load()
