"""HQ v1 OAuth (issue #10): /Account/Authorize, POST /Token with Basic AppId:AppSecret, expiring
access tokens and rotating refresh tokens."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .conftest import ACME, HQ

APP, SECRET, REDIRECT = "12345-hqsync", "app-secret", "https://acme.hellohq.io/oauth/hq"


def _basic(app: str = APP, secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{app}:{secret}".encode()).decode()}


def _token(hq: HQ, **form: str) -> requests.Response:
    return requests.post(hq.url + "/Token", data=form, headers=_basic(), timeout=10)


def _authorize(hq: HQ, state: str = "s1") -> str:
    resp = requests.get(hq.url + "/Account/Authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": APP, "state": state, "redirect_uri": REDIRECT, "scope": "read_all write_all"})
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == [state]
    return query["code"][0]


@pytest.fixture
def app(hq: HQ) -> HQ:
    hq.admin.post(f"/tenants/{ACME}/oauth-clients", {"app_id": APP, "app_secret": SECRET, "redirect_uris": [REDIRECT],
                                                     "user": "anna@acme.example"})
    return hq


def test_code_flow_expiring_access_and_rotating_refresh_tokens(app: HQ) -> None:
    hq = app
    hq.admin.put(f"/tenants/{ACME}/settings", {"access_token_lifetime": 60})
    grant = _token(hq, grant_type="authorization_code", code=_authorize(hq), redirect_uri=REDIRECT).json()
    assert grant["token_type"] == "bearer" and grant["expires_in"] == 60
    assert grant["user_name"] == "anna@acme.example" and grant["user_id"] == hq.user_id("anna@acme.example")
    me = hq.client(grant["access_token"]).get("/v1/Me")
    assert me.status_code == 200 and me.json()["EMailWork"] == "anna@acme.example"  # acts as the approving user

    hq.admin.post(f"/tenants/{ACME}/oauth/expire", {})
    expired = hq.client(grant["access_token"]).get("/v1/Me")
    assert expired.status_code == 401 and "expired" in expired.headers["WWW-Authenticate"]

    again = _token(hq, grant_type="refresh_token", refresh_token=grant["refresh_token"]).json()
    assert again["refresh_token"] != grant["refresh_token"]  # rotated ...
    reuse = _token(hq, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"  # ... and the used one is gone
    assert hq.client(again["access_token"]).get("/v1/Me").status_code == 200

    hq.admin.put(f"/tenants/{ACME}/settings", {"refresh_token_rotation": False})
    kept = _token(hq, grant_type="refresh_token", refresh_token=again["refresh_token"]).json()
    assert kept["refresh_token"] == again["refresh_token"]

    hq.admin.post(f"/tenants/{ACME}/oauth/revoke", {})
    assert _token(hq, grant_type="refresh_token", refresh_token=kept["refresh_token"]).json()["error"] == "invalid_grant"
    assert hq.client(kept["access_token"]).get("/v1/Me").status_code == 401


def test_token_endpoint_errors(app: HQ) -> None:
    hq = app
    code = _authorize(hq)
    wrong = requests.post(hq.url + "/Token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                          headers=_basic(secret="nope"), timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert _token(hq, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert _token(hq, grant_type="authorization_code", code=code, redirect_uri="https://evil.example").json()["error"] == "invalid_grant"
    assert _token(hq, grant_type="authorization_code", code=code, redirect_uri=REDIRECT).status_code == 200
    assert _token(hq, grant_type="authorization_code", code=code, redirect_uri=REDIRECT).json()["error"] == "invalid_grant"  # used
    bad_redirect = requests.get(hq.url + "/Account/Authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": APP, "redirect_uri": "https://evil.example"})
    assert bad_redirect.status_code == 400
    with pytest.raises(AssertionError, match="400"):
        hq.admin.post(f"/tenants/{ACME}/oauth-clients", {"app_id": "nodash", "app_secret": "x", "redirect_uris": [REDIRECT],
                                                         "user": "anna@acme.example"})
