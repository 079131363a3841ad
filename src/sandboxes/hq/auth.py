"""Bearer-token authentication: the token names the tenant (and, for a user token, the user)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from sandboxes.hq.data import HQState, Principal
from sandboxes.hq.errors import HQError
from sandboxes.hq.oauth import Expired

DENIED = "Authorization has been denied for this request."


def _denied(detail: str | None = None) -> HQError:
    message = DENIED if detail is None else f"{DENIED} {detail}"
    return HQError(401, message, "Unauthorized", {"WWW-Authenticate": 'Bearer realm="HQ"'})


def make_authenticator(state: HQState) -> Callable[[Request], Principal]:
    """Returns a FastAPI dependency resolving ``Authorization: Bearer <token>`` to a Principal.

    It also attributes the request to its tenant in the harness request log.
    """

    async def authenticate(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _denied()
        owner = state.registry.owner(token)
        if owner is None:  # an OAuth access token (docs/sandbox/hq.md#oauth)?
            try:
                owner = state.oauth.owner(token)
            except Expired:
                raise HQError(
                    401,
                    f"{DENIED} The access token expired.",
                    "Unauthorized",
                    {
                        "WWW-Authenticate": 'Bearer realm="HQ", error="invalid_token",'
                        ' error_description="The access token expired"'
                    },
                ) from None
        tenant = state.registry.get(owner.tenant) if owner else None
        if owner is None or tenant is None:
            raise _denied()
        sandbox = request.scope.get("sandbox")
        if isinstance(sandbox, dict):
            sandbox["tenant"] = tenant.id
        if owner.email is None:
            return Principal(tenant, None, None)
        user = state.data(tenant).find("Users", "EMailWork", owner.email, casefold=True)
        if user is None or user.get("_deactivated"):
            raise _denied(f"The user '{owner.email}' of this token does not exist or is deactivated.")
        return Principal(tenant, user["Id"], owner.email)

    return authenticate
