"""Authentication: v2 client credentials, v1 tokens, expiry, invalidation, scopes, ID headers."""

from __future__ import annotations

import time

import requests


def _error_detail(resp: requests.Response) -> str:
    return str(resp.json()["errors"][0]["detail"])


def test_v2_token_is_issued_for_form_encoded_client_credentials(personio):
    tenant = personio.tenant("acme", token_lifetime_seconds=3600)
    resp = tenant.token_response()
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {
        "personio:absences:read", "personio:absences:write", "personio:persons:read",
        "personio:webhooks:read", "personio:webhooks:write"}
    assert resp.headers["Cache-Control"] == "no-store"
    assert tenant.get("/v2/persons").status_code == 200


def test_v2_token_errors_are_oauth2_bodies(personio):
    tenant = personio.tenant("acme")
    url = personio.url + "/v2/auth/token"
    wrong = tenant.token_response(client_secret="wrong")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert set(wrong.json()) == {"error", "error_description", "timestamp", "trace_id"}
    unknown = requests.post(url, data={"grant_type": "client_credentials", "client_id": "nobody",
                                       "client_secret": "x"}, timeout=5)
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    as_json = requests.post(url, json={"grant_type": "client_credentials",
                                       "client_id": tenant.client_id,
                                       "client_secret": tenant.secret}, timeout=5)
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    no_grant = requests.post(url, data={"client_id": tenant.client_id,
                                        "client_secret": tenant.secret}, timeout=5)
    assert (no_grant.status_code, no_grant.json()["error"]) == (400, "invalid_request")
    password = tenant.token_response(grant_type="password")
    assert (password.status_code, password.json()["error"]) == (400, "unsupported_grant_type")
    bad_scope = tenant.token_response(scope="personio:attendances:write")
    assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")


def test_requested_scopes_narrow_the_token_and_a_missing_scope_answers_401(personio):
    tenant = personio.tenant("acme")
    resp = tenant.token_response(scope="personio:absences:read")
    assert resp.json()["scope"] == "personio:absences:read"
    headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    assert requests.get(personio.url + "/v2/absence-types", headers=headers, timeout=5).status_code == 200
    persons = requests.get(personio.url + "/v2/persons", headers=headers, timeout=5)
    assert persons.status_code == 401  # observed live: a missing right on /v2/persons is a 401
    assert "personio:persons:read" in _error_detail(persons)
    write = requests.post(personio.url + "/v2/absence-periods", headers=headers, json={}, timeout=5)
    assert write.status_code == 401
    personio.settings(missing_scope_status=403)
    assert requests.get(personio.url + "/v2/persons", headers=headers, timeout=5).status_code == 403


def test_credential_scopes_limit_what_a_token_can_get(personio):
    tenant = personio.tenant("acme", scopes=["personio:absences:read"])
    assert tenant.token_response(scope="personio:persons:read").json()["error"] == "invalid_scope"
    assert tenant.token_response().json()["scope"] == "personio:absences:read"


