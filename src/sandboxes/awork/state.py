"""The awork sandbox's state: the store, tenants (workspaces), their settings and master data.

Vendor data lives in the common ``Store`` under ``(tenant, kind)``. Credentials and OAuth grants
live under the pseudo-tenant ``__auth__`` (keyed by key/token, so a bearer token finds its tenant
in one lookup), tenants and global settings under ``__sandbox__``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandboxes.awork import settings as settings_mod
from sandboxes.awork.clock import new_guid, now_iso, resource_version
from sandboxes.awork.ratelimit import WorkspaceRateLimiter
from sandboxes.common.store import Store

Record = dict[str, Any]

AUTH = "__auth__"
META = "__sandbox__"

USERS = "users"
COMPANIES = "companies"
PROJECTS = "projects"
TASK_LISTS = "task_lists"
TASKS = "tasks"
TYPES_OF_WORK = "types_of_work"
TIME_ENTRIES = "time_entries"
PROJECT_STATUSES = "project_statuses"
TASK_STATUSES = "task_statuses"

# Statuses a new workspace starts with (awork's default workflow), and a new project's task statuses.
DEFAULT_PROJECT_STATUSES = (
    ("Not started", "not-started"),
    ("In progress", "progress"),
    ("Stuck", "stuck"),
    ("Done", "closed"),
)
DEFAULT_TASK_STATUSES = (
    ("To do", "todo", "radio_button_unchecked"),
    ("In progress", "progress", "arrow_forward"),
    ("Review", "review", "visibility"),
    ("Done", "done", "check_circle"),
)


@dataclass
class Ctx:
    """Who is calling: the tenant (workspace), the acting user and the settings in force."""

    state: AworkState
    tenant: str
    user_id: str
    settings: dict[str, Any]
    via: str  # "api_key" | "oauth"
    client_id: str | None
    trace_id: str | None = None

    # Small conveniences so route code reads like the business rule it implements.
    def get(self, kind: str, rid: str | None) -> Record | None:
        """A copy of one record of this tenant, or None."""
        if not rid:
            return None
        return self.state.store.get(self.tenant, kind, str(rid).lower())

    def all(self, kind: str) -> Iterator[Record]:
        """This tenant's records of ``kind`` without copying (do not mutate them)."""
        return self.state.store.iter_shared(self.tenant, kind)

    def put(self, kind: str, record: Record) -> Record:
        self._touch_project(kind, record)
        if self.state.on_change is None:
            return self.state.store.put(self.tenant, kind, record["id"], record)
        added = self.state.store.get(self.tenant, kind, record["id"]) is None
        stored = self.state.store.put(self.tenant, kind, record["id"], record)
        self.state.on_change(self, kind, stored, "added" if added else "updated")  # webhooks
        return stored

    def _touch_project(self, kind: str, record: Record | None) -> None:
        """With ``project_updated_on_child_change`` on, a task or task list written or deleted bumps
        its project's updatedOn (unknown in awork; issue #12)."""
        if kind not in (TASKS, TASK_LISTS) or record is None:
            return
        if not self.settings.get("project_updated_on_child_change"):
            return
        project = self.get(PROJECTS, record.get("projectId") or record.get("_projectId"))
        if project is not None:
            self.state.store.put(self.tenant, PROJECTS, project["id"], self.stamp_update(project))

    def delete(self, kind: str, rid: str) -> bool:
        if kind in (TASKS, TASK_LISTS) and self.settings.get("project_updated_on_child_change"):
            self._touch_project(kind, self.state.store.get(self.tenant, kind, rid))
        gone = self.state.store.get(self.tenant, kind, rid) if self.state.on_change is not None else None
        deleted = self.state.store.delete(self.tenant, kind, rid)
        if deleted and gone is not None and self.state.on_change is not None:
            self.state.on_change(self, kind, gone, "deleted")  # webhooks
        return deleted

    def stamp_new(self, record: Record) -> Record:
        """Set id, created/updated fields and resourceVersion on a new record; returns it."""
        now = now_iso()
        if not record.get("id"):
            record["id"] = new_guid()
        record.update(
            createdOn=now,
            createdBy=self.user_id,
            updatedOn=now,
            updatedBy=self.user_id,
        )
        if "resourceVersion" in record:
            record["resourceVersion"] = resource_version()
        return record

    def stamp_update(self, record: Record) -> Record:
        """Bump updatedOn/updatedBy (and resourceVersion) of a changed record; returns it."""
        record["updatedOn"] = now_iso()
        record["updatedBy"] = self.user_id
        if "resourceVersion" in record:
            record["resourceVersion"] = resource_version()
        return record


