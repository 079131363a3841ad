"""One settings model for every HQ_SYNC_* variable (names unchanged), read fresh on every call."""

from __future__ import annotations

from pathlib import Path

import pytest

from hq_sync import paths
from hq_sync.settings import Settings, SettingsError, settings


def test_the_variables_keep_their_names_and_empty_means_not_set(monkeypatch, tmp_path):
    monkeypatch.setenv("HQ_SYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", "")
    monkeypatch.setenv("HQ_SYNC_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("HQ_SYNC_WEBHOOK_COOLDOWN", "2.5")
    env = settings()
    assert env.data_dir == tmp_path / "data" and env.tenants_dir is None
    assert env.redis_url == "redis://127.0.0.1:6379/3" and env.webhook_cooldown == 2.5
    assert paths.data_dir() == tmp_path / "data"
    assert paths.tenants_dir() == paths.include_dir() / "tenants"
    monkeypatch.setenv("HQ_SYNC_DATA_DIR", "/elsewhere")
    assert paths.data_dir() == Path("/elsewhere")  # read fresh, never cached


def test_a_bad_value_names_its_variable(monkeypatch):
    monkeypatch.setenv("HQ_SYNC_WEBHOOK_COOLDOWN", "soon")
    with pytest.raises(SettingsError, match="HQ_SYNC_WEBHOOK_COOLDOWN"):
        settings()


def test_a_bad_retry_delay_never_breaks_dag_parsing(monkeypatch):
    monkeypatch.setenv("HQ_SYNC_RETRY_DELAY_SECONDS", "two minutes")
    assert settings().retry_delay_seconds is None


def test_secrets_stay_out_of_repr(monkeypatch):
    monkeypatch.setenv("HQ_SYNC_AIRFLOW_PASSWORD", "pw-123")
    monkeypatch.setenv("HQ_SYNC_STAGING_URL", "postgresql://u:pg-secret@h/db")
    monkeypatch.setenv("HQ_SYNC_FERNET_KEY", "fernet-xyz")
    shown = repr(settings())
    assert "pw-123" not in shown and "pg-secret" not in shown and "fernet-xyz" not in shown
    assert set(Settings.model_fields) >= {"include_dir", "staging_url", "alerts", "airflow_url", "hq_app_secret"}
