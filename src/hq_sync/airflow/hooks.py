"""Hooks: turn Airflow Connections into what the library needs (engines, authenticated clients).

Connection fields (docs/tenants.md): ``host`` is the API base URL (a bare host name gets
``https://``; empty means the vendor's public URL), ``password`` the token or secret, ``login`` the
client id where there is one; ``extra`` may set ``timeout`` (read timeout, seconds) and, for
Personio, ``app_id``. Secrets never leave the connection: clients do not log them. Every extra is
validated (``hq_sync.connection_extras``): an unknown key fails the task at once, naming the key.

Every client gets its vendor account's request budget (``hq_sync.airflow.budgets``: in Redis when
configured, so one budget holds across all workers; ``extra`` may set ``requests_per_minute``,
``requests_per_second`` and ``rate_account``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from hq_sync.airflow.budgets import shared_budget
from hq_sync.clients.http import RetryPolicy
from hq_sync.config import TenantConfig
from hq_sync.connection_extras import parse_extras
from hq_sync.kinds import SYSTEMS
from hq_sync.settings import settings
from hq_sync.staging import create_staging_engine, ensure_schema, resolve_staging_url

if TYPE_CHECKING:  # imported where used: building a client is a task's work, not the DAG parser's
    from hq_sync.clients.awork import AworkClient
    from hq_sync.clients.hq import HqClient
    from hq_sync.clients.personio import PersonioClient

log = logging.getLogger(__name__)

STAGING_CONN_ID = "hq_sync_staging"  # the one name of the staging database's Airflow connection
DEFAULT_BASE_URLS = {system.id: system.default_base_url for system in SYSTEMS.values()}  # hq_sync.kinds


class MissingConnection(RuntimeError):
    """A tenant's connection is not defined: a set-up problem, named precisely."""


def _get_connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def cli_connection(conn_id: str) -> Any | None:
    """A connection for a command-line tool run outside a task (the go-live probe): Airflow's
    secrets backends, environment variables and the metadata database; None when not defined."""
    from airflow.models.connection import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None


def _connection_uri(conn_id: str) -> str | None:
    """The URI of an Airflow connection, or None when it is not defined."""
    conn = _get_connection(conn_id)
    return conn.get_uri() if conn is not None else None


def base_url_of(conn: Any, system: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URLS[system]
    if "://" in host:
        return host.rstrip("/")
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema.strip('/')}" if conn.schema else ""
    return f"https://{host}{port}{path}"


def extras_of(conn: Any, system: str) -> Any:
    """The connection's validated extra (``hq_sync.connection_extras``); ``ConnectionExtraError``
    (not retryable) names an unknown key or a bad value."""
    return parse_extras(system, conn.extra_dejson or {}, getattr(conn, "conn_id", None))


def retry_policy_of(conn: Any, system: str | None = None) -> RetryPolicy:
    """``timeout`` (read timeout) and ``max_retry_delay`` (cap of one back-off wait) from the extra."""
    extra = extras_of(conn, system) if system else None
    raw = conn.extra_dejson or {}
    timeout = extra.timeout if extra is not None else raw.get("timeout")
    max_delay = extra.max_retry_delay if extra is not None else None
    policy = RetryPolicy()
    if timeout is not None:
        policy = RetryPolicy(timeout=(5.0, float(timeout)))
    if max_delay is not None:  # caps every back-off and rate-limit wait at 4x this (tests)
        policy = RetryPolicy(timeout=policy.timeout, max_delay=float(max_delay))
    return policy


class StagingHook:
    """The staging database: ``$HQ_SYNC_STAGING_URL``, else connection ``hq_sync_staging``, else SQLite."""

    def __init__(self, conn_id: str = STAGING_CONN_ID) -> None:
        self.conn_id = conn_id

    def get_engine(self) -> Engine:
        """A migrated engine for the staging database."""
        engine = create_staging_engine(resolve_staging_url(_connection_uri(self.conn_id)))
        log.info("staging database: %s", engine.url.render_as_string(hide_password=True))
        ensure_schema(engine)
        return engine


_shared_lock = threading.Lock()
_shared_engine: Engine | None = None


def shared_staging_engine() -> Engine:
    """The migrated staging engine of a long-lived process (the API server's plugins: status page,
    webhook receiver), created once: ``$HQ_SYNC_STAGING_URL``, else the connection ``hq_sync_staging``
    (secrets backends, environment, metadata database), else the SQLite default."""
    global _shared_engine
    with _shared_lock:
        if _shared_engine is None:
            uri = None
            if not settings().staging_url:  # $HQ_SYNC_STAGING_URL
                try:
                    conn = cli_connection(STAGING_CONN_ID)
                    uri = conn.get_uri() if conn is not None else None
                except Exception:  # noqa: BLE001 - no metadata database here: the SQLite default
                    uri = None
            engine = create_staging_engine(resolve_staging_url(uri))
            ensure_schema(engine)
            _shared_engine = engine
        return _shared_engine


