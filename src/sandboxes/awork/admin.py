"""The awork sandbox's own admin endpoints under ``/_sandbox/`` (never part of awork's API).

They load what the public API cannot create: workspaces (tenants) with their API keys and OAuth
clients, users with their e-mail, and the "logged-in user" who consents in the OAuth flow. They
also change switches, revoke grants and expire tokens early (docs/sandbox/awork.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request

from sandboxes.awork.auth import expire_tokens, issue_tokens, revoke_grants, state_of
from sandboxes.awork.render import public
from sandboxes.awork.state import USERS, AworkState, email_of


def _tenant_or_404(state: AworkState, tenant: str) -> dict[str, Any]:
    rec = state.tenant(tenant)
    if rec is None:
        raise HTTPException(404, f"unknown tenant {tenant!r}")
    return rec


def _describe(state: AworkState, tenant: str) -> dict[str, Any]:
    rec = state.require_tenant(tenant)
    return {
        "tenant": tenant,
        "workspace": {"id": rec["workspaceId"], "name": rec["name"], "url": rec["url"]},
        "api_keys": [{"key": k["_key"], "name": k["name"], "user_id": k["user_id"]} for k in state.api_keys(tenant)],
        "oauth_clients": [
            {"client_id": c["client_id"], "redirect_uris": c["redirect_uris"], "confidential": bool(c["client_secret"])}
            for c in state.oauth_clients(tenant=tenant)
        ],
        "login": rec.get("login"),
        "settings": state.settings_for(tenant),
        "setting_overrides": rec.get("settings", {}),
    }


def _user_summary(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "firstName": user["firstName"],
        "lastName": user["lastName"],
        "email": email_of(user),
        "isAdmin": bool(user.get("_isAdmin")),
        "isApiUser": bool(user.get("_apiUser")),
        "isArchived": user["isArchived"],
        "isDeactivated": user["isDeactivated"],
    }


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["awork sandbox admin"])

    @router.get("/settings")
    def get_settings(request: Request) -> dict[str, Any]:
        """The global settings (defaults for every tenant)."""
        state = state_of(request)
        return {"settings": state.settings_for(None), "overrides": state.global_overrides()}

    @router.put("/settings")
    def put_settings(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Merge switches into the global settings; tenants' own overrides still win."""
        try:
            return {"settings": state_of(request).set_global_overrides(body)}
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @router.get("/tenants")
    def list_tenants(request: Request) -> dict[str, Any]:
        state = state_of(request)
        return {"tenants": [_describe(state, t["tenant"]) for t in state.tenants()]}

    @router.post("/tenants")
    def register_tenant(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Register a workspace or add to an existing one (idempotent):
        ``{tenant, workspace?: {name, url}, api_keys?: [key | {key, name}],
        oauth_clients?: [{client_id, client_secret?, redirect_uris}], settings?: {...},
        users?: [...], login?: {email, consent}}``."""
        state = state_of(request)
        tenant = body.get("tenant")
        if not isinstance(tenant, str) or not tenant or tenant.startswith("__"):
            raise HTTPException(400, "'tenant' must be a non-empty string")
        try:
            state.create_tenant(tenant, body.get("workspace") or {}, body.get("settings") or {})
            for entry in body.get("api_keys") or []:
                key, name = (entry, "API") if isinstance(entry, str) else (entry.get("key"), entry.get("name") or "API")
                if not key:
                    raise ValueError("an API key entry needs 'key'")
                state.add_api_key(tenant, str(key), str(name))
            for client in body.get("oauth_clients") or []:
                state.add_oauth_client(tenant, client)
            for user in body.get("users") or []:
                state.add_user(tenant, user)
            if body.get("login") is not None:
                _set_login(state, tenant, body["login"])
        except (ValueError, AttributeError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return _describe(state, tenant)

    @router.get("/tenants/{tenant}")
    def get_tenant(tenant: str, request: Request) -> dict[str, Any]:
        state = state_of(request)
        _tenant_or_404(state, tenant)
        return _describe(state, tenant)

    @router.delete("/tenants/{tenant}")
    def delete_tenant(tenant: str, request: Request) -> dict[str, str]:
        state = state_of(request)
        _tenant_or_404(state, tenant)
        state.delete_tenant(tenant)
        return {"deleted": tenant}

    @router.get("/tenants/{tenant}/settings")
    def get_tenant_settings(tenant: str, request: Request) -> dict[str, Any]:
        state = state_of(request)
        rec = _tenant_or_404(state, tenant)
        return {"settings": state.settings_for(tenant), "overrides": rec.get("settings", {})}

    @router.put("/tenants/{tenant}/settings")
    def put_tenant_settings(tenant: str, request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Merge switches into the tenant's settings (null rate limits switch a window off)."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        try:
            return {"settings": state.set_tenant_overrides(tenant, body)}
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @router.delete("/tenants/{tenant}/settings/{key}")
    def drop_tenant_setting(tenant: str, key: str, request: Request) -> dict[str, Any]:
        """Drop one of the tenant's overrides: the global value applies again."""
        state = state_of(request)
        rec = _tenant_or_404(state, tenant)
        rec.get("settings", {}).pop(key, None)
        state.save_tenant(rec)
        return {"settings": state.settings_for(tenant)}

    @router.post("/tenants/{tenant}/access-tokens")
    def issue_access_token(tenant: str, request: Request, body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        """A token acting as a workspace user without the OAuth dance (tests, seeding):
        ``{email?}``; default user: the first admin. No refresh token (no client to refresh with)."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        body = body or {}
        if body.get("email"):
            user = state.user_by_email(tenant, str(body["email"]))
        else:
            user = next(
                (u for u in state.store.iter_shared(tenant, USERS) if u.get("_isAdmin") and not u.get("_apiUser")), None
            )
        if user is None:
            raise HTTPException(404, "no such (admin) user in this tenant")
        return issue_tokens(state, tenant, "_sandbox", user["id"], "full_access")

    @router.post("/tenants/{tenant}/users")
    def add_users(tenant: str, request: Request, body: Any = Body(...)) -> dict[str, Any]:
        """Create users: one object or a list of ``{firstName|first_name, lastName|last_name,
        email, isAdmin?, language?, position?, isArchived?, isDeactivated?}``."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        items = body if isinstance(body, list) else [body]
        created = []
        try:
            for item in items:
                if not isinstance(item, dict):
                    raise ValueError("each user must be a JSON object")
                created.append(_user_summary(state.add_user(tenant, item)))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"users": created}

    @router.get("/tenants/{tenant}/users")
    def list_users(tenant: str, request: Request) -> dict[str, Any]:
        state = state_of(request)
        _tenant_or_404(state, tenant)
        return {"users": [_user_summary(u) for u in state.store.iter_shared(tenant, USERS)]}

    @router.patch("/tenants/{tenant}/users/{user_id}")
    def update_user(tenant: str, user_id: str, request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Change a user's name, e-mail, admin flag, archived or deactivated state."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        try:
            user = state.update_user(tenant, user_id.lower(), body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        if user is None:
            raise HTTPException(404, f"unknown user {user_id!r}")
        return {"user": _user_summary(user), "model": public(user)}

    @router.post("/tenants/{tenant}/api-keys")
    def add_api_key(tenant: str, request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Add an API key ``{key, name?}`` (the API user is named after ``name``)."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        if not body.get("key"):
            raise HTTPException(400, "'key' is required")
        try:
            rec = state.add_api_key(tenant, str(body["key"]), str(body.get("name") or "API"))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"key": rec["_key"], "name": rec["name"], "user_id": rec["user_id"]}

    @router.delete("/tenants/{tenant}/api-keys/{key}")
    def remove_api_key(tenant: str, key: str, request: Request) -> dict[str, Any]:
        state = state_of(request)
        _tenant_or_404(state, tenant)
        if not state.remove_api_key(tenant, key):
            raise HTTPException(404, "unknown API key")
        return {"removed": True}

    @router.post("/tenants/{tenant}/oauth-clients")
    def add_client(tenant: str, request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Register an OAuth client ``{client_id, client_secret?, redirect_uris}``."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        try:
            rec = state.add_oauth_client(tenant, body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"client_id": rec["client_id"], "redirect_uris": rec["redirect_uris"]}

    @router.put("/tenants/{tenant}/login")
    def set_login(tenant: str, request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """The "logged-in" user who consents at /accounts/authorize: ``{email, consent:
        "approve"|"deny"}`` (``{}`` goes back to the first admin user)."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        try:
            return {"login": _set_login(state, tenant, body)}
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @router.post("/tenants/{tenant}/oauth/revoke")
    def revoke(tenant: str, request: Request, body: dict[str, Any] | None = Body(None)) -> dict[str, int]:
        """Revoke the tenant's OAuth grants (``{client_id?}``): its refresh tokens stop working
        (the client must be re-authorised) and its access tokens answer 401."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        return {"revoked": revoke_grants(state, tenant, (body or {}).get("client_id"))}

    @router.post("/tenants/{tenant}/oauth/expire")
    def expire(tenant: str, request: Request, body: dict[str, Any] | None = Body(None)) -> dict[str, int]:
        """Expire access tokens now (``{access_token?, refresh_tokens?: bool}``): the next call
        with them answers 401 "token expired"."""
        state = state_of(request)
        _tenant_or_404(state, tenant)
        body = body or {}
        return {"expired": expire_tokens(state, tenant, body.get("access_token"), bool(body.get("refresh_tokens")))}

    return router


def _set_login(state: AworkState, tenant: str, body: Any) -> dict[str, Any] | None:
    if isinstance(body, str):
        body = {"email": body}
    if not isinstance(body, dict):
        raise ValueError("login must be {email, consent}")
    consent = body.get("consent", "approve")
    if consent not in ("approve", "deny"):
        raise ValueError("consent must be 'approve' or 'deny'")
    rec = state.require_tenant(tenant)
    email = body.get("email")
    if email and state.user_by_email(tenant, str(email)) is None:
        raise ValueError(f"no user with the e-mail {email!r} in tenant {tenant!r}")
    rec["login"] = {"email": email, "consent": consent} if (email or consent == "deny") else None
    state.save_tenant(rec)
    return rec["login"]
