"""Task entry points: build a RunContext from the running task, then call a library step."""

from __future__ import annotations

from typing import Any

from hq_sync.airflow.hooks import ConnectionClients, StagingHook
from hq_sync.config import TenantConfig, load_tenants
from hq_sync.errors import NotRetryable
from hq_sync.pipelines import RunContext
from hq_sync.pipelines.context import RunMode
from hq_sync.pipelines.steps import step_names, steps_for


class TenantConfigInvalid(RuntimeError):
    """A tenant file failed validation; the message names the file, the field and the reason."""


def load_tenant(tenant_id: str) -> TenantConfig:
    """Read (and validate) one tenant's file at task run time; a broken file with a last valid copy
    gives that copy's config (as the DAG was built from it; hq_sync.config.last_valid)."""
    result = load_tenants(only=tenant_id, last_valid=True)
    if result.errors:
        raise TenantConfigInvalid(result.errors[0].message())
    if not result.tenants:
        raise TenantConfigInvalid(f"no tenant file for {tenant_id!r} in include/tenants/")
    if tenant_id in result.stale:
        import logging

        stale = result.stale[tenant_id]
        logging.getLogger(__name__).warning("%s\nThis run uses the tenant's last valid configuration: %s",
                                            stale.error.message(), stale.note())
    return result.tenants[0]


def run_step(source: str, step: str, tenant_id: str, **context: Any) -> dict[str, Any]:
    """Run one pipeline step for a tenant inside an Airflow task; returns the step's summary.

    An error a retry cannot fix (``NotRetryable``) fails the task at once, without retries."""
    try:
        return _run_step(source, step, tenant_id, **context)
    except NotRetryable as exc:  # a retry cannot fix it: fail now, with the reason
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc


def _run_step(source: str, step: str, tenant_id: str, **context: Any) -> dict[str, Any]:
    tenant = load_tenant(tenant_id)
    dag_run = context["dag_run"]
    staging = StagingHook().get_engine()
    ctx = RunContext(
        tenant=tenant,
        source=source,
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        staging=staging,
        clients=ConnectionClients(tenant, staging),
        params=dict(context.get("params") or {}),
        mode=run_mode(dict(context.get("params") or {}), getattr(dag_run, "run_type", None)),
    )
    kwargs: dict[str, Any] = {}
    if step == "report":
        # The report merges what the earlier steps returned (their XComs).
        ti = context["ti"]
        kwargs["step_results"] = {name: ti.xcom_pull(task_ids=name) for name in step_names(source) if name != "report"}
    return steps_for(source)[step](ctx, **kwargs)


def run_mode(params: dict[str, Any], run_type: Any) -> RunMode:
    """EVENTS for a run started by webhook events (its asset) unless the run's ``run_mode``
    configuration key says otherwise; FULL for every other run (issue #14)."""
    wanted = str(params.get("run_mode") or "auto")
    if wanted not in ("auto", RunMode.FULL, RunMode.EVENTS):
        raise NotRetryable(f"run_mode must be auto, events or full, got {wanted!r}")
    if wanted in (RunMode.FULL, RunMode.EVENTS):
        return RunMode(wanted)
    return RunMode.EVENTS if str(getattr(run_type, "value", run_type)) == "asset_triggered" else RunMode.FULL


def fail_with_config_error(message: str) -> None:
    """The single task of a broken tenant's DAG: fail with the validation message."""
    raise TenantConfigInvalid(message)
