"""Task entry points: build a RunContext from the running task, then call a library step."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from hq_sync.airflow.hooks import ConnectionClients, StagingHook
from hq_sync.config import TenantConfig, load_tenants
from hq_sync.errors import NotRetryable
from hq_sync.pipelines import RunContext
from hq_sync.pipelines.steps import step_names, steps_for
from hq_sync.run import RunMode

log = logging.getLogger(__name__)


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
        stale = result.stale[tenant_id]
        log.warning("%s\nThis run uses the tenant's last valid configuration: %s", stale.error.message(), stale.note())
    return result.tenants[0]


def run_step(source: str, step: str, tenant_id: str, **context: Any) -> dict[str, Any]:
    """Run one pipeline step for a tenant inside an Airflow task; returns the step's summary.

    An error a retry cannot fix (``hq_sync.airflow.failures.classify``: a config error, credentials
    refused after re-authentication, a revoked OAuth grant, ``NotRetryable``) fails the task at once,
    without retries, so the run turns red and alerts; a transient error keeps the task's retries.
    Either way the run's note in the staging database says why (the Sync status page shows it)."""
    from hq_sync.airflow.failures import classify, describe

    staging = None
    try:
        staging = StagingHook().get_engine()
        _clear_note(staging, context)
        return _run_step(source, step, tenant_id, staging=staging, **context)
    except Exception as exc:
        kind = classify(exc)
        _note_failure(staging, source, step, tenant_id, kind, describe(exc), context)
        if kind.retryable:
            raise
        from airflow.sdk.exceptions import AirflowFailException

        log.error("%s failed: %s; not retried (%s)", step, describe(exc), kind.label)
        raise AirflowFailException(str(exc)) from exc


def _clear_note(staging: Any, context: dict[str, Any]) -> None:
    """A task of the run got going: the run is no longer up for retry (best effort)."""
    dag_run = context.get("dag_run")
    if dag_run is None:
        return
    try:
        from hq_sync.airflow import run_notes
        from hq_sync.staging.run_control import NoteKind

        run_notes.clear(staging, dag_run, NoteKind.RETRY, NoteKind.FAILED)
    except Exception:  # noqa: BLE001 - a note must never break a run
        log.warning("could not clear the run note", exc_info=True)


def next_try_at(task: Any, try_number: int, now: datetime) -> datetime | None:
    """The earliest time Airflow starts the next try after a failed ``try_number`` (its back-off
    without the jitter it adds: the real delay lies between this and twice the back-off)."""
    delay = getattr(task, "retry_delay", None)
    if not isinstance(delay, timedelta):
        return None
    factor = float(getattr(task, "retry_exponential_backoff", 0) or 0)
    seconds = delay.total_seconds()
    if factor > 0 and factor != 1.0:
        seconds = max(1.0, math.ceil(seconds * factor ** (try_number - 1)))
    cap = getattr(task, "max_retry_delay", None)
    if isinstance(cap, timedelta):
        seconds = min(seconds, cap.total_seconds())
    return now + timedelta(seconds=seconds)


def _note_failure(
    staging: Any, source: str, step: str, tenant_id: str, kind: Any, reason: str, context: dict[str, Any]
) -> None:
    """Leave the failure's reason for the status page: up for retry (with the earliest next try)
    or failed (best effort: a note must never hide the error itself)."""
    dag_run, ti = context.get("dag_run"), context.get("ti")
    if staging is None or dag_run is None:
        return
    try:
        from hq_sync.airflow import run_notes
        from hq_sync.staging.run_control import NoteKind
        from hq_sync.staging.schema import utcnow

        try_number = int(getattr(ti, "try_number", 0) or 0) or None
        max_tries = getattr(ti, "max_tries", None)
        retries_left = try_number is not None and isinstance(max_tries, int) and try_number <= max_tries
        will_retry = kind.retryable and retries_left
        note_kind = NoteKind.RETRY if will_retry else NoteKind.FAILED
        retry_at = next_try_at(context.get("task"), try_number or 1, utcnow()) if will_retry else None
        text = reason if kind.retryable else f"{kind.label}: {reason}"
        run_notes.note(
            staging,
            dag_run,
            tenant=tenant_id,
            source=source,
            task_id=step,
            kind=note_kind,
            reason=text,
            try_number=try_number,
            max_tries=(max_tries + 1) if isinstance(max_tries, int) else None,
            retry_at=retry_at,
        )
        if will_retry:
            log.warning(
                "%s failed (try %s of %s): %s; up for retry, not before %s UTC",
                step,
                try_number,
                (max_tries + 1) if isinstance(max_tries, int) else "?",
                reason,
                retry_at.strftime("%H:%M:%S") if retry_at else "?",
            )
    except Exception:  # noqa: BLE001 - a note must never hide the error itself
        log.warning("could not record the run note", exc_info=True)


def _run_step(source: str, step: str, tenant_id: str, *, staging: Any = None, **context: Any) -> dict[str, Any]:
    tenant = load_tenant(tenant_id)
    dag_run = context["dag_run"]
    staging = staging if staging is not None else StagingHook().get_engine()
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
