"""Time evaluating a 50-rule policy (25 built-in, 25 CEL) over a realistic evidence document.

    python bench/policy_eval.py [--runs 200] [--findings 200] [--files 50] [--json out.json]

The claim (issue 5): evaluating a policy of 50 rules over the evidence takes under 50 ms. Prints the
one-off cost of loading the policy (YAML, schema, CEL environment and compilation), the first
evaluation, and the median and 95th percentile of ``--runs`` evaluations, with the ratio of the median
to the 50 ms target. Evaluation includes validating the evidence document, as ``mlwarden gate`` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

TARGET_MS = 50.0

CEL_RULES = [
    "evidence.scan.findings.all(f, severity[f.severity] < severity.critical)",
    "evidence.subject.files.all(f, f.size < 100000000000)",
    "evidence.subject.files.exists(f, f.format == 'json')",
    "evidence.signatures.verified && now > timestamp('2026-01-01T00:00:00Z')",
    "size(evidence.scan.findings) == evidence.scan.counts.info + evidence.scan.counts.low"
    " + evidence.scan.counts.medium + evidence.scan.counts.high + evidence.scan.counts.critical",
]
BUILTIN_RULES = [
    "{type: max_severity, max: critical}",
    "{type: signatures, min: 1}",
    "{type: formats, deny: [pickle-based]}",
    "{type: capability, max_severity: medium, unless_approved: true}",
    "{type: license, deny: ['cc-by-nc-*', 'gpl-*']}",
]
WAIVERS = [
    "{rule: rule-0, finding: rule/3, file: 'shard-00*', owner: ana, reason: known, expires: 2027-01-01}",
    "{rule: rule-1, owner: bo, reason: rotation, expires: 2027-01-01}",
]


def policy_text() -> str:
    bodies = [rule[1:-1] for rule in BUILTIN_RULES] + [f"type: cel, expr: {expr!r}" for expr in CEL_RULES]
    rules = [f"  - {{id: rule-{i}, {bodies[i % len(bodies)]}}}" for i in range(50)]
    return (
        "apiVersion: mlwarden.dev/policy/v1\nkind: Policy\nname: bench\n"
        f"roles:\n  approvers:\n    keys: ['{'2' * 64}']\n"
        "rules:\n" + "\n".join(rules) + "\nwaivers:\n" + "\n".join(f"  - {w}" for w in WAIVERS) + "\n"
    )


def evidence(findings: int, files: int) -> dict[str, Any]:
    """A signed, attested face-swap model with an approval, many shards and many low findings."""
    principal = {"method": "key", "identity": "1" * 64, "issuer": None}
    approver = {"method": "key", "identity": "2" * 64, "issuer": None}
    shards = [
        {"path": f"shard-{i:03}.safetensors", "size": 1 << 30, "format": "safetensors"}
        for i in range(files - 1)
    ]
    severities = ["info", "low", "medium", "high"]
    listed = [
        {
            "rule_id": f"rule/{i % 17}",
            "severity": severities[i % 4],
            "message": "an observation about a tensor header",
            "file": shards[i % len(shards)]["path"],
            "member": None,
            "construct": None,
        }
        for i in range(findings)
    ]
    counts = {
        s: sum(f["severity"] == s for f in listed) for s in ["info", "low", "medium", "high", "critical"]
    }
    return {
        "evidence_version": 1,
        "time": "2026-11-28T12:00:00Z",
        "subject": {
            "path": "models/big",
            "name": "big",
            "root_digest": "a" * 64,
            "hash_algorithm": "sha256",
            "total_bytes": sum(s["size"] for s in shards) + 500,
            "files": [*shards, {"path": "config.json", "size": 500, "format": "json"}],
            "formats": ["json", "safetensors"],
        },
        "scan": {"max_severity": "high" if findings > 3 else "none", "counts": counts, "findings": listed},
        "capability": {
            "severity": "high",
            "capabilities": ["face_swap"],
            "families": [
                {"family": "inswapper", "capability": "face_swap", "confidence": 0.97, "severity": "high"}
            ],
        },
        "signatures": {"verified": True, "error": None, "signers": [principal]},
        "attestations": [
            {
                "kind": "provenance",
                "predicate_type": "https://slsa.dev/provenance/v1",
                "file": "att/provenance.att.json",
                "signer": principal,
                "predicate": {"runDetails": {"builder": {"id": "https://ci.example.com/builder"}}},
            }
        ],
        "approvals": [
            {
                "approver": approver,
                "root_digest": "a" * 64,
                "reason": "research use",
                "scope": None,
                "created": "2026-11-01T00:00:00Z",
                "expires": "2027-01-01T00:00:00Z",
                "file": "approval.att.json",
            }
        ],
        "metadata": {"license": "apache-2.0", "model_type": "inswapper", "architectures": [], "sources": []},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--findings", type=int, default=200)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    started = time.perf_counter()
    from mlwarden.policy import Policy, evaluate

    imported = time.perf_counter()
    policy = Policy.from_yaml(policy_text(), "bench.yaml")
    loaded = time.perf_counter()
    doc = evidence(args.findings, args.files)
    first_start = time.perf_counter()
    decision = evaluate(policy, doc)
    first = time.perf_counter() - first_start
    assert len(decision.outcomes) == 50, len(decision.outcomes)
    runs = []
    for _ in range(args.runs):
        t = time.perf_counter()
        evaluate(policy, doc)
        runs.append(time.perf_counter() - t)
    runs.sort()
    median_ms = statistics.median(runs) * 1000
    p95_ms = runs[int(len(runs) * 0.95) - 1] * 1000
    figures = {
        "rules": 50,
        "findings": args.findings,
        "files": args.files,
        "import_ms": (imported - started) * 1000,
        "load_and_compile_ms": (loaded - imported) * 1000,
        "first_evaluation_ms": first * 1000,
        "median_ms": median_ms,
        "p95_ms": p95_ms,
        "target_ms": TARGET_MS,
        "median_over_target": median_ms / TARGET_MS,
        "decision": "allow" if decision.allowed else "deny",
        "outcomes": decision.counts(),
    }
    print(f"50 rules (25 built-in, 25 CEL) over {args.findings} findings and {args.files} files")
    print(f"  import mlwarden.policy     {figures['import_ms']:8.1f} ms (once per process)")
    print(f"  load + compile the policy  {figures['load_and_compile_ms']:8.1f} ms (once per policy)")
    print(f"  first evaluation           {first * 1000:8.2f} ms")
    print(f"  median of {args.runs} evaluations {median_ms:8.2f} ms   p95 {p95_ms:.2f} ms")
    print(f"  median / 50 ms target      {median_ms / TARGET_MS:8.3f}   ({decision.summary()})")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
