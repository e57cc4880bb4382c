"""The metadata database: engine by URL (SQLite in WAL mode, or PostgreSQL) and migrations on startup.

``sqlite:///path`` gets WAL (readers never block the one writer), foreign keys and a busy timeout, so
several server threads and a CLI can share the file. ``postgresql://`` is driven by psycopg 3.
Migrations are Alembic revisions shipped inside the package (``mlwarden/registry/migrations``), run
programmatically (``upgrade head``) so that a wheel install needs no ``alembic.ini``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from mlwarden.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; ``postgresql://`` means psycopg 3, ``sqlite:///`` gets WAL."""
    try:
        parsed = make_url(url)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises ArgumentError, ValueError…
        raise ConfigError(
            f"invalid database URL: {err}", hint="use sqlite:///PATH or postgresql://…"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r}", hint="use sqlite:///PATH or postgresql://…"
        )
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own; _sqlite_begin does
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # FULL: a committed version and its audit entry survive power loss, not only a crash (NORMAL
    # may drop the last commits); the same setting the audit log's durability figures are measured at.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """``BEGIN IMMEDIATE``: take the write lock up front, so a transaction that reads and then writes
    waits its turn (busy timeout) instead of failing with SQLITE_BUSY when another writer got there
    first. Reads take it too, which is simple and cheap here: no transaction ever holds bytes."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Any:
    """An Alembic ``Config`` pointing at the packaged migrations, bound to ``engine``."""
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe on every start)."""
    from alembic import command  # noqa: PLC0415

    command.upgrade(alembic_config(engine), "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration); used by /readyz."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this mlwarden."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head()
