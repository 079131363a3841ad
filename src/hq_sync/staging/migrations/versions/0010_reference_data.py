"""reference data (issue 12): HQ's users and task types as a run last read them

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    payload = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "reference_data",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("body", payload, nullable=False),
        sa.Column("version", sa.String(length=128), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "source", "name", name=op.f("pk_reference_data")),
    )


def downgrade() -> None:
    op.drop_table("reference_data")
