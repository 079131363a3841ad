"""Connect a tenant's awork workspace with OAuth (product.md A1), like awork's own OAuth client.

    python -m hq_sync.connect.awork --tenant muster-agentur --client-id hqsync42 \
        --redirect-uri https://muster.hellohq.io/oauth/awork

1. The client id is checked (at least 6 characters, letters and digits only: awork's rule).
2. The client secret comes from ``$HQ_SYNC_AWORK_CLIENT_SECRET`` or a hidden prompt; it is never
   printed or logged.
3. The command prints the ``/accounts/authorize`` URL (authorization code flow with PKCE, S256).
   An HQ admin who is admin in awork too opens it, approves, and pastes the URL the browser was
   sent back to.
4. The code is redeemed; the refresh token is stored in the tenant's Airflow connection
   (``awork_<tenant>``: login = client id, password = client secret, extra ``{"auth": "oauth",
   "refresh_token": ...}``) *before* anything else uses it. Tasks keep the rotations in the staging
   database (``hq_sync.staging.oauth_tokens``); a new connect replaces that chain.

Run it again whenever a run fails with "Re-authorise the tenant's awork connection".
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from hq_sync.clients.awork import (
    AWORK_API_URL,
    authorization_request,
    code_from_redirect,
    exchange_authorization_code,
    token_url_for,
)
from hq_sync.clients.http import ApiError
from hq_sync.settings import settings

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{6,}$")
SECRET_ENV = "HQ_SYNC_AWORK_CLIENT_SECRET"


class ConnectError(ValueError):
    """The connect command cannot go on; the message says why and what to do."""


def validate_client_id(client_id: str) -> str:
    """awork's rule for OAuth client ids (A1); returns the id or raises ConnectError."""
    if not CLIENT_ID_PATTERN.match(client_id or ""):
        raise ConnectError(
            f"awork client id {client_id!r} is invalid: it needs at least 6 characters, letters and digits "
            "only (no spaces, dashes or other special characters)"
        )
    return client_id


def validate_redirect_uri(uri: str) -> str:
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", uri or ""):
        raise ConnectError(f"redirect URI {uri!r} must be an absolute http(s) URL on the tenant's HQ address")
    return uri


class AirflowConnectionStore:
    """A ``TokenStore`` that writes the refresh token into the tenant's Airflow connection (used
    by the awork and the HQ connect commands)."""

    def __init__(self, conn_id: str, api_url: str, client_id: str, client_secret: str, redirect_uri: str,
                 description: str = "awork OAuth (hq_sync.connect.awork); the refresh token rotates in staging",
                 conn_type: str = "awork") -> None:
        self.conn_id = conn_id
        self.conn_type = conn_type  # the connection type of the Airflow UI (hq_sync.airflow.provider)
        self.api_url = api_url
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self.description = description

    def __repr__(self) -> str:
        return f"AirflowConnectionStore({self.conn_id!r})"

    def load(self) -> str | None:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            conn = session.scalar(select(Connection).where(Connection.conn_id == self.conn_id))
            return (conn.extra_dejson or {}).get("refresh_token") if conn is not None else None

    def save(self, refresh_token: str) -> None:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        extra = {"auth": "oauth", "refresh_token": refresh_token, "redirect_uri": self.redirect_uri}
        with create_session() as session:
            existing = session.scalar(select(Connection).where(Connection.conn_id == self.conn_id))
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Connection(
                conn_id=self.conn_id, conn_type=self.conn_type, host=self.api_url, login=self.client_id,
                password=self._secret, extra=json.dumps(extra), description=self.description,
            ))


def connect(
    *,
    conn_id: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    api_url: str,
    callback: Callable[[str], str],
    store: Any | None = None,
) -> str:
    """Run the authorisation; returns a one-line summary (without any secret)."""
    validate_client_id(client_id)
    validate_redirect_uri(redirect_uri)
    if not client_secret:
        raise ConnectError(f"no client secret: set {SECRET_ENV} or type it at the prompt")
    store = store or AirflowConnectionStore(conn_id, api_url, client_id, client_secret, redirect_uri)
    request = authorization_request(client_id, redirect_uri, api_url=api_url)
    try:
        code = code_from_redirect(callback(request.url), request)
        exchange_authorization_code(client_id, client_secret, code, request, store, token_url=token_url_for(api_url))
    except ApiError as exc:
        raise ConnectError(str(exc)) from exc
    return f"awork connected: connection {conn_id!r} holds the authorisation (client id {client_id}); the secret is not shown"


def _prompt_callback(url: str) -> str:
    print("Open this URL as an admin of both HQ and awork, approve the access, then paste the URL")
    print("your browser was sent back to (it starts with the redirect URI):\n")
    print(f"  {url}\n", flush=True)
    return input("Callback URL: ").strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hq_sync.connect.awork", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument("--client-id", required=True, help="the awork OAuth client's id")
    parser.add_argument("--redirect-uri", required=True, help="registered redirect URI (on the tenant's HQ address)")
    parser.add_argument("--api-url", default=None, help=f"awork API base (default: the connection's host or {AWORK_API_URL})")
    args = parser.parse_args(argv)

    from hq_sync.airflow.tasks import TenantConfigInvalid, load_tenant

    try:
        tenant = load_tenant(args.tenant)
        conn_id = tenant.connection_id("awork")
        secret = settings().awork_client_secret or getpass.getpass("awork client secret (hidden): ")  # $HQ_SYNC_AWORK_CLIENT_SECRET
        summary = connect(
            conn_id=conn_id,
            client_id=args.client_id,
            client_secret=secret,
            redirect_uri=args.redirect_uri,
            api_url=(args.api_url or AWORK_API_URL).rstrip("/"),
            callback=_prompt_callback,
        )
    except (ConnectError, TenantConfigInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
