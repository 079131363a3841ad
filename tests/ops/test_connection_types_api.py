"""The hq, awork and Personio connection types in a real Airflow API server (tests/ops/harness.py):
the UI's connection form knows them, and its Test button (``POST /api/v2/connections/test``) talks to
the sandboxes over HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from sandboxes.scenario import load_scenario
from tests.hq_sync.airflow.test_connection_types import (
    AWORK_KEY, HQ_TOKEN, PERSONIO_ID, PERSONIO_SECRET, SCENARIO)


@pytest.fixture
def seeded(fresh_sandboxes):
    load_scenario(SCENARIO, {v: fresh_sandboxes.url(v) for v in ("hq", "awork", "personio")})
    return fresh_sandboxes


def call(world, method, path, **kwargs):
    headers = {"Authorization": f"Bearer {world.token()}"}
    return requests.request(method, f"{world.url}{path}", headers=headers, timeout=60, **kwargs)


def test_the_connection_form_offers_the_three_types_with_their_fields(airflow_world):
    resp = call(airflow_world, "GET", "/ui/connections/hook_meta")
    assert resp.status_code == 200, resp.text
    types = {entry["connection_type"]: entry for entry in resp.json()}
    for conn_type, name in (("hq", "helloHQ (hq-sync)"), ("awork", "awork (hq-sync)"), ("personio", "Personio (hq-sync)")):
        entry = types[conn_type]
        assert entry["hook_name"] == name
        assert "requests_per_minute" in entry["extra_fields"]
        assert entry["standard_fields"]["host"]["title"] == "Base URL"
        assert entry["standard_fields"]["url_schema"]["hidden"] is True
        assert entry["standard_fields"]["port"]["hidden"] is False  # the UI's Test button needs it (3.3.2)
    assert "app_id" in types["personio"]["extra_fields"]


def test_the_test_button_against_the_sandboxes(airflow_world, seeded):
    bodies = [
        {"connection_id": "hq_conntest", "conn_type": "hq", "host": f"{seeded.url('hq')}/v1", "password": HQ_TOKEN},
        {"connection_id": "awork_conntest", "conn_type": "awork", "host": f"{seeded.url('awork')}/api/v1",
         "password": AWORK_KEY, "extra": json.dumps({"requests_per_minute": None, "rate_account": None, "timeout": None})},
        {"connection_id": "personio_conntest", "conn_type": "personio", "host": seeded.url("personio"),
         "login": PERSONIO_ID, "password": PERSONIO_SECRET, "extra": json.dumps({"app_id": "HQ_SYNC_TEST"})},
    ]
    for body in bodies:
        resp = call(airflow_world, "POST", "/api/v2/connections/test", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] is True, resp.json()
        assert resp.json()["message"].startswith("Connected to "), resp.json()

    wrong = {**bodies[1], "password": "not-the-key"}
    result = call(airflow_world, "POST", "/api/v2/connections/test", json=wrong).json()
    assert result["status"] is False and "401" in result["message"], result
    assert "not-the-key" not in result["message"]

    typo = {**bodies[2], "extra": json.dumps({"app_id": "HQ_SYNC_TEST", "timout": 5})}
    result = call(airflow_world, "POST", "/api/v2/connections/test", json=typo).json()
    assert result["status"] is False
    assert "unknown extra key 'timout' (did you mean 'timeout'?)" in result["message"], result
