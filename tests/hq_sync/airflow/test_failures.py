"""Which failures a retry can fix (issue 15): every vendor's and auth kind's errors, config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from hq_sync.airflow.failures import FailureKind, classify, describe
from hq_sync.airflow.hooks import MissingConnection
from hq_sync.airflow.tasks import TenantConfigInvalid, next_try_at
from hq_sync.clients.awork import AworkAuthorizationRevoked, AworkTokenStoreError
from hq_sync.clients.hq import HqAuthorizationRevoked
from hq_sync.clients.http import AmbiguousWriteError, AuthError, ClientError, TransientError
from hq_sync.errors import NotRetryable


def _raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:  # noqa: BLE001
        return exc


@pytest.mark.parametrize(("exc", "kind"), [
    (AuthError("hq GET /Users -> 401: invalid token", status=401), FailureKind.CREDENTIALS),  # HQ static token
    (AuthError("awork GET /users -> 401", status=401), FailureKind.CREDENTIALS),  # awork API key
    (AuthError("Personio rejected the client credentials (401)", status=401), FailureKind.CREDENTIALS),
    (AuthError("awork rejected the OAuth client (401 invalid_client)", status=401), FailureKind.CREDENTIALS),
    (AworkAuthorizationRevoked("awork refused the stored refresh token"), FailureKind.AUTHORISATION_REVOKED),
    (HqAuthorizationRevoked("hq refused the stored refresh token"), FailureKind.AUTHORISATION_REVOKED),
    (AworkTokenStoreError("could not be stored"), FailureKind.TRANSIENT),
    (MissingConnection("Airflow connection 'hq_acme' is not defined"), FailureKind.CONFIG),
    (TenantConfigInvalid("acme.yaml: sources.personio.schedule: not a cron"), FailureKind.CONFIG),
    (NotRetryable("run_mode must be auto, events or full"), FailureKind.NOT_RETRYABLE),
    (TransientError("personio GET /v2/persons -> 503 after 6 attempts", status=503), FailureKind.TRANSIENT),
    (AmbiguousWriteError("hq POST /Absences: ReadTimeout"), FailureKind.TRANSIENT),
    (ClientError("hq POST /Absences -> 400"), FailureKind.TRANSIENT),
    (ConnectionError("reset"), FailureKind.TRANSIENT),
    (_raised_from(RuntimeError("extract failed"), AuthError("401", status=401)), FailureKind.CREDENTIALS),
])
def test_classify(exc: Exception, kind: FailureKind) -> None:
    assert classify(exc) is kind
    assert kind.retryable is (kind is FailureKind.TRANSIENT)


def test_describe_is_one_line() -> None:
    assert describe(TenantConfigInvalid("acme.yaml\n  sources.personio: bad\n")) == "acme.yaml sources.personio: bad"
    assert len(describe(RuntimeError("x" * 5000))) == 1001


def test_next_try_follows_the_dag_back_off() -> None:
    now = datetime(2026, 11, 29, 8, tzinfo=UTC)
    task = SimpleNamespace(retry_delay=timedelta(minutes=2), retry_exponential_backoff=2.0,
                           max_retry_delay=timedelta(minutes=30))
    assert [next_try_at(task, n, now) - now for n in (1, 2, 3, 6)] == [
        timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8), timedelta(minutes=30)]
    assert next_try_at(SimpleNamespace(), 1, now) is None
