"""timesheets and drift audit (issue 16): timesheet files and rows, audit runs, cells, differences

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 04:18:04.669513
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_cells",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("person", sa.String(length=320), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("scope_label", sa.String(length=512), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("source_qty", sa.Float(), nullable=False),
        sa.Column("hq_qty", sa.Float(), nullable=False),
        sa.Column("explained_qty", sa.Float(), nullable=False),
        sa.Column("unexplained_qty", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cells")),
    )
    with op.batch_alter_table("audit_cells", schema=None) as batch_op:
        batch_op.create_index("ix_audit_cells_audit", ["audit_id"], unique=False)

    op.create_table(
        "audit_differences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("person", sa.String(length=320), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("scope_label", sa.String(length=512), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("source_qty", sa.Float(), nullable=False),
        sa.Column("hq_qty", sa.Float(), nullable=False),
        sa.Column("explanation", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.String(length=128), nullable=True),
        sa.Column("hq_ref", sa.String(length=64), nullable=True),
        sa.Column("who", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_differences")),
    )
    with op.batch_alter_table("audit_differences", schema=None) as batch_op:
        batch_op.create_index("ix_audit_differences_audit", ["audit_id"], unique=False)

    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "sources", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "totals", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("explained", sa.Integer(), nullable=False),
        sa.Column("unexplained", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_runs")),
        sa.UniqueConstraint("tenant", "run_id", name="uq_audit_runs_run"),
    )
    with op.batch_alter_table("audit_runs", schema=None) as batch_op:
        batch_op.create_index("ix_audit_runs_tenant", ["tenant", "started_at"], unique=False)

    op.create_table(
        "timesheet_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("held", sa.Integer(), nullable=True),
        sa.Column(
            "summary", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timesheet_files")),
        sa.UniqueConstraint("tenant", "run_id", name="uq_timesheet_files_run"),
    )
    op.create_table(
        "timesheet_rows",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column(
            "cells", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("problem", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("work_date", sa.Date(), nullable=True),
        sa.Column("start_time", sa.String(length=8), nullable=True),
        sa.Column("duration_s", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("person", sa.String(length=400), nullable=True),
        sa.Column("project", sa.String(length=512), nullable=True),
        sa.Column("project_number", sa.String(length=128), nullable=True),
        sa.Column("task", sa.String(length=512), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("file_id", "line", name=op.f("pk_timesheet_rows")),
    )


def downgrade() -> None:
    op.drop_table("timesheet_rows")
    op.drop_table("timesheet_files")
    with op.batch_alter_table("audit_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_runs_tenant")

    op.drop_table("audit_runs")
    with op.batch_alter_table("audit_differences", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_differences_audit")

    op.drop_table("audit_differences")
    with op.batch_alter_table("audit_cells", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_cells_audit")

    op.drop_table("audit_cells")
