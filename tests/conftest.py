"""Shared fixtures: real files written to tmp_path, and a helper to scan them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

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


REPO = Path(__file__).resolve().parents[1]


def load_script(name: str, folder: str = "scripts") -> ModuleType:
    """Import ``<folder>/<name>.py`` (generators, the fuzzer) as a module named ``name``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def findings_of(report: ScanReport, at_least: Severity = Severity.INFO) -> list[Finding]:
    """Findings at or above a severity."""
    return [f for f in report.all_findings() if f.severity >= at_least]


def constructs(report: ScanReport, at_least: Severity = Severity.HIGH) -> set[str]:
    """The constructs (callables, members) of findings at or above a severity."""
    return {f.construct for f in findings_of(report, at_least) if f.construct}


def scan(path: Path) -> ScanReport:
    """Scan with default settings."""
    return scan_path(path)
