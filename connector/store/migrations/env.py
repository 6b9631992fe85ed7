"""Alembic environment: runs on the connection leadsync hands it (see store/engine.py)."""

from __future__ import annotations

from alembic import context

from connector.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - leadsync always passes its connection
    raise RuntimeError("run migrations through `leadsync db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
