"""Fixtures for the HQ sandbox tests: an HTTP client per token, a small scenario loaded through the
seed module, and a validator for the vendor's Swagger 2.0 file (../shared/specs).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from sandboxes.hq.seed import seed_tenant
from sandboxes.testing import SandboxAdmin, SandboxServers

REPO_ROOT = Path(__file__).resolve().parents[3]
SPECS_DIR = Path(os.environ.get("HQ_SYNC_SPECS_DIR", REPO_ROOT.parent / "shared" / "specs"))
SPEC_FILE = SPECS_DIR / "hq-api-v1.swagger.json"

ACME = "acme"
GLOBEX = "globex"
ACME_SYNC = "hq-acme-sync"
ANNA_TOKEN = "hq-acme-anna"
GLOBEX_SYNC = "hq-globex-sync"


class Client:
    """Requests against the HQ sandbox with one bearer token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any = None) -> requests.Response:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> requests.Response:
        return self.request("DELETE", path)

    def values(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """GETs a collection and returns its ``value`` (asserting 200)."""
        resp = self.get(path, **params)
        assert resp.status_code == 200, resp.text
        return list(resp.json()["value"])

    def one(self, path: str, **params: Any) -> dict[str, Any]:
        """GETs a collection that must hold exactly one entity."""
        items = self.values(path, **params)
        assert len(items) == 1, items
        return items[0]


def acme_scenario() -> dict[str, Any]:
    """A small ``hq:`` scenario section (the same format as the demo's)."""
    return {
        "sync_token": ACME_SYNC,
        "user_tokens": {"anna@acme.example": ANNA_TOKEN},
        "personio_sync": False,
        "users": [
            {"name": "Anna Schmidt", "email": "anna@acme.example", "rate_rule": "Intern"},
            {"name": "Bob Meier", "email": "Bob@Acme.example"},
            {"name": "Carla Ex", "email": "carla@acme.example", "deactivated": True},
        ],
        "task_types": ["Standard", "Konzeption", {"name": "Design", "statuses": [
            {"name": "Offen"}, {"name": "In Arbeit"}, {"name": "Fertig", "finished": True}]}],
        "project_roles": ["Projektleitung", "Entwicklung", "Design"],
        "project_statuses": [{"name": "Laufend", "in_progress": True}, {"name": "Abgeschlossen", "in_progress": False}],
        "project_templates": [
            {"name": "Kundenprojekt", "statuses": ["Laufend", "Abgeschlossen"]},
            {"name": "Intern", "internal": True, "statuses": ["Laufend"], "number_schema": "INT-{seq:03d}"},
        ],
        "company_types": ["Kunde", "Lieferant"],
        "custom_fields": [
            {"name": "awork Link", "type": "Link", "category": "Project"},
            {"name": "awork-Projekt anlegen", "type": "Boolean", "category": "Project"},
            {"name": "ETL-ID", "type": "Text", "category": "Project"},
        ],
        "rate_rules": [
            {"name": "Premium", "external": 150, "internal": 60,
             "roles": {"Projektleitung": {"external": 180}},
             "task_types": {"Konzeption": {"external": 160, "internal": 65}},
             "role_task_types": [{"role": "Design", "task_type": "Design", "external": 170, "internal": 70}]},
            {"name": "Intern", "external": 90, "internal": 45},
        ],
        "companies": [
            {"name": "Kunde GmbH", "rate_rule": "Premium", "types": ["Kunde"], "debitor_number": 10001,
             "address": {"street": "Hafenstr.", "house_number": "1", "zip_code": "20457", "city": "Hamburg"}},
            {"name": "Ohne Regel AG", "types": ["Lieferant"]},
        ],
        "projects": [
            {
                "name": "Website Relaunch", "template": "Kundenprojekt", "company": "Kunde GmbH",
                "number": "P-100", "start": "2025-01-01", "end": "2025-12-31",
                "members": [
                    {"email": "anna@acme.example", "role": "Projektleitung"},
                    {"email": "bob@acme.example", "role": "Design"},
                ],
                "custom_fields": {"awork Link": "https://acme.awork.com/projects/abc", "awork-Projekt anlegen": True},
                "phases": [
                    {"name": "Konzeption", "planned_hours": 40, "sync_id": "list-1", "tasks": [
                        {"name": "Wireframes", "task_type": "Konzeption", "planned_hours": 16, "sync_id": "task-1"},
                        {"name": "Moodboard", "task_type": "Design", "planned_hours": 8, "sync_id": "task-2"},
                    ]},
                    {"name": "awork - Zeiten"},
                ],
            },
            {"name": "Intern Orga", "template": "Intern", "responsible": "anna@acme.example",
             "members": [{"email": "bob@acme.example", "role": "Entwicklung", "rate": 99.5}]},
            {"name": "Ohne Regel", "template": "Kundenprojekt", "company": "Ohne Regel AG",
             "members": [{"email": "bob@acme.example", "role": "Entwicklung"}]},
        ],
        "quotations": [
            {"project": "Website Relaunch", "subject": "Relaunch", "sync_id": "offer-1", "status": "Sent",
             "positions": [
                 {"type": "GroupHeader", "text": "Konzeption"},
                 {"text": "Wireframes", "amount": 16, "unit": "h", "price": 160},
                 {"text": "Workshop", "amount": 4, "unit": "h", "price": 150, "optional": True},
                 {"type": "Subtotal"},
                 {"type": "PositionGroup", "text": "Design"},
                 {"text": "Layouts", "amount": 10, "unit": "h", "price": 170},
             ]},
        ],
        "absences": [
            {"email": "anna@acme.example", "type": "Vacation", "start": "2025-03-03", "end": "2025-03-08"},
            {"email": "bob@acme.example", "type": "SickLeave", "start": "2025-03-10", "end": "2025-03-10T12:00:00"},
        ],
        "reportings": [
            {"email": "anna@acme.example", "project": "Website Relaunch", "task": "Konzeption/Wireframes",
             "start": "2025-02-03T08:00:00Z", "hours": 2, "note": "Wireframes v1"},
            {"email": "bob@acme.example", "project": "Website Relaunch", "task": "Moodboard",
             "start": "2025-02-04T09:00:00Z", "hours": 1.5, "note": "Moodboard"},
            {"email": "bob@acme.example", "project": "Website Relaunch", "task": "Konzeption/Wireframes",
             "start": "2025-02-05T09:00:00Z", "duration": 1800, "note": "Review", "billed": True},
        ],
    }


def globex_scenario() -> dict[str, Any]:
    """A second tenant, to prove isolation."""
    return {
        "sync_token": GLOBEX_SYNC,
        "users": [{"name": "Gina Globex", "email": "gina@globex.example"}],
        "project_statuses": ["Laufend"],
        "project_templates": [{"name": "Kundenprojekt", "statuses": ["Laufend"]}],
        "project_roles": ["Projektleitung"],
        "companies": [{"name": "Globex Kunde"}],
        "projects": [{"name": "Globex Projekt", "company": "Globex Kunde",
                      "members": [{"email": "gina@globex.example", "role": "Projektleitung"}],
                      "phases": [{"name": "Phase", "tasks": [{"name": "Task", "sync_id": "g-1"}]}]}],
        "reportings": [{"email": "gina@globex.example", "project": "Globex Projekt", "task": "Phase/Task",
                        "start": "2025-02-03T08:00:00Z", "hours": 3}],
    }


@dataclass
class HQ:
    """The HQ sandbox of one test: URLs, the admin surface and clients per token."""

    url: str
    admin: SandboxAdmin
    summary: list[str] = field(default_factory=list)

    def client(self, token: str | None) -> Client:
        return Client(self.url, token)

    @property
    def sync(self) -> Client:
        return self.client(ACME_SYNC)

    @property
    def anna(self) -> Client:
        return self.client(ANNA_TOKEN)

    def user_id(self, email: str) -> int:
        return self.sync.one("/v1/Users", **{"$filter": f"tolower(EMailWork) eq '{email.lower()}'"})["Id"]

    def project(self, name: str) -> dict[str, Any]:
        return self.sync.one("/v1/Projects", **{"$filter": f"Name eq '{name}'"})

    def task(self, name: str) -> dict[str, Any]:
        return self.sync.one("/v1/ProjectTasks", **{"$filter": f"Name eq '{name}'"})

    def named(self, set_name: str, name: str) -> dict[str, Any]:
        return self.sync.one(f"/v1/{set_name}", **{"$filter": f"Name eq '{name}'"})

    def settings(self, tenant: str = ACME, **changes: Any) -> None:
        self.admin.put(f"/tenants/{tenant}/settings", changes)


@pytest.fixture
def hq_empty(fresh_sandboxes: SandboxServers) -> HQ:
    """The HQ sandbox, emptied, without tenants."""
    return HQ(fresh_sandboxes.url("hq"), fresh_sandboxes.admin("hq"))


@pytest.fixture
def hq(hq_empty: HQ) -> HQ:
    """The HQ sandbox with the acme and globex scenarios loaded."""
    hq_empty.summary = seed_tenant(hq_empty.url, ACME, acme_scenario())
    hq_empty.summary += seed_tenant(hq_empty.url, GLOBEX, globex_scenario())
    return hq_empty


# -- the vendor's Swagger file -----------------------------------------------------------------------
def _nullable(schema: Any) -> Any:
    """Swagger 2.0 cannot say "nullable": OData answers nulls for unset properties, so allow them."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items()}
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


class Spec:
    """The HQ v1 Swagger 2.0 file: response and request schemas by path, ``$ref``s resolved."""

    def __init__(self, path: Path) -> None:
        self.doc = json.loads(path.read_text())

    def resolve(self, schema: Any) -> Any:
        """Returns ``schema`` with every ``#/definitions/...`` reference inlined."""
        if isinstance(schema, dict):
            if "$ref" in schema:
                name = schema["$ref"].split("/")[-1]
                return self.resolve(self.doc["definitions"][name])
            return {k: self.resolve(v) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.resolve(v) for v in schema]
        return schema

    def operation(self, method: str, path: str) -> dict[str, Any]:
        assert path in self.doc["paths"], f"the spec has no path {path}"
        op = self.doc["paths"][path].get(method.lower())
        assert op is not None, f"the spec has no {method} {path}"
        return op

    def response_schema(self, method: str, path: str, status: int) -> Any:
        responses = self.operation(method, path)["responses"]
        assert str(status) in responses, f"{method} {path}: the spec documents {sorted(responses)}, not {status}"
        return responses[str(status)].get("schema")

    def check_response(
        self, method: str, path: str, status: int, body: Any, strict: bool = True, envelope: bool = True
    ) -> None:
        """Validates a response body.

        A spec'd array is HQ's ``{"@odata.context", "value": [...]}`` envelope (the v1 Swagger file
        drops the envelope, its raw export and every client show it); ``envelope=False`` checks a
        bare JSON array instead (``do.Create``).
        """
        schema = self.response_schema(method, path, status)
        if schema is None:
            return
        schema = self.resolve(schema)
        if schema.get("type") == "array":
            if envelope:
                assert isinstance(body, dict) and isinstance(body.get("value"), list), body
                assert isinstance(body.get("@odata.context"), str)
                items = body["value"]
            else:
                assert isinstance(body, list), body
                items = body
            item_schema = schema["items"]
        elif schema.get("type") == "object" and not schema.get("properties"):
            return  # "Object": no shape to check
        else:
            item_schema, items = schema, [body]
        validator = _validator(json.dumps(item_schema, sort_keys=True), strict)
        for item in items:
            if isinstance(item, dict):
                item = {k: v for k, v in item.items() if not k.startswith("@odata.")}
            errors = sorted(validator.iter_errors(item), key=lambda e: list(e.path))
            assert not errors, f"{method} {path} {status}: " + "; ".join(
                f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])

    def check_request(self, method: str, path: str, body: Any) -> None:
        """Validates a request body against the spec's body parameter (server-set Id not required)."""
        params = [p for p in self.operation(method, path).get("parameters", []) if p.get("in") == "body"]
        assert params, f"{method} {path} takes no body in the spec"
        schema = copy.deepcopy(self.resolve(params[0]["schema"]))
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r != "Id"] or None
            if schema["required"] is None:
                del schema["required"]
        validator = _validator(json.dumps(schema, sort_keys=True), True)
        errors = list(validator.iter_errors(body))
        assert not errors, f"request {method} {path}: " + "; ".join(e.message for e in errors[:5])


@lru_cache(maxsize=256)
def _validator(schema_json: str, strict: bool) -> jsonschema.Draft4Validator:
    schema = _nullable(json.loads(schema_json))
    if strict:
        # Every property we answer (expanded entities included) must exist in the spec.
        schema = _closed(schema)
    return jsonschema.Draft4Validator(schema)


def _closed(schema: Any) -> Any:
    """Returns ``schema`` with ``additionalProperties: false`` on every object that lists properties."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if isinstance(schema.get("properties"), dict) and schema["properties"]:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@pytest.fixture(scope="session")
def spec() -> Iterator[Spec]:
    if not SPEC_FILE.exists():
        pytest.skip(f"HQ spec file not found at {SPEC_FILE} (set HQ_SYNC_SPECS_DIR)")
    yield Spec(SPEC_FILE)
