"""The failure notifier factory: off by default, SMTP when configured."""

from __future__ import annotations

import pytest

from hq_sync.airflow import alerts


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HQ_SYNC_ALERTS", raising=False)
    assert alerts.failure_notifiers() == [] and alerts.on_failure_callback() is None


def test_smtp_notifier_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    monkeypatch.setenv("HQ_SYNC_ALERTS", "smtp")
    monkeypatch.setenv("HQ_SYNC_ALERTS_TO", "data-eng@agency.de, oncall@agency.de")
    monkeypatch.setenv("HQ_SYNC_ALERTS_SMTP_CONN_ID", "smtp_alerts")
    [notifier] = alerts.on_failure_callback()
    assert isinstance(notifier, SmtpNotifier)
    assert notifier.to == ["data-eng@agency.de", "oncall@agency.de"] and notifier.smtp_conn_id == "smtp_alerts"
    assert "{{ dag.dag_id }}" in notifier.subject and "rerun_failed" in notifier.html_content


def test_smtp_without_recipients_and_unknown_channels_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HQ_SYNC_ALERTS", "smtp")
    monkeypatch.delenv("HQ_SYNC_ALERTS_TO", raising=False)
    with pytest.raises(alerts.AlertConfigError, match="HQ_SYNC_ALERTS_TO"):
        alerts.failure_notifiers()
    assert alerts.on_failure_callback() is None  # logged; never breaks parsing of the tenant DAGs
    monkeypatch.setenv("HQ_SYNC_ALERTS", "pager")
    with pytest.raises(alerts.AlertConfigError, match="'off' or 'smtp'"):
        alerts.failure_notifiers()


def test_the_notifier_renders_for_a_failed_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HQ_SYNC_ALERTS", "smtp")
    monkeypatch.setenv("HQ_SYNC_ALERTS_TO", "data-eng@agency.de")
    [notifier] = alerts.failure_notifiers()
    sent: dict = {}
    class FakeHook:
        from_email = "airflow@agency.de"  # as an SMTP connection's from_email would give it

        def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
            pass

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
            pass

        def send_email_smtp(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
            sent.update(kwargs)

    monkeypatch.setattr("airflow.providers.smtp.notifications.smtp.SmtpHook", FakeHook)
    from airflow.sdk import DAG

    dag = DAG(dag_id="personio_absences__acme", description="Personio absences → HQ for ACME", schedule=None)
    notifier({"dag": dag, "run_id": "scheduled__2026-11-27", "reason": "task_failure"})
    assert sent["subject"] == "[hq-sync] personio_absences__acme failed (run scheduled__2026-11-27)"
    assert "personio_absences__acme" in sent["html_content"] and sent["to"] == ["data-eng@agency.de"]
