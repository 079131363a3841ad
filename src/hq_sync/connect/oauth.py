"""What the OAuth connect commands share (``hq_sync.connect.awork``, ``hq_sync.connect.hq``).

Both run an authorization-code flow: check the client id, the redirect URI and the secret; print the
vendor's authorisation URL; read the URL the browser was sent back to; redeem the code; store the
refresh token in the tenant's Airflow connection (``AirflowConnectionStore``) before anything else
uses it. Only the vendor's URL and code exchange differ (``OAuthVendor.exchange``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hq_sync.clients.http import ApiError, AuthError


class ConnectError(ValueError):
    """The connect command cannot go on; the message says why and what to do."""


def validate_redirect_uri(uri: str) -> str:
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", uri or ""):
        raise ConnectError(f"redirect URI {uri!r} must be an absolute http(s) URL on the tenant's HQ address")
    return uri


class AirflowConnectionStore:
    """A ``TokenStore`` that writes the refresh token into the tenant's Airflow connection (used
    by the awork and the HQ connect commands)."""

    def __init__(
        self,
        conn_id: str,
        api_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        description: str = "awork OAuth (hq_sync.connect.awork); the refresh token rotates in staging",
        conn_type: str = "awork",
    ) -> None:
        self.conn_id = conn_id
        self.conn_type = conn_type  # the connection type of the Airflow UI (hq_sync.airflow.provider)
        self.api_url = api_url
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self.description = description

    def __repr__(self) -> str:
        return f"AirflowConnectionStore({self.conn_id!r})"

    def _stored(self, session: Any) -> Any:
        from airflow.models.connection import Connection
        from sqlalchemy import select

        return session.scalar(select(Connection).where(Connection.conn_id == self.conn_id))

    def load(self) -> str | None:
        from airflow.utils.session import create_session

        with create_session() as session:
            conn = self._stored(session)
            return (conn.extra_dejson or {}).get("refresh_token") if conn is not None else None

    def save(self, refresh_token: str) -> None:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session

        extra = {"auth": "oauth", "refresh_token": refresh_token, "redirect_uri": self.redirect_uri}
        with create_session() as session:
            existing = self._stored(session)
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(
                Connection(
                    conn_id=self.conn_id,
                    conn_type=self.conn_type,
                    host=self.api_url,
                    login=self.client_id,
                    password=self._secret,
                    extra=json.dumps(extra),
                    description=self.description,
                )
            )


@dataclass(frozen=True)
class Authorisation:
    """One run of the flow: the tenant's connection and the app's credentials."""

    conn_id: str
    client_id: str
    client_secret: str
    redirect_uri: str
    api_url: str
    callback: Callable[[str], str]  # shows the authorisation URL, returns the callback URL
    store: Any  # a TokenStore: where the refresh token goes


@dataclass(frozen=True)
class OAuthVendor:
    """What differs between the vendors' connect commands."""

    name: str  # "awork", "HQ": in messages
    system: str  # the tenant connection it writes: "awork", "hq"
    client_label: str  # "client id", "AppId"
    secret_label: str  # "client secret", "AppSecret"
    secret_env: str  # the variable holding the secret ($HQ_SYNC_..._SECRET)
    approver: str  # who opens the URL
    default_api_url: str
    validate_client_id: Callable[[str], str]
    exchange: Callable[[Authorisation], str]  # print the URL, redeem the code, store; the summary
    store_description: str

    def connect(
        self,
        *,
        conn_id: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        api_url: str,
        callback: Callable[[str], str],
        store: Any | None = None,
    ) -> str:
        """Run the authorisation and store the refresh token; returns a one-line summary (no secret)."""
        self.validate_client_id(client_id)
        validate_redirect_uri(redirect_uri)
        if not client_secret:
            raise ConnectError(f"no {self.secret_label}: set {self.secret_env} or type it at the prompt")
        store = store or AirflowConnectionStore(
            conn_id,
            api_url,
            client_id,
            client_secret,
            redirect_uri,
            description=self.store_description,
            conn_type=self.system,
        )
        auth = Authorisation(conn_id, client_id, client_secret, redirect_uri, api_url, callback, store)
        try:
            return self.exchange(auth)
        except ApiError as exc:
            raise ConnectError(str(exc)) from exc

    def prompt_callback(self, url: str) -> str:
        print(f"Open this URL as {self.approver}, approve the access, then paste the URL your browser was")
        print("sent back to (it starts with the redirect URI):\n")
        print(f"  {url}\n", flush=True)
        return input("Callback URL: ").strip()

    def main(self, argv: list[str] | None, *, description: str, client_option: str, client_help: str) -> int:
        """The command line: ``--tenant``, the client id option, ``--redirect-uri``, ``--api-url``."""
        prog = f"python -m hq_sync.connect.{self.system}"
        parser = argparse.ArgumentParser(prog=prog, description=description)
        parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
        parser.add_argument(client_option, required=True, dest="client_id", help=client_help)
        parser.add_argument(
            "--redirect-uri", required=True, help="registered redirect URI (on the tenant's HQ address)"
        )
        parser.add_argument("--api-url", default=None, help=f"{self.name} API base (default {self.default_api_url})")
        args = parser.parse_args(argv)

        from hq_sync.airflow.tasks import TenantConfigInvalid, load_tenant

        try:
            tenant = load_tenant(args.tenant)
            summary = self.connect(
                conn_id=tenant.connection_id(self.system),
                client_id=args.client_id,
                client_secret=self._secret(),
                redirect_uri=args.redirect_uri,
                api_url=(args.api_url or self.default_api_url).rstrip("/"),
                callback=self.prompt_callback,
            )
        except (ConnectError, TenantConfigInvalid, AuthError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(summary)
        return 0

    def _secret(self) -> str:
        """The secret from its variable (in the settings), else a hidden prompt; never printed."""
        from hq_sync.settings import settings

        field = self.secret_env.removeprefix("HQ_SYNC_").lower()
        return str(getattr(settings(), field) or "") or getpass.getpass(f"{self.name} {self.secret_label} (hidden): ")
