"""hq-sync's settings from the environment: every ``HQ_SYNC_*`` variable, in one validated model.

The variable names are the field names in upper case with the prefix ``HQ_SYNC_``
(``data_dir`` ← ``HQ_SYNC_DATA_DIR``). Empty variables count as not set. ``settings()`` sees the
environment as it is at each call (tests and commands change it); nothing is read at import.

| variable | what | read by |
| --- | --- | --- |
| ``HQ_SYNC_INCLUDE_DIR``, ``HQ_SYNC_TENANTS_DIR``, ``HQ_SYNC_DATA_DIR`` | where files live | ``hq_sync.paths`` |
| ``HQ_SYNC_STAGING_URL`` | the staging database | ``staging.engine``, ``airflow.hooks`` |
| ``HQ_SYNC_REDIS_URL``, ``HQ_SYNC_REDIS_PREFIX`` | the shared request budgets | ``hq_sync.airflow.budgets`` |
| ``HQ_SYNC_AIRFLOW_URL``, ``_TOKEN``, ``_USERNAME``, ``_PASSWORD`` | REST API of ops commands | ``ops.airflow_api`` |
| ``HQ_SYNC_ALERTS``, ``_ALERTS_TO``, ``_ALERTS_FROM``, ``_ALERTS_SMTP_CONN_ID`` | failure alerts | ``airflow.alerts`` |
| ``HQ_SYNC_WEBHOOK_BASE_URL``, ``HQ_SYNC_WEBHOOK_COOLDOWN`` | webhooks | ``connect.webhooks``, webhooks plugin |
| ``HQ_SYNC_FERNET_KEY`` | encrypts stored refresh tokens | ``hq_sync.staging.oauth_tokens`` |
| ``HQ_SYNC_HQ_APP_SECRET``, ``HQ_SYNC_AWORK_CLIENT_SECRET`` | OAuth secrets (connect) | ``connect.hq``, ``.awork`` |
| ``HQ_SYNC_RETRY_DELAY_SECONDS`` | first retry delay of every task | ``hq_sync.airflow.dag_factory`` |
| ``HQ_SYNC_RUN_LOCK_POKE_SECONDS`` | how often a run waiting for its run lock looks | ``hq_sync.airflow.run_lock`` |
| ``HQ_SYNC_LAST_VALID_DIR`` | copies of the last valid tenant files (``off``: none) | ``hq_sync.config.last_valid`` |

Secrets are kept out of ``repr``. A value of the wrong type names its variable
(``HQ_SYNC_WEBHOOK_COOLDOWN: Input should be a valid number``) — except
``HQ_SYNC_RETRY_DELAY_SECONDS`` and ``HQ_SYNC_RUN_LOCK_POKE_SECONDS``, read while DAG files are
parsed: a typo there is logged and the default kept, so it never breaks the parsing of every
tenant's DAGs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

PREFIX = "HQ_SYNC_"


class SettingsError(ValueError):
    """An ``HQ_SYNC_*`` variable has a value of the wrong type; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    include_dir: Path | None = None
    tenants_dir: Path | None = None
    data_dir: Path | None = None
    staging_url: str | None = Field(None, repr=False)  # may carry a password
    redis_url: str | None = Field(None, repr=False)
    redis_prefix: str | None = None
    airflow_url: str | None = None
    airflow_token: str | None = Field(None, repr=False)
    airflow_username: str | None = None
    airflow_password: str | None = Field(None, repr=False)
    alerts: str | None = None
    alerts_to: str | None = None
    alerts_from: str | None = None
    alerts_smtp_conn_id: str | None = None
    webhook_base_url: str | None = None
    webhook_cooldown: float | None = Field(None, ge=0)
    fernet_key: str | None = Field(None, repr=False)
    hq_app_secret: str | None = Field(None, repr=False)
    awork_client_secret: str | None = Field(None, repr=False)
    retry_delay_seconds: float | None = None
    run_lock_poke_seconds: float | None = None
    last_valid_dir: str | None = None

    @field_validator("retry_delay_seconds", "run_lock_poke_seconds", mode="before")
    @classmethod
    def _lenient_seconds(cls, value: Any, info: ValidationInfo) -> Any:
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):  # read while DAG files are parsed: a typo must not break every DAG
            name = f"{PREFIX}{(info.field_name or '').upper()}"
            log.error("%s=%r is not a number of seconds; keeping the default", name, value)
            return None


_CACHE: dict[tuple[tuple[str, str], ...], Settings] = {}


def settings() -> Settings:
    """The settings as the environment holds them now; ``SettingsError`` names a bad variable.

    Building the model costs milliseconds, so it is built once per distinct set of ``HQ_SYNC_*``
    values (comparing them costs microseconds): a changed variable is seen at the next call."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(PREFIX)))
    found = _CACHE.get(key)
    if found is None:
        try:
            found = Settings()
        except ValidationError as exc:
            problems = "; ".join(f"{PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise SettingsError(problems) from None
        if len(_CACHE) >= 64:
            _CACHE.clear()
        _CACHE[key] = found
    return found
