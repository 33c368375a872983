"""Alembic environment: migrations run on a connection handed in by hubbub.storage.db.migrate."""

from __future__ import annotations

from alembic import context

from hubbub.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only programmatic use is supported
    raise RuntimeError("run migrations through hubbub.storage.db.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
