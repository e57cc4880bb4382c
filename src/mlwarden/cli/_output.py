"""Renderers for scan reports: a table for people, JSON and SARIF 2.1.0 for machines."""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Any, TextIO

from mlwarden import __version__
from mlwarden.core.types import Finding, Severity
from mlwarden.scanning import ScanReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


class OutputFormat(enum.StrEnum):
    """``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


def render(report: ScanReport, fmt: OutputFormat, out: TextIO, *, threshold: Severity) -> None:
    """Write ``report`` to ``out`` in ``fmt``."""
    if fmt is OutputFormat.JSON:
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    elif fmt is OutputFormat.SARIF:
        json.dump(to_sarif(report), out, indent=2)
        out.write("\n")
    else:
        _table(report, out, threshold)


def _table(report: ScanReport, out: TextIO, threshold: Severity) -> None:
    from rich.console import Console  # noqa: PLC0415 - only people's output pays for rich
    from rich.table import Table  # noqa: PLC0415

    width = None if out.isatty() else 140  # files and pipes get room for the location column
    console = Console(file=out, soft_wrap=False, highlight=False, width=width)
    findings = sorted(report.all_findings(), key=lambda f: (-f.severity, f.location))
    if findings:
        table = Table(show_lines=False, header_style="bold", expand=False)
        table.add_column("severity")
        table.add_column("location", overflow="fold")
        table.add_column("rule", no_wrap=True)
        table.add_column("what", overflow="fold")
        for finding in findings:
            table.add_row(
                f"[{_STYLE[finding.severity]}]{finding.severity.label}[/]",
                _where(finding),
                finding.rule_id,
                finding.message,
            )
        console.print(table)
    counts = report.severity_counts()
    shown = ", ".join(f"{n} {label}" for label, n in reversed(counts.items()) if n) or "no findings"
    size = sum(f.size for f in report.files)
    verdict = "[bold red]UNSAFE[/]" if report.fails(threshold) else "[bold green]OK[/]"
    console.print(
        f"{verdict}  {len(report.files)} file(s), {_human(size)} in {report.seconds:.2f}s: {shown} "
        f"[dim](fails at {threshold.label} or above)[/]"
    )


def _where(finding: Finding) -> str:
    where = finding.location
    return f"{where} @{finding.offset}" if finding.offset is not None else where


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0 log with one run; rules are the distinct rule ids found."""
    findings = report.all_findings()
    rules: dict[str, dict[str, Any]] = {}
    for finding in findings:
        if finding.rule_id not in rules:
            rules[finding.rule_id] = {
                "id": finding.rule_id,
                "name": finding.rule_id.replace("/", "-"),
                "shortDescription": {"text": finding.rule_id.replace("/", ": ").replace("-", " ")},
                "fullDescription": {"text": finding.message},
                "help": {"text": finding.remediation or "see the mlwarden documentation"},
                "defaultConfiguration": {"level": _SARIF_LEVEL[finding.severity]},
                "properties": {
                    "security-severity": _SECURITY_SEVERITY[finding.severity],
                    "tags": ["security"],
                },
            }
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = [_sarif_result(f, index[f.rule_id]) for f in findings]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlwarden",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://github.com/mlwarden/mlwarden",
                        "rules": list(rules.values()),
                    }
                },
                "originalUriBaseIds": {"SRCROOT": {"uri": Path.cwd().as_uri() + "/"}},
                "results": results,
            }
        ],
    }


def _sarif_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": _uri(finding.file), "uriBaseId": "SRCROOT"}}
    if finding.offset is not None and finding.member is None:
        location["region"] = {"byteOffset": finding.offset}
    properties: dict[str, Any] = {"severity": finding.severity.label}
    if finding.member:
        properties["member"] = finding.member
    if finding.construct:
        properties["construct"] = finding.construct
        if finding.offset is not None:
            properties["memberOffset"] = finding.offset
    message = f"{finding.construct}: {finding.message}" if finding.construct else finding.message
    if finding.member:
        message = f"{message} (in {finding.member})"
    return {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": location}],
        "properties": properties,
    }


def _uri(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    if rel.startswith(".."):
        return Path(path).resolve().as_uri()
    return Path(rel).as_posix().replace("%", "%25").replace(" ", "%20").replace("#", "%23")
