"""Conformance: the sandbox's answers against Personio's published spec files, and against JSON
Schemas written here for the v2 endpoints that have no spec file.

- ``personio-auth-api.yaml`` (``POST /v1/auth``): request bodies (JSON and form) and the 200 answer,
  validated with openapi-core.
- ``personio-personnel-data-api-v1.oa3.yaml``: the v1 ``ErrorResponse`` of a failed v1 auth.
- ``personio-common-components-v2.json``: ``ErrorResponse`` (every v2 error we produce),
  ``CreatedObject`` (POST /v2/absence-periods), ``MetaObject``/``LinkObject`` (list ``_meta``) and
  the ``Cursor`` parameter's example format.
- ``/v2/persons``, ``/v2/absence-types``, ``/v2/absence-periods`` and ``/v2/auth/token`` have no spec
  file in /work/shared/specs: the schemas below are DERIVED FROM /work/shared/api/personio.md
  (§2.2 token and OAuth2 errors, §4.1 list envelope, §4.2 absence period and its write body,
  §4.3 absence type, §4.4 person). They are strict (no unknown fields) so that drift shows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

REPO_ROOT = Path(__file__).resolve().parents[3]
SPECS_DIR = Path(os.environ.get("HQ_SYNC_SPECS_DIR", REPO_ROOT.parent / "shared" / "specs"))
pytestmark = pytest.mark.skipif(not SPECS_DIR.is_dir(), reason=f"no spec files at {SPECS_DIR}")

SPEC_HOST = "https://api.personio.de"

# -- schemas derived from personio.md (no spec file exists for these endpoints) ---------------
DATE_TIME = {"type": "string", "format": "date-time"}
LOCAL_DATE_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"}
ID_REF = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "minLength": 1}},
          "additionalProperties": False}
BOUNDARY = {
    "type": "object", "required": ["date_time", "type"], "additionalProperties": False,
    "properties": {"date_time": LOCAL_DATE_TIME,
                   "type": {"enum": ["FIRST_HALF", "SECOND_HALF", None]}},
}
# §4.2 (approval values: §4.2 list plus the REJECTED/CANCELLED guesses of the brief)
ABSENCE_PERIOD = {
    "type": "object",
    "required": ["id", "person", "absence_type", "starts_from", "ends_at", "timezone_id", "comment",
                 "approval", "created_at", "updated_at"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "format": "uuid",
               "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
        "person": ID_REF, "absence_type": ID_REF, "substitute": ID_REF,
        "starts_from": BOUNDARY,
        "ends_at": {"oneOf": [{"type": "null"}, BOUNDARY]},
        "timezone_id": {"type": "string", "minLength": 1},
        "comment": {"type": ["string", "null"]},
        "approval": {"type": "object", "required": ["status"], "additionalProperties": False,
                     "properties": {"status": {"enum": ["APPROVED", "PENDING", "REJECTED", "CANCELLED",
                                                        "DELETION_PENDING", "SUBSTITUTE_REQUESTED"]}}},
        "created_at": DATE_TIME, "updated_at": DATE_TIME,
    },
}
# §4.2 "Writes"
ABSENCE_PERIOD_WRITE = {
    "type": "object", "required": ["person", "absence_type", "starts_from"],
    "additionalProperties": False,
    "properties": {
        "person": ID_REF, "absence_type": ID_REF, "substitute": {"oneOf": [{"type": "null"}, ID_REF]},
        "starts_from": {"type": "object", "required": ["date_time"],
                        "properties": {"date_time": LOCAL_DATE_TIME,
                                       "type": {"enum": ["FIRST_HALF", "SECOND_HALF", None]}}},
        "ends_at": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["date_time"],
                                                 "properties": {"date_time": LOCAL_DATE_TIME}}]},
        "comment": {"type": ["string", "null"]},
    },
}
# §4.3 (category: upper case of the v1 enum, nullable)
ABSENCE_TYPE = {
    "type": "object", "required": ["id", "name", "category", "unit"], "additionalProperties": False,
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "category": {"enum": [None, "FAMILY_CARE", "MATERNITY_PARENTAL_LEAVE", "CHILD_CARE",
                              "SHORT_TIME_ALLOWANCE", "QUARANTINE", "IRREVOCABLE_EXEMPTION",
                              "SICK_LEAVE", "STRIKE_AND_LOCKOUT", "PUBLIC_DUTY", "UNPAID_SUSPENSION",
                              "PAID_VACATION", "UNPAID_VACATION", "UNEXCUSED_ABSENCE", "OFFSITE_WORK",
                              "OTHER", "UNDEFINED"]},
        "unit": {"enum": ["DAY", "HOUR"]},
    },
}
# §4.4
PERSON = {
    "type": "object",
    "required": ["id", "email", "first_name", "last_name", "status", "created_at", "updated_at"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": r"^\d+$"},
        "email": {"type": "string", "pattern": "@"},
        "first_name": {"type": "string"}, "last_name": {"type": "string"},
        "preferred_name": {"type": ["string", "null"]}, "gender": {"type": ["string", "null"]},
        "profile_picture": {"type": "object", "properties": {"url": {"type": ["string", "null"]}}},
        "status": {"enum": ["ACTIVE", "INACTIVE"]},
        "custom_attributes": {"type": "array", "items": {
            "type": "object", "required": ["id", "label", "value"],
            "properties": {"id": {"type": "string"}, "type": {"type": "string"},
                           "global_id": {"type": "string"}, "label": {"type": "string"}}}},
        "employments": {"type": "array", "items": ID_REF},
        "created_at": DATE_TIME, "updated_at": DATE_TIME,
    },
}
# §4.1
LINK = {"type": "object", "required": ["href"], "properties": {"href": {"type": "string"}}}


def list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object", "required": ["_data", "_meta"], "additionalProperties": False,
        "properties": {
            "_data": {"type": "array", "items": item},
            "_meta": {"type": "object", "required": ["links"], "properties": {"links": {
                "type": "object", "required": ["self"], "additionalProperties": False,
                "properties": {"self": LINK, "next": LINK}}}},
        },
    }


# §2.2
TOKEN = {
    "type": "object", "required": ["access_token", "token_type", "expires_in", "scope"],
    "additionalProperties": False,
    "properties": {"access_token": {"type": "string", "minLength": 16},
                   "token_type": {"const": "Bearer"},
                   "expires_in": {"type": "integer", "minimum": 1},
                   "scope": {"type": "string"}},
}
OAUTH_ERROR = {
    "type": "object", "required": ["error", "error_description", "timestamp", "trace_id"],
    "additionalProperties": False,
    "properties": {"error": {"enum": ["invalid_request", "invalid_client", "invalid_grant",
                                      "unauthorized_client", "unsupported_grant_type",
                                      "invalid_scope"]},
                   "error_description": {"type": "string"}, "timestamp": DATE_TIME,
                   "trace_id": {"type": "string"}},
}


def check(schema: dict[str, Any], instance: Any) -> None:
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(instance)


# -- the vendor's spec files -------------------------------------------------------------------
@pytest.fixture(scope="module")
def common_v2() -> dict[str, Any]:
    return json.loads((SPECS_DIR / "personio-common-components-v2.json").read_text())


@pytest.fixture(scope="module")
def auth_spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPECS_DIR / "personio-auth-api.yaml"))


@pytest.fixture(scope="module")
def v1_components() -> dict[str, Any]:
    spec = yaml.safe_load((SPECS_DIR / "personio-personnel-data-api-v1.oa3.yaml").read_text())
    return {"components": spec["components"]}


def component(doc: dict[str, Any], name: str, instance: Any) -> None:
    """Validate ``instance`` against ``#/components/schemas/<name>`` of an OpenAPI 3.0 document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER).validate(instance)


