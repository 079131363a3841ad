"""Authentication: API keys, the OAuth authorization-code flow with PKCE, refresh rotation,
expired/invalid/revoked tokens and their 401 answers."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from .awork_helpers import AworkSandbox


REDIRECT = "https://acme.hellohq.io/oauth/awork/callback"
CLIENT = {"client_id": "acmehq", "client_secret": "s3cret", "redirect_uris": [REDIRECT]}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(aw: AworkSandbox, challenge: str | None, *, state: str = "xyz",
              client_id: str = "acmehq", redirect_uri: str = REDIRECT, **extra: str) -> requests.Response:
    params = {"client_id": client_id, "response_type": "code", "grant_type": "authorization_code",
              "redirect_uri": redirect_uri, "state": state, "scope": "full_access offline_access",
              **extra}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return requests.get(aw.url + "/api/v1/accounts/authorize", params=params, allow_redirects=False,
                        timeout=10)


def redirect_params(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(aw: AworkSandbox, form: dict[str, str], *, basic: tuple[str, str] | None = ("acmehq", "s3cret"),
          content_type: str = "application/x-www-form-urlencoded") -> requests.Response:
    headers = {"Content-Type": content_type}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    return requests.post(aw.url + "/api/v1/accounts/token", data=form, headers=headers, timeout=10)


def oauth_tokens(aw: AworkSandbox) -> dict[str, Any]:
    verifier, challenge = pkce()
    code = redirect_params(authorize(aw, challenge))["code"]
    resp = token(aw, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                      "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    return resp.json()


def setup_oauth(aw: AworkSandbox, **settings: Any) -> None:
    aw.register("acme", oauth_clients=[CLIENT], settings=settings)


# -- API keys and 401 answers ----------------------------------------------------------------
def test_api_key_acts_as_the_api_user_of_its_workspace(aw: AworkSandbox) -> None:
    client = aw.register("acme", workspace={"name": "Acme Agentur"})
    me = client.ok("GET", "/me")
    assert me["workspace"]["name"] == "Acme Agentur"
    assert me["userContactInfos"] == []  # API users have no e-mail
    assert client.ok("GET", "/users/me")["id"] == me["id"]


def test_missing_and_invalid_tokens_answer_401_with_an_error_response(aw: AworkSandbox) -> None:
    aw.register("acme")
    for client in (aw.client(None), aw.client("not-a-key")):
        resp = client.get("/projects")
        assert resp.status_code == 401
        body = resp.json()
        assert body["code"] == "unauthorized"
        assert set(body) >= {"code", "description", "link", "traceId"}
        assert resp.headers["www-authenticate"].startswith("Bearer")
    resp = aw.client("not-a-key").get("/projects")
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


def test_empty_401_style_switch(aw: AworkSandbox) -> None:
    aw.register("acme")
    aw.admin.put("/settings", {"auth_error_style": "empty"})
    resp = aw.client("nope").get("/projects", validate=False)
    assert resp.status_code == 401 and resp.content == b""
    assert "invalid_token" in resp.headers["www-authenticate"]


def test_deleted_api_key_stops_working(aw: AworkSandbox) -> None:
    client = aw.register("acme")
    assert client.get("/projects").status_code == 200
    aw.admin.delete("/tenants/acme/api-keys/acme-key")
    assert client.get("/projects").status_code == 401


# -- OAuth -----------------------------------------------------------------------------------
def test_authorization_code_flow_with_pkce(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    verifier, challenge = pkce()
    params = redirect_params(authorize(aw, challenge, state="st-1"))
    assert params["state"] == "st-1" and params["code"]
    resp = token(aw, {"grant_type": "authorization_code", "code": params["code"],
                      "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["refresh_token"] and body["access_token"]
    me = aw.client(body["access_token"]).ok("GET", "/me")
    # The consenting user: the tenant's first admin (no login_hint, no logged-in user set).
    assert me["userContactInfos"][0]["value"] == "anna@acme.de"
    # Codes are single-use.
    again = token(aw, {"grant_type": "authorization_code", "code": params["code"],
                       "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["code"] == "invalid_grant"


def test_pkce_verifier_is_checked(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    _, challenge = pkce()
    code = redirect_params(authorize(aw, challenge))["code"]
    wrong = token(aw, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                       "code_verifier": "wrong-verifier-wrong-verifier-wrong-verifier-123"})
    assert wrong.status_code == 400
    assert wrong.json() == {"code": "invalid_grant", "description": "The specified 'code_verifier' is invalid."}
    code = redirect_params(authorize(aw, challenge))["code"]
    missing = token(aw, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_request"


def test_pkce_is_required_by_default(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    params = redirect_params(authorize(aw, None))
    assert params["error"] == "invalid_request" and params["state"] == "xyz"


def test_client_secret_is_checked_basic_or_body(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    verifier, challenge = pkce()
    code = redirect_params(authorize(aw, challenge))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    bad = token(aw, form, basic=("acmehq", "wrong"))
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_client"
    missing = token(aw, {**form, "client_id": "acmehq"}, basic=None)
    assert missing.status_code == 401 and missing.json()["code"] == "invalid_client"
    # The secret as a body field works too, and the code was not used up by the failures.
    ok = token(aw, {**form, "client_id": "acmehq", "client_secret": "s3cret"}, basic=None)
    assert ok.status_code == 200, ok.text


def test_public_client_sends_only_its_client_id(aw: AworkSandbox) -> None:
    aw.register("acme", oauth_clients=[{"client_id": "acmecli", "redirect_uris": [REDIRECT]}])
    verifier, challenge = pkce()
    code = redirect_params(authorize(aw, challenge, client_id="acmecli"))["code"]
    resp = token(aw, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                      "code_verifier": verifier, "client_id": "acmecli"}, basic=None)
    assert resp.status_code == 200, resp.text


def test_refresh_tokens_rotate_and_are_single_use(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    first = oauth_tokens(aw)
    second = token(aw, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    assert aw.client(second_body["access_token"]).get("/projects").status_code == 200
    reused = token(aw, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400
    assert reused.json()["code"] == "invalid_grant"
    third = token(aw, {"grant_type": "refresh_token", "refresh_token": second_body["refresh_token"]})
    assert third.status_code == 200


def test_expired_access_token_answers_token_expired(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    tokens = oauth_tokens(aw)
    client = aw.client(tokens["access_token"])
    assert client.get("/projects").status_code == 200
    assert aw.admin.post("/tenants/acme/oauth/expire", {})["expired"] >= 1
    resp = client.get("/projects")
    assert resp.status_code == 401
    assert re.search("token expired", resp.json()["description"], re.I)
    assert re.search("token expired", resp.headers["www-authenticate"], re.I)
    # The refresh token still works: that is how a client recovers.
    fresh = token(aw, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert aw.client(fresh.json()["access_token"]).get("/projects").status_code == 200


def test_access_token_lifetime_is_configurable(aw: AworkSandbox) -> None:
    setup_oauth(aw, access_token_lifetime=7)
    assert oauth_tokens(aw)["expires_in"] == 7


def test_revoked_grant_needs_reauthorisation(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    tokens = oauth_tokens(aw)
    aw.admin.post("/tenants/acme/oauth/revoke", {})
    assert aw.client(tokens["access_token"]).get("/projects").status_code == 401
    resp = token(aw, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_grant"
    oauth_tokens(aw)  # authorising again works


def test_oauth_error_style_switch(aw: AworkSandbox) -> None:
    setup_oauth(aw, token_error_style="oauth")
    resp = token(aw, {"grant_type": "refresh_token", "refresh_token": "nope"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_grant", "error_description": "The specified refresh token is invalid."}


def test_token_endpoint_wants_a_form_body(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    resp = requests.post(aw.url + "/api/v1/accounts/token?grant_type=refresh_token&refresh_token=x",
                         timeout=10)
    assert resp.status_code == 400
    assert resp.json()["description"] == "The mandatory 'Content-Type' header must be specified."
    resp = token(aw, {"refresh_token": "x"})
    assert resp.json()["description"] == "The mandatory 'grant_type' parameter is missing."


def test_consent_user_login_hint_and_denial(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    verifier, challenge = pkce()
    code = redirect_params(authorize(aw, challenge, login_hint="ben@acme.de"))["code"]
    body = token(aw, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                      "code_verifier": verifier}).json()
    me = aw.client(body["access_token"]).ok("GET", "/me")
    assert me["userContactInfos"][0]["value"] == "ben@acme.de"

    aw.admin.put("/tenants/acme/login", {"email": "anna@acme.de", "consent": "deny"})
    params = redirect_params(authorize(aw, challenge))
    assert params["error"] == "access_denied" and params["state"] == "xyz"


def test_unknown_redirect_uri_is_not_redirected_to(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    _, challenge = pkce()
    resp = authorize(aw, challenge, redirect_uri="https://evil.example/cb")
    assert resp.status_code == 400 and "location" not in resp.headers
    resp = authorize(aw, challenge, client_id="unknown")
    assert resp.status_code == 400


def test_access_tokens_are_per_workspace(aw: AworkSandbox) -> None:
    setup_oauth(aw)
    aw.register("beta")
    aw.client("beta-key").ok("POST", "/projects", {"name": "Beta only"})
    tokens = oauth_tokens(aw)
    names = [p["name"] for p in aw.client(tokens["access_token"]).ok("GET", "/projects")]
    assert names == []
