"""A decision for people (a rich table) and for machines (JSON, SARIF 2.1.0 for code scanning).

SARIF: every rule of the policy is a ``reportingDescriptor``; every failed rule is a result (level
``error`` when it denies, ``warning`` when it only warns), located at the files it objects to, else at
the model. A waived rule is a result with an accepted external suppression, so code scanning shows it as
dismissed with the waiver's owner and reason rather than hiding it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from mlwarden.core.sarif import artifact_location, sarif_log
from mlwarden.errors import UsageError
from mlwarden.policy.decision import Decision, Outcome, RuleOutcome

FORMATS = ("table", "json", "sarif")
_STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.WAIVED: "cyan",
    Outcome.ERROR: "bold magenta",
    Outcome.SKIPPED: "dim",
}


def render_decision(decision: Decision, fmt: str, out: TextIO) -> None:
    """Write ``decision`` to ``out`` as ``table``, ``json`` or ``sarif``."""
    if fmt == "json":
        json.dump(decision.to_dict(), out, indent=2)
        out.write("\n")
    elif fmt == "sarif":
        json.dump(to_sarif(decision), out, indent=2)
        out.write("\n")
    elif fmt == "table":
        _table(decision, out)
    else:
        raise UsageError(f"unknown decision format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")


def _table(decision: Decision, out: TextIO) -> None:
    from rich.console import Console  # noqa: PLC0415 - only people's output pays for rich
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=out, soft_wrap=False, highlight=False, width=None if out.isatty() else 160)
    title = f"policy {escape(decision.policy or decision.source)}" + (
        " (warn only)" if decision.mode == "warn" else ""
    )
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("rule", overflow="fold")
    table.add_column("type", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for outcome in decision.outcomes:
        style = "yellow" if outcome.failed and not outcome.blocking else _STYLE[outcome.outcome]
        label = outcome.outcome.value + (" (warn)" if outcome.failed and not outcome.blocking else "")
        table.add_row(escape(outcome.rule_id), outcome.type, f"[{style}]{label}[/]", escape(outcome.reason))
    console.print(table)
    for used in decision.waivers_used:
        console.print(
            f"[cyan]waiver[/] {escape(used.rule)} by {escape(used.owner)} until {used.expires}: "
            f"{escape(used.reason)} ({len(used.waived)} waived)"
        )
    for expired in decision.expired_waivers:
        console.print(
            f"[red]expired waiver[/] {escape(expired.rule)} ({escape(expired.owner)}, {expired.expires})"
        )
    verdict = (
        "green" if decision.allowed and not decision.failed else ("yellow" if decision.allowed else "red")
    )
    console.print(f"[bold {verdict}]{escape(decision.summary())}[/]")


def to_sarif(decision: Decision) -> dict[str, Any]:
    """The decision as a SARIF 2.1.0 log (one run)."""
    index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for outcome in decision.outcomes:
        if outcome.rule_id in index:
            continue
        index[outcome.rule_id] = len(rules)
        text = outcome.description or f"mlwarden policy rule of type {outcome.type}"
        rules.append(
            {
                "id": outcome.rule_id,
                "name": outcome.rule_id.replace("/", "-"),
                "shortDescription": {"text": text},
                "help": {
                    "text": "see docs/policy.md; fix the model or add a waiver with owner, reason and expiry"
                },
                "defaultConfiguration": {"level": "error" if outcome.enforcement == "enforce" else "warning"},
                "properties": {"type": outcome.type, "tags": ["security", "policy"]},
            }
        )
    results = [
        _result(decision, outcome, index[outcome.rule_id])
        for outcome in decision.outcomes
        if outcome.failed or outcome.outcome is Outcome.WAIVED
    ]
    properties = {
        "decision": "allow" if decision.allowed else "deny",
        "policy": decision.policy,
        "mode": decision.mode,
        "engine": decision.engine,
        "rootDigest": decision.root_digest,
    }
    return sarif_log(rules, results, properties)


def _result(decision: Decision, outcome: RuleOutcome, rule_index: int) -> dict[str, Any]:
    paths = [_artifact(decision.subject_path, f) for f in outcome.files] or [decision.subject_path or "."]
    result: dict[str, Any] = {
        "ruleId": outcome.rule_id,
        "ruleIndex": rule_index,
        "level": "error" if outcome.blocking else ("warning" if outcome.failed else "note"),
        "message": {"text": outcome.reason or outcome.outcome.value},
        "locations": [{"physicalLocation": {"artifactLocation": artifact_location(p)}} for p in paths[:10]],
        "properties": {"outcome": outcome.outcome.value, "enforcement": outcome.enforcement},
    }
    if decision.root_digest:
        result["partialFingerprints"] = {"mlwardenRootDigest/v1": f"{decision.root_digest}:{outcome.rule_id}"}
    if outcome.outcome is Outcome.WAIVED:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{w.reason} (owner {w.owner}, expires {w.expires})",
            }
            for w in outcome.waivers
        ] or [{"kind": "external", "status": "accepted"}]
    return result


def _artifact(subject: str | None, file: str) -> str:
    """A file named relative to the subject, as a path from here; a file subject names itself."""
    if subject is None:
        return file
    base = Path(subject)
    if base.name == file or base.as_posix() == file:
        return subject
    return (base / file).as_posix()
