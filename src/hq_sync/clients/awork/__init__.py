"""The awork API v1 client and what it needs, one module each (docs/awork-client.md):

- ``client``: ``AworkClient``, paging and keyset reads, every resource the sync uses;
- ``auth``: API key or OAuth tokens from awork's rotating refresh token (``AworkOAuthTokens``);
- ``pkce``: the authorization-code flow with PKCE, for the connect command (``hq_sync.connect.awork``);
- ``budget``: the request budget with awork's defaults and awork's rate-limit headers;
- ``literals``: ``filterby`` / ``orderby`` literals (``datetime_literal``, ``guid_literal``, …);
- ``query``: whether ``/timeentries`` honours filterby/orderby, and the safe fallback read;
- ``users``: ``user_email`` from awork's user objects.

Every public name is importable from ``hq_sync.clients.awork`` itself.
"""

from __future__ import annotations

from hq_sync.clients.awork.auth import (
    AWORK_API_URL,
    OAUTH_SCOPE,
    REAUTHORISE,
    AworkApiKey,
    AworkAuth,
    AworkAuthorizationRevoked,
    AworkOAuthTokens,
    AworkTokenStoreError,
    reauthorise_hint,
    token_url_for,
)
from hq_sync.clients.awork.budget import (
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_RESERVE_FRACTION,
    RequestBudget,
)
from hq_sync.clients.awork.client import DEFAULT_ORDER, MAX_PAGE_SIZE, AworkClient
from hq_sync.clients.awork.literals import all_of, datetime_literal, guid_literal, string_literal
from hq_sync.clients.awork.pkce import (
    AuthorizationRequest,
    authorization_request,
    code_from_redirect,
    exchange_authorization_code,
    pkce_pair,
)
from hq_sync.clients.awork.query import Page, QueryIgnoredError, QuerySupport
from hq_sync.clients.awork.users import user_email
from hq_sync.clients.http import ApiError
from hq_sync.clients.oauth import TokenGrant, TokenStore

__all__ = [
    "AWORK_API_URL",
    "DEFAULT_ORDER",
    "DEFAULT_REQUESTS_PER_MINUTE",
    "DEFAULT_REQUESTS_PER_SECOND",
    "DEFAULT_RESERVE_FRACTION",
    "MAX_PAGE_SIZE",
    "OAUTH_SCOPE",
    "REAUTHORISE",
    "ApiError",
    "AuthorizationRequest",
    "AworkApiKey",
    "AworkAuth",
    "AworkAuthorizationRevoked",
    "AworkClient",
    "AworkOAuthTokens",
    "AworkTokenStoreError",
    "Page",
    "QueryIgnoredError",
    "QuerySupport",
    "RequestBudget",
    "TokenGrant",
    "TokenStore",
    "all_of",
    "authorization_request",
    "code_from_redirect",
    "datetime_literal",
    "exchange_authorization_code",
    "guid_literal",
    "pkce_pair",
    "reauthorise_hint",
    "string_literal",
    "token_url_for",
    "user_email",
]
