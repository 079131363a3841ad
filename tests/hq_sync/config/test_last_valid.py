"""A broken tenant file keeps its tenant running on the last valid copy (hq_sync.config.last_valid)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hq_sync.config import load_tenants
from hq_sync.config.last_valid import LastValidStore

VALID = {"id": "acme", "display_name": "ACME", "sources": {"personio": {"sync_start_date": "2026-01-01"}}}


@pytest.fixture
def tenants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HQ_SYNC_LAST_VALID_DIR", str(tmp_path / "store"))
    directory = tmp_path / "tenants"
    directory.mkdir()
    return directory


def write(directory: Path, content: dict | str, name: str = "acme") -> None:
    text = content if isinstance(content, str) else yaml.safe_dump(content)
    (directory / f"{name}.yaml").write_text(text)


def test_a_broken_file_runs_on_its_last_valid_copy(tenants: Path) -> None:
    write(tenants, {**VALID, "display_name": "ACME v1"})
    assert [t.display_name for t in load_tenants(tenants, last_valid=True).tenants] == ["ACME v1"]
    write(tenants, {**VALID, "sources": {"personio": {"sync_start_date": "2026-01-01", "schedule": "hourly"}}})

    loaded = load_tenants(tenants, last_valid=True)
    assert loaded.errors == []  # not a config-error DAG: the tenant keeps syncing ...
    [tenant] = loaded.tenants
    assert tenant.display_name == "ACME v1"  # ... on the copy
    stale = loaded.stale["acme"]
    assert stale.error.problems[0].field == "sources.personio.schedule"
    assert "running on the last valid configuration from" in stale.note()
    # Without the store (the default for other callers) nothing changes: the file is an error.
    plain = load_tenants(tenants)
    assert plain.tenants == [] and plain.errors[0].path.name == "acme.yaml"
    # Fixed: the new content is the config, and becomes the new copy.
    write(tenants, {**VALID, "display_name": "ACME v2"})
    assert [t.display_name for t in load_tenants(tenants, last_valid=True).tenants] == ["ACME v2"]
    write(tenants, "id: acme\nsources: [")
    assert load_tenants(tenants, last_valid=True).tenants[0].display_name == "ACME v2"


def test_a_broken_file_without_a_copy_is_an_error_as_before(tenants: Path) -> None:
    write(tenants, "id: acme\n")
    loaded = load_tenants(tenants, last_valid=True)
    assert loaded.tenants == [] and loaded.stale == {} and loaded.errors[0].tenant_hint == "acme"


def test_a_copy_is_written_only_when_the_content_changes(tenants: Path) -> None:
    write(tenants, VALID)
    load_tenants(tenants, last_valid=True)
    first = LastValidStore.for_tenants_dir(tenants).latest("acme")
    os.utime(first.path, (1_700_000_000, 1_700_000_000))  # stored long ago
    load_tenants(tenants, last_valid=True)
    assert LastValidStore.for_tenants_dir(tenants).latest("acme").saved_at.timestamp() == 1_700_000_000  # not rewritten
    write(tenants, {**VALID, "display_name": "changed"})
    load_tenants(tenants, last_valid=True)
    newest = LastValidStore.for_tenants_dir(tenants).latest("acme")
    assert newest.path != first.path and [p.name for p in first.path.parent.glob("*.yaml")] == [newest.path.name]  # older dropped


def test_tenant_directories_never_share_copies(tenants: Path, tmp_path: Path) -> None:
    write(tenants, VALID)
    load_tenants(tenants, last_valid=True)
    other = tmp_path / "other"
    other.mkdir()
    write(other, "id: acme\n")
    assert load_tenants(other, last_valid=True).errors


def test_an_unwritable_store_behaves_as_without_one(tenants: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("HQ_SYNC_LAST_VALID_DIR", str(blocker))
    write(tenants, VALID)
    assert len(load_tenants(tenants, last_valid=True).tenants) == 1  # logged, not raised
    write(tenants, "id: acme\n")
    assert load_tenants(tenants, last_valid=True).errors


def test_the_store_can_be_turned_off(tenants: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tenants, VALID)
    load_tenants(tenants, last_valid=True)
    monkeypatch.setenv("HQ_SYNC_LAST_VALID_DIR", "off")
    write(tenants, "id: acme\n")
    assert load_tenants(tenants, last_valid=True).errors


def test_a_copy_this_code_no_longer_accepts_is_no_fallback(tenants: Path) -> None:
    write(tenants, VALID)
    load_tenants(tenants, last_valid=True)
    copy = LastValidStore.for_tenants_dir(tenants).latest("acme").path
    copy.write_text(yaml.safe_dump({**VALID, "retired_field": 1}))
    write(tenants, "id: acme\n")
    loaded = load_tenants(tenants, last_valid=True)
    assert loaded.tenants == [] and loaded.errors
