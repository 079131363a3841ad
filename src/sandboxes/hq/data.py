"""Tenant-scoped access to the sandbox's records: reads with per-request lookup caches, writes that
assign server ids and maintain the audit fields (Id, CreatedOn/By, UpdatedOn/By).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sandboxes.common.store import Store
from sandboxes.hq.errors import not_found
from sandboxes.hq.model import Record
from sandboxes.hq.oauth import OAuth
from sandboxes.hq.settings import TenantSettings
from sandboxes.hq.tenants import Tenant, TenantRegistry
from sandboxes.hq.timeutil import now_stamp

# Ids are integers assigned by the server, unique per kind across all tenants. Each kind starts in
# its own range so that a client mixing up two kinds of ids (or two tenants) fails loudly.
ID_STARTS: dict[str, int] = {
    "Users": 1001,
    "CompanyTypes": 4001,
    "Companies": 20001,
    "CompanyAddresses": 25001,
    "CustomFieldDefinitions": 501,
    "ProjectRoles": 601,
    "ProjectStatuses": 701,
    "ProjectTemplates": 801,
    "TaskTypes": 901,
    "TaskTypeStatuses": 1501,
    "RateRules": 301,
    "Projects": 30001,
    "ProjectMembers": 40001,
    "ProjectTasks": 50001,
    "UserReportings": 1_000_001,
    "UserAbsences": 200_001,
    "Documents": 300_001,  # Quotations and Invoices share HQ's Documents id space
    "DocumentPositions": 400_001,
}
CUSTOM_FIELD_VALUES = "CustomFieldValues"
SYNC_ACTOR_ID = 0  # CreatedBy/UpdatedBy of writes made with the sync token (it has no user)


@dataclass(frozen=True)
class Principal:
    """The caller: a tenant and, for a user token, the user's id and e-mail."""

    tenant: Tenant
    user_id: int | None
    email: str | None

    @property
    def is_sync(self) -> bool:
        """Whether the caller used the tenant's sync token."""
        return self.email is None

    @property
    def actor_id(self) -> int:
        """The id written to CreatedBy/UpdatedBy."""
        return self.user_id if self.user_id is not None else SYNC_ACTOR_ID


class HQState:
    """Everything one HQ sandbox server holds: the Store, the tenant registry and a write lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = TenantRegistry(store)
        # One lock for all writes: checks and the write they guard happen atomically.
        self.write_lock = threading.RLock()
        self.oauth = OAuth(store, self.registry, self._user_id)

    def _user_id(self, tenant_id: str, email: str) -> int | None:
        tenant = self.registry.get(tenant_id)
        user = self.data(tenant).find("Users", "EMailWork", email, casefold=True) if tenant else None
        return int(user["Id"]) if user else None

    def data(self, tenant: Tenant) -> TenantData:
        """Returns a fresh per-request view of ``tenant``'s records."""
        return TenantData(self, tenant)

    def reset(self) -> None:
        """Forgets every tenant and record."""
        with self.write_lock:
            self.store.reset()
            self.registry.clear()


