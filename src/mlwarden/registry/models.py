"""The registry's metadata tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Versions are immutable: a row in ``versions`` is written once, in the transaction that also writes its
files, signatures, attestations and audit entry, and only its ``state`` (active or quarantined) ever
changes. ``UNIQUE(model_id, version)`` is what turns two concurrent pushes of one version into one
success and one 409. Aliases are the only moving pointers; every move is kept in ``alias_history``,
which is what rollback reads.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
REGISTRY_METADATA = MetaData(naming_convention=NAMING)


def _when(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


models = Table(
    "registry_models",
    REGISTRY_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    _when("created_at"),
    Column("created_by", String(255), nullable=False),
    UniqueConstraint("namespace", "name", name="uq_registry_models_namespace_name"),
)

versions = Table(
    "registry_versions",
    REGISTRY_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", ForeignKey("registry_models.id"), nullable=False),
    Column("version", String(64), nullable=False),
    Column("root_digest", String(64), nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # active | quarantined
    Column("state_reason", Text, nullable=True),
    Column("publisher", String(255), nullable=False),  # the authenticated principal that pushed
    Column("signers", JSON, nullable=False),  # verified OMS signers
    Column("decision", JSON, nullable=False),  # the push gate's decision
    Column("evidence", JSON, nullable=False),  # the evidence it was taken on
    Column("lineage", JSON, nullable=False),  # datasets, base model, builder (from verified provenance)
    _when("created_at"),
    UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),
)

files = Table(
    "registry_files",
    REGISTRY_METADATA,
    Column("version_id", ForeignKey("registry_versions.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),  # sha256 of the content: the blob's address
    Column("size", BigInteger, nullable=False),
)
Index("ix_registry_files_digest", files.c.digest)

signatures = Table(
    "registry_signatures",
    REGISTRY_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", ForeignKey("registry_versions.id"), nullable=False),
    Column("bundle", Text, nullable=False),
)

attestations = Table(
    "registry_attestations",
    REGISTRY_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", ForeignKey("registry_versions.id"), nullable=False),
    Column("kind", String(255), nullable=False),  # scan | capability | provenance | dataset | approval | …
    Column("signer", JSON, nullable=False),
    Column("uploaded_by", String(255), nullable=False),
    Column("bundle", Text, nullable=False),
    _when("created_at"),
)

aliases = Table(
    "registry_aliases",
    REGISTRY_METADATA,
    Column("model_id", ForeignKey("registry_models.id"), primary_key=True),
    Column("alias", String(32), primary_key=True),
    Column("version_id", ForeignKey("registry_versions.id"), nullable=False),
    _when("updated_at"),
    Column("updated_by", String(255), nullable=False),
)

alias_history = Table(
    "registry_alias_history",
    REGISTRY_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", ForeignKey("registry_models.id"), nullable=False),
    Column("alias", String(32), nullable=False),
    Column("version_id", ForeignKey("registry_versions.id"), nullable=False),
    Column("action", String(16), nullable=False),  # promote | rollback
    Column("decision", JSON, nullable=True),
    _when("at"),
    Column("by", String(255), nullable=False),
)

events = Table(
    "registry_events",
    REGISTRY_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # push | promote | rollback | quarantine | release | approve
    Column("namespace", String(64), nullable=False),
    Column("model", String(64), nullable=False),
    Column("version", String(64), nullable=True),
    Column("alias", String(32), nullable=True),
    Column("root_digest", String(64), nullable=True),
    _when("at"),
)

tokens = Table(
    "registry_tokens",
    REGISTRY_METADATA,
    Column("id", String(32), primary_key=True),  # the public half of the token, used to look it up
    Column("secret_hash", String(64), nullable=False),  # sha256 of the secret half
    Column("principal", String(255), nullable=False),
    Column("grants", JSON, nullable=False),  # [{"namespace": "*" | name, "role": reader|publisher|…}]
    Column("description", Text, nullable=False),
    _when("created_at"),
    Column("created_by", String(255), nullable=False),
    _when("expires_at"),
    _when("revoked_at", nullable=True),
)
