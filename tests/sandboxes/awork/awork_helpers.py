"""Helpers for the awork sandbox tests: a client that validates every request body and answer
against awork's OpenAPI spec (where the spec covers the path), and admin conveniences."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

from sandboxes.testing import SandboxServers

REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_FILE = "awork-api-v1.openapi.json"
SPEC_HOST = "https://api.awork.com"


def specs_dir() -> Path:
    """Where the vendor specs live: ``$HQ_SYNC_SPECS_DIR`` or ``<repo>/../shared/specs``."""
    return Path(os.environ.get("HQ_SYNC_SPECS_DIR") or REPO_ROOT.parent / "shared" / "specs")


# Where awork's spec contradicts itself, the sandbox follows the spec's own example and the
# validator is told so here (each case is listed in docs/sandbox/awork.md).
LOCAL_DATE_FIELDS = ("startDateLocal", "endDateLocal")
LOCAL_DATE_SCHEMAS = ("TimeTracking", "TimeEntryPostForm", "TimeTrackingPutForm")


def tolerate_known_spec_inconsistencies(spec: dict[str, Any]) -> None:
    """Relax the spec where its example contradicts its format.

    ``startDateLocal``/``endDateLocal`` are ``format: date-time`` (RFC 3339 needs an offset), but
    the spec's examples (``"2022-03-01T00:00:00"``) carry none: a local date has no zone. The
    sandbox writes and accepts them without an offset, so the format check is dropped for them.
    """
    schemas = spec["components"]["schemas"]
    for name in LOCAL_DATE_SCHEMAS:
        for field in LOCAL_DATE_FIELDS:
            schemas[name]["properties"][field].pop("format", None)


class Conformance:
    """Validates requests and responses against the spec; records what it checked."""

    def __init__(self, spec: OpenAPI) -> None:
        self.spec = spec
        self.checked: list[tuple[str, str, int]] = []

    def _mock_request(self, method: str, path: str, params: dict[str, Any] | None,
                      body: Any, headers: dict[str, str]) -> MockRequest:
        return MockRequest(
            SPEC_HOST, method.lower(), path, args=params or {},
            headers=headers, data=json.dumps(body).encode() if body is not None else None,
            content_type="application/json",
        )

    def request(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
                headers: dict[str, str]) -> None:
        """Raise if a JSON request body does not fit the spec (paths the spec lacks are skipped)."""
        if body is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for the oauth2 scheme
            try:
                self.spec.validate_request(self._mock_request(method, path, params, body, headers))
            except PathNotFound:
                return

    def response(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
                 headers: dict[str, str], resp: requests.Response) -> bool:
        """Raise if the answer does not fit the spec; returns whether the spec covered it."""
        if not resp.content or "json" not in resp.headers.get("content-type", ""):
            return False
        req = self._mock_request(method, path, params, body, headers)
        mock = MockResponse(resp.content, status_code=resp.status_code,
                            content_type="application/json")
        try:
            self.spec.validate_response(req, mock)
        except (PathNotFound, ResponseNotFound):
            return False
        except Exception as exc:
            cause = getattr(exc, "__cause__", None)
            errors = [e.message for e in getattr(cause, "schema_errors", [])][:5]
            raise AssertionError(
                f"{method} {path} -> {resp.status_code} does not fit awork's spec: {exc}\n{errors}\n"
                f"{resp.text[:2000]}") from exc
        self.checked.append((method, path, resp.status_code))
        return True


class AworkClient:
    """An awork API client for tests; validates against the spec unless ``validate=False``."""

    def __init__(self, base_url: str, token: str | None, conformance: Conformance | None) -> None:
        self.base_url = base_url
        self.token = token
        self.conformance = conformance
        self.session = requests.Session()
        # Whether the spec covered (and so validated) the last answer.
        self.last_covered = False

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json_body: Any = None, validate: bool | str = True,
                headers: dict[str, str] | None = None) -> requests.Response:
        """One call. ``validate``: True checks request body and answer against the spec,
        "response" only the answer (for deliberately invalid bodies), False nothing."""
        hdrs = dict(headers or {})
        if self.token is not None:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        full = "/api/v1" + path
        if validate is True and self.conformance is not None:
            self.conformance.request(method, full, params, json_body, hdrs)
        url = self.base_url + full + (("?" + urlencode(params)) if params else "")
        resp = self.session.request(method, url, json=json_body, headers=hdrs, timeout=30,
                                    allow_redirects=False)
        self.last_covered = False
        if validate and self.conformance is not None:
            self.last_covered = self.conformance.response(method, full, params, json_body, hdrs, resp)
        return resp

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json_body=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, json_body=body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """Call and assert a 2xx; returns the JSON (None for 204)."""
        resp = self.request(method, path, json_body=body, **kw)
        assert resp.status_code < 300, f"{method} {path} -> {resp.status_code}: {resp.text}"
        return resp.json() if resp.content else None


class AworkSandbox:
    """The awork sandbox of one test: admin helpers and client factories."""

    def __init__(self, servers: SandboxServers, conformance: Conformance) -> None:
        self.servers = servers
        self.url = servers.url("awork")
        self.admin = servers.admin("awork")
        self.conformance = conformance

    def client(self, token: str | None) -> AworkClient:
        return AworkClient(self.url, token, self.conformance)

    def register(self, tenant: str = "acme", *, api_key: str | None = None,
                 users: list[dict[str, Any]] | None = None, settings: dict[str, Any] | None = None,
                 **extra: Any) -> AworkClient:
        """Register a tenant with one API key and users; returns a client using that key.

        The workspace rate limit is off unless ``settings`` turn it on, so tests stay deterministic.
        """
        key = api_key or f"{tenant}-key"
        body = {
            "tenant": tenant,
            "api_keys": [key],
            "users": users if users is not None else [
                {"first_name": "Anna", "last_name": "Admin", "email": f"anna@{tenant}.de", "admin": True},
                {"first_name": "Ben", "last_name": "Berater", "email": f"ben@{tenant}.de"},
            ],
            "settings": {"rate_limit_per_minute": None, "rate_limit_per_second": None, **(settings or {})},
            **extra,
        }
        self.admin.post("/tenants", body)
        return self.client(key)

    def patch_user(self, tenant: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change an admin-managed user (``PATCH /_sandbox/tenants/{t}/users/{id}``)."""
        resp = requests.patch(f"{self.url}/_sandbox/tenants/{tenant}/users/{user_id}", json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def user_id(self, tenant: str, email: str) -> str:
        users = self.admin.get(f"/tenants/{tenant}/users")["users"]
        return next(u["id"] for u in users if u["email"] == email.lower())


def make_project(client: AworkClient, name: str = "Website Relaunch", **extra: Any) -> dict[str, Any]:
    """A company-less project; returns the Project."""
    return client.ok("POST", "/projects", {"name": name, **extra})


def make_type(client: AworkClient, name: str = "Konzeption") -> dict[str, Any]:
    return client.ok("POST", "/typeofwork", {"name": name})


def make_entry(client: AworkClient, user_id: str, type_id: str, **extra: Any) -> dict[str, Any]:
    body = {"timezone": "Europe/Berlin", "userId": user_id, "typeOfWorkId": type_id,
            "startDateUtc": "2026-03-02T00:00:00Z", "startTimeUtc": "08:00:00", "duration": 3600}
    body.update(extra)
    return client.ok("POST", "/timeentries", body)
