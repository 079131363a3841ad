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

import secrets
import sys
from typing import Any
from urllib.parse import urlencode

from hq_sync.clients.hq import OAUTH_SCOPE, hq_root, hq_token_url
from hq_sync.clients.oauth import InvalidGrant, TokenEndpoint, TokenGrant, code_from_callback
from hq_sync.connect.oauth import Authorisation, ConnectError, OAuthVendor

HQ_API_URL = "https://api.hellohq.io/v1"
SECRET_ENV = "HQ_SYNC_HQ_APP_SECRET"

__all__ = ["ConnectError", "authorize_url", "connect", "main", "validate_app_id"]


def validate_app_id(app_id: str) -> str:
    """HQ's AppId is ``{customerId}-{clientId}`` (hq.md §3); returns it or raises ConnectError."""
    customer, dash, client = (app_id or "").partition("-")
    if not (dash and customer.isdigit() and client):
        raise ConnectError(
            f"HQ AppId {app_id!r} is invalid: it looks like '12345-hqsync' ({{customerId}}-{{clientId}}, "
            "as shown in HQ Admin → API clients)"
        )
    return app_id


def authorize_url(api_url: str, app_id: str, redirect_uri: str, state: str) -> str:
    """HQ's ``/Account/Authorize`` URL for this app (scopes ``read_all write_all``)."""
    params = {
        "response_type": "code",
        "client_id": app_id,
        "state": state,
        "redirect_uri": redirect_uri,
        "scope": OAUTH_SCOPE,
    }
    return f"{hq_root(api_url)}/Account/Authorize?{urlencode(params)}"


def _exchange(auth: Authorisation) -> str:
    """HQ's code flow: ``/Account/Authorize``, then ``POST /Token`` (Basic ``AppId:AppSecret``)."""
    state = secrets.token_urlsafe(16)
    endpoint = TokenEndpoint(
        hq_token_url(auth.api_url),
        auth.client_id,
        auth.client_secret,
        vendor="hq",
        reauthorise="start the authorisation again",
    )
    try:
        url = authorize_url(auth.api_url, auth.client_id, auth.redirect_uri, state)
        code = code_from_callback(auth.callback(url), state, "HQ")
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": auth.redirect_uri}
        grant: TokenGrant = endpoint.grant(body)
    except InvalidGrant as exc:
        raise ConnectError(f"HQ refused the authorization code ({exc.reason}); start the authorisation again") from None
    if not grant.refresh_token:
        raise ConnectError("HQ issued no refresh token; check the app's settings in HQ Admin → API clients")
    try:
        auth.store.save(grant.refresh_token)
    except Exception as exc:  # noqa: BLE001 - any failure: nothing usable was stored
        raise ConnectError(f"the HQ refresh token could not be stored ({type(exc).__name__}); start again") from exc
    return (
        f"HQ connected: connection {auth.conn_id!r} holds the authorisation (AppId {auth.client_id}, access tokens "
        f"valid {int(grant.expires_in)} s, renewed automatically); the secret is not shown"
    )


HQ = OAuthVendor(
    name="HQ",
    system="hq",
    client_label="AppId",
    secret_label="AppSecret",
    secret_env=SECRET_ENV,
    approver="an HQ admin",
    default_api_url=HQ_API_URL,
    validate_client_id=validate_app_id,
    exchange=_exchange,
    store_description="HQ OAuth (hq_sync.connect.hq); the refresh token rotates in staging",
)


def connect(*, app_id: str, app_secret: str, **authorisation: Any) -> str:
    """Run the authorisation and store the refresh token; returns a one-line summary (no secret).
    ``authorisation``: ``conn_id``, ``redirect_uri``, ``api_url``, ``callback``, optionally ``store``."""
    return HQ.connect(client_id=app_id, client_secret=app_secret, **authorisation)


def main(argv: list[str] | None = None) -> int:
    description = (__doc__ or "").split("\n\n")[0]
    return HQ.main(
        argv, description=description, client_option="--app-id", client_help="the HQ app's AppId, e.g. 12345-hqsync"
    )


if __name__ == "__main__":
    sys.exit(main())
