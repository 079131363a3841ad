"""The connection extras: one validated model per vendor; a typo names the key and is not retryable."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from hq_sync.airflow.hooks import ConnectionClients, retry_policy_of
from hq_sync.config import TenantConfig
from hq_sync.connection_extras import ConnectionExtraError, allowed_keys, parse_extras
from hq_sync.errors import NotRetryable


def test_a_typo_names_the_key_and_the_closest_known_one():
    with pytest.raises(ConnectionExtraError) as err:
        parse_extras("awork", {"requests_per_minut": 100}, "awork_acme")
    message = str(err.value)
    assert "Airflow connection 'awork_acme' (awork)" in message
    assert "unknown extra key 'requests_per_minut'" in message
    assert "did you mean 'requests_per_minute'?" in message
    assert isinstance(err.value, NotRetryable), "a retry cannot fix a typo: the task fails at once"


@pytest.mark.parametrize(("vendor", "key"), [("hq", "app_id"), ("personio", "auth"), ("hq", "webhook_secret")])
def test_keys_of_another_vendor_are_refused(vendor, key):
    with pytest.raises(ConnectionExtraError, match=f"unknown extra key '{key}'"):
        parse_extras(vendor, {key: "x"})


def test_bad_values_name_the_key_but_never_a_secret():
    with pytest.raises(ConnectionExtraError, match=r"extra 'timeout'.*'soon'"):
        parse_extras("hq", {"timeout": "soon"})
    with pytest.raises(ConnectionExtraError, match="extra 'auth'"):
        parse_extras("awork", {"auth": "password"})
    with pytest.raises(ConnectionExtraError, match="extra 'app_id'"):
        parse_extras("personio", {"app_id": "hq-sync"})  # Personio wants UPPER_SNAKE_CASE
    with pytest.raises(ConnectionExtraError) as err:
        parse_extras("awork", {"refresh_token": {"nested": "s3cr3t"}})
    assert "s3cr3t" not in str(err.value)
    with pytest.raises(ConnectionExtraError, match="not valid JSON"):
        parse_extras("hq", "{oops")


def test_empty_form_fields_count_as_not_set_and_values_are_coerced():
    # The Airflow UI's connection form writes null for every field left empty.
    extras = parse_extras("personio", {"app_id": None, "requests_per_minute": None, "rate_account": "", "timeout": "3"})
    assert (extras.app_id, extras.requests_per_minute, extras.rate_account, extras.timeout) == (None, None, None, 3.0)
    assert parse_extras("hq", {"auth": "OAuth", "refresh_token": "r"}).auth == "oauth"
    assert parse_extras("hq", json.dumps({"auth": "token"})).auth == "token"
    assert parse_extras("awork", None).auth == "api_key"
    assert {"requests_per_minute", "requests_per_second", "rate_account", "timeout", "max_retry_delay"} <= set(
        allowed_keys("hq"))


def test_what_the_commands_write_is_accepted():
    parse_extras("awork", {"auth": "oauth", "refresh_token": "r", "redirect_uri": "https://x/cb",
                           "webhook_secret": "s", "webhook_secret_previous": "p",
                           "webhook_secret_previous_until": "2026-01-01T00:00:00+00:00", "webhook_id": "w1"})
    parse_extras("hq", {"auth": "oauth", "refresh_token": "r", "redirect_uri": "https://x/cb"})
    parse_extras("personio", {"app_id": "HQ_SYNC_TEST", "timeout": 3, "webhook_secret": "s", "webhook_id": 7})


def test_retry_policy_reads_timeout_and_max_retry_delay_for_every_vendor():
    conn = SimpleNamespace(conn_id="hq_acme", extra_dejson={"timeout": 3, "max_retry_delay": 0.25})
    policy = retry_policy_of(conn, "hq")
    assert (policy.timeout, policy.max_delay) == ((5.0, 3.0), 0.25)


def test_a_task_with_a_typo_in_its_connection_fails_naming_it():
    tenant = TenantConfig.model_validate({"id": "acme", "display_name": "ACME",
                                          "sources": {"personio": {"sync_start_date": "2026-01-01"}}})
    conns = {"personio_acme": SimpleNamespace(conn_id="personio_acme", host="http://127.0.0.1:9", port=None, schema=None,
                                              login="id", password="secret", extra_dejson={"appid": "HQ_SYNC"})}
    clients = ConnectionClients(tenant, get_connection=conns.get)
    with pytest.raises(ConnectionExtraError, match="'personio_acme'.*unknown extra key 'appid'.*did you mean 'app_id'"):
        clients.personio()
