"""Alerts for failed tenant runs through Airflow's notifier mechanism (off by default).

Configured per deployment by environment variables of the scheduler / DAG processor:

- ``HQ_SYNC_ALERTS``: ``off`` (default) or ``smtp``;
- for ``smtp`` (``apache-airflow-providers-smtp``'s ``SmtpNotifier``):
  ``HQ_SYNC_ALERTS_TO`` (comma-separated recipients, required), ``HQ_SYNC_ALERTS_FROM`` (optional;
  default: the SMTP connection's / ``[email] from_email``), ``HQ_SYNC_ALERTS_SMTP_CONN_ID`` (default
  ``smtp_default``: host, port, login and password of the mail server live in that connection).

The DAG factory passes ``failure_notifiers()`` as the DAG's ``on_failure_callback``: when a tenant's
run fails, one mail names the tenant DAG, the run, and how to re-run it. Reading the environment
happens at parse time and touches no network; the notifier is only built when alerts are on.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

ALERTS_ENV = "HQ_SYNC_ALERTS"

SUBJECT = "[hq-sync] {{ dag.dag_id }} failed (run {{ run_id }})"
BODY = """<p>The hq-sync run <b>{{ run_id }}</b> of <b>{{ dag.dag_id }}</b> failed.</p>
<p>{{ dag.description or '' }}</p>
<p>A failed run means a system problem (credentials, a missing connection, an API still failing after
the retries); data problems are quarantined instead and never fail a run. Read the failed task's log,
fix the cause, then re-run the failed tenants:</p>
<pre>python -m hq_sync.ops.rerun_failed --dry-run
python -m hq_sync.ops.rerun_failed</pre>
<p>or in the UI: Grid → the run → Clear → "Only failed tasks". Overview: the <i>Sync status</i> page
(Browse menu). Reason reported by Airflow: {{ reason or 'see the task log' }}</p>
"""


class AlertConfigError(ValueError):
    """The alert settings are incomplete or name an unknown channel."""


def alerts_mode() -> str:
    from hq_sync.settings import settings

    return (settings().alerts or "off").strip().lower()  # $HQ_SYNC_ALERTS


def failure_notifiers() -> list[Any]:
    """The notifiers for a failed tenant run ([] when alerts are off)."""
    mode = alerts_mode()
    if mode in ("", "off", "none", "false", "0"):
        return []
    if mode == "smtp":
        from hq_sync.settings import settings

        env = settings()
        recipients = [a.strip() for a in (env.alerts_to or "").split(",") if a.strip()]
        if not recipients:
            raise AlertConfigError("HQ_SYNC_ALERTS=smtp needs HQ_SYNC_ALERTS_TO (comma-separated e-mail addresses)")
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return [
            SmtpNotifier(
                to=recipients,
                from_email=env.alerts_from or None,
                smtp_conn_id=env.alerts_smtp_conn_id or "smtp_default",
                subject=SUBJECT,
                html_content=BODY,
            )
        ]
    raise AlertConfigError(f"{ALERTS_ENV}={mode!r}: use 'off' or 'smtp'")


def on_failure_callback() -> list[Any] | None:
    """For ``DAG(on_failure_callback=...)``: the notifiers, or None when alerts are off.

    A wrong setting is logged (in the DAG processor's log) and leaves alerts off: it must never
    break the parsing of every tenant's DAGs.
    """
    try:
        return failure_notifiers() or None
    except AlertConfigError as exc:
        log.error("hq-sync alerts are off: %s", exc)
        return None
