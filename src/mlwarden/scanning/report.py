"""Scan results: one ``FileReport`` per top-level file, gathered in a ``ScanReport``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mlwarden import __version__
from mlwarden.core.types import Finding, Severity

REPORT_SCHEMA_VERSION = "1"


@dataclass(slots=True)
class FileReport:
    """What was learnt about one top-level file (and every member inside it)."""

    path: str
    size: int
    format: str
    findings: list[Finding] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def max_severity(self) -> Severity | None:
        """Highest severity among the findings, or None when there are none."""
        return max((f.severity for f in self.findings), default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        top = self.max_severity
        return {
            "path": self.path,
            "size": self.size,
            "format": self.format,
            "member_formats": {k: v for k, v in self.formats.items() if k},
            "max_severity": top.label if top is not None else None,
            "seconds": round(self.seconds, 6),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(slots=True)
class ScanReport:
    """The result of scanning one or more paths."""

    roots: list[str]
    files: list[FileReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """Findings about the paths themselves (symlinks, unreadable entries), not file content."""
    seconds: float = 0.0

    def all_findings(self) -> list[Finding]:
        """Every finding, path-level first, then per file in scan order."""
        out = list(self.findings)
        for file in self.files:
            out.extend(file.findings)
        return out

    @property
    def max_severity(self) -> Severity | None:
        """Highest severity of any finding, or None when there are none."""
        return max((f.severity for f in self.all_findings()), default=None)

    def fails(self, threshold: Severity) -> bool:
        """Whether any finding is at or above ``threshold``."""
        top = self.max_severity
        return top is not None and top >= threshold

    def severity_counts(self) -> dict[str, int]:
        """Finding count per severity label, every label present."""
        counts = Counter(f.severity for f in self.all_findings())
        return {s.label: counts.get(s, 0) for s in Severity}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; schema in docs/scan-report.schema.json."""
        top = self.max_severity
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "tool": {"name": "mlwarden", "version": __version__},
            "roots": self.roots,
            "seconds": round(self.seconds, 6),
            "summary": {
                "files": len(self.files),
                "bytes": sum(f.size for f in self.files),
                "max_severity": top.label if top is not None else None,
                "by_severity": self.severity_counts(),
            },
            "findings": [f.to_dict() for f in self.findings],
            "files": [f.to_dict() for f in self.files],
        }
