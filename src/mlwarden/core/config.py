"""Settings from ``mlwarden.toml`` (or ``--config``) overlaid with ``MLWARDEN_*`` environment variables.

The result is a plain nested dict passed explicitly to whoever needs it; there are no module globals.
Environment variables name a section and key with a double underscore:
``MLWARDEN_SCAN__MAX_DEPTH=4`` sets ``[scan] max_depth = 4``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlwarden.errors import ConfigError

DEFAULT_FILE = "mlwarden.toml"
ENV_PREFIX = "MLWARDEN_"
Settings = dict[str, dict[str, Any]]


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (the named one, else ./mlwarden.toml if present) and the environment."""
    env = os.environ if environ is None else environ
    settings: Settings = {}
    named = path if path is not None else env.get(f"{ENV_PREFIX}CONFIG")
    candidate = Path(named) if named else Path(DEFAULT_FILE)
    if named or candidate.is_file():
        try:
            raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"config file {candidate} does not exist", hint="check the --config path"
            ) from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"cannot read config file {candidate}: {exc}", hint="fix the TOML syntax"
            ) from None
        for section, values in raw.items():
            if not isinstance(values, dict):
                raise ConfigError(
                    f"config key {section!r} must be a [section]",
                    hint="put settings under a section such as [scan]",
                )
            settings[section] = dict(values)
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        settings.setdefault(section, {})[key] = _parse_env_value(value)
    return settings


def _parse_env_value(value: str) -> Any:
    """Environment values are TOML scalars when they parse as one (``4``, ``true``), else strings."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value