def v2_error(common_v2: dict[str, Any], resp: requests.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    component(common_v2, "ErrorResponse", body)
    # The spec's fields, all present (the schema itself requires none of them).
    assert set(body) == {"personio_trace_id", "timestamp", "errors"}
    assert body["errors"] and set(body["errors"][0]) == {"title", "detail", "type", "_meta"}
    assert body["errors"][0]["type"].startswith("https://developer.personio.de/")  # format: uri


# -- tests -------------------------------------------------------------------------------------
def test_v1_auth_requests_and_answer_conform_to_the_auth_spec(personio, auth_spec, v1_components):
    tenant = personio.tenant("acme")
    creds = {"client_id": tenant.client_id, "client_secret": tenant.secret}
    for content_type, payload in (
        ("application/json", json.dumps(creds).encode()),
        ("application/x-www-form-urlencoded",
         f"client_id={tenant.client_id}&client_secret={tenant.secret}".encode()),
    ):
        spec_request = MockRequest(SPEC_HOST, "post", "/v1/auth", data=payload,
                                   content_type=content_type)
        auth_spec.validate_request(spec_request)  # the request we send is what the spec describes
        resp = requests.post(personio.url + "/v1/auth", data=payload,
                             headers={"Content-Type": content_type}, timeout=5)
        assert resp.status_code == 200
        auth_spec.validate_response(spec_request, MockResponse(
            resp.content, resp.status_code, content_type=resp.headers["Content-Type"]))
    # A request the spec calls invalid (client_secret is required) is refused.
    incomplete = json.dumps({"client_id": tenant.client_id}).encode()
    with pytest.raises(Exception):
        auth_spec.validate_request(MockRequest(SPEC_HOST, "post", "/v1/auth", data=incomplete))
    refused = requests.post(personio.url + "/v1/auth", data=incomplete,
                            headers={"Content-Type": "application/json"}, timeout=5)
    assert refused.status_code == 400
    component(v1_components, "ErrorResponse", refused.json())
    wrong = requests.post(personio.url + "/v1/auth", json={**creds, "client_secret": "x"}, timeout=5)
    assert wrong.status_code == 401
    component(v1_components, "ErrorResponse", wrong.json())


def test_v2_token_answers_match_personio_md(personio):
    tenant = personio.tenant("acme")
    check(TOKEN, tenant.token_response().json())
    check(OAUTH_ERROR, tenant.token_response(client_secret="x").json())
    check(OAUTH_ERROR, tenant.token_response(grant_type="password").json())


def test_every_v2_error_is_the_common_error_response(personio, acme, common_v2):
    v2_error(common_v2, acme.get("/v2/absence-periods", limit=101), 400)
    v2_error(common_v2, acme.get("/v2/absence-periods", cursor="cur_x"), 400)
    v2_error(common_v2, requests.get(personio.url + "/v2/persons", timeout=5), 401)
    v2_error(common_v2, acme.get("/v2/absence-periods/nope"), 404)
    v2_error(common_v2, acme.get("/v2/nothing-here"), 404)
    v2_error(common_v2, acme.request("PUT", "/v2/persons"), 405)
    acme.period(acme.anna, acme.vacation, "2026-06-01", "2026-06-05")
    v2_error(common_v2, acme.create_period(acme.anna, acme.vacation, "2026-06-02", "2026-06-03"), 409)
    v2_error(common_v2, acme.create_period(acme.anna, acme.vacation, "2026-06-09", "2026-06-09"), 422)
    personio.admin.add_fault(path="^/v2/persons", mode="429", count=1)
    v2_error(common_v2, acme.get("/v2/persons"), 429)
    personio.admin.add_fault(path="^/v2/persons", mode="500", count=1)
    v2_error(common_v2, acme.get("/v2/persons"), 500)
    personio.settings(rate_limits={"enabled": True,
                                   "buckets": {"absence-types": {"replenish_rate": 1,
                                                                 "burst_capacity": 1}}})
    acme.get("/v2/absence-types")
    v2_error(common_v2, acme.get("/v2/absence-types"), 429)


def test_created_object_and_list_meta_follow_the_common_components(acme, common_v2):
    resp = acme.create_period(acme.anna, acme.vacation, "2026-06-01", "2026-06-03")
    assert resp.status_code == 201
    component(common_v2, "CreatedObject", resp.json())
    acme.create_period(acme.ben, acme.vacation, "2026-06-01", "2026-06-03")
    page = acme.get_ok("/v2/absence-periods", limit=1)
    component(common_v2, "MetaObject", page["_meta"])
    for link in page["_meta"]["links"].values():
        component(common_v2, "LinkObject", link)
        assert link["href"].startswith("http://")  # absolute (format: uri)
    # The cursor looks like the spec's example "cur_82sQwR2eZvKilo2duNh219Kw".
    cursor = page["_meta"]["links"]["next"]["href"].split("cursor=")[1].split("&")[0]
    example = common_v2["components"]["parameters"]["Cursor"]["example"]
    assert cursor[:4] == example[:4] == "cur_"


def test_v2_resources_match_the_shapes_in_personio_md(personio, acme):
    acme.person("carla@acme.test", "Carla", "Rossi", preferred_name="Carly", gender="FEMALE",
                status="INACTIVE", custom_attributes=[{"id": "dynamic_1", "type": "string",
                                                       "global_id": "1", "label": "Personnel no.",
                                                       "value": "42"}])
    acme.absence_type("Custom leave", "DAY", None)
    bodies = [
        {"person": {"id": acme.anna["id"]}, "absence_type": {"id": acme.vacation["id"]},
         "starts_from": {"date_time": "2026-06-01T00:00:00", "type": "SECOND_HALF"},
         "ends_at": {"date_time": "2026-06-04T00:00:00", "type": "FIRST_HALF"}, "comment": "a"},
        {"person": {"id": acme.ben["id"]}, "absence_type": {"id": acme.vacation["id"]},
         "starts_from": {"date_time": "2026-06-01T00:00:00", "type": None}, "ends_at": None},
        {"person": {"id": acme.anna["id"]}, "absence_type": {"id": acme.doctor["id"]},
         "starts_from": {"date_time": "2026-06-08T09:00:00", "type": None},
         "ends_at": {"date_time": "2026-06-08T10:15:00", "type": None},
         "substitute": {"id": acme.ben["id"]}},
    ]
    for body in bodies:
        check(ABSENCE_PERIOD_WRITE, body)  # what a client sends, per personio.md §4.2
        resp = acme.request("POST", "/v2/absence-periods", params={"skip_approval": "true"}, json=body)
        assert resp.status_code == 201, resp.text
    check(list_of(PERSON), acme.get_ok("/v2/persons", limit=50))
    check(list_of(ABSENCE_TYPE), acme.get_ok("/v2/absence-types"))
    periods = acme.get_ok("/v2/absence-periods")
    check(list_of(ABSENCE_PERIOD), periods)
    check(PERSON, acme.get_ok(f"/v2/persons/{acme.anna['id']}"))
    check(ABSENCE_TYPE, acme.get_ok(f"/v2/absence-types/{acme.doctor['id']}"))
    for item in periods["_data"]:
        check(ABSENCE_PERIOD, acme.get_ok(f"/v2/absence-periods/{item['id']}"))
    patched = acme.request("PATCH", f"/v2/absence-periods/{periods['_data'][0]['id']}",
                           json={"approval": {"status": "REJECTED"}})
    check(ABSENCE_PERIOD, patched.json())
    personio.settings(day_end_boundary="inclusive")
    check(list_of(ABSENCE_PERIOD), acme.get_ok("/v2/absence-periods"))


def test_the_v2_limit_maximum_differs_from_the_generic_pagination_component(acme, common_v2):
    # common-components-v2.json's generic Pagination allows up to 200; the endpoint reference
    # pages (personio.md §1, §5) say 100 for absence periods/types and 50 for persons. The
    # endpoint-specific maxima are enforced (switch: max_limit).
    generic = common_v2["components"]["parameters"]["Pagination"]["schema"]
    assert generic["maximum"] == 200
    assert acme.get("/v2/absence-periods", limit=150).status_code == 400
    assert acme.get("/v2/persons", limit=51).status_code == 400


def test_spec_files_are_read_from_the_shared_dir_not_copied():
    for folder in ("src", "tests", "docs"):
        assert not list((REPO_ROOT / folder).glob("**/personio-*.yaml"))
        assert not list((REPO_ROOT / folder).glob("**/personio-*.json"))
