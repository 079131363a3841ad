"""Users: ``/users``, ``/users/{id}``, ``/users/me`` and ``/me``, ``/users/{id}/contactinfo``.

Users are master data: the public API cannot create them (``POST /users`` needs an account),
so the sandbox loads them through ``POST /_sandbox/tenants/{t}/users``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.errors import not_found
from sandboxes.awork.listing import flag, json_response, paged_list, query
from sandboxes.awork.render import SCHEMAS, Lookups
from sandboxes.awork.routes.common import require
from sandboxes.awork.state import USERS, Ctx

router = APIRouter(prefix="/api/v1")


def _visible(ctx: Ctx, show_archived: bool) -> list[dict]:
    show_api = ctx.settings["list_api_users"]
    return [
        u for u in ctx.all(USERS) if (show_archived or not u.get("isArchived")) and (show_api or not u.get("_apiUser"))
    ]


@router.get("/users")
async def list_users(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """All users of the workspace (API users included, archived ones only with showArchived)."""
    lookups = Lookups(ctx)
    users = _visible(ctx, flag(query(request), "showArchived"))
    return paged_list(
        request,
        users,
        schema=SCHEMAS["user"],
        render=lookups.user,
        settings=ctx.settings,
        stored_fields=SCHEMAS["user"],
        me_id=ctx.user_id,
    )


@router.get("/users/me")
@router.get("/me")
async def me(ctx: Ctx = Depends(authenticate)) -> Response:
    """The calling user with its workspace (``UserAndWorkspace``)."""
    user = ctx.get(USERS, ctx.user_id)
    if user is None:
        raise not_found("User")
    return json_response(Lookups(ctx).user_and_workspace(user))


@router.get("/users/{user_id}")
async def get_user(user_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).user(require(ctx, USERS, user_id, "User")))


@router.get("/users/{user_id}/contactinfo")
async def list_contact_info(user_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """The user's contact infos (the e-mail is one of them, ``type`` "email")."""
    user = require(ctx, USERS, user_id, "User")
    infos = user.get("userContactInfos") or []
    return paged_list(
        request,
        infos,
        schema=SCHEMAS["contact_info"],
        render=dict,
        settings=ctx.settings,
        stored_fields=SCHEMAS["contact_info"],
    )


@router.get("/users/{user_id}/contactinfo/{info_id}")
async def get_contact_info(user_id: str, info_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    user = require(ctx, USERS, user_id, "User")
    for info in user.get("userContactInfos") or []:
        if info["id"] == info_id:
            return json_response(info)
    raise not_found("Contact info")
