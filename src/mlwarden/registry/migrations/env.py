"""Alembic environment: the engine is handed in by ``mlwarden.registry.db`` (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, MetaData

from mlwarden.registry.models import REGISTRY_METADATA


def _target_metadata() -> list[MetaData]:
    """The registry's tables and the audit log's, which live in the same database."""
    from mlwarden.registry.audit.log import AUDIT_METADATA  # noqa: PLC0415

    return [REGISTRY_METADATA, AUDIT_METADATA]


def run_migrations_online() -> None:
    """Run the pending revisions in one transaction on the engine the caller configured."""
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=_target_metadata(), render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
