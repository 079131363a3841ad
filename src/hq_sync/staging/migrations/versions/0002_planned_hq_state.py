"""planned hq state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:23:58.330792
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "planned_hq_state",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("hq_parent_id", sa.String(length=64), nullable=True),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("version", sa.String(length=128), nullable=True),
        sa.Column(
            "notes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("planned_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "source", "entity", "source_id", name=op.f("pk_planned_hq_state")),
    )


def downgrade() -> None:
    op.drop_table("planned_hq_state")
