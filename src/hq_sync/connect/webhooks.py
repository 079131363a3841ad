"""Register a tenant's webhooks at Personio and awork (issue #14; docs/webhooks.md#set-up).

    python -m hq_sync.connect.webhooks --tenant muster-agentur [--receiver-url https://airflow.example.com]
    python -m hq_sync.connect.webhooks --tenant muster-agentur --show
    python -m hq_sync.connect.webhooks --tenant muster-agentur --remove

For each of the tenant's sources (Personio, awork) it makes sure exactly one subscription points at
the tenant's receiver URL (``<receiver-url>/hq-sync-webhooks/<tenant>/<personio|awork>``), enabled,
with the events the sync uses and a **fresh secret**: created when missing, updated otherwise
(duplicates pointing at the same URL are removed), so running it twice leaves the same state. The
secret goes into the tenant's vendor connection (extra ``webhook_secret``) *before* the vendor is
told, and the previous secret stays valid for 15 minutes, so deliveries in flight are not refused.
If the vendor refuses, the connection is put back as it was. Secrets are never printed.

``--show`` lists what exists at both vendors; ``--remove`` deletes our subscriptions and the
secrets. The receiver URL comes from ``--receiver-url``, ``$HQ_SYNC_WEBHOOK_BASE_URL`` or Airflow's
``[api] base_url``. Credentials come from the tenant's connections, which must live in Airflow's
metadata database (a connection defined by an ``AIRFLOW_CONN_*`` variable cannot be written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hq_sync.clients.http import ApiError
from hq_sync.config import TenantConfig
from hq_sync.webhooks.assets import WEBHOOK_SOURCES, receiver_path
from hq_sync.webhooks.auth import (
    AWORK_SECRET_HEADER,
    WEBHOOK_ID_EXTRA,
    new_secret,
    removed_extra,
    rotated_extra,
)
from hq_sync.webhooks.events import AWORK_EVENTS, PERSONIO_EVENTS

BASE_URL_ENV = "HQ_SYNC_WEBHOOK_BASE_URL"


class WebhookSetupError(RuntimeError):
    """The command cannot go on; the message says why and what to do."""


class ExtraStore(Protocol):
    """Reads and writes the ``extra`` of one vendor connection of the tenant."""

    conn_id: str

    def load(self) -> dict[str, Any]: ...

    def save(self, extra: dict[str, Any]) -> None: ...


@dataclass
class Subscription:
    id: str
    url: str
    active: bool
    events: list[str]
    note: str = ""

    def line(self, ours: bool) -> str:
        state = "active" if self.active else "INACTIVE"
        mark = "hq-sync" if ours else "other  "
        note = f"  ({self.note})" if self.note else ""
        return f"  {mark} {self.id}  {state:<8} {len(self.events):>2} events  {self.url}{note}"


class Vendor(Protocol):
    name: str

    def list(self) -> list[Subscription]: ...

    def create(self, url: str, secret: str, tenant: str) -> Subscription: ...

    def update(self, sub: Subscription, url: str, secret: str, tenant: str) -> Subscription: ...

    def delete(self, sub: Subscription) -> bool: ...


class _VendorSubscriptions:
    """A ``Vendor`` on a vendor's webhook API (``self.api``): subclasses translate its records
    (``_sub``) and write the body of our subscription (``_body``)."""

    name = ""
    api: Any

    @staticmethod
    def _sub(item: dict[str, Any]) -> Subscription:
        raise NotImplementedError

    def _body(self, url: str, secret: str, tenant: str) -> dict[str, Any]:
        raise NotImplementedError

    def list(self) -> list[Subscription]:
        return [self._sub(i) for i in self.api.list()]

    def create(self, url: str, secret: str, tenant: str) -> Subscription:
        return self._sub(self.api.create(self._body(url, secret, tenant)))

    def update(self, sub: Subscription, url: str, secret: str, tenant: str) -> Subscription:
        return self._sub(self.api.update(sub.id, self._body(url, secret, tenant)))  # also re-enables a paused one

    def delete(self, sub: Subscription) -> bool:
        return bool(self.api.delete(sub.id))


class PersonioVendor(_VendorSubscriptions):
    name = "personio"

    def __init__(self, client: Any) -> None:
        from hq_sync.clients.webhooks import PersonioWebhooks

        self.api = PersonioWebhooks(client)

    @staticmethod
    def _sub(item: dict[str, Any]) -> Subscription:
        return Subscription(
            str(item["id"]),
            str(item.get("url") or ""),
            item.get("status") == "ENABLED",
            list(item.get("enabled_events") or []),
            f"auth {item.get('auth_type')}",
        )

    def _body(self, url: str, secret: str, tenant: str) -> dict[str, Any]:
        return {
            "url": url,
            "description": f"hq-sync: near-real-time sync of {tenant} (docs/webhooks.md)",
            "status": "ENABLED",
            "auth_type": "TOKEN",
            "token": secret,
            "enabled_events": list(PERSONIO_EVENTS),
        }


class AworkVendor(_VendorSubscriptions):
    name = "awork"

    def __init__(self, client: Any) -> None:
        from hq_sync.clients.webhooks import AworkWebhooks

        self.api = AworkWebhooks(client)

    @staticmethod
    def _sub(item: dict[str, Any]) -> Subscription:
        events = [e for e in str(item.get("events") or "").split(",") if e]
        return Subscription(
            str(item["id"]),
            str(item.get("uri") or ""),
            bool(item.get("isActive")),
            events,
            str(item.get("lastFailureReason") or ""),
        )

    def _body(self, url: str, secret: str, tenant: str) -> dict[str, Any]:
        return {
            "name": f"hq-sync {tenant}",
            "uri": url,
            "events": ",".join(AWORK_EVENTS),
            "isActive": True,
            "authenticationType": "header",
            "authentication": f"{AWORK_SECRET_HEADER}={secret}",
            "onlyTriggerForMainEntityChanges": False,
        }


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def ensure(
    tenant: TenantConfig,
    vendor: Vendor,
    store: ExtraStore,
    receiver_url: str,
    make_secret: Callable[[], str] = new_secret,
) -> str:
    """Exactly one enabled subscription of ``vendor`` at ``receiver_url`` with a fresh secret (kept in
    ``store``); returns a one-line summary without the secret."""
    existing = [s for s in vendor.list() if _same_url(s.url, receiver_url)]
    original = store.load()
    secret = make_secret()
    store.save(rotated_extra(original, secret))  # the receiver accepts it before the vendor sends it
    try:
        if existing:
            sub = vendor.update(existing[0], receiver_url, secret, tenant.id)
            for duplicate in existing[1:]:
                vendor.delete(duplicate)
            verb = "updated" + (f" (removed {len(existing) - 1} duplicate(s))" if len(existing) > 1 else "")
        else:
            sub = vendor.create(receiver_url, secret, tenant.id)
            verb = "created"
    except Exception:
        store.save(original)  # the vendor still has the old secret: keep accepting it
        raise
    store.save({**rotated_extra(original, secret), WEBHOOK_ID_EXTRA: sub.id})
    return (
        f"{vendor.name}: {verb} webhook {sub.id} -> {receiver_url} ({len(sub.events)} events, "
        f"{'enabled' if sub.active else 'DISABLED'}); new secret in connection {store.conn_id!r} "
        "(extra webhook_secret, not shown)"
    )


def remove(vendor: Vendor, store: ExtraStore, receiver_url: str) -> str:
    """Delete our subscriptions at ``receiver_url`` and the secret; returns a summary."""
    ours = [s for s in vendor.list() if _same_url(s.url, receiver_url)]
    for sub in ours:
        vendor.delete(sub)
    store.save(removed_extra(store.load()))
    return (
        f"{vendor.name}: removed {len(ours)} webhook(s) pointing at {receiver_url}; "
        f"secret removed from {store.conn_id!r}"
    )


def show(vendor: Vendor, store: ExtraStore | None, receiver_url: str) -> list[str]:
    """What exists at the vendor (ours marked) and whether the connection holds a secret."""
    subs = vendor.list()
    lines = [f"{vendor.name}: {len(subs)} webhook(s); ours point at {receiver_url}"]
    lines += [s.line(_same_url(s.url, receiver_url)) for s in subs]
    if not any(_same_url(s.url, receiver_url) for s in subs):
        lines.append("  (none of ours: run without --show to create it)")
    if store is not None:
        has = bool(store.load().get("webhook_secret"))
        lines.append(f"  connection {store.conn_id!r}: {'holds a webhook secret' if has else 'NO webhook secret'}")
    return lines


# -- Airflow wiring ------------------------------------------------------------------------------
class AirflowConnectionExtra:
    """The extra of a connection in Airflow's metadata database."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
            raise WebhookSetupError(
                f"connection {conn_id!r} is defined by the environment variable AIRFLOW_CONN_{conn_id.upper()}, "
                "which this command cannot write; move it into Airflow's connections (airflow connections add) "
                "so the webhook secret can be stored with it"
            )
        if self._row() is None:
            raise WebhookSetupError(
                f"Airflow connection {conn_id!r} does not exist; add it first (docs/tenants.md#connections)"
            )

    def _row(self) -> Any:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(Connection).where(Connection.conn_id == self.conn_id))
            if row is not None:
                session.expunge(row)
            return row

    def connection(self) -> Any:
        return self._row()

    def load(self) -> dict[str, Any]:
        return dict(self._row().extra_dejson or {})

    def save(self, extra: dict[str, Any]) -> None:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(Connection).where(Connection.conn_id == self.conn_id))
            assert row is not None, f"connection {self.conn_id!r} is gone"
            row.set_extra(json.dumps(extra))


