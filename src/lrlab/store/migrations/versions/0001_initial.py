"""The first lrlab store: records and the shards of sweeps.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lrlab_records",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("objective", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("steps", sa.Integer),
        sa.Column("steps_done", sa.Integer),
        sa.Column("lanes", sa.Integer),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("environment", sa.JSON, nullable=False),
        sa.Column("output", sa.JSON),
    )
    op.create_index("ix_lrlab_records_created", "lrlab_records", ["created"])
    op.create_table(
        "lrlab_shards",
        sa.Column(
            "record_id",
            sa.String(32),
            sa.ForeignKey("lrlab_records.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("lane_lo", sa.Integer, nullable=False),
        sa.Column("lane_hi", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("steps_done", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary),
        sa.Column("checkpoint", sa.LargeBinary),
        sa.Column("updated", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lrlab_shards")
    op.drop_index("ix_lrlab_records_created", "lrlab_records")
    op.drop_table("lrlab_records")
