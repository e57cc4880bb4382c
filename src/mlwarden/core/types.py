"""Frozen value types shared by all capabilities."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered finding severity; comparisons follow the order below."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity name case-insensitively; raises ``ValueError`` on anything else."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    @property
    def label(self) -> str:
        """Lower-case name, as used in every output format."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation about one file, or one member inside a container file.

    ``member`` is the path inside containers, outermost first, joined with ``!``
    (``archive/data.pkl`` or ``weights.tar!model.pt!archive/data.pkl``).
    ``construct`` is what was found: a callable's dotted name, an op type, a template construct.
    """

    rule_id: str
    severity: Severity
    message: str
    file: str
    member: str | None = None
    offset: int | None = None
    construct: str | None = None
    remediation: str = ""
    scanner: str = ""
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def location(self) -> str:
        """``file`` or ``file!member``, as printed to people."""
        return f"{self.file}!{self.member}" if self.member else self.file

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (schema: docs/scan-report.schema.json)."""
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "severity": self.severity.label,
            "message": self.message,
            "file": self.file,
            "member": self.member,
            "offset": self.offset,
            "construct": self.construct,
            "remediation": self.remediation,
            "scanner": self.scanner,
        }
        if self.details:
            out["details"] = self.details
        return out
