"""Tenants and their tokens.

HQ identifies the tenant by the bearer token. A tenant has one sync token (no user context; sees
and writes everything) and any number of user tokens, each bound to a user by e-mail. Registrations
are kept in the Store under the reserved tenant ``__sandbox__`` so they survive restarts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sandboxes.common.store import Store
from sandboxes.hq.errors import HQError, bad_request
from sandboxes.hq.settings import TenantSettings

REGISTRY_TENANT = "__sandbox__"
REGISTRY_KIND = "tenants"
DEFAULTS_KIND = "settings"  # the switches every tenant registered later starts from


@dataclass
class Tenant:
    """One registered tenant."""

    id: str
    sync_token: str
    user_tokens: dict[str, str] = field(default_factory=dict)  # e-mail -> token
    settings: TenantSettings = field(default_factory=TenantSettings)

    def as_dict(self) -> dict[str, Any]:
        """Returns the registration as JSON (tokens included: this is the admin surface)."""
        return {
            "tenant": self.id,
            "sync_token": self.sync_token,
            "user_tokens": dict(self.user_tokens),
            "personio_sync": self.settings.personio_sync,
            "settings": self.settings.as_dict(),
        }


@dataclass(frozen=True)
class TokenOwner:
    """Who a token belongs to: the tenant, and the user's e-mail for a user token."""

    tenant: str
    email: str | None  # None: the sync token


class TenantRegistry:
    """Registered tenants and a token index, persisted in the Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._tenants: dict[str, Tenant] = {}
        self._tokens: dict[str, TokenOwner] = {}
        self._defaults: dict[str, Any] = {}
        self.load()

    def load(self) -> None:
        """(Re)reads every registration from the Store."""
        with self._lock:
            self._tenants.clear()
            self._defaults = dict(self.store.get(REGISTRY_TENANT, DEFAULTS_KIND, "global") or {})
            for data in self.store.all(REGISTRY_TENANT, REGISTRY_KIND):
                tenant = Tenant(
                    id=data["tenant"],
                    sync_token=data["sync_token"],
                    user_tokens=dict(data.get("user_tokens", {})),
                    settings=TenantSettings.from_dict(data.get("settings", {})),
                )
                self._tenants[tenant.id] = tenant
            self._reindex()

    def _reindex(self) -> None:
        self._tokens.clear()
        for tenant in self._tenants.values():
            self._tokens[tenant.sync_token] = TokenOwner(tenant.id, None)
            for email, token in tenant.user_tokens.items():
                self._tokens[token] = TokenOwner(tenant.id, email)

    def _save(self, tenant: Tenant) -> None:
        self.store.put(REGISTRY_TENANT, REGISTRY_KIND, tenant.id, tenant.as_dict())
        self._reindex()

    def _check_tokens(self, tenant_id: str, tokens: list[str]) -> None:
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise bad_request("tokens must be non-empty strings")
            owner = self._tokens.get(token)
            if owner is not None and owner.tenant != tenant_id:
                raise HQError(409, f"token already belongs to tenant {owner.tenant!r}", "Conflict")
        if len(set(tokens)) != len(tokens):
            raise bad_request("a token may be used only once")

    def register(self, body: dict[str, Any]) -> tuple[Tenant, bool]:
        """Creates or replaces a tenant from a registration body; returns it and whether it is new."""
        tenant_id = body.get("tenant")
        if not isinstance(tenant_id, str) or not tenant_id or tenant_id == REGISTRY_TENANT:
            raise bad_request("'tenant' (a non-empty string) is required")
        sync_token = body.get("sync_token")
        user_tokens = body.get("user_tokens") or {}
        if not isinstance(user_tokens, dict):
            raise bad_request("'user_tokens' must map e-mail addresses to tokens")
        unknown = set(body) - {"tenant", "sync_token", "user_tokens", "personio_sync", "settings"}
        if unknown:
            raise bad_request(f"unknown registration fields {sorted(unknown)}")
        settings_body = dict(body.get("settings") or {})
        if "personio_sync" in body:
            settings_body["personio_sync"] = body["personio_sync"]
        with self._lock:
            settings = TenantSettings.from_dict({**self._defaults, **settings_body})
            if not isinstance(sync_token, str) or not sync_token:
                raise bad_request("'sync_token' (a non-empty string) is required")
            self._check_tokens(tenant_id, [sync_token, *user_tokens.values()])
            is_new = tenant_id not in self._tenants
            tenant = Tenant(
                tenant_id,
                sync_token,
                {str(k).lower(): v for k, v in user_tokens.items()},
                settings,
            )
            self._tenants[tenant_id] = tenant
            self._save(tenant)
            return tenant, is_new

    def add_user_tokens(self, tenant_id: str, user_tokens: dict[str, str]) -> Tenant:
        """Adds (or replaces) user tokens of a tenant; returns the tenant."""
        with self._lock:
            tenant = self.require(tenant_id)
            if not isinstance(user_tokens, dict):
                raise bad_request("body must map e-mail addresses to tokens")
            self._check_tokens(tenant_id, list(user_tokens.values()))
            for email, token in user_tokens.items():
                tenant.user_tokens[str(email).lower()] = token
            self._save(tenant)
            return tenant

    def update_settings(self, tenant_id: str, changes: dict[str, Any]) -> Tenant:
        """Changes some switches of a tenant; returns the tenant."""
        with self._lock:
            tenant = self.require(tenant_id)
            trial = TenantSettings.from_dict(tenant.settings.as_dict())
            trial.update(changes)
            tenant.settings = trial
            self._save(tenant)
            return tenant

    def defaults(self) -> dict[str, Any]:
        """Returns the switches a new tenant starts from (the documented defaults, overridden)."""
        return TenantSettings.from_dict(self._defaults).as_dict()

    def update_defaults(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Changes the switches of tenants registered from now on (validated); returns them all."""
        with self._lock:
            TenantSettings.from_dict({**self._defaults, **changes})  # raises a 400 on bad values
            self._defaults.update(changes)
            self.store.put(REGISTRY_TENANT, DEFAULTS_KIND, "global", self._defaults)
            return self.defaults()

    def get(self, tenant_id: str) -> Tenant | None:
        """Returns the tenant or None."""
        return self._tenants.get(tenant_id)

    def require(self, tenant_id: str) -> Tenant:
        """Returns the tenant; raises a 404 HQError when it is not registered."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise HQError(404, f"tenant {tenant_id!r} is not registered", "NotFound")
        return tenant

    def all(self) -> list[Tenant]:
        """Returns every registered tenant."""
        return list(self._tenants.values())

    def owner(self, token: str) -> TokenOwner | None:
        """Returns who a token belongs to, or None for an unknown token."""
        return self._tokens.get(token)

    def clear(self) -> None:
        """Forgets every tenant (the Store is reset separately)."""
        with self._lock:
            self._tenants.clear()
            self._tokens.clear()
            self._defaults = {}