def test_missing_or_invalid_bearer_tokens_answer_401_in_the_v2_envelope(personio):
    personio.tenant("acme")
    none = requests.get(personio.url + "/v2/absence-periods", timeout=5)
    assert none.status_code == 401
    assert none.json()["errors"][0]["title"] == "Unauthorized"
    bogus = requests.get(personio.url + "/v2/absence-periods",
                         headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bogus.status_code == 401
    basic = requests.get(personio.url + "/v2/absence-periods",
                         headers={"Authorization": "Basic YTpi"}, timeout=5)
    assert basic.status_code == 401


def test_a_token_expires_after_the_configured_lifetime(personio):
    tenant = personio.tenant("acme", token_lifetime_seconds=1)
    assert tenant.token_response().json()["expires_in"] == 1
    assert tenant.get("/v2/absence-types").status_code == 200
    time.sleep(1.2)
    expired = tenant.get("/v2/absence-types")
    assert expired.status_code == 401
    assert "expired" in _error_detail(expired)
    assert tenant.token_response().status_code == 200  # a fresh token works again


def test_invalidating_a_tenants_tokens_forces_a_reauthentication(personio):
    tenant = personio.tenant("acme")
    other = personio.tenant("globex")
    assert tenant.get("/v2/persons").status_code == 200
    assert other.get("/v2/persons").status_code == 200
    assert personio.admin.post("/tenants/acme/invalidate-tokens", {}) == {"invalidated": 1}
    assert tenant.get("/v2/persons").status_code == 401
    assert other.get("/v2/persons").status_code == 200  # other tenants keep their tokens
    # What a client does on a 401: mint a new token once and retry.
    tenant._token = None
    assert tenant.get("/v2/persons").status_code == 200


def test_a_revoked_token_is_refused(personio):
    tenant = personio.tenant("acme")
    token = tenant.token
    resp = requests.post(personio.url + "/v2/auth/revoke", data={"token": token}, timeout=5)
    assert resp.status_code == 200
    assert tenant.get("/v2/persons").status_code == 401


def test_v1_auth_accepts_json_form_and_query_and_echoes_the_token(personio):
    tenant = personio.tenant("acme")
    url = personio.url + "/v1/auth"
    creds = {"client_id": tenant.client_id, "client_secret": tenant.secret}
    as_json = requests.post(url, json=creds, timeout=5)
    assert as_json.status_code == 200
    body = as_json.json()
    assert body["success"] is True
    token = body["data"]["token"]
    assert token.startswith("papi-")
    assert body["data"]["expires_in"] > 86000
    assert body["data"]["scope"] == "employees:read absences:read"
    assert as_json.headers["Authorization"] == f"Bearer {token}"
    # v1 tokens are stable for 24 h: the same token comes back however the credentials arrive.
    as_form = requests.post(url, data=creds, timeout=5)
    as_query = requests.post(url, params=creds, timeout=5)
    assert as_form.json()["data"]["token"] == token
    assert as_query.json()["data"]["token"] == token


def test_v1_auth_errors_use_the_v1_envelope(personio):
    tenant = personio.tenant("acme")
    url = personio.url + "/v1/auth"
    wrong = requests.post(url, json={"client_id": tenant.client_id, "client_secret": "no"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {"success": False, "error": {"code": 401, "message": "Wrong credentials"}}
    missing = requests.post(url, json={}, timeout=5)
    assert missing.status_code == 400
    assert missing.json()["success"] is False


def test_v1_tokens_are_refused_on_v2_unless_switched_on(personio):
    tenant = personio.tenant("acme")
    token = requests.post(personio.url + "/v1/auth", json={
        "client_id": tenant.client_id, "client_secret": tenant.secret}, timeout=5).json()["data"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(personio.url + "/v2/persons", headers=headers, timeout=5).status_code == 401
    personio.settings(accept_v1_tokens_on_v2=True)
    assert requests.get(personio.url + "/v2/persons", headers=headers, timeout=5).status_code == 200


def test_personio_id_headers_are_recorded_per_tenant(personio):
    tenant = personio.tenant("acme")
    other = personio.tenant("globex")
    tenant.extra_headers = {"X-Personio-App-ID": "HQ_SYNC", "X-Personio-Partner-ID": "HELLOHQ"}
    tenant.get("/v2/persons")
    tenant.get("/v2/absence-types")
    other.extra_headers = {"Personio-App-ID": "some-app"}  # the spec's spelling, not UPPER_SNAKE
    other.get("/v2/persons")
    seen = personio.admin.get("/tenants/acme/client-headers")
    assert seen["app_id"] == "HQ_SYNC"
    assert seen["partner_id"] == "HELLOHQ"
    assert seen["app_id_upper_snake_case"] is True
    # The token request carried no headers; both data requests did.
    assert seen["requests"] == 3
    assert seen["requests_with_app_id"] == 2
    assert seen["last_request"]["path"] == "/v2/absence-types"
    assert seen["last_request"]["app_id"] == "HQ_SYNC"
    other_seen = personio.admin.get("/tenants/globex/client-headers")
    assert other_seen["app_id"] == "some-app"
    assert other_seen["app_id_upper_snake_case"] is False
    assert other_seen["partner_id"] is None


def test_requests_are_attributed_to_their_tenant_in_the_request_log(personio):
    tenant = personio.tenant("acme")
    tenant.get("/v2/persons")
    # SandboxAdmin.requests(path=...) clashes with SandboxAdmin.get(path, ...); call it directly.
    logged = requests.get(personio.url + "/_sandbox/requests", params={"path": "^/v2/persons$"},
                          timeout=5).json()["requests"]
    assert [entry["tenant"] for entry in logged] == ["acme"]
