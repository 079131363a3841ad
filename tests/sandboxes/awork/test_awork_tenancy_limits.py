"""Tenant isolation, the workspace rate limit (awork's 429 and ratelimit headers), injected
faults, the request log and persistence across a restart."""

from __future__ import annotations

from pathlib import Path

import requests

from sandboxes.testing import SandboxServers

from .awork_helpers import AworkClient, AworkSandbox, make_entry, make_project, make_type

RATELIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
                     "x-ratelimit-limit-second", "x-ratelimit-remaining-second",
                     "x-ratelimit-limit-minute", "x-ratelimit-remaining-minute")


def test_a_token_never_sees_or_changes_another_tenants_data(aw: AworkSandbox, acme: AworkClient) -> None:
    beta = aw.register("beta")
    tow = make_type(acme)["id"]
    project = make_project(acme, "Acme only")
    entry = make_entry(acme, aw.user_id("acme", "anna@acme.de"), tow, projectId=project["id"])
    assert beta.ok("GET", "/projects") == [] and beta.ok("GET", "/timeentries") == []
    assert {u["firstName"] for u in beta.ok("GET", "/users")} == {"Anna", "Ben", "API"}
    assert all(u["id"] != aw.user_id("acme", "anna@acme.de") for u in beta.ok("GET", "/users"))
    assert beta.get(f"/projects/{project['id']}").status_code == 404
    assert beta.get(f"/timeentries/{entry['id']}").status_code == 404
    assert beta.put(f"/projects/{project['id']}", {"name": "hijacked"}).status_code == 404
    assert beta.delete(f"/timeentries/{entry['id']}").status_code == 404
    assert beta.post(f"/projects/{project['id']}/tasklists", {"name": "x"}).status_code == 404
    # A beta write may not reference acme's records either.
    resp = beta.post("/timeentries", {"timezone": "UTC", "userId": aw.user_id("acme", "anna@acme.de"),
                                      "typeOfWorkId": tow, "startDateUtc": "2026-01-06T08:00:00Z",
                                      "duration": 60}, validate=False)
    assert resp.status_code == 404
    assert acme.ok("GET", f"/projects/{project['id']}")["name"] == "Acme only"
    assert acme.get(f"/timeentries/{entry['id']}").status_code == 200


def test_workspace_rate_limit_answers_awork_429(aw: AworkSandbox) -> None:
    client = aw.register("acme", settings={"rate_limit_per_minute": 3, "rate_limit_per_second": None})
    second_key = aw.admin.post("/tenants/acme/api-keys", {"key": "acme-key-2"})["key"]
    ok = client.get("/projects")
    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-limit-minute"] == "3" and ok.headers["x-ratelimit-remaining-minute"] == "2"
    assert ok.headers["ratelimit-remaining"] == "2"
    assert client.get("/projects").status_code == 200
    # The limit is per workspace: a second key of the same workspace shares it.
    assert aw.client(second_key).get("/projects").status_code == 200
    limited = client.get("/projects", validate=False)
    assert limited.status_code == 429
    assert limited.json() == {"message": "API rate limit exceeded"}
    for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
                 "x-ratelimit-limit-minute", "x-ratelimit-remaining-minute"):
        assert name in limited.headers
    assert limited.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(limited.headers["ratelimit-reset"]) <= 60
    assert "retry-after" not in limited.headers
    # Another workspace is not affected; the request log attributes requests to tenants.
    assert aw.register("beta").get("/projects").status_code == 200
    log = aw.admin.requests(path="/api/v1/projects")
    assert [r["tenant"] for r in log][-2:] == ["acme", "beta"] and log[-2]["status"] == 429


def test_per_second_limit_and_retry_after_switch(aw: AworkSandbox) -> None:
    client = aw.register("acme", settings={"rate_limit_per_second": 2, "rate_limit_per_minute": 1000,
                                           "retry_after_header": True})
    statuses = [client.get("/projects", validate=False) for _ in range(3)]
    limited = [r for r in statuses if r.status_code == 429]
    if not limited:  # the three calls straddled a second boundary; one more inside the window
        limited = [r for r in (client.get("/projects", validate=False) for _ in range(3)) if r.status_code == 429]
    resp = limited[0]
    assert resp.headers["x-ratelimit-remaining-second"] == "0"
    assert resp.headers["ratelimit-limit"] == "2" and resp.headers["ratelimit-reset"] == "1"
    assert resp.headers["retry-after"] == "1"


def test_ratelimit_headers_on_success_can_be_switched_off(aw: AworkSandbox) -> None:
    client = aw.register("acme", settings={"rate_limit_per_minute": 1000,
                                           "ratelimit_headers_on_success": False})
    resp = client.get("/projects")
    assert resp.status_code == 200 and "ratelimit-limit" not in resp.headers


def test_injected_429_carries_awork_headers(aw: AworkSandbox, acme: AworkClient) -> None:
    aw.admin.add_fault(path="^/api/v1/timeentries", mode="429", count=1)
    resp = acme.get("/timeentries", validate=False)
    assert resp.status_code == 429
    assert resp.json() == {"message": "API rate limit exceeded"}
    for name in RATELIMIT_HEADERS:
        assert name in resp.headers, name
    assert resp.headers["ratelimit-reset"] == "60"
    assert acme.get("/timeentries").status_code == 200


def test_harness_per_token_limit_uses_awork_429(aw: AworkSandbox, acme: AworkClient) -> None:
    aw.admin.set_rate_limit(1)
    assert acme.get("/projects").status_code == 200
    resp = acme.get("/projects", validate=False)
    assert resp.status_code == 429 and "ratelimit-reset" in resp.headers


def test_injected_500_is_an_error_response(aw: AworkSandbox, acme: AworkClient) -> None:
    aw.admin.add_fault(path="^/api/v1/projects", mode="500", count=1)
    resp = acme.get("/projects", validate=False)
    assert resp.status_code == 500
    assert resp.json()["code"] == "server-error" and resp.json()["link"]


def test_data_survives_a_restart(tmp_path: Path) -> None:
    with SandboxServers(tmp_path) as servers:
        servers.admin("awork").post("/tenants", {"tenant": "acme", "api_keys": ["k"], "users": [
            {"first_name": "A", "last_name": "B", "email": "a@acme.de", "admin": True}]})
        headers = {"Authorization": "Bearer k"}
        requests.post(servers.url("awork") + "/api/v1/projects", json={"name": "Kept"},
                      headers=headers, timeout=10).raise_for_status()
    with SandboxServers(tmp_path) as servers:
        resp = requests.get(servers.url("awork") + "/api/v1/projects",
                            headers={"Authorization": "Bearer k"}, timeout=10)
        assert [p["name"] for p in resp.json()] == ["Kept"]
