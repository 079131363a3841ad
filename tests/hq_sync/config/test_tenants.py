"""Tenant files: every bad field yields a message naming the file, the field and the reason."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
import yaml

from hq_sync.config import PhaseMode, TenantFileError, load_tenants, parse_tenant_file
from tests.conftest import REPO_ROOT

VALID = {
    "id": "acme",
    "display_name": "ACME Werbeagentur",
    "timezone": "Europe/Berlin",
    "sources": {
        "personio": {"sync_start_date": "2026-01-01", "absence_type_mapping": {"Urlaub": "Urlaub, Workation"}},
        "awork": {"sync_start_date": "2026-02-01", "phase_mode": "by_list"},
    },
}


def write(directory: Path, name: str, content: object) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
    return path


def test_valid_file_with_defaults(tmp_path):
    tenant = parse_tenant_file(write(tmp_path, "acme.yaml", VALID))
    assert not isinstance(tenant, TenantFileError)
    assert tenant.enabled_sources() == ["personio", "awork"]
    assert tenant.sources.personio.schedule == "0 */3 * * *"  # B2: every three hours
    assert tenant.sources.awork.schedule == "0 * * * *"
    assert tenant.sources.awork.phase_mode is PhaseMode.BY_LIST
    assert tenant.sources.personio.sync_start_date == date(2026, 1, 1)
    assert (tenant.connection_id("hq"), tenant.connection_id("awork"), tenant.connection_id("personio")) == (
        "hq_acme", "awork_acme", "personio_acme"
    )
    assert tenant.dag_id("personio") == "personio_absences__acme"


def test_hyphenated_id_gives_underscored_connection_ids_and_overrides_win(tmp_path):
    content = {**VALID, "id": "muster-agentur", "connections": {"hq": "hq_custom"}}
    tenant = parse_tenant_file(write(tmp_path, "muster-agentur.yaml", content))
    assert tenant.connection_id("hq") == "hq_custom"
    assert tenant.connection_id("awork") == "awork_muster_agentur"


def _with(path: str, value: object) -> dict:
    content = copy.deepcopy(VALID)
    node = content
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return content


_DELETE = object()

BAD_FIELDS = [
    ("id", "Acme!", "id", "should match pattern"),
    ("display_name", _DELETE, "display_name", "required field is missing"),
    ("timezone", "Mars/Olympus", "timezone", "not an IANA time zone"),
    ("sources.personio.schedule", "every 3 hours", "sources.personio.schedule", "not a valid cron expression"),
    ("sources.personio.sync_start_date", "01.01.2026", "sources.personio.sync_start_date", "valid date"),
    ("sources.awork.phase_mode", "by_folder", "sources.awork.phase_mode", "'awork_times' or 'by_list'"),
    ("sources.awork.sync_start_date", _DELETE, "sources.awork.sync_start_date", "required field is missing"),
    ("sources.personio.absence_type_mapping", {"Ferien": "Urlaub"}, "sources.personio.absence_type_mapping",
     "unknown HQ absence type 'Ferien'"),
    ("sources.personio.absence_type_mapping", {"Krankheit": "Urlaub"}, "sources.personio.absence_type_mapping",
     "mapped to both"),
    ("sources.personio.api_key", "secret", "sources.personio.api_key", "unknown field"),
    ("sources", {}, "sources", "at least one source"),
]


@pytest.mark.parametrize(("path", "value", "field", "reason"), BAD_FIELDS, ids=[b[0] + ":" + str(b[1])[:12] for b in BAD_FIELDS])
def test_each_bad_field_is_named_with_its_reason(tmp_path, path, value, field, reason):
    error = parse_tenant_file(write(tmp_path, "acme.yaml", _with(path, value)))
    assert isinstance(error, TenantFileError)
    message = error.message()
    assert "acme.yaml" in message
    assert any(p.field == field and reason in p.reason for p in error.problems), message


def test_id_must_match_file_name(tmp_path):
    error = parse_tenant_file(write(tmp_path, "other.yaml", VALID))
    assert isinstance(error, TenantFileError)
    assert error.problems[0].field == "id" and "file name" in error.problems[0].reason


def test_yaml_syntax_error_names_the_line(tmp_path):
    error = parse_tenant_file(write(tmp_path, "acme.yaml", "id: acme\ndisplay_name: [unclosed\n"))
    assert isinstance(error, TenantFileError)
    assert error.problems[0].field.startswith("line ")
    assert "not valid YAML" in error.problems[0].reason


def test_a_broken_file_leaves_the_other_tenants_intact(tmp_path):
    write(tmp_path, "acme.yaml", VALID)
    write(tmp_path, "broken.yaml", {**VALID, "id": "broken", "timezone": "Nowhere"})
    write(tmp_path, "_template.yaml", "this: [is ignored")
    result = load_tenants(tmp_path)
    assert [t.id for t in result.tenants] == ["acme"]
    assert [e.path.name for e in result.errors] == ["broken.yaml"]


def test_same_tenant_in_yaml_and_yml_is_an_error(tmp_path):
    write(tmp_path, "acme.yaml", VALID)
    write(tmp_path, "acme.yml", VALID)
    result = load_tenants(tmp_path)
    assert len(result.tenants) == 1
    assert "also defined in" in result.errors[0].message()


def test_the_repository_tenant_files_are_valid():
    result = load_tenants(REPO_ROOT / "include" / "tenants")
    assert result.errors == []
    assert len(result.tenants) >= 2


def test_webhooks_relax_polling_but_the_polling_still_runs_daily(tmp_path):
    content = copy.deepcopy(VALID)
    content["sources"]["personio"]["webhooks"] = {"enabled": True, "polling_schedule": "0 6 * * *"}
    tenant = parse_tenant_file(write(tmp_path, "acme.yaml", content))
    assert tenant.sources.personio.effective_schedule == "0 6 * * *"
    assert tenant.sources.awork.webhooks.enabled is False and tenant.sources.awork.effective_schedule == "0 * * * *"
    content["sources"]["personio"]["webhooks"] = {"enabled": False, "polling_schedule": "0 6 * * *"}
    assert parse_tenant_file(write(tmp_path, "acme.yaml", content)).sources.personio.effective_schedule == "0 */3 * * *"
    content["sources"]["personio"]["webhooks"] = {"enabled": True, "polling_schedule": "0 6 * * 1"}
    error = parse_tenant_file(write(tmp_path, "acme.yaml", content))
    assert isinstance(error, TenantFileError)
    assert "sources.personio.webhooks.polling_schedule" in error.message() and "at least once a day" in error.message()
