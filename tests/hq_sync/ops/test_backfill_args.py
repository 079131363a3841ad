"""``python -m hq_sync.ops.backfill --source``: only the DAG kinds a backfill can replay (D2).

No Airflow needed: every case here ends before the command talks to the REST API.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from hq_sync.config import DAG_ID_PREFIX, load_tenants
BACKFILL_KINDS = ("personio", "awork")
from hq_sync.ops.backfill import main, resolve_range

START = date(2026, 1, 5)


def tenant_dir(tmp_path: Path, **awork: object) -> Path:
    """A tenant 'acme' with every source (awork settings overridable)."""
    sources = {
        "personio": {"sync_start_date": START.isoformat()},
        "awork": {"sync_start_date": START.isoformat(), **awork},
        "hq_to_awork": {},
        "timesheets": {"folder": str(tmp_path / "sheets")},
    }
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump({"id": "acme", "display_name": "ACME", "sources": sources}))
    return tmp_path


def backfill(tmp_path: Path, source: str) -> None:
    # An API address nobody listens on: reaching it would be a failure of its own.
    main(["--tenant", "acme", "--source", source, "--tenants-dir", str(tmp_path), "--token", "t",
          "--airflow-url", "http://127.0.0.1:9", "--dry-run"])


def test_the_backfillable_kinds_are_the_sources_read_by_date():
    assert set(BACKFILL_KINDS) == {"personio", "awork"} and set(BACKFILL_KINDS) <= set(DAG_ID_PREFIX)


@pytest.mark.parametrize("kind", sorted(set(DAG_ID_PREFIX) - set(BACKFILL_KINDS)))
def test_every_other_dag_kind_is_refused_with_a_reason(kind, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        backfill(tenant_dir(tmp_path), kind)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert f"'{kind}' DAGs cannot be backfilled" in err and "personio, awork" in err and "Traceback" not in err


def test_an_unknown_source_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        backfill(tenant_dir(tmp_path), "jira")
    assert exit_.value.code == 2 and "'jira' is not a source; backfillable: personio, awork" in capsys.readouterr().err


@pytest.mark.parametrize("kind", BACKFILL_KINDS)
def test_a_backfillable_kind_runs_from_its_sync_start_date(kind, tmp_path):
    [tenant] = load_tenants(tenant_dir(tmp_path)).tenants
    assert resolve_range(tenant, kind, None, date(2026, 2, 1)) == (START, date(2026, 2, 1))


def test_a_disabled_source_is_explained(tmp_path):
    with pytest.raises(SystemExit, match="its awork source .* is disabled, so it has no DAG to backfill"):
        backfill(tenant_dir(tmp_path, enabled=False), "awork")
