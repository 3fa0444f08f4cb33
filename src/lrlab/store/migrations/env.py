"""Alembic's environment for an lrlab store.

lrlab runs the migrations itself (:func:`lrlab.store.open`), handing over the connection
whose transaction they run in; the ``alembic`` command line is not needed.
"""

from __future__ import annotations

from alembic import context

from lrlab.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite changes a table by copying it; batch mode writes migrations that way.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
