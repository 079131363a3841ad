"""The HQ, awork and Personio connection types: registered as an Airflow provider, and their Test
(the UI's button: ``Connection.test_connection``) against the sandboxes over HTTP."""

from __future__ import annotations

import json

import pytest

from hq_sync.airflow.provider import get_provider_info
from sandboxes.scenario import load_scenario

TENANT = "conntest"
HQ_TOKEN, AWORK_KEY, PERSONIO_ID, PERSONIO_SECRET = "hq-conntest-sync", "conntest-awork-key", "conntest-personio", "conntest-secret"
SCENARIO = {"tenants": [{
    "id": TENANT,
    "hq": {"sync_token": HQ_TOKEN, "users": [{"name": "Anna Berg", "email": "anna@conntest.example"}]},
    "awork": {"workspace": {"name": TENANT}, "credentials": {"api_keys": [AWORK_KEY]},
              "users": [{"first_name": "Anna", "last_name": "Berg", "email": "anna@conntest.example", "admin": True}]},
    "personio": {"client_id": PERSONIO_ID, "client_secret": PERSONIO_SECRET,
                 "persons": [{"email": "anna@conntest.example", "first_name": "Anna", "last_name": "Berg"}]},
}]}


@pytest.fixture
def seeded(fresh_sandboxes):
    load_scenario(SCENARIO, {v: fresh_sandboxes.url(v) for v in ("hq", "awork", "personio")})
    return fresh_sandboxes


def connection(conn_type, host, password, login=None, extra=None):
    from airflow.models.connection import Connection

    return Connection(conn_id=f"{conn_type}_test", conn_type=conn_type, host=host, login=login, password=password,
                      extra=json.dumps(extra) if extra is not None else None)


def test_the_provider_registers_three_connection_types_with_form_fields():
    from airflow.providers_manager import ProvidersManager

    info = get_provider_info()
    assert info["package-name"] == "hq-sync"
    manager = ProvidersManager()
    for conn_type in ("hq", "awork", "personio"):
        hook = manager.hooks[conn_type]
        assert hook is not None and hook.hook_class_name.startswith("hq_sync.airflow.connection_types.")
        assert f"extra__{conn_type}__requests_per_minute" in manager.connection_form_widgets
        assert manager.field_behaviours[conn_type]["relabeling"]["host"] == "Base URL"
        assert manager.field_behaviours[conn_type]["hidden_fields"] == ["schema"]
    assert "extra__personio__app_id" in manager.connection_form_widgets


def test_every_form_field_is_a_known_extra_key():
    from hq_sync.connection_extras import allowed_keys

    for entry in get_provider_info()["connection-types"]:
        assert set(entry["conn-fields"]) <= set(allowed_keys(entry["connection-type"]))


def test_the_test_button_reaches_each_sandbox(seeded, monkeypatch):
    ok = [
        connection("hq", f"{seeded.url('hq')}/v1", HQ_TOKEN),
        connection("awork", f"{seeded.url('awork')}/api/v1", AWORK_KEY, extra={"requests_per_minute": None}),
        connection("personio", seeded.url("personio"), PERSONIO_SECRET, login=PERSONIO_ID, extra={"app_id": "HQ_SYNC_TEST"}),
    ]
    for conn in ok:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", conn.get_uri())
        status, message = conn.test_connection()
        assert status, message
        assert message.startswith("Connected to ")


def test_the_test_button_reports_a_wrong_secret_and_a_typo(seeded, monkeypatch):
    cases = [
        (connection("hq", f"{seeded.url('hq')}/v1", "wrong-token"), "401"),
        (connection("awork", f"{seeded.url('awork')}/api/v1", "wrong-key"), "401"),
        (connection("personio", seeded.url("personio"), "wrong", login=PERSONIO_ID), "personio"),
        (connection("awork", f"{seeded.url('awork')}/api/v1", AWORK_KEY, extra={"requests_per_minut": 5}),
         "unknown extra key 'requests_per_minut' (did you mean 'requests_per_minute'?)"),
        (connection("hq", f"{seeded.url('hq')}/v1", None), "no password"),
        (connection("awork", f"{seeded.url('awork')}/api/v1", "s", login="c", extra={"auth": "oauth"}),
         "python -m hq_sync.connect.awork"),
    ]
    for conn, expected in cases:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", conn.get_uri())
        status, message = conn.test_connection()
        assert not status
        assert expected in message, message
