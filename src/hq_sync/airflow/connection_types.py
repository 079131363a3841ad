"""The HQ, awork and Personio connection types of the Airflow UI, built on providers-http's HttpHook.

Each hook names its connection type (``hq``, ``awork``, ``personio``: ``hq_sync.airflow.provider``
registers them with their form fields) and implements the UI's **Test** button
(``POST /api/v2/connections/test``; needs ``AIRFLOW__CORE__TEST_CONNECTION=Enabled``): the extra is
validated (``hq_sync.connection_extras``: a typo names the key), then one cheap read-only request is
made with the same client the tasks use (HQ: one user; awork: ``/me``; Personio: a token and one
person). OAuth connections are only checked for completeness: asking for a token would spend the
rotating refresh token outside the staging database that keeps its chain (the go-live probe,
``python -m hq_sync.ops.probe``, exercises them).

Tasks keep building their clients with ``hq_sync.airflow.hooks.ConnectionClients``, whatever the
connection's type (``http`` connections keep working).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.http.hooks.http import HttpHook

from hq_sync.clients.http import RetryPolicy
from hq_sync.connection_extras import parse_extras

# The Test button answers within seconds: two tries, short waits, a short read timeout.
TEST_RETRY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0, timeout=(5.0, 15.0))


class _VendorHook(HttpHook):
    """A vendor's connection type: ``class XHook(_VendorHook, vendor="x", vendor_name="X", secrets=...)``
    names the type ``x``, its default connection ``x_default`` and its ``x_conn_id`` argument."""

    vendor = ""
    vendor_name = ""
    secrets = ("", "")  # what the password holds: (with a static secret, with OAuth)

    def __init_subclass__(cls, *, vendor: str, vendor_name: str, secrets: tuple[str, str], **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.vendor, cls.vendor_name, cls.secrets = vendor, vendor_name, secrets
        cls.conn_type = vendor
        cls.conn_name_attr = f"{vendor}_conn_id"
        cls.default_conn_name = f"{vendor}_default"
        cls.hook_name = f"{vendor_name} (hq-sync)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        conn_id = kwargs.pop(self.conn_name_attr, None) or self.default_conn_name
        kwargs.setdefault("method", "GET")
        super().__init__(*args, **{**kwargs, "http_conn_id": conn_id})

    def extras(self, conn: Any | None = None) -> Any:
        """The connection's validated extra (``ConnectionExtraError`` names an unknown key)."""
        conn = conn or self.get_connection(self.http_conn_id)
        return parse_extras(self.vendor, conn.extra_dejson or {})

    def test_connection(self) -> tuple[bool, str]:
        try:
            return True, self.check(self.get_connection(self.http_conn_id))
        except Exception as exc:  # noqa: BLE001 - the UI shows the reason
            return False, str(exc) or type(exc).__name__

    def check(self, conn: Any) -> str:
        """Validate the connection and make one read-only request; returns what was checked."""
        from hq_sync.airflow.hooks import base_url_of

        extras = self.extras(conn)
        if not conn.password:
            raise ValueError(f"no password: the {self.vendor_name} {self.secret_name(extras)} is missing")
        base = base_url_of(conn, self.vendor)
        if getattr(extras, "auth", None) == "oauth":
            if not conn.login or not extras.refresh_token:
                raise ValueError(
                    f"OAuth is not authorised yet: run python -m hq_sync.connect.{self.vendor} "
                    "--tenant <tenant> (docs/runbook.md)"
                )
            return (
                f"{self.vendor_name} OAuth settings are complete ({base}); tokens are not requested here "
                "(that would rotate the refresh token): python -m hq_sync.ops.probe --tenant <tenant> checks them"
            )
        timeout = min(extras.timeout or TEST_RETRY.timeout[1], TEST_RETRY.timeout[1])
        retry = RetryPolicy(
            attempts=TEST_RETRY.attempts,
            base_delay=TEST_RETRY.base_delay,
            max_delay=TEST_RETRY.max_delay,
            timeout=(TEST_RETRY.timeout[0], timeout),
        )
        self.request_once(conn, base, extras, retry)
        return f"Connected to {self.vendor_name} at {base}"

    def secret_name(self, extras: Any) -> str:
        return self.secrets[1] if getattr(extras, "auth", None) == "oauth" else self.secrets[0]

    def request_once(self, conn: Any, base: str, extras: Any, retry: RetryPolicy) -> None:
        raise NotImplementedError


class HqHook(_VendorHook, vendor="hq", vendor_name="helloHQ", secrets=("sync token", "App secret")):
    """helloHQ: host = API base (``…/v1``), password = sync token (or AppSecret, login = AppId, with OAuth)."""

    def request_once(self, conn: Any, base: str, extras: Any, retry: RetryPolicy) -> None:
        from hq_sync.clients.hq import HqClient

        HqClient(base, conn.password, retry=retry).request("GET", "Users", params={"$top": 1, "$select": "Id"})


class AworkHook(_VendorHook, vendor="awork", vendor_name="awork", secrets=("API key", "client secret")):
    """awork: host = API base (``…/api/v1``), password = API key (or client secret, login = client id, with OAuth)."""

    def request_once(self, conn: Any, base: str, extras: Any, retry: RetryPolicy) -> None:
        from hq_sync.clients.awork import AworkApiKey, AworkClient

        AworkClient(base, AworkApiKey(conn.password), retry=retry).me()


class PersonioHook(_VendorHook, vendor="personio", vendor_name="Personio", secrets=("client secret", "client secret")):
    """Personio: host = API base, login = client id, password = client secret, extra ``app_id``."""

    def request_once(self, conn: Any, base: str, extras: Any, retry: RetryPolicy) -> None:
        from hq_sync.clients.personio import PersonioClient, PersonioCredentials

        if not conn.login:
            raise ValueError("no login: the Personio client id is missing")
        creds = PersonioCredentials(
            client_id=conn.login, client_secret=conn.password, app_id=extras.app_id or "HQ_SYNC"
        )
        next(iter(PersonioClient(base, creds, retry=retry).persons(limit=1)), None)
