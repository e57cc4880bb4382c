"""Shared fixtures: real files written to tmp_path, and a helper to scan them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlwarden.scanning import Finding, ScanReport, Severity, scan_path


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write bytes to a file under tmp_path and return its path."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return _write


def findings_of(report: ScanReport, at_least: Severity = Severity.INFO) -> list[Finding]:
    """Findings at or above a severity."""
    return [f for f in report.all_findings() if f.severity >= at_least]


def constructs(report: ScanReport, at_least: Severity = Severity.HIGH) -> set[str]:
    """The constructs (callables, members) of findings at or above a severity."""
    return {f.construct for f in findings_of(report, at_least) if f.construct}


def scan(path: Path) -> ScanReport:
    """Scan with default settings."""
    return scan_path(path)