class AworkState:
    """Everything the awork sandbox knows; one per app."""

    def __init__(self, data_dir: Path) -> None:
        self.store = Store(Path(data_dir) / "awork.sqlite3")
        self.limiter = WorkspaceRateLimiter()
        self._lock = threading.RLock()
        # Called with (ctx, kind, record, "added" | "updated" | "deleted") after every API write
        # (sandboxes.awork.webhooks fires the workspace's webhooks from it).
        self.on_change: Callable[[Ctx, str, Record, str], None] | None = None
        self._settings_cache: dict[str | None, dict[str, Any]] = {}

    # -- settings --------------------------------------------------------------------------
    def global_overrides(self) -> dict[str, Any]:
        rec = self.store.get(META, "settings", "global")
        return dict(rec["overrides"]) if rec else {}

    def set_global_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Merge ``overrides`` into the global settings; returns the effective global settings."""
        settings_mod.validate_overrides(overrides)
        merged = {**self.global_overrides(), **overrides}
        self.store.put(META, "settings", "global", {"overrides": merged})
        self._settings_cache.clear()
        return self.settings_for(None)

    def settings_for(self, tenant: str | None) -> dict[str, Any]:
        """Effective settings of ``tenant`` (or the global ones for None)."""
        cached = self._settings_cache.get(tenant)
        if cached is not None:
            return cached
        rec = self.tenant(tenant) if tenant else None
        result = settings_mod.effective(self.global_overrides(), (rec or {}).get("settings", {}))
        self._settings_cache[tenant] = result
        return result

    def set_tenant_overrides(self, tenant: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """Merge ``overrides`` into a tenant's settings; returns its effective settings."""
        settings_mod.validate_overrides(overrides)
        rec = self.require_tenant(tenant)
        rec["settings"] = {**rec.get("settings", {}), **overrides}
        self.store.put(META, "tenants", tenant, rec)
        self._settings_cache.clear()
        return self.settings_for(tenant)

    # -- tenants ---------------------------------------------------------------------------
    def tenant(self, tenant: str) -> Record | None:
        return self.store.get(META, "tenants", tenant)

    def tenants(self) -> list[Record]:
        return self.store.all(META, "tenants")

    def require_tenant(self, tenant: str) -> Record:
        rec = self.tenant(tenant)
        if rec is None:
            raise KeyError(tenant)
        return rec

    def save_tenant(self, rec: Record) -> None:
        self.store.put(META, "tenants", rec["tenant"], rec)
        self._settings_cache.clear()

    def create_tenant(self, tenant: str, workspace: dict[str, Any], overrides: dict[str, Any]) -> Record:
        """Register a workspace (or update an existing one's name/settings); returns its record."""
        settings_mod.validate_overrides(overrides)
        with self._lock:
            rec = self.tenant(tenant)
            if rec is None:
                rec = {
                    "tenant": tenant,
                    "workspaceId": new_guid(),
                    "name": workspace.get("name") or tenant,
                    "url": workspace.get("url") or f"https://{tenant}.awork.com",
                    "settings": {},
                    "login": None,
                }
                self._create_default_statuses(tenant)
            else:
                rec["name"] = workspace.get("name") or rec["name"]
                rec["url"] = workspace.get("url") or rec["url"]
            rec["settings"] = {**rec.get("settings", {}), **overrides}
            self.save_tenant(rec)
            return rec

    def _create_default_statuses(self, tenant: str) -> None:
        now = now_iso()
        workflow = new_guid()
        for order, (name, kind) in enumerate(DEFAULT_PROJECT_STATUSES, start=1):
            rid = new_guid()
            self.store.put(
                tenant,
                PROJECT_STATUSES,
                rid,
                {
                    "id": rid,
                    "name": name,
                    "type": kind,
                    "order": order,
                    "createdOn": now,
                    "createdBy": SYSTEM_USER,
                    "updatedOn": now,
                    "projectTemplateId": None,
                    "projectId": None,
                    "workflowId": workflow,
                    "updatedBy": SYSTEM_USER,
                    "isExternal": False,
                    "_description": None,
                    "_isArchived": False,
                },
            )

    def delete_tenant(self, tenant: str) -> None:
        """Forget a tenant, its data and its credentials."""
        with self._lock:
            self.store.reset(tenant)
            self.store.delete(META, "tenants", tenant)
            for kind in ("api_keys", "tokens", "codes", "clients"):
                for rec in self.store.all(AUTH, kind):
                    if rec.get("tenant") == tenant:
                        self.store.delete(AUTH, kind, rec["_key"])
            self._settings_cache.clear()

    # -- credentials -----------------------------------------------------------------------
    def add_api_key(self, tenant: str, key: str, name: str) -> Record:
        """Register an API key acting as the tenant's API user called ``name``; returns the key record."""
        existing = self.store.get(AUTH, "api_keys", key)
        if existing is not None and existing["tenant"] != tenant:
            raise ValueError(f"the API key {key!r} belongs to another tenant")
        user = self.api_user(tenant, name)
        rec = {"_key": key, "tenant": tenant, "user_id": user["id"], "name": name}
        self.store.put(AUTH, "api_keys", key, rec)
        return rec

    def remove_api_key(self, tenant: str, key: str) -> bool:
        rec = self.store.get(AUTH, "api_keys", key)
        if rec is None or rec["tenant"] != tenant:
            return False
        return self.store.delete(AUTH, "api_keys", key)

    def api_keys(self, tenant: str) -> list[Record]:
        return [r for r in self.store.all(AUTH, "api_keys") if r["tenant"] == tenant]

    def api_user(self, tenant: str, name: str) -> Record:
        """The API user behind the tenant's API keys named ``name`` (created on first use)."""
        for user in self.store.iter_shared(tenant, USERS):
            if user.get("_apiUser") and user.get("_apiName") == name:
                return user
        return self.add_user(
            tenant,
            {"firstName": name, "lastName": "API", "isAdmin": True},
            api_name=name,
        )

    def add_oauth_client(self, tenant: str, body: dict[str, Any]) -> Record:
        """Register (or replace) an OAuth client application of a tenant; returns its record."""
        client_id = str(body.get("client_id") or body.get("clientId") or "")
        uris = body.get("redirect_uris") or body.get("redirectUris") or []
        if not client_id or not isinstance(uris, list) or not uris:
            raise ValueError("an OAuth client needs client_id and a non-empty redirect_uris list")
        key = f"{tenant}|{client_id}"
        rec = {
            "_key": key,
            "tenant": tenant,
            "client_id": client_id,
            "client_secret": body.get("client_secret") or body.get("clientSecret"),
            "redirect_uris": [str(u) for u in uris],
            "name": body.get("name") or client_id,
        }
        self.store.put(AUTH, "clients", key, rec)
        return rec

    def oauth_clients(self, client_id: str | None = None, tenant: str | None = None) -> list[Record]:
        return [
            r
            for r in self.store.all(AUTH, "clients")
            if (client_id is None or r["client_id"] == client_id) and (tenant is None or r["tenant"] == tenant)
        ]

    # -- users (master data: the public API cannot create them) ----------------------------
    def add_user(self, tenant: str, body: dict[str, Any], api_name: str | None = None) -> Record:
        """Create a user from an admin body (camelCase or snake_case); returns the stored record."""

        def pick(*names: str, default: Any = None) -> Any:
            for name in names:
                if name in body:
                    return body[name]
            return default

        email = pick("email", "eMail")
        if api_name is None:
            if not email or "@" not in str(email):
                raise ValueError("a user needs an e-mail address")
            for other in self.store.iter_shared(tenant, USERS):
                if _email_of(other) == str(email).lower():
                    raise ValueError(f"a user with the e-mail {email!r} exists already")
        now = now_iso()
        uid = new_guid()
        archived = bool(pick("isArchived", "is_archived", "archived", default=False))
        deactivated = bool(pick("isDeactivated", "is_deactivated", "deactivated", default=False))
        contact = []
        if email:
            contact.append(_contact_info(str(email), now))
        user: Record = {
            "firstName": pick("firstName", "first_name"),
            "lastName": pick("lastName", "last_name"),
            "birthDate": None,
            "gender": pick("gender"),
            "title": pick("title"),
            "position": pick("position"),
            "language": pick("language", default="de-DE"),
            "id": uid,
            "status": {"invitationAccepted": True, "isDeactivated": deactivated},
            "createdOn": now,
            "createdBy": SYSTEM_USER,
            "updatedOn": now,
            "updatedBy": SYSTEM_USER,
            "isArchived": archived,
            "isDeactivated": deactivated,
            "isAgent": False,
            "deactivatedOn": now if deactivated else None,
            "deletedOn": None,
            "hasImage": False,
            "shouldMigrateToConnect": False,
            "userContactInfos": contact,
            "resourceVersion": resource_version(),
            "tags": [],
            "teams": [],
            "isExternal": bool(pick("isExternal", "is_external", default=False)),
            "_isAdmin": bool(pick("isAdmin", "is_admin", "admin", default=False)),
            "_apiUser": api_name is not None,
            "_apiName": api_name,
            "_accountId": None if api_name is not None else new_guid(),
        }
        return self.store.put(tenant, USERS, uid, user)

    def update_user(self, tenant: str, user_id: str, body: dict[str, Any]) -> Record | None:
        """Change an admin-managed user (name, e-mail, archived/deactivated); returns it or None."""
        user = self.store.get(tenant, USERS, user_id)
        if user is None:
            return None
        now = now_iso()
        for src, dst in (
            ("firstName", "firstName"),
            ("first_name", "firstName"),
            ("lastName", "lastName"),
            ("last_name", "lastName"),
            ("position", "position"),
            ("language", "language"),
            ("title", "title"),
        ):
            if src in body:
                user[dst] = body[src]
        if "email" in body:
            email = str(body["email"])
            others = [_email_of(u) for u in self.store.iter_shared(tenant, USERS) if u["id"] != user_id]
            if email.lower() in others:
                raise ValueError(f"a user with the e-mail {email!r} exists already")
            infos = [c for c in user["userContactInfos"] if c.get("type") != "email"]
            user["userContactInfos"] = [_contact_info(email, now), *infos]
        for src in ("isArchived", "is_archived", "archived"):
            if src in body:
                user["isArchived"] = bool(body[src])
        for src in ("isDeactivated", "is_deactivated", "deactivated"):
            if src in body:
                user["isDeactivated"] = bool(body[src])
                user["status"]["isDeactivated"] = user["isDeactivated"]
                user["deactivatedOn"] = now if user["isDeactivated"] else None
        for src in ("isAdmin", "is_admin", "admin"):
            if src in body:
                user["_isAdmin"] = bool(body[src])
        user["updatedOn"] = now
        user["resourceVersion"] = resource_version()
        return self.store.put(tenant, USERS, user_id, user)

    def user_by_email(self, tenant: str, email: str) -> Record | None:
        wanted = email.strip().lower()
        for user in self.store.iter_shared(tenant, USERS):
            if _email_of(user) == wanted:
                return user
        return None

    # -- reset -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all data, credentials and settings (``POST /_sandbox/reset``)."""
        with self._lock:
            self.store.reset()
            self.limiter.reset()
            self._settings_cache.clear()


# The creator recorded for data the sandbox makes itself (statuses, admin-loaded users).
SYSTEM_USER = "00000000-0000-0000-0000-000000000000"


def _contact_info(email: str, now: str) -> Record:
    return {
        "label": None,
        "value": email,
        "type": "email",
        "subType": "work",
        "addressLine1": None,
        "addressLine2": None,
        "zipCode": None,
        "city": None,
        "state": None,
        "country": None,
        "isAddress": False,
        "id": new_guid(),
        "createdOn": now,
        "createdBy": SYSTEM_USER,
        "updatedOn": now,
        "updatedBy": SYSTEM_USER,
    }


def _email_of(user: Record) -> str | None:
    for info in user.get("userContactInfos") or []:
        if info.get("type") == "email" and info.get("value"):
            return str(info["value"]).lower()
    return None


def email_of(user: Record) -> str | None:
    """The user's (first) e-mail from ``userContactInfos``, lower-cased, or None."""
    return _email_of(user)
