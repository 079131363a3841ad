"""initial staging schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 10:15:00.170870
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "awork_projects",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_awork_projects")),
    )
    op.create_table(
        "awork_task_lists",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("list_order", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_awork_task_lists")),
    )
    with op.batch_alter_table("awork_task_lists", schema=None) as batch_op:
        batch_op.create_index("ix_awork_task_lists_project_id", ["tenant", "project_id"], unique=False)

    op.create_table(
        "awork_tasks",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("type_of_work_id", sa.String(length=64), nullable=True),
        sa.Column("planned_duration_s", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_awork_tasks")),
    )
    with op.batch_alter_table("awork_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_awork_tasks_project_id", ["tenant", "project_id"], unique=False)

    op.create_table(
        "awork_time_entries",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("duration_s", sa.BigInteger(), nullable=False),
        sa.Column("is_billed", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_awork_time_entries")),
    )
    with op.batch_alter_table("awork_time_entries", schema=None) as batch_op:
        batch_op.create_index("ix_awork_time_entries_project_id", ["tenant", "project_id"], unique=False)
        batch_op.create_index("ix_awork_time_entries_start_date", ["tenant", "start_date"], unique=False)

    op.create_table(
        "awork_types_of_work",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_awork_types_of_work")),
    )
    op.create_table(
        "awork_users",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_awork_users")),
    )
    with op.batch_alter_table("awork_users", schema=None) as batch_op:
        batch_op.create_index("ix_awork_users_email", ["tenant", "email"], unique=False)

    op.create_table(
        "hq_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("hq_entity", sa.String(length=32), nullable=False),
        sa.Column("hq_id", sa.String(length=64), nullable=True),
        sa.Column("hq_parent_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column(
            "written", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hq_links")),
        sa.UniqueConstraint("tenant", "source", "entity", "source_id", name="uq_hq_links_source_record"),
    )
    with op.batch_alter_table("hq_links", schema=None) as batch_op:
        batch_op.create_index("ix_hq_links_hq", ["tenant", "hq_entity", "hq_id"], unique=False)

    op.create_table(
        "personio_absence_periods",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("absence_type_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.String(length=32), nullable=False),
        sa.Column("starts_half", sa.String(length=16), nullable=True),
        sa.Column("ends_at", sa.String(length=32), nullable=True),
        sa.Column("ends_half", sa.String(length=16), nullable=True),
        sa.Column("approval_status", sa.String(length=32), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_personio_absence_periods")),
    )
    with op.batch_alter_table("personio_absence_periods", schema=None) as batch_op:
        batch_op.create_index("ix_personio_absence_periods_person_id", ["tenant", "person_id"], unique=False)
        batch_op.create_index("ix_personio_absence_periods_starts_at", ["tenant", "starts_at"], unique=False)

    op.create_table(
        "personio_absence_types",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_personio_absence_types")),
    )
    op.create_table(
        "personio_persons",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "source_id", name=op.f("pk_personio_persons")),
    )
    with op.batch_alter_table("personio_persons", schema=None) as batch_op:
        batch_op.create_index("ix_personio_persons_email", ["tenant", "email"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column(
            "context", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_id", sa.String(length=250), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("tenant", "source", "entity", "source_id", "reason", name="uq_quarantine_record_reason"),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_open", ["tenant", "resolved_at"], unique=False)

    op.create_table(
        "run_summaries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_summaries")),
        sa.UniqueConstraint("dag_id", "run_id", "entity", name="uq_run_summaries_run_entity"),
    )
    with op.batch_alter_table("run_summaries", schema=None) as batch_op:
        batch_op.create_index("ix_run_summaries_tenant", ["tenant", "source", "recorded_at"], unique=False)

    op.create_table(
        "sync_cursors",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "source", "entity", name=op.f("pk_sync_cursors")),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    with op.batch_alter_table("run_summaries", schema=None) as batch_op:
        batch_op.drop_index("ix_run_summaries_tenant")

    op.drop_table("run_summaries")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_open")

    op.drop_table("quarantine")
    with op.batch_alter_table("personio_persons", schema=None) as batch_op:
        batch_op.drop_index("ix_personio_persons_email")

    op.drop_table("personio_persons")
    op.drop_table("personio_absence_types")
    with op.batch_alter_table("personio_absence_periods", schema=None) as batch_op:
        batch_op.drop_index("ix_personio_absence_periods_starts_at")
        batch_op.drop_index("ix_personio_absence_periods_person_id")

    op.drop_table("personio_absence_periods")
    with op.batch_alter_table("hq_links", schema=None) as batch_op:
        batch_op.drop_index("ix_hq_links_hq")

    op.drop_table("hq_links")
    with op.batch_alter_table("awork_users", schema=None) as batch_op:
        batch_op.drop_index("ix_awork_users_email")

    op.drop_table("awork_users")
    op.drop_table("awork_types_of_work")
    with op.batch_alter_table("awork_time_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_awork_time_entries_start_date")
        batch_op.drop_index("ix_awork_time_entries_project_id")

    op.drop_table("awork_time_entries")
    with op.batch_alter_table("awork_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_awork_tasks_project_id")

    op.drop_table("awork_tasks")
    with op.batch_alter_table("awork_task_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_awork_task_lists_project_id")

    op.drop_table("awork_task_lists")
    op.drop_table("awork_projects")
