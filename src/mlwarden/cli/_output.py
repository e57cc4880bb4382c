"""Renderers for scan reports: a table for people, JSON and SARIF 2.1.0 for machines."""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any, TextIO

from mlwarden.core.sarif import artifact_location, sarif_log
from mlwarden.core.types import Finding, Severity
from mlwarden.scanning import ScanReport

if TYPE_CHECKING:
    from mlwarden.capability import CapabilityReport, Hit

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


def render(
    report: ScanReport,
    fmt: OutputFormat,
    out: TextIO,
    *,
    threshold: Severity,
    capability: CapabilityReport | None = None,
) -> None:
    """Write ``report`` (with its capability section, if any) to ``out`` in ``fmt``."""
    if fmt is OutputFormat.JSON:
        doc = report.to_dict()
        if capability is not None:
            doc["capability"] = capability.to_dict()
        json.dump(doc, out, indent=2)
        out.write("\n")
    elif fmt is OutputFormat.SARIF:
        json.dump(to_sarif(report, capability), out, indent=2)
        out.write("\n")
    else:
        _table(report, out, threshold)
        if capability is not None:
            _capability_table(capability, out, only_reported=True)


def render_capability(report: CapabilityReport, fmt: OutputFormat, out: TextIO) -> None:
    """Write a capability report on its own (``mlwarden classify``)."""
    if fmt is OutputFormat.JSON:
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    elif fmt is OutputFormat.SARIF:
        json.dump(_sarif_log([], capability=report), out, indent=2)
        out.write("\n")
    else:
        _capability_table(report, out, only_reported=False)


_CAP_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "none": "green"}


def _capability_table(report: CapabilityReport, out: TextIO, *, only_reported: bool) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=out, soft_wrap=False, highlight=False, width=None if out.isatty() else 140)
    bundles = [b for b in report.bundles if b.reported or not only_reported]
    if not bundles:
        return
    table = Table(title="deepfake capability", title_justify="left", header_style="bold")
    table.add_column("bundle", overflow="fold")
    table.add_column("severity", no_wrap=True)
    table.add_column("capability")
    table.add_column("family", overflow="fold")
    table.add_column("conf.", justify="right")
    table.add_column("strongest evidence", overflow="fold")
    for bundle in bundles:
        best = bundle.reported[0] if bundle.reported else None
        evidence = ""
        if best is not None:
            evidence = "; ".join(_describe_hit(h) for h in _strongest(best.hits, 2))
        labels = ", ".join(bundle.labels) or (f"possibly {best.capability}" if best is not None else "none")
        table.add_row(
            bundle.path,
            f"[{_CAP_STYLE[bundle.severity]}]{bundle.severity}[/]",
            labels,
            best.family if best is not None else "",
            f"{best.confidence:.2f}" if best else "",
            evidence,
        )
    console.print(table)
    console.print(
        f"[dim]catalogue {report.catalog_version}; capability is evidence for the policy, "
        "not a verdict on its own[/]"
    )


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


def to_sarif(report: ScanReport, capability: CapabilityReport | None = None) -> dict[str, Any]:
    """SARIF 2.1.0 log with one run; rules are the distinct rule ids found."""
    return _sarif_log(report.all_findings(), capability=capability)


def _strongest(hits: tuple[Hit, ...], n: int) -> list[Hit]:
    """Structural evidence first (names only help), strongest first."""
    return sorted(hits, key=lambda h: (h.kind in ("filename_regex", "sha256"), -h.weight))[:n]


def _describe_hit(hit: Hit) -> str:
    return hit.matched if hit.matched == hit.part else f"{hit.matched} in {hit.part}"


def _capability_findings(capability: CapabilityReport) -> list[Finding]:
    levels = {"high": Severity.HIGH, "medium": Severity.MEDIUM, "low": Severity.LOW}
    out: list[Finding] = []
    for bundle in capability.bundles:
        for detection in bundle.reported:
            top = _strongest(detection.hits, 3)
            out.append(
                Finding(
                    rule_id=f"capability/{detection.capability}",
                    severity=levels[detection.severity],
                    message=f"{detection.status} {detection.capability} model ({detection.family}, "
                    f"confidence {detection.confidence:.2f}): " + "; ".join(_describe_hit(h) for h in top),
                    file=bundle.path,
                    construct=detection.family,
                    remediation="deploy only with an approval attestation for this exact model digest",
                    scanner="capability",
                )
            )
    return out


def _sarif_log(findings: list[Finding], *, capability: CapabilityReport | None) -> dict[str, Any]:
    if capability is not None:
        findings = findings + _capability_findings(capability)
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
    return sarif_log(list(rules.values()), results)


def _sarif_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": artifact_location(finding.file)}
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
