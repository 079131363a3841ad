"""Tenant configuration (product.md D1)."""

from hq_sync.config.tenants import (
    BACKFILL_KINDS,
    DAG_ID_PREFIX,
    SOURCES,
    AuditSettings,
    AworkSource,
    DurationFormat,
    PersonioSource,
    PhaseMode,
    TenantConfig,
    TenantFileError,
    TenantLoad,
    TimesheetColumns,
    TimesheetsSource,
    dag_id_for,
    load_tenants,
    parse_tenant_file,
)

__all__ = [
    "BACKFILL_KINDS",
    "DAG_ID_PREFIX",
    "SOURCES",
    "AuditSettings",
    "AworkSource",
    "DurationFormat",
    "PersonioSource",
    "PhaseMode",
    "TenantConfig",
    "TenantFileError",
    "TenantLoad",
    "TimesheetColumns",
    "TimesheetsSource",
    "dag_id_for",
    "load_tenants",
    "parse_tenant_file",
]
