"""Alembic revisions of the registry schema (run by ``mlwarden.registry.db.upgrade``)."""