def vendor_client(tenant: TenantConfig, source: str, conn: Any) -> Any:
    """The vendor client built from the tenant's connection (as the tasks build it)."""
    from hq_sync.airflow.hooks import base_url_of, extras_of, retry_policy_of

    base = base_url_of(conn, source)
    extra = extras_of(conn, source)  # a typo in the extra is named here
    if source == "personio":
        from hq_sync.clients.personio import PersonioClient, PersonioCredentials

        app_id = extra.app_id or "HQ_SYNC"
        return PersonioClient(
            base,
            PersonioCredentials(conn.login or "", conn.password or "", app_id),
            retry=retry_policy_of(conn, source),
        )
    from hq_sync.clients.awork import AworkApiKey, AworkClient, AworkOAuthTokens, token_url_for

    if extra.auth == "oauth":
        from hq_sync.airflow.hooks import StagingHook
        from hq_sync.staging.oauth_tokens import StagingTokenStore

        if not extra.refresh_token:
            raise WebhookSetupError(
                f"connection {conn.conn_id!r} has no awork authorisation yet: run "
                f"python -m hq_sync.connect.awork --tenant {tenant.id}"
            )
        store = StagingTokenStore(StagingHook().get_engine(), tenant.id, "awork", extra.refresh_token)
        auth: Any = AworkOAuthTokens(conn.login, conn.password, token_url_for(base), store)
    else:
        auth = AworkApiKey(conn.password or "")
    return AworkClient(base, auth, retry=retry_policy_of(conn, source))


