"""Which task failures a retry can fix (issue 15), and the note a failure leaves for the status page.

A wrong secret must turn the run red and alert at once, not sit "up for retry" for a quarter of an
hour; a network blip must keep its retries. ``classify`` decides from the exception (and the
exceptions it was raised from):

| kind | examples | retried |
| --- | --- | --- |
| ``config`` | tenant file invalid, connection missing or incomplete (``MissingConnection``) | no |
| ``credentials`` | 401/403 after one re-authentication (``AuthError``): wrong HQ token, awork API key, | no |
|  | Personio client secret, OAuth client id/secret |  |
| ``authorisation_revoked`` | OAuth refresh token refused (``invalid_grant``: revoked, expired, already used) | no |
| ``not_retryable`` | ``hq_sync.errors.NotRetryable`` (a refused file, drift found, bad run option) | no |
| ``transient`` | everything else: timeouts, dropped connections, 5xx/429 that outlasted the client's | yes |
|  | own retries, a locked database, a rotated token that could not be stored |  |
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    CONFIG = "config"
    CREDENTIALS = "credentials"
    AUTHORISATION_REVOKED = "authorisation_revoked"
    NOT_RETRYABLE = "not_retryable"
    TRANSIENT = "transient"

    @property
    def retryable(self) -> bool:
        return self is FailureKind.TRANSIENT

    @property
    def label(self) -> str:
        return {
            FailureKind.CONFIG: "configuration error",
            FailureKind.CREDENTIALS: "credentials refused",
            FailureKind.AUTHORISATION_REVOKED: "authorisation revoked",
            FailureKind.NOT_RETRYABLE: "a retry cannot fix this",
            FailureKind.TRANSIENT: "transient",
        }[self]


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from (``raise ... from``), outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__
    return seen


def classify(exc: BaseException) -> FailureKind:
    """The kind of a task's failure (see the module docstring)."""
    from hq_sync.airflow.hooks import MissingConnection
    from hq_sync.airflow.tasks import TenantConfigInvalid
    from hq_sync.clients.http import AuthError
    from hq_sync.clients.oauth import OAuthAuthorizationRevoked, OAuthTokenStoreError
    from hq_sync.errors import NotRetryable

    for error in _chain(exc):
        if isinstance(error, (TenantConfigInvalid, MissingConnection)):
            return FailureKind.CONFIG
        if isinstance(error, OAuthAuthorizationRevoked):
            return FailureKind.AUTHORISATION_REVOKED
        if isinstance(error, OAuthTokenStoreError):
            return FailureKind.TRANSIENT  # the staging database failed; a retry may store it
        if isinstance(error, AuthError):
            return FailureKind.CREDENTIALS
        if isinstance(error, NotRetryable):
            return FailureKind.NOT_RETRYABLE
    return FailureKind.TRANSIENT


def describe(exc: BaseException) -> str:
    """The error as one line for the status page and the log (our errors' messages name the cause)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    return text if len(text) <= 1000 else text[:1000] + "…"
