"""Events a stopping worker had queued, replayed at the next start.

Revision ID: 0002_pending_events
Revises: 0001_debug_tables
Create Date: 2024-05-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from astara.db.migration import table_options

revision = "0002_pending_events"
down_revision = "0001_debug_tables"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("driver", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("crud", sa.String(32), nullable=False),
        sa.Column(
            "body",
            sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime, nullable=False),
        **table_options(),
    )


def downgrade() -> None:
    op.drop_table("pending_events")