def receiver_base(explicit: str | None) -> str:
    if explicit:
        return explicit.rstrip("/")
    from hq_sync.settings import settings

    if settings().webhook_base_url:  # $HQ_SYNC_WEBHOOK_BASE_URL
        return str(settings().webhook_base_url).rstrip("/")
    from airflow.configuration import conf

    configured = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    if not configured.startswith("http"):
        raise WebhookSetupError(
            f"where do vendors reach Airflow? pass --receiver-url, set ${BASE_URL_ENV} or [api] base_url"
        )
    return configured


def run(tenant: TenantConfig, base_url: str, action: str, sources: list[str] | None = None) -> list[str]:
    """Register (``ensure``), ``show`` or ``remove`` the tenant's webhooks; returns output lines."""
    wanted = [s for s in WEBHOOK_SOURCES if s in tenant.enabled_sources() and (not sources or s in sources)]
    if not wanted:
        raise WebhookSetupError(f"tenant {tenant.id!r} has no Personio or awork source")
    lines: list[str] = []
    for source in wanted:
        store = AirflowConnectionExtra(tenant.connection_id(source))
        vendor: Vendor = (PersonioVendor if source == "personio" else AworkVendor)(
            vendor_client(tenant, source, store.connection())
        )
        url = base_url + receiver_path(tenant.id, source)
        try:
            if action == "show":
                lines += show(vendor, store, url)
            elif action == "remove":
                lines.append(remove(vendor, store, url))
            else:
                lines.append(ensure(tenant, vendor, store, url))
                cfg = tenant.source(source)
                if cfg is not None and not cfg.webhooks.enabled:  # type: ignore[union-attr]
                    lines.append(
                        f"  note: sources.{source}.webhooks.enabled is false in include/tenants/{tenant.id}.yaml: "
                        "events are recorded but start no run until you enable it"
                    )
        except ApiError as exc:
            raise WebhookSetupError(f"{source}: {exc}") from exc
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hq_sync.connect.webhooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument(
        "--receiver-url", help=f"Airflow's public base URL (default: ${BASE_URL_ENV} or [api] base_url)"
    )
    parser.add_argument("--source", action="append", choices=WEBHOOK_SOURCES, help="only this vendor (repeatable)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--show", action="store_true", help="show what exists at the vendors; change nothing")
    group.add_argument("--remove", action="store_true", help="delete our webhooks and their secrets")
    args = parser.parse_args(argv)

    from hq_sync.airflow.tasks import TenantConfigInvalid, load_tenant
    from hq_sync.connection_extras import ConnectionExtraError

    try:
        tenant = load_tenant(args.tenant)
        action = "show" if args.show else "remove" if args.remove else "ensure"
        for line in run(tenant, receiver_base(args.receiver_url), action, args.source):
            print(line)
    except (WebhookSetupError, TenantConfigInvalid, ConnectionExtraError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