class ConnectionClients:
    """The tenant's API clients, built once per task from its Airflow connections."""

    def __init__(
        self, tenant: TenantConfig, staging: Engine | None = None, get_connection: Callable[[str], Any] | None = None
    ) -> None:
        self.tenant = tenant
        self.staging = staging  # where rotating OAuth refresh tokens are kept
        self._get_connection = get_connection or _get_connection  # cli_connection outside a task

    def _conn(self, system: str) -> Any:
        conn_id = self.tenant.connection_id(system)
        conn = self._get_connection(conn_id)
        if conn is None:
            raise MissingConnection(
                f"Airflow connection {conn_id!r} ({system} credentials of tenant {self.tenant.id!r}) is not "
                "defined; add it (docs/tenants.md#connections)"
            )
        if not conn.password:
            raise MissingConnection(f"Airflow connection {conn_id!r} has no password (the {system} token/secret)")
        extras_of(conn, system)  # a typo in the extra fails here, naming the key
        return conn

    @cached_property
    def _hq(self) -> HqClient:
        from hq_sync.clients.hq import HqClient

        conn = self._conn("hq")
        base = base_url_of(conn, "hq")
        from hq_sync.clients.hq import DEFAULT_WRITE_CONCURRENCY
        from hq_sync.load.concurrency import workers_of

        workers = workers_of(extras_of(conn, "hq").write_concurrency, DEFAULT_WRITE_CONCURRENCY)
        return HqClient(
            base,
            self._hq_auth(conn, base),
            retry=retry_policy_of(conn, "hq"),
            budget=shared_budget("hq", conn, base),
            write_concurrency=workers,
        )

    def _hq_auth(self, conn: Any, base_url: str) -> Any:
        """The HQ token in the password (static), or HQ OAuth (issue #10): connections written by
        ``python -m hq_sync.connect.hq`` have login = AppId, password = AppSecret, extra
        ``{"auth": "oauth", "refresh_token": ...}``; rotations are kept in the staging database."""
        from hq_sync.clients.hq import HqOAuthTokens, hq_token_url

        if extras_of(conn, "hq").auth == "token":
            return conn.password
        store = self._refresh_token_store(conn, "hq", "HQ")
        return HqOAuthTokens(conn.login, conn.password, hq_token_url(base_url), store, tenant=self.tenant.id)

    def _refresh_token_store(self, conn: Any, system: str, vendor: str) -> Any:
        """Where an OAuth connection's rotating refresh token lives: the staging database, seeded by
        the connection's token (``hq_sync.staging.oauth_tokens``); ``MissingConnection`` when the
        tenant was never authorised (``python -m hq_sync.connect.<system>``)."""
        extra = extras_of(conn, system)
        if not extra.refresh_token or not conn.login:
            raise MissingConnection(
                f"Airflow connection {conn.conn_id!r} has no {vendor} authorisation yet: run "
                f"python -m hq_sync.connect.{system} --tenant {self.tenant.id} (docs/runbook.md#connect-{system})"
            )
        if self.staging is None:
            raise RuntimeError(f"{vendor} OAuth needs the staging database to keep rotated refresh tokens")
        from hq_sync.staging.oauth_tokens import StagingTokenStore

        return StagingTokenStore(self.staging, self.tenant.id, system, extra.refresh_token)

    def hq(self) -> HqClient:
        return self._hq

    @cached_property
    def _personio(self) -> PersonioClient:
        from hq_sync.clients.personio import PersonioClient, PersonioCredentials

        conn = self._conn("personio")
        if not conn.login:
            raise MissingConnection(f"Airflow connection {conn.conn_id!r} has no login (the Personio client id)")
        app_id = extras_of(conn, "personio").app_id or "HQ_SYNC"
        creds = PersonioCredentials(client_id=conn.login, client_secret=conn.password, app_id=app_id)
        base = base_url_of(conn, "personio")
        cache: Any = None  # one token per tenant, shared by the run's steps (issue #12)
        if self.staging is not None:
            from hq_sync.clients.personio import PROCESS_TOKENS
            from hq_sync.staging.oauth_tokens import StagingAccessTokenCache

            cache = StagingAccessTokenCache(self.staging, self.tenant.id, process=PROCESS_TOKENS)
        try:
            return PersonioClient(
                base,
                creds,
                retry=retry_policy_of(conn, "personio"),
                budget=shared_budget("personio", conn, base),
                **({"token_cache": cache} if cache is not None else {}),
            )
        except ValueError as exc:  # e.g. an app_id that is not UPPER_SNAKE_CASE: a set-up problem
            raise MissingConnection(f"Airflow connection {conn.conn_id!r} is invalid: {exc}") from exc

    def personio(self) -> PersonioClient:
        return self._personio

    def _awork_auth(self, conn: Any, base_url: str) -> Any:
        """How the awork client authenticates: the API key in the password, or OAuth (A1).

        OAuth connections are written by ``python -m hq_sync.connect.awork``: login = client id,
        password = client secret, extra ``{"auth": "oauth", "refresh_token": ...}``. The refresh
        token rotates on every use; rotations are kept in the staging database.
        """
        from hq_sync.clients.awork import AworkApiKey, AworkOAuthTokens, token_url_for

        if extras_of(conn, "awork").auth == "api_key":
            return AworkApiKey(conn.password)
        store = self._refresh_token_store(conn, "awork", "awork")
        return AworkOAuthTokens(conn.login, conn.password, token_url_for(base_url), store, tenant=self.tenant.id)

    @cached_property
    def _awork(self) -> AworkClient:
        from hq_sync.clients.awork import AworkClient

        conn = self._conn("awork")
        retry = retry_policy_of(conn, "awork")  # timeout, max_retry_delay
        base = base_url_of(conn, "awork")
        # One budget per workspace, shared by every task, process and worker that talks to it
        # (hq_sync.airflow.budgets), so concurrent or consecutive steps cannot burst past it.
        budget = shared_budget("awork", conn, base)
        return AworkClient(base, self._awork_auth(conn, base), budget=budget, retry=retry)

    def awork(self) -> AworkClient:
        """awork client: connection ``awork_<tenant>``, host = API base (``…/api/v1``), password =
        API key; extra may set ``requests_per_minute`` / ``requests_per_second`` / ``rate_account``
        (the workspace's budget, hq_sync.airflow.budgets) and ``timeout``."""
        return self._awork
