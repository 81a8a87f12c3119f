"""Debug flags: per resource, per tenant and global.

Revision ID: 0001_debug_tables
Revises:
Create Date: 2024-05-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from astara.db.migration import table_options

revision = "0001_debug_tables"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    ]


def upgrade() -> None:
    for table, constraint in (
        ("resource_debug", "uniq_debug_resource0uuid"),
        ("tenant_debug", "uniq_debug_tenant0uuid"),
    ):
        op.create_table(
            table,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("uuid", sa.String(64), nullable=False),
            sa.Column("reason", sa.String(255), nullable=True),
            *_timestamps(),
            sa.UniqueConstraint("uuid", name=constraint),
            **table_options(),
        )
    op.create_table(
        "global_debug",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(255), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("status", name="uniq_global_debug0status"),
        sa.CheckConstraint("status = 1", name="ck_global_debug0status"),
        **table_options(),
    )


def downgrade() -> None:
    for table in ("global_debug", "tenant_debug", "resource_debug"):
        op.drop_table(table)
