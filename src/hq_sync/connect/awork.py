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

import re
import sys

from hq_sync.clients.awork import (
    AWORK_API_URL,
    authorization_request,
    code_from_redirect,
    exchange_authorization_code,
    token_url_for,
)
from hq_sync.connect.oauth import (
    AirflowConnectionStore,
    Authorisation,
    ConnectError,
    OAuthVendor,
    validate_redirect_uri,
)

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{6,}$")
SECRET_ENV = "HQ_SYNC_AWORK_CLIENT_SECRET"

__all__ = ["AirflowConnectionStore", "ConnectError", "connect", "main", "validate_client_id", "validate_redirect_uri"]


def validate_client_id(client_id: str) -> str:
    """awork's rule for OAuth client ids (A1); returns the id or raises ConnectError."""
    if not CLIENT_ID_PATTERN.match(client_id or ""):
        raise ConnectError(
            f"awork client id {client_id!r} is invalid: it needs at least 6 characters, letters and digits "
            "only (no spaces, dashes or other special characters)"
        )
    return client_id


def _exchange(auth: Authorisation) -> str:
    """awork's authorization code flow with PKCE (S256)."""
    request = authorization_request(auth.client_id, auth.redirect_uri, api_url=auth.api_url)
    code = code_from_redirect(auth.callback(request.url), request)
    exchange_authorization_code(
        auth.client_id, auth.client_secret, code, request, auth.store, token_url=token_url_for(auth.api_url)
    )
    return (
        f"awork connected: connection {auth.conn_id!r} holds the authorisation (client id {auth.client_id}); "
        "the secret is not shown"
    )


AWORK = OAuthVendor(
    name="awork",
    system="awork",
    client_label="client id",
    secret_label="client secret",
    secret_env=SECRET_ENV,
    approver="an admin of both HQ and awork",
    default_api_url=AWORK_API_URL,
    validate_client_id=validate_client_id,
    exchange=_exchange,
    store_description="awork OAuth (hq_sync.connect.awork); the refresh token rotates in staging",
)


connect = AWORK.connect  # connect(conn_id=, client_id=, client_secret=, redirect_uri=, api_url=, callback=, store=)


def main(argv: list[str] | None = None) -> int:
    description = (__doc__ or "").split("\n\n")[0]
    return AWORK.main(
        argv, description=description, client_option="--client-id", client_help="the awork OAuth client's id"
    )


if __name__ == "__main__":
    sys.exit(main())
