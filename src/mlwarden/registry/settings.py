"""Registry settings: ``[registry]`` in ``mlwarden.toml`` overlaid with ``MLWARDEN_REGISTRY__*`` variables.

Everything has an embedded default (SQLite in WAL mode and local blob files under ``data_dir``), so
``mlwarden registry serve`` runs with no configuration; PostgreSQL and other blob stores are chosen by
URL. Trust is never defaulted: with no ``trusted_keys`` no push verifies, so nothing is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlwarden.errors import ConfigError

DEFAULT_ALIAS_POLICIES = {"staging": "baseline", "production": "production"}


class RegistrySettings(BaseModel):
    """The server's configuration; see the module docstring for where values come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path(".mlwarden/registry")
    database_url: str | None = None  # default: sqlite:///<data_dir>/registry.db
    blob_url: str | None = None  # default: file://<data_dir>/blobs
    blob_kek: str | None = None  # file:PATH or env:VAR: encrypt blobs at rest
    blob_replicas: list[str] = Field(default_factory=list)  # further stores that receive every write
    host: str = "127.0.0.1"
    port: int = Field(default=8750, ge=0, le=65535)
    push_policy: str = "baseline"
    alias_policies: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ALIAS_POLICIES))
    default_alias_policy: str = "production"
    trusted_keys: list[Path] = Field(default_factory=list)  # publishers' public keys (OMS signatures)
    approver_keys: list[Path] = Field(default_factory=list)  # keys whose approval attestations count
    audit_key: Path | None = None  # private key for audit checkpoints (default: generated in data_dir)
    audit_origin: str = "mlwarden-registry"
    # How often the server signs a checkpoint when the log grew (0: never; then run 'audit checkpoint'
    # from cron). Entries after the latest checkpoint are covered by no signature yet.
    audit_checkpoint_seconds: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    max_upload_bytes: int = Field(default=64 << 30, gt=0)
    token_days: int = Field(default=90, gt=0)
    bootstrap_token_file: Path | None = None  # also write the one-time admin token here (mode 600)
    login_failures_per_minute: int = Field(default=10, gt=0)
    oidc_jwks: str | None = None  # a JWKS file path or https URL; enables OIDC bearer JWTs
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_roles_claim: str = "mlwarden_roles"  # list of "namespace:role" strings
    scan: dict[str, Any] = Field(default_factory=dict)  # passed to the gate as [scan]
    url: str | None = None  # client side: the registry to talk to
    token: str | None = None  # client side: normally from MLWARDEN_REGISTRY__TOKEN

    @field_validator("trusted_keys", "approver_keys", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """An environment variable holds one path or a comma-separated list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def database(self) -> str:
        """The metadata database URL."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    @property
    def blobs(self) -> str:
        """The blob store URL."""
        return self.blob_url or (self.data_dir / "blobs").resolve().as_uri()

    @property
    def staging_dir(self) -> Path:
        """Where uploads are received and unpacked before they become a version (same file system)."""
        return self.data_dir / "staging"

    def policy_for_alias(self, alias: str) -> str:
        """The policy a promotion to ``alias`` must pass."""
        return self.alias_policies.get(alias, self.default_alias_policy)

    @classmethod
    def from_settings(cls, settings: dict[str, dict[str, Any]], **overrides: Any) -> RegistrySettings:
        """Build from ``load_settings()`` output (its ``[registry]`` section) plus explicit overrides."""
        values = dict(settings.get("registry", {}))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"[registry] {where}: {first['msg']}",
                hint="fix mlwarden.toml or the MLWARDEN_REGISTRY__* variable",
            ) from None


def load_registry_settings(config: Path | None = None, **overrides: Any) -> RegistrySettings:
    """Read the config file and environment (``mlwarden.core.config.load_settings``)."""
    from mlwarden.core.config import load_settings  # noqa: PLC0415

    return RegistrySettings.from_settings(load_settings(config), **overrides)
