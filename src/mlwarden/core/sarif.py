"""The SARIF 2.1.0 envelope and artifact locations shared by scan reports and gate decisions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlwarden import __version__

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def sarif_log(
    rules: list[dict[str, Any]], results: list[dict[str, Any]], properties: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One run by mlwarden; relative locations resolve against the working directory (SRCROOT)."""
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "mlwarden",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": "https://github.com/mlwarden/mlwarden",
                "rules": rules,
            }
        },
        "originalUriBaseIds": {"SRCROOT": {"uri": Path.cwd().as_uri() + "/"}},
        "results": results,
    }
    if properties is not None:
        run["properties"] = properties
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def artifact_location(path: str) -> dict[str, str]:
    """A path inside the working directory is relative to SRCROOT; any other is an absolute file URI,
    which takes no ``uriBaseId`` (SARIF resolves a base only against relative URIs)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    if rel.startswith("..") or Path(rel).is_absolute():
        return {"uri": Path(path).resolve().as_uri()}
    return {"uri": quote(Path(rel).as_posix(), safe="/"), "uriBaseId": "SRCROOT"}
