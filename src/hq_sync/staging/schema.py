"""The staging database schema: what we read from the sources and what we wrote to HQ.

Every source table is keyed by ``(tenant, source_id)`` (the source is the table) and keeps the raw
payload, a few typed columns that the transforms query, and the source's own ``updated_at``. The
schema is created and evolved only by the Alembic migrations in ``migrations/``; this module is
their single description of the current shape (and what the code queries).

Time stamps are stored as naive UTC (``UtcDateTime``), so SQLite and PostgreSQL behave alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

Payload = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: staging stores only aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value  # str: raw SQLite text
        return parsed.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _source_table(name: str, *typed: Column[Any], indexes: tuple[str, ...] = ()) -> Table:
    """A staging table for one source entity: key, raw payload, typed columns, bookkeeping."""
    table = Table(
        name,
        metadata,
        Column("tenant", String(64), primary_key=True),
        Column("source_id", String(64), primary_key=True),
        Column("source_updated_at", UtcDateTime(), nullable=True),
        Column("payload", Payload, nullable=False),
        *typed,
        Column("first_seen_at", UtcDateTime(), nullable=False),
        Column("last_seen_at", UtcDateTime(), nullable=False),
        # Set when the record vanished from the source (confirmed by a 404), cleared if it returns.
        Column("deleted_at", UtcDateTime(), nullable=True),
    )
    for column in indexes:
        Index(f"ix_{name}_{column}", table.c.tenant, table.c[column])
    return table


# -- Personio -------------------------------------------------------------------------------------
personio_persons = _source_table(
    "personio_persons",
    Column("email", String(320), nullable=True),
    Column("status", String(32), nullable=True),
    indexes=("email",),
)

personio_absence_types = _source_table(
    "personio_absence_types",
    Column("name", String(255), nullable=False),
    Column("category", String(64), nullable=True),
    Column("unit", String(16), nullable=True),  # DAY or HOUR
)

personio_absence_periods = _source_table(
    "personio_absence_periods",
    Column("person_id", String(64), nullable=False),
    Column("absence_type_id", String(64), nullable=False),
    Column("starts_at", String(32), nullable=False),  # local date-time as Personio sends it
    Column("starts_half", String(16), nullable=True),  # FIRST_HALF / SECOND_HALF / None
    Column("ends_at", String(32), nullable=True),  # None: open-ended
    Column("ends_half", String(16), nullable=True),
    Column("approval_status", String(32), nullable=True),
    indexes=("person_id", "starts_at"),
)

# -- awork ----------------------------------------------------------------------------------------
awork_users = _source_table("awork_users", Column("email", String(320), nullable=True), indexes=("email",))
awork_projects = _source_table("awork_projects", Column("name", String(512), nullable=False))
awork_task_lists = _source_table(
    "awork_task_lists",
    Column("project_id", String(64), nullable=False),
    Column("name", String(512), nullable=False),
    Column("list_order", Integer, nullable=True),
    indexes=("project_id",),
)
awork_types_of_work = _source_table("awork_types_of_work", Column("name", String(255), nullable=False))
awork_tasks = _source_table(
    "awork_tasks",
    Column("project_id", String(64), nullable=True),
    Column("name", String(512), nullable=False),
    Column("type_of_work_id", String(64), nullable=True),
    Column("planned_duration_s", BigInteger, nullable=True),
    indexes=("project_id",),
)
awork_time_entries = _source_table(
    "awork_time_entries",
    Column("user_id", String(64), nullable=False),
    Column("project_id", String(64), nullable=True),
    Column("task_id", String(64), nullable=True),
    Column("start_date", Date, nullable=False),
    Column("duration_s", BigInteger, nullable=False),
    Column("is_billed", Boolean, nullable=False, default=False),
    indexes=("project_id", "start_date"),
)

SOURCE_TABLES: dict[tuple[str, str], Table] = {
    ("personio", "person"): personio_persons,
    ("personio", "absence_type"): personio_absence_types,
    ("personio", "absence_period"): personio_absence_periods,
    ("awork", "user"): awork_users,
    ("awork", "project"): awork_projects,
    ("awork", "task_list"): awork_task_lists,
    ("awork", "type_of_work"): awork_types_of_work,
    ("awork", "task"): awork_tasks,
    ("awork", "time_entry"): awork_time_entries,
}

# -- What we wrote to the target system -------------------------------------------------------------
# One row per source record that has (or had, or is about to have) a counterpart in the system we
# write to: HQ for the awork, Personio and timesheet sources; awork for ``hq_to_awork`` (source
# ``hq_to_awork``, ``hq_entity`` ``awork_project`` / ``awork_task_list`` / ``awork_task``, ``hq_id`` the
# awork id). The table keeps its historical name (renaming it is a migration for no behaviour). A write is
# recorded as 'pending' with its intended content *before* it is sent, so that after a crash or a
# lost answer the next run looks the object up in HQ instead of creating it twice.
hq_links = Table(
    "hq_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("entity", String(32), nullable=False),  # absence_period, time_entry, task, phase, ...
    Column("source_id", String(128), nullable=False),
    Column("hq_entity", String(32), nullable=False),  # Absence, Reporting, ProjectTask, ...
    Column("hq_id", String(64), nullable=True),  # None while pending or after deletion
    Column("hq_parent_id", String(64), nullable=True),  # e.g. the HQ user of an absence
    Column("state", String(16), nullable=False),  # states.LinkState: pending | synced | deleted
    Column("fingerprint", String(64), nullable=True),  # hash of the content written to HQ
    Column("written", Payload, nullable=True),  # what we wrote (or are about to write)
    Column("synced_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant", "source", "entity", "source_id", name="uq_hq_links_source_record"),
    Index("ix_hq_links_hq", "tenant", "hq_entity", "hq_id"),
)

# -- What transform decided each source record should be in HQ (read by load) -------------------
planned_hq_state = Table(
    "planned_hq_state",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("source_id", String(128), primary_key=True),
    Column("plan", String(16), nullable=False),  # states.Plan: wanted | not_wanted | quarantined
    Column("reason", String(64), nullable=True),  # why not wanted / quarantined
    Column("hq_parent_id", String(64), nullable=True),  # e.g. the HQ user of an absence
    Column("body", Payload, nullable=True),  # the HQ body we want
    Column("version", String(128), nullable=True),  # the source version the body derives from
    Column("notes", Payload, nullable=True),  # remarks for the report (e.g. half day dropped)
    Column("planned_at", UtcDateTime(), nullable=False),
)

# -- Quarantine: records we could not write, and why (retried every run) -------------------------
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("reason", String(64), nullable=False),  # machine code, e.g. unknown_email
    Column("detail", Text, nullable=False),  # human sentence: who, what, why
    Column("context", Payload, nullable=True),  # e.g. {"email": ..., "hours": ...}
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("last_run_id", String(250), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    UniqueConstraint("tenant", "source", "entity", "source_id", "reason", name="uq_quarantine_record_reason"),
    Index("ix_quarantine_open", "tenant", "resolved_at"),
)

# -- Run summaries (D4): counts per tenant, DAG run and entity -----------------------------------
run_summaries = Table(
    "run_summaries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("conflicts", Integer, nullable=False, default=0),
    Column("details", Payload, nullable=True),  # e.g. {"quarantined": {"unknown_email": 3}}
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("dag_id", "run_id", "entity", name="uq_run_summaries_run_entity"),
    Index("ix_run_summaries_tenant", "tenant", "source", "recorded_at"),
)

# -- OAuth refresh tokens that rotate on every use (awork) ---------------------------------------
# Tasks cannot write Airflow connections, so a rotated refresh token is kept here (encrypted when a
# Fernet key is configured). ``seeded_from`` fingerprints the connection's token it descends from:
# a re-authorisation (a new token in the connection) takes over from the stored chain.
oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("system", String(32), primary_key=True),
    Column("refresh_token", Text, nullable=False),
    Column("encrypted", Boolean, nullable=False),
    Column("seeded_from", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# -- Incremental cursors (e.g. the highest updated_at read so far) -------------------------------
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("cursor", String(64), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# -- Reference data a run read from a vendor and keeps for the next runs (issue #12) --------------
# E.g. HQ's users and task types for the awork transform: read again when the staged source data
# changed (``version``: a fingerprint of what it was read for) or after a maximum age (``read_at``).
reference_data = Table(
    "reference_data",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("body", Payload, nullable=False),
    Column("version", String(128), nullable=True),
    Column("read_at", UtcDateTime(), nullable=False),
)

# -- Timesheet files and their rows (product.md C1, docs/timesheets.md) ---------------------------
# One row per import run of a file (a re-run of the same DAG run replaces it), with what became of
# it; the rows of the file as read (typed values, or the reason a cell could not be read).
timesheet_files = Table(
    "timesheet_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("run_id", String(250), nullable=False),  # the import DAG run (or the CLI's run id)
    Column("name", String(512), nullable=False),  # the file name as dropped / uploaded
    Column("path", Text, nullable=False),  # where the file is kept now
    Column("sha256", String(64), nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),  # FileStatus: reading | refused | imported
    Column("error", Text, nullable=True),  # why the file was refused
    Column("rows", Integer, nullable=True),
    Column("held", Integer, nullable=True),  # rows held back (quarantine)
    Column("summary", Payload, nullable=True),  # the import's counts
    Column("received_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    UniqueConstraint("tenant", "run_id", name="uq_timesheet_files_run"),
)

timesheet_rows = Table(
    "timesheet_rows",
    metadata,
    Column("file_id", Integer, primary_key=True),
    Column("line", Integer, primary_key=True),  # line (CSV) or row (Excel) number in the file, 1-based
    Column("tenant", String(64), nullable=False),
    Column("cells", Payload, nullable=False),  # the raw cell texts by field
    Column("problem", String(64), nullable=True),  # a cell that could not be read: reason code
    Column("detail", Text, nullable=True),
    Column("work_date", Date, nullable=True),
    Column("start_time", String(8), nullable=True),  # HH:MM[:SS] local, if the file has one
    Column("duration_s", BigInteger, nullable=True),
    Column("email", String(320), nullable=True),
    Column("person", String(400), nullable=True),
    Column("project", String(512), nullable=True),
    Column("project_number", String(128), nullable=True),
    Column("task", String(512), nullable=True),
    Column("comment", Text, nullable=True),
)

# -- Drift audits (product.md F2, docs/audit.md) -------------------------------------------------
# One row per audit run (a re-run replaces it); its per-cell table (person × project/type × month:
# source, HQ, explained, unexplained) and the differing records behind the cells.
audit_runs = Table(
    "audit_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),  # inclusive
    Column("month", String(7), nullable=True),  # YYYY-MM when one month was audited
    Column("status", String(16), nullable=False),  # AuditStatus: clean | explained | drift
    Column("sources", Payload, nullable=True),  # per source: read from staging or the source, why, requests
    Column("totals", Payload, nullable=True),  # per kind: source/HQ totals, explained/unexplained counts
    Column("explained", Integer, nullable=False, default=0),  # differing records, explained
    Column("unexplained", Integer, nullable=False, default=0),  # differing records, unexplained
    UniqueConstraint("tenant", "run_id", name="uq_audit_runs_run"),
    Index("ix_audit_runs_tenant", "tenant", "started_at"),
)

audit_cells = Table(
    "audit_cells",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # AuditKind: hours | absence_days
    Column("person", String(320), nullable=False),  # e-mail (casefolded)
    Column("scope", String(64), nullable=False),  # HQ project id (hours) or HQ absence type (days)
    Column("scope_label", String(512), nullable=False),
    Column("month", String(7), nullable=False),
    Column("source_qty", Float, nullable=False),
    Column("hq_qty", Float, nullable=False),
    Column("explained_qty", Float, nullable=False),
    Column("unexplained_qty", Float, nullable=False),
    Index("ix_audit_cells_audit", "audit_id"),
)

audit_differences = Table(
    "audit_differences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("person", String(320), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("scope_label", String(512), nullable=False),
    Column("month", String(7), nullable=False),
    Column("source_qty", Float, nullable=False),
    Column("hq_qty", Float, nullable=False),
    Column("explanation", String(32), nullable=False),  # Explanation (unexplained included)
    Column("reason", String(64), nullable=True),  # e.g. the quarantine reason, "changed_in_hq"
    Column("detail", Text, nullable=False),
    Column("source_ref", String(128), nullable=True),  # awork time entry / Personio period id
    Column("hq_ref", String(64), nullable=True),  # HQ reporting / absence id
    Column("who", String(320), nullable=True),  # who wrote or changed it in HQ, when known
    Index("ix_audit_differences_audit", "audit_id"),
)


# -- Webhook inbox (issue #14, docs/webhooks.md): vendor events, recorded before we answer 2xx ------
# One row per distinct event of a tenant and source: ``event_key`` is derived from the event's
# identity (not the delivery), so a redelivered event is stored once (``deliveries`` counts them).
# Events are hints: a run reads the records they name from the source, then marks them consumed.
webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(32), nullable=False),  # personio | awork
    Column("event_key", String(64), nullable=False),  # sha256 of the event's identity
    Column("event_name", String(100), nullable=False),  # absence-period.updated.status, timetracking_added, ...
    Column("entity_type", String(64), nullable=True),  # absence_period, person, time_entry, project, ...
    Column("entity_id", String(128), nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=True),  # as the vendor says
    Column("received_at", UtcDateTime(), nullable=False),
    Column("via", String(16), nullable=False),  # delivery | catchup
    Column("deliveries", Integer, nullable=False, default=1),
    Column("envelope", Payload, nullable=False),  # the body as received (for the record; never trusted as data)
    Column("forwarded_at", UtcDateTime(), nullable=True),  # an Airflow asset event was emitted for it
    Column("forward_note", String(200), nullable=True),
    Column("consumed_at", UtcDateTime(), nullable=True),  # a run read the records it names
    Column("consumed_by", String(250), nullable=True),  # that run's id
    UniqueConstraint("tenant", "source", "event_key", name="uq_webhook_inbox_event"),
    Index("ix_webhook_inbox_pending", "tenant", "source", "consumed_at"),
    Index("ix_webhook_inbox_forward", "forwarded_at"),
)

# -- Run control (issue 15, hq_sync.staging.run_control) -----------------------------------------
# One run per tenant and source at any time, whatever started it (schedule, manual, backfill,
# asset): the run that holds the row runs; the others wait (the ``acquire_run_lock`` sensor).
run_locks = Table(
    "run_locks",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("run_type", String(32), nullable=True),
    Column("holder", String(200), nullable=False),  # host:pid of the task that took it
    Column("acquired_at", UtcDateTime(), nullable=False),
)

# Why a run is not moving or failed (one row per DAG run, the newest note): a task up for retry
# and its reason, a failure that was not retried, or waiting for the run lock (Sync status page).
run_notes = Table(
    "run_notes",
    metadata,
    Column("dag_id", String(250), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("kind", String(16), nullable=False),  # run_control.NoteKind: retry | failed | lock
    Column("try_number", Integer, nullable=True),
    Column("max_tries", Integer, nullable=True),
    Column("reason", Text, nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("retry_at", UtcDateTime(), nullable=True),  # retry: the earliest next try
    Index("ix_run_notes_tenant", "tenant", "source", "since"),
)
