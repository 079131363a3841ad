"""run control (issue 15): one run per tenant and source (run_locks); why a run waits or failed (run_notes)

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-29 08:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_locks",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("run_type", sa.String(length=32), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "source", name=op.f("pk_run_locks")),
    )
    op.create_table(
        "run_notes",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=True),
        sa.Column("max_tries", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("retry_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("dag_id", "run_id", name=op.f("pk_run_notes")),
    )
    with op.batch_alter_table("run_notes", schema=None) as batch_op:
        batch_op.create_index("ix_run_notes_tenant", ["tenant", "source", "since"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_run_notes_tenant")
    op.drop_table("run_notes")
    op.drop_table("run_locks")
