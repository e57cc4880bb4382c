"""Classify paths (scanning them for structure first) or an existing scan report, bundle by bundle."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwarden.capability.catalog import Catalog
from mlwarden.capability.classifier import BundleResult, classify_evidence
from mlwarden.capability.evidence import collect
from mlwarden.errors import ConfigError
from mlwarden.scanning import FileReport, ScanConfig, ScanReport, scan_paths


@dataclass(frozen=True, slots=True)
class CapabilityConfig:
    """Extra catalogues and how large a file may be to be hashed for exact-file indicators."""

    catalogs: tuple[Path, ...] = ()
    hash_up_to: int = 0
    """Hash files up to this size for exact-file (sha256) indicators; 0 (default) reads no tensor data."""
    each: bool = False
    """Treat every entry directly inside a given directory as its own bundle (a model zoo)."""

    @classmethod
    def from_settings(cls, section: dict[str, Any]) -> CapabilityConfig:
        """From the ``[capability]`` settings section."""
        unknown = set(section) - {"catalogs", "hash_up_to", "each"}
        if unknown:
            raise ConfigError(
                f"unknown [capability] setting(s): {', '.join(sorted(unknown))}",
                hint="valid keys: catalogs, hash_up_to, each",
            )
        try:
            return cls(
                catalogs=tuple(Path(p) for p in section.get("catalogs", ())),
                hash_up_to=int(section.get("hash_up_to", 0)),
                each=bool(section.get("each", False)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid [capability] setting: {exc}", hint="check the value types") from None


@dataclass(slots=True)
class CapabilityReport:
    """Capability of each bundle, with the catalogue version that judged it."""

    catalog_version: str
    bundles: list[BundleResult] = field(default_factory=list)

    @property
    def severity(self) -> str:
        """Highest bundle severity, or 'none'."""
        order = ("none", "low", "medium", "high")
        return max((b.severity for b in self.bundles), key=order.index, default="none")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "catalog_version": self.catalog_version,
            "severity": self.severity,
            "bundles": [b.to_dict() for b in self.bundles],
        }


def classify(
    paths: Sequence[str | os.PathLike[str]],
    config: CapabilityConfig | None = None,
    scan_config: ScanConfig | None = None,
) -> CapabilityReport:
    """Read the structure of each path (headers, pickles, graphs; never tensor data) and classify it."""
    report = scan_paths(paths, scan_config)
    return classify_scan(report, config)


def classify_scan(report: ScanReport, config: CapabilityConfig | None = None) -> CapabilityReport:
    """Classify the bundles of a scan that already ran: no file is read again except to hash small ones."""
    config = config or CapabilityConfig()
    catalog = Catalog.load(config.catalogs)
    result = CapabilityReport(catalog_version=catalog.version)
    for root, files in _bundles(report, each=config.each):
        evidence = collect(root, files, hash_up_to=config.hash_up_to)
        result.bundles.append(classify_evidence(evidence, catalog))
    return result


def _bundles(report: ScanReport, *, each: bool) -> list[tuple[str, list[FileReport]]]:
    """Group files by the root they were found under (or by each entry of a root, with ``each``)."""
    roots = [Path(r) for r in report.roots]
    groups: dict[str, list[FileReport]] = {}
    for file in report.files:
        path = Path(file.path)
        root = next((r for r in roots if path == r or r in path.parents), path)
        if each and root.is_dir() and path != root:
            root = root / path.relative_to(root).parts[0]
        groups.setdefault(str(root), []).append(file)
    return list(groups.items())
