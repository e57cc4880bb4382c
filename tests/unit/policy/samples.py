"""Evidence documents and policies for the policy tests: a clean, signed model, and ways to spoil it."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

DIGEST = "a" * 64
OTHER_DIGEST = "b" * 64
PUBLISHER_KEY = "1" * 64  # fingerprint of the key that signed the model
APPROVER_KEY = "2" * 64  # fingerprint of a key holding the approvers role
STRANGER_KEY = "3" * 64
TIME = "2026-11-28T12:00:00Z"
APPROVAL_TYPE = "https://mlwarden.dev/attestation/approval/v1"


def key(fingerprint: str) -> dict[str, Any]:
    return {"method": "key", "identity": fingerprint, "issuer": None}


def person(identity: str, issuer: str | None = "https://accounts.example.com") -> dict[str, Any]:
    return {"method": "sigstore", "identity": identity, "issuer": issuer}


def evidence(**changes: Any) -> dict[str, Any]:
    """A clean safetensors model signed by PUBLISHER_KEY; ``a__b=value`` replaces evidence[a][b]."""
    doc: dict[str, Any] = {
        "evidence_version": 1,
        "time": TIME,
        "subject": {
            "path": "models/face",
            "name": "face",
            "root_digest": DIGEST,
            "hash_algorithm": "sha256",
            "total_bytes": 1234,
            "files": [
                {"path": "model.safetensors", "size": 1000, "format": "safetensors"},
                {"path": "config.json", "size": 234, "format": "json"},
            ],
            "formats": ["json", "safetensors"],
        },
        "scan": {
            "max_severity": "none",
            "counts": {"info": 0, "low": 0, "medium": 0, "high": 0, "critical": 0},
            "findings": [],
        },
        "capability": {"severity": "none", "capabilities": [], "families": []},
        "signatures": {"verified": True, "error": None, "signers": [key(PUBLISHER_KEY)]},
        "attestations": [],
        "approvals": [],
        "metadata": {
            "license": "apache-2.0",
            "model_type": "bert",
            "architectures": ["BertModel"],
            "sources": [],
        },
    }
    for name, value in changes.items():
        target = doc
        *path, last = name.split("__")
        for part in path:
            target = target[part]
        target[last] = copy.deepcopy(value)
    return doc


def finding(
    severity: str,
    rule_id: str = "pickle/dangerous-global",
    file: str = "model.pkl",
    construct: str | None = None,
) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "severity": severity,
        "message": f"a {severity} finding",
        "file": file,
        "member": None,
        "construct": construct,
    }


def with_findings(doc: dict[str, Any], *findings: dict[str, Any]) -> dict[str, Any]:
    """Set findings and keep counts and max_severity consistent with them."""
    order = ["none", "info", "low", "medium", "high", "critical"]
    scan = doc["scan"]
    scan["findings"] = list(findings)
    scan["counts"] = {s: sum(f["severity"] == s for f in findings) for s in order[1:]}
    scan["max_severity"] = max((f["severity"] for f in findings), key=order.index, default="none")
    return doc


def deepfake(doc: dict[str, Any], severity: str = "high") -> dict[str, Any]:
    doc["capability"] = {
        "severity": severity,
        "capabilities": ["face_swap"],
        "families": [
            {"family": "inswapper", "capability": "face_swap", "confidence": 0.97, "severity": severity}
        ],
    }
    return doc


def approval(
    approver: dict[str, Any],
    digest: str = DIGEST,
    *,
    expires: str | None = "2027-01-01T00:00:00Z",
    created: str = "2026-11-01T00:00:00Z",
    scope: str | None = None,
    file: str = "approval.att.json",
) -> dict[str, Any]:
    return {
        "approver": approver,
        "root_digest": digest,
        "reason": "research use under contract 42",
        "scope": scope,
        "created": created,
        "expires": expires,
        "file": file,
    }


def attestation(
    kind: str, predicate_type: str, predicate: dict[str, Any] | None = None, signer: str = PUBLISHER_KEY
) -> dict[str, Any]:
    return {
        "kind": kind,
        "predicate_type": predicate_type,
        "file": f"att/{kind}.att.json",
        "signer": key(signer),
        "predicate": predicate or {},
    }


def provenance(builder: str) -> dict[str, Any]:
    return attestation(
        "provenance",
        "https://slsa.dev/provenance/v1",
        {
            "buildDefinition": {"buildType": "https://mlwarden.dev/train/v1"},
            "runDetails": {"builder": {"id": builder}},
        },
    )


def policy(rules: str, *, extra: str = "", mode: str = "enforce") -> str:
    """A policy file with the given YAML rules list (indented or not) and extra top-level YAML."""
    return (
        "apiVersion: mlwarden.dev/policy/v1\nkind: Policy\nname: test\n"
        f"mode: {mode}\n"
        "roles:\n  approvers:\n    keys: ['" + APPROVER_KEY + "']\n"
        "    identities: [{identity: lead@example.com, issuer: https://accounts.example.com}]\n"
        "rules:\n" + textwrap.indent(textwrap.dedent(rules).strip("\n"), "  ") + "\n" + textwrap.dedent(extra)
    )