class TenantData:
    """One tenant's records, for the duration of one request."""

    def __init__(self, state: HQState, tenant: Tenant) -> None:
        self.state = state
        self.store = state.store
        self.tenant = tenant
        self._by_id: dict[str, dict[int, Record]] = {}
        self._index: dict[tuple[str, str], dict[Any, list[Record]]] = {}
        self._cf_values: dict[tuple[str, int], dict[int, Record]] | None = None

    @property
    def settings(self) -> TenantSettings:
        return self.tenant.settings

    # -- reads (shared records: callers must not mutate them) --------------------------------
    def records(self, kind: str) -> list[Record]:
        """Returns every record of ``kind`` in insertion order (shared, read-only)."""
        return list(self.store.iter_shared(self.tenant.id, kind))

    def by_id(self, kind: str) -> dict[int, Record]:
        """Returns ``{Id: record}`` for ``kind`` (cached for this request; read-only)."""
        table = self._by_id.get(kind)
        if table is None:
            table = {rec["Id"]: rec for rec in self.store.iter_shared(self.tenant.id, kind)}
            self._by_id[kind] = table
        return table

    def index(self, kind: str, key: str) -> dict[Any, list[Record]]:
        """Returns the records of ``kind`` grouped by the value of ``key`` (cached; read-only)."""
        table = self._index.get((kind, key))
        if table is None:
            table = {}
            for rec in self.store.iter_shared(self.tenant.id, kind):
                table.setdefault(rec.get(key), []).append(rec)
            self._index[(kind, key)] = table
        return table

    def get(self, kind: str, rid: Any) -> Record | None:
        """Returns a copy of one record, or None."""
        return self.store.get(self.tenant.id, kind, rid)

    def require(self, kind: str, rid: Any, entity_name: str) -> Record:
        """Returns a copy of one record; raises a 404 HQError when it does not exist."""
        rec = self.store.get(self.tenant.id, kind, rid)
        if rec is None:
            raise not_found(entity_name, rid)
        return rec

    def find(self, kind: str, field: str, value: Any, casefold: bool = False) -> Record | None:
        """Returns the first record whose ``field`` equals ``value`` (shared), or None."""
        if casefold and isinstance(value, str):
            wanted = value.casefold()
            for rec in self.store.iter_shared(self.tenant.id, kind):
                if isinstance(rec.get(field), str) and rec[field].casefold() == wanted:
                    return rec
            return None
        for rec in self.store.iter_shared(self.tenant.id, kind):
            if rec.get(field) == value:
                return rec
        return None

    def custom_fields(self, category: str, entity_id: int) -> list[Record]:
        """Returns the ``CustomField`` entities of one entity: one per definition of its category.

        A CustomField's Id is its definition's Id (HQ addresses values as
        ``Projects(1)/CustomFields({CustomFieldDefinitionId})``); an unset value is null.
        """
        if self._cf_values is None:
            self._cf_values = {}
            for rec in self.store.iter_shared(self.tenant.id, CUSTOM_FIELD_VALUES):
                key = (rec["Category"], rec["EntityId"])
                self._cf_values.setdefault(key, {})[rec["DefinitionId"]] = rec
        values = self._cf_values.get((category, entity_id), {})
        definitions = [d for d in self.index("CustomFieldDefinitions", "Category").get(category, [])]
        definitions.sort(key=lambda d: (d.get("Order") or 0, d["Id"]))
        return [custom_field_entity(d, values.get(d["Id"])) for d in definitions]

    # -- writes ------------------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._by_id.clear()
        self._index.clear()
        self._cf_values = None

    def new_id(self, kind: str) -> int:
        """Returns a fresh server id for ``kind``."""
        id_space = "Documents" if kind in ("Quotations", "Invoices") else kind
        return self.store.next_id(f"hq:{id_space}", start=ID_STARTS.get(id_space, 1))

    def insert(self, kind: str, record: Record, actor: int, rid: Any = None) -> Record:
        """Stores a new record with a fresh Id and audit fields; returns it."""
        stamp = now_stamp()
        record["Id"] = self.new_id(kind) if rid is None else rid
        record["CreatedBy"] = record["UpdatedBy"] = actor
        record["CreatedOn"] = record["UpdatedOn"] = stamp
        self.store.put(self.tenant.id, kind, record["Id"], record)
        self._invalidate()
        return record

    def save(self, kind: str, record: Record, actor: int, touch: bool = True) -> Record:
        """Replaces a stored record; ``touch`` bumps UpdatedOn/UpdatedBy. Returns it."""
        if touch:
            record["UpdatedOn"] = now_stamp()
            record["UpdatedBy"] = actor
        self.store.put(self.tenant.id, kind, record["Id"], record)
        self._invalidate()
        return record

    def delete(self, kind: str, rid: Any) -> bool:
        """Deletes a record (HQ's deleted rows simply vanish); returns whether it existed."""
        existed = self.store.delete(self.tenant.id, kind, rid)
        self._invalidate()
        return existed


def custom_field_entity(definition: Record, value: Record | None) -> Record:
    """Returns the CustomField entity for a definition and its stored value (or None)."""
    source = value or definition
    return {
        "Name": definition["Name"],
        "Value": value.get("Value") if value else None,
        "Type": definition.get("TypeText"),
        "Id": definition["Id"],
        "CreatedBy": source.get("CreatedBy"),
        "UpdatedBy": source.get("UpdatedBy"),
        "CreatedOn": source.get("CreatedOn"),
        "UpdatedOn": source.get("UpdatedOn"),
    }
