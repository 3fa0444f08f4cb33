"""The tables of an lrlab store, as SQLAlchemy Core metadata.

Alembic's migrations under ``migrations/versions`` create these tables; this module is the
description the code reads and writes through (and that ``alembic revision --autogenerate``
compares against). Every table name starts with ``lrlab_`` so that a team's PostgreSQL
database can hold other tables beside ours.

* ``lrlab_records``: one row per experiment: what was asked (``params``), where it ran
  (``environment``), its status and heartbeat, and what the command printed (``output``).
* ``lrlab_shards``: the lanes of a sweep cut into slices; a finished shard keeps its raw
  result (``data``), an unfinished one its latest checkpoint (``checkpoint``).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["REVISION", "VERSION_TABLE", "metadata", "records", "shards"]

#: The newest migration (``migrations/versions``); a store at another revision is upgraded
#: (older) or refused (newer, made by a later lrlab).
REVISION = "0001"
#: Alembic's bookkeeping table, named so that it cannot clash with another application's.
VERSION_TABLE = "lrlab_alembic_version"

metadata = sa.MetaData()

records = sa.Table(
    "lrlab_records",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("objective", sa.Text, nullable=False),
    # "running" while a process works on it, then "done" or "interrupted"; a "running" row
    # whose heartbeat stopped is shown as interrupted (the process died).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("steps", sa.Integer),
    sa.Column("steps_done", sa.Integer),
    sa.Column("lanes", sa.Integer),
    sa.Column("created", sa.Float, nullable=False),  # seconds since the epoch, UTC
    sa.Column("heartbeat", sa.Float, nullable=False),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    sa.Column("output", sa.JSON),
    sa.Index("ix_lrlab_records_created", "created"),
)

shards = sa.Table(
    "lrlab_shards",
    metadata,
    sa.Column(
        "record_id",
        sa.String(32),
        sa.ForeignKey("lrlab_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("shard", sa.Integer, primary_key=True),
    sa.Column("lane_lo", sa.Integer, nullable=False),
    sa.Column("lane_hi", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # "pending" or "done"
    sa.Column("steps_done", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary),
    sa.Column("checkpoint", sa.LargeBinary),
    sa.Column("updated", sa.Float, nullable=False),
)
