"""Fixtures for the Personio sandbox tests: a client per tenant over real HTTP to the subprocess."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandboxes.testing import SandboxAdmin, SandboxServers

_client_ids = itertools.count(1)


class Tenant:
    """One registered tenant and a v2 bearer token for it."""

    def __init__(self, sandbox: PersonioSandbox, name: str, client_id: str, secret: str) -> None:
        self.sandbox = sandbox
        self.name = name
        self.client_id = client_id
        self.secret = secret
        self.http = requests.Session()
        self._token: str | None = None
        self.extra_headers: dict[str, str] = {}
        # Filled by the ``acme`` fixture: two persons, a day-unit and an hour-unit type.
        self.anna: dict[str, Any] = {}
        self.ben: dict[str, Any] = {}
        self.vacation: dict[str, Any] = {}
        self.doctor: dict[str, Any] = {}

    # -- auth ------------------------------------------------------------------------------
    def token_response(self, **form: str) -> requests.Response:
        data = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.secret, **form}
        return self.http.post(self.sandbox.url + "/v2/auth/token", data=data, timeout=10)

    @property
    def token(self) -> str:
        if self._token is None:
            resp = self.token_response()
            assert resp.status_code == 200, resp.text
            self._token = resp.json()["access_token"]
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **self.extra_headers}

    # -- vendor calls ----------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.sandbox.url + path
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.request("GET", path, params=params)

    def get_ok(self, path: str, **params: Any) -> Any:
        resp = self.get(path, **params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def list_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Follow ``_meta.links.next.href`` to the end; returns every item."""
        body = self.get_ok(path, **params)
        items = list(body["_data"])
        while "next" in body["_meta"]["links"]:
            resp = self.request("GET", body["_meta"]["links"]["next"]["href"])
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items.extend(body["_data"])
        return items

    # -- master data (admin) ---------------------------------------------------------------
    def person(self, email: str, first_name: str = "Anna", last_name: str = "Schmidt",
               **extra: Any) -> dict[str, Any]:
        return self.sandbox.admin.post(f"/tenants/{self.name}/persons",
                                       {"email": email, "first_name": first_name,
                                        "last_name": last_name, **extra})

    def absence_type(self, name: str, unit: str = "DAY", category: str | None = "PAID_VACATION",
                     **extra: Any) -> dict[str, Any]:
        return self.sandbox.admin.post(f"/tenants/{self.name}/absence-types",
                                       {"name": name, "unit": unit, "category": category, **extra})

    # -- absence periods (vendor) ----------------------------------------------------------
    def create_period(self, person: dict[str, Any], absence_type: dict[str, Any], start: str,
                      end: str | None, *, start_type: str | None = "FIRST_HALF",
                      end_type: str | None = "SECOND_HALF", skip_approval: bool = True,
                      comment: str | None = None) -> requests.Response:
        """POST a period; ``start``/``end`` are API date-times (a date means local midnight)."""
        body: dict[str, Any] = {
            "person": {"id": person["id"]},
            "absence_type": {"id": absence_type["id"]},
            "starts_from": {"date_time": _dt(start), "type": start_type},
            "ends_at": None if end is None else {"date_time": _dt(end), "type": end_type},
            "comment": comment,
        }
        return self.request("POST", "/v2/absence-periods",
                            params={"skip_approval": str(skip_approval).lower()}, json=body)

    def period(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Create a period and return its v2 JSON."""
        resp = self.create_period(*args, **kwargs)
        assert resp.status_code == 201, resp.text
        return self.get_ok(f"/v2/absence-periods/{resp.json()['id']}")


def _dt(value: str) -> str:
    return value if "T" in value else f"{value}T00:00:00"


class PersonioSandbox:
    """The Personio sandbox of the shared test servers."""

    def __init__(self, servers: SandboxServers) -> None:
        self.servers = servers
        self.url = servers.url("personio")
        self.admin: SandboxAdmin = servers.admin("personio")

    def tenant(self, name: str = "acme", secret: str = "s3cret", **extra: Any) -> Tenant:
        client_id = extra.pop("client_id", f"{name}-client-{next(_client_ids)}")
        self.admin.post("/tenants", {"tenant": name, "client_id": client_id,
                                     "client_secret": secret, **extra})
        return Tenant(self, name, client_id, secret)

    def settings(self, **changes: Any) -> dict[str, Any]:
        return self.admin.put("/settings", changes)


@pytest.fixture
def personio(fresh_sandboxes: SandboxServers) -> Iterator[PersonioSandbox]:
    """The Personio sandbox, emptied, with default settings."""
    yield PersonioSandbox(fresh_sandboxes)


@pytest.fixture
def acme(personio: PersonioSandbox) -> Tenant:
    """A registered tenant ``acme`` with two persons and a day and an hour absence type."""
    tenant = personio.tenant("acme")
    tenant.anna = tenant.person("anna@acme.test", "Anna", "Schmidt")
    tenant.ben = tenant.person("ben@acme.test", "Ben", "Meyer")
    tenant.vacation = tenant.absence_type("Urlaub", "DAY", "PAID_VACATION")
    tenant.doctor = tenant.absence_type("Arzttermin", "HOUR", "OTHER")
    return tenant
