"""Connect a tenant's HQ with OAuth (HQ v1's authorization-code flow, hq.md §3), like the awork command.

    python -m hq_sync.connect.hq --tenant muster-agentur --app-id 12345-hqsync \
        --redirect-uri https://muster.hellohq.io/oauth/hq

For tenants whose HQ access is an OAuth app rather than a static sync token: HQ's access tokens
expire after about 20 minutes (its example answers ``expires_in: 1199``) and are renewed with the
refresh token, which HQ may replace on every refresh (issue #10).

1. The app (HQ Admin → API clients → an app with AppId ``{customerId}-{clientId}``, an AppSecret
   and the redirect URI) must exist. The secret comes from ``$HQ_SYNC_HQ_APP_SECRET`` or a hidden
   prompt; it is never printed or logged.
2. The command prints HQ's ``/Account/Authorize`` URL; an HQ admin opens it, approves, and pastes
   the URL the browser was sent back to (the sync then acts as that user).
3. The code is redeemed at ``POST /Token`` (Basic ``AppId:AppSecret``); the refresh token is stored
   in the tenant's Airflow connection (``hq_<tenant>``: host = API base, login = AppId, password =
   AppSecret, extra ``{"auth": "oauth", "refresh_token": ...}``) before anything uses it. Tasks keep
   the rotations in the staging database (``hq_sync.staging.oauth_tokens``, the same mechanism as
   awork); running the command again replaces that chain.

Run it again whenever a run fails with "Re-authorise the tenant's HQ connection". A static sync
token (password only, no ``auth`` in the extra) keeps working as before.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from hq_sync.clients.hq import OAUTH_SCOPE, hq_root, hq_token_url
from hq_sync.clients.http import ApiError, AuthError
from hq_sync.clients.oauth import InvalidGrant, TokenEndpoint, TokenGrant, code_from_callback
from hq_sync.connect.awork import AirflowConnectionStore, ConnectError, validate_redirect_uri
from hq_sync.settings import settings

HQ_API_URL = "https://api.hellohq.io/v1"
SECRET_ENV = "HQ_SYNC_HQ_APP_SECRET"


def validate_app_id(app_id: str) -> str:
    """HQ's AppId is ``{customerId}-{clientId}`` (hq.md §3); returns it or raises ConnectError."""
    customer, dash, client = (app_id or "").partition("-")
    if not (dash and customer.isdigit() and client):
        raise ConnectError(f"HQ AppId {app_id!r} is invalid: it looks like '12345-hqsync' ({{customerId}}-{{clientId}}, "
                           "as shown in HQ Admin → API clients)")
    return app_id


def authorize_url(api_url: str, app_id: str, redirect_uri: str, state: str) -> str:
    """HQ's ``/Account/Authorize`` URL for this app (scopes ``read_all write_all``)."""
    params = {"response_type": "code", "client_id": app_id, "state": state, "redirect_uri": redirect_uri, "scope": OAUTH_SCOPE}
    return f"{hq_root(api_url)}/Account/Authorize?{urlencode(params)}"


def connect(
    *,
    conn_id: str,
    app_id: str,
    app_secret: str,
    redirect_uri: str,
    api_url: str,
    callback: Callable[[str], str],
    store: Any | None = None,
) -> str:
    """Run the authorisation and store the refresh token; returns a one-line summary (no secret)."""
    validate_app_id(app_id)
    validate_redirect_uri(redirect_uri)
    if not app_secret:
        raise ConnectError(f"no AppSecret: set {SECRET_ENV} or type it at the prompt")
    store = store or AirflowConnectionStore(conn_id, api_url, app_id, app_secret, redirect_uri,
                                            description="HQ OAuth (hq_sync.connect.hq); the refresh token rotates in staging",
                                            conn_type="hq")
    state = secrets.token_urlsafe(16)
    endpoint = TokenEndpoint(hq_token_url(api_url), app_id, app_secret, vendor="hq",
                             reauthorise="start the authorisation again")
    try:
        code = code_from_callback(callback(authorize_url(api_url, app_id, redirect_uri, state)), state, "HQ")
        grant: TokenGrant = endpoint.grant({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    except InvalidGrant as exc:
        raise ConnectError(f"HQ refused the authorization code ({exc.reason}); start the authorisation again") from None
    except ApiError as exc:
        raise ConnectError(str(exc)) from exc
    if not grant.refresh_token:
        raise ConnectError("HQ issued no refresh token; check the app's settings in HQ Admin → API clients")
    try:
        store.save(grant.refresh_token)
    except Exception as exc:  # noqa: BLE001 - any failure: nothing usable was stored
        raise ConnectError(f"the HQ refresh token could not be stored ({type(exc).__name__}); start again") from exc
    return (f"HQ connected: connection {conn_id!r} holds the authorisation (AppId {app_id}, access tokens valid "
            f"{int(grant.expires_in)} s, renewed automatically); the secret is not shown")


def _prompt_callback(url: str) -> str:
    print("Open this URL as an HQ admin, approve the access, then paste the URL your browser was")
    print("sent back to (it starts with the redirect URI):\n")
    print(f"  {url}\n", flush=True)
    return input("Callback URL: ").strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hq_sync.connect.hq", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument("--app-id", required=True, help="the HQ app's AppId, e.g. 12345-hqsync")
    parser.add_argument("--redirect-uri", required=True, help="the app's registered redirect URI")
    parser.add_argument("--api-url", default=None, help=f"HQ API base (default {HQ_API_URL})")
    args = parser.parse_args(argv)

    from hq_sync.airflow.tasks import TenantConfigInvalid, load_tenant

    try:
        tenant = load_tenant(args.tenant)
        secret = settings().hq_app_secret or getpass.getpass("HQ AppSecret (hidden): ")  # $HQ_SYNC_HQ_APP_SECRET
        summary = connect(
            conn_id=tenant.connection_id("hq"),
            app_id=args.app_id,
            app_secret=secret,
            redirect_uri=args.redirect_uri,
            api_url=(args.api_url or HQ_API_URL).rstrip("/"),
            callback=_prompt_callback,
        )
    except (ConnectError, TenantConfigInvalid, AuthError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
