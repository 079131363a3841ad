"""Tenants, their API credentials, issued tokens and the client headers they sent.

A tenant is one Personio company with one API credential (``client_id``/``client_secret``).
Tenants and tokens are kept in the store (under the pseudo-tenant ``_sandbox``), so a restarted
sandbox still knows them; the record of client headers lives in memory only.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandboxes.common.store import Store
from sandboxes.personio.settings import ADMIN_TENANT
from sandboxes.personio.timeutil import format_utc, utc_now, zone_or_none

# Every scope the sandbox knows; a credential is granted all of them unless registered otherwise.
ALL_SCOPES = (
    "personio:absences:read",
    "personio:absences:write",
    "personio:persons:read",
    "personio:webhooks:read",
    "personio:webhooks:write",
)
# What a v1 token reports (the auth spec's example).
V1_SCOPE = "employees:read absences:read"
DEFAULT_LIFETIME = 86400
UPPER_SNAKE = re.compile(r"^[A-Z0-9]+(_[A-Z0-9]+)*$")
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Token:
    """An issued access token."""

    token: str
    tenant: str
    client_id: str
    kind: str  # "v1" or "v2"
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def as_record(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "tenant": self.tenant,
            "client_id": self.client_id,
            "kind": self.kind,
            "scopes": list(self.scopes),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Token:
        return cls(
            token=rec["token"],
            tenant=rec["tenant"],
            client_id=rec["client_id"],
            kind=rec["kind"],
            scopes=tuple(rec["scopes"]),
            issued_at=float(rec["issued_at"]),
            expires_at=float(rec["expires_at"]),
        )


def _empty_headers() -> dict[str, Any]:
    return {
        "app_id": None,
        "partner_id": None,
        "last_request": None,
        "requests": 0,
        "requests_with_app_id": 0,
        "requests_with_partner_id": 0,
        "app_ids": [],
        "partner_ids": [],
    }


class RegistryError(ValueError):
    """An invalid tenant registration (``status`` is the admin HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Registry:
    """Tenants and tokens (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._headers: dict[str, dict[str, Any]] = {}

    # -- tenants ---------------------------------------------------------------------------
    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update a tenant from an admin body; returns the stored record."""
        tenant = body.get("tenant")
        if not isinstance(tenant, str) or not TENANT_ID.match(tenant):
            raise RegistryError(422, "'tenant' must be 1-64 letters, digits, '_', '.', '-'")
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(client_id, str) or not client_id:
            raise RegistryError(422, "'client_id' is required")
        if not isinstance(client_secret, str) or not client_secret:
            raise RegistryError(422, "'client_secret' is required")
        lifetime = body.get("token_lifetime_seconds", DEFAULT_LIFETIME)
        if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
            raise RegistryError(422, "'token_lifetime_seconds' must be a positive number")
        scopes = body.get("scopes", list(ALL_SCOPES))
        if not isinstance(scopes, list) or any(s not in ALL_SCOPES for s in scopes):
            raise RegistryError(422, f"'scopes' must be a list drawn from {list(ALL_SCOPES)}")
        timezone_id = body.get("timezone_id", "Europe/Berlin")
        if not isinstance(timezone_id, str) or zone_or_none(timezone_id) is None:
            raise RegistryError(422, "'timezone_id' must be an IANA time zone name")
        unknown = set(body) - {
            "tenant",
            "client_id",
            "client_secret",
            "token_lifetime_seconds",
            "scopes",
            "timezone_id",
        }
        if unknown:
            raise RegistryError(422, f"unknown fields: {sorted(unknown)}")
        with self._lock:
            owner = self.by_client_id(client_id)
            if owner is not None and owner["tenant"] != tenant:
                raise RegistryError(409, f"client_id {client_id!r} belongs to tenant {owner['tenant']!r}")
            existing = self.tenant(tenant)
            record = {
                "tenant": tenant,
                "client_id": client_id,
                "client_secret": client_secret,
                "token_lifetime_seconds": lifetime,
                "scopes": list(scopes),
                "timezone_id": timezone_id,
                "created_at": existing["created_at"] if existing else format_utc(utc_now()),
            }
            return self._store.put(ADMIN_TENANT, "tenants", tenant, record)

    def tenant(self, tenant: str) -> dict[str, Any] | None:
        """Return a tenant's record, or None."""
        return self._store.get(ADMIN_TENANT, "tenants", tenant)

    def tenants(self) -> list[dict[str, Any]]:
        """Return every tenant's record."""
        return self._store.all(ADMIN_TENANT, "tenants")

    def by_client_id(self, client_id: str) -> dict[str, Any] | None:
        """Return the tenant whose credential has ``client_id``, or None."""
        for rec in self._store.iter_shared(ADMIN_TENANT, "tenants"):
            if rec["client_id"] == client_id:
                return dict(rec)
        return None

    def remove(self, tenant: str) -> bool:
        """Forget a tenant, its tokens and all its data; returns whether it existed."""
        with self._lock:
            existed = self._store.delete(ADMIN_TENANT, "tenants", tenant)
            self.invalidate(tenant)
            self._store.reset(tenant)
            self._headers.pop(tenant, None)
            return existed

    # -- tokens ----------------------------------------------------------------------------
    def mint(self, tenant: dict[str, Any], kind: str, scopes: tuple[str, ...]) -> Token:
        """Issue a new token for ``tenant``; returns it."""
        prefix = "papi-" if kind == "v1" else "papi-v2-"
        now = time.time()
        token = Token(
            token=prefix + secrets.token_hex(24),
            tenant=tenant["tenant"],
            client_id=tenant["client_id"],
            kind=kind,
            scopes=scopes,
            issued_at=now,
            expires_at=now + float(tenant["token_lifetime_seconds"]),
        )
        with self._lock:
            self._prune()
            self._store.put(ADMIN_TENANT, "tokens", token.token, token.as_record())
        return token

    def reusable_v1(self, tenant: dict[str, Any]) -> Token | None:
        """Return a still-valid v1 token of this credential (v1 tokens are stable for 24 h)."""
        for rec in self._store.iter_shared(ADMIN_TENANT, "tokens"):
            if (
                rec["kind"] == "v1"
                and rec["tenant"] == tenant["tenant"]
                and rec["client_id"] == tenant["client_id"]
                and time.time() < rec["expires_at"]
            ):
                return Token.from_record(rec)
        return None

    def lookup(self, token: str) -> Token | None:
        """Return the token (expired or not) or None when unknown or invalidated."""
        rec = self._store.get(ADMIN_TENANT, "tokens", token)
        return Token.from_record(rec) if rec else None

    def revoke(self, token: str) -> bool:
        """Forget one token; returns whether it existed."""
        return self._store.delete(ADMIN_TENANT, "tokens", token)

    def invalidate(self, tenant: str) -> int:
        """Forget every token of ``tenant``; returns how many."""
        with self._lock:
            doomed = [r["token"] for r in self._store.iter_shared(ADMIN_TENANT, "tokens") if r["tenant"] == tenant]
            for token in doomed:
                self._store.delete(ADMIN_TENANT, "tokens", token)
            return len(doomed)

    def tokens_of(self, tenant: str) -> list[dict[str, Any]]:
        """Return the tenant's tokens (without the secret value) for the admin surface."""
        out = []
        for rec in self._store.iter_shared(ADMIN_TENANT, "tokens"):
            if rec["tenant"] == tenant:
                out.append(
                    {
                        "kind": rec["kind"],
                        "token_prefix": rec["token"][:12],
                        "scopes": list(rec["scopes"]),
                        "expires_in": max(0, round(rec["expires_at"] - time.time(), 3)),
                    }
                )
        return out

    def _prune(self) -> None:
        # Tokens expired for over an hour are of no use even to "expired token" tests.
        cutoff = time.time() - 3600
        for rec in list(self._store.iter_shared(ADMIN_TENANT, "tokens")):
            if rec["expires_at"] < cutoff:
                self._store.delete(ADMIN_TENANT, "tokens", rec["token"])

    # -- client headers --------------------------------------------------------------------
    def record_headers(self, tenant: str, method: str, path: str, app_id: str | None, partner_id: str | None) -> None:
        """Remember the X-Personio-App-ID / Partner-ID a tenant's request carried."""
        with self._lock:
            seen = self._headers.setdefault(tenant, _empty_headers())
            seen["requests"] += 1
            seen["last_request"] = {
                "method": method,
                "path": path,
                "at": format_utc(utc_now()),
                "app_id": app_id,
                "partner_id": partner_id,
            }
            if app_id is not None:
                seen["app_id"] = app_id
                seen["requests_with_app_id"] += 1
                if app_id not in seen["app_ids"]:
                    seen["app_ids"].append(app_id)
            if partner_id is not None:
                seen["partner_id"] = partner_id
                seen["requests_with_partner_id"] += 1
                if partner_id not in seen["partner_ids"]:
                    seen["partner_ids"].append(partner_id)

    def client_headers(self, tenant: str) -> dict[str, Any]:
        """Return what was recorded for ``tenant``: the last App-ID/Partner-ID seen, the last
        request (with the values it carried, possibly null), counts and distinct values."""
        with self._lock:
            seen = copy.deepcopy(self._headers.get(tenant) or _empty_headers())
        out: dict[str, Any] = {"tenant": tenant, **seen}
        for name in ("app_id", "partner_id"):
            value = seen[name]
            out[f"{name}_upper_snake_case"] = bool(UPPER_SNAKE.match(value)) if value else None
        return out

    def reset(self) -> None:
        """Forget the in-memory header records (the store is reset by the caller)."""
        with self._lock:
            self._headers.clear()
