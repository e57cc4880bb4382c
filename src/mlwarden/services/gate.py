"""The gate: collect every piece of evidence about a model once, then let a policy decide.

Evidence (docs/evidence.schema.json) comes from one pass over the bytes: the scan runs on a second
thread while the model is hashed for its signatures, and the capability classifier reuses the scan's
structure. Signatures and attestations are authenticated here, against the trust anchors the caller
gives; the policy only ever sees what verified, plus the reason anything did not.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlwarden.errors import MlwardenError
from mlwarden.hashing import HashingConfig, HashingError, Manifest, hash_model
from mlwarden.services.approve import APPROVAL_PREDICATE_TYPE
from mlwarden.services.attest import Attestation, AttestationCheck, collect_attestations
from mlwarden.signing import Trust, VerificationError, pair_signatures, verify_all

if TYPE_CHECKING:
    from mlwarden.capability import CapabilityReport
    from mlwarden.policy import Decision, Policy
    from mlwarden.scanning import ScanReport

EVIDENCE_VERSION = 1
_SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass
class GateRequest:
    """What to gate, under which policy, trusting whom."""

    path: Path
    policy: str  # a shipped policy name or a policy file
    signatures: Sequence[bytes] = ()
    trust: Sequence[Trust] = ()
    attestations: Path | None = None
    attestation_trust: Sequence[Trust] | None = None  # default: ``trust``
    opa_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    now: dt.datetime | None = None
    # Digests the caller computed itself from the bytes it wrote (the registry's upload receiver), reused
    # for files whose stat is unchanged; never digests a client or a file claims.
    known_digests: Manifest | None = None


@dataclass
class GateResult:
    """The decision and the evidence it was taken on."""

    decision: Decision
    evidence: dict[str, Any]


def run_gate(request: GateRequest) -> GateResult:
    """Collect the evidence and evaluate the policy (or ask OPA); never raises for a deny.

    The policy is imported, parsed and compiled on a second thread while the model is hashed, so the
    gate costs little more than the hash. Raises ``InvalidPolicyError`` for a missing, empty or invalid
    policy (callers deny).
    """
    if not request.path.exists():
        raise MlwardenError(f"{request.path} does not exist", hint="give the model directory or file to gate")
    if request.opa_url:
        from mlwarden.policy.opa import evaluate_opa  # noqa: PLC0415

        evidence = collect_evidence(request)
        return GateResult(evaluate_opa(request.opa_url, evidence), evidence)
    if not _policy_exists(request.policy):
        _load_policy(request.policy)  # raises now, before any byte is hashed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlw-gate-policy") as pool:
        loading = pool.submit(_load_policy, request.policy)
        evidence = collect_evidence(request)
        policy = loading.result()
    from mlwarden.policy import evaluate  # noqa: PLC0415

    return GateResult(evaluate(policy, evidence), evidence)


_POLICIES: dict[tuple[str, int, int], Policy] = {}
_POLICIES_LOCK = threading.Lock()


def preload(policy: str) -> None:
    """Import what the gate needs and compile ``policy`` (for a resident service, at start-up)."""
    import mlwarden.capability  # noqa: PLC0415
    import mlwarden.scanning  # noqa: F401, PLC0415

    _load_policy(policy)


def _load_policy(name: str) -> Policy:
    """Load (parse, validate, compile CEL) once per policy file version: a resident registry gates
    every push and promotion, and compiling costs more than gating a model with known digests."""
    from mlwarden.policy import load_policy  # noqa: PLC0415

    try:
        st = Path(name).stat()
        key = (str(Path(name).resolve()), st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):
        key = (name, 0, 0)  # a shipped policy: fixed for this installation
    with _POLICIES_LOCK:
        cached = _POLICIES.get(key)
    if cached is None:
        cached = load_policy(name)
        with _POLICIES_LOCK:
            _POLICIES[key] = cached
    return cached


def _policy_exists(name: str) -> bool:
    shipped = Path(__file__).resolve().parents[1] / "policy" / "shipped" / f"{name}.yaml"
    return Path(name).is_file() or shipped.is_file()


def collect_evidence(request: GateRequest) -> dict[str, Any]:
    """The evidence document (version 1) for ``request.path``."""
    now = (request.now or dt.datetime.now(dt.UTC)).replace(microsecond=0)

    def scan_and_classify() -> tuple[ScanReport, CapabilityReport]:
        # Imported here too, so that loading the scanner overlaps hashing.
        from mlwarden.capability import CapabilityConfig, classify_scan  # noqa: PLC0415
        from mlwarden.scanning import ScanConfig, scan_paths  # noqa: PLC0415

        report = scan_paths([request.path], ScanConfig.from_settings(request.settings.get("scan", {})))
        config = CapabilityConfig.from_settings(request.settings.get("capability", {}))
        return report, classify_scan(report, config)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlw-gate-scan") as pool:
        scanning = pool.submit(scan_and_classify)  # reads headers and graphs while the bytes are hashed
        manifest, signatures = _hash_and_verify(request)
        report, capability = scanning.result()
    attestations, approvals = _attestations(request, manifest)
    return {
        "evidence_version": EVIDENCE_VERSION,
        "time": _rfc3339(now),
        "subject": _subject(request.path, manifest, report),
        "scan": _scan(report, request.path),
        "capability": _capability(capability),
        "signatures": signatures,
        "attestations": attestations,
        "approvals": approvals,
        "metadata": model_metadata(request.path),
    }


def _hash_and_verify(request: GateRequest) -> tuple[Manifest | None, dict[str, Any]]:
    """Verify the signatures (hashing once), or just hash when there are none or they fail."""
    signatures: dict[str, Any] = {"verified": False, "error": None, "signers": []}
    if request.signatures:
        try:
            verified = verify_all(
                request.path,
                pair_signatures(request.signatures, request.trust),
                previous=request.known_digests,
            )
        except VerificationError as err:
            signatures["error"] = err.message
        except MlwardenError as err:  # no trust anchor, unreadable key: the signature cannot count
            signatures["error"] = err.message
        else:
            signatures["verified"] = True
            signatures["signers"] = [
                {"method": s.method, "identity": s.identity, "issuer": s.issuer} for s in verified.signers
            ]
            return verified.manifest, signatures
    else:
        signatures["error"] = "no signature given"
    try:
        return hash_model(request.path, HashingConfig(), previous=request.known_digests), signatures
    except HashingError as err:
        signatures["error"] = signatures["error"] or err.message
        return None, signatures


def _attestations(
    request: GateRequest, manifest: Manifest | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if request.attestations is None or manifest is None:
        return [], []
    anchors = request.attestation_trust if request.attestation_trust is not None else request.trust
    check = collect_attestations(request.attestations, manifest.root_digest, list(anchors))
    attestations = [_attestation(a) for a in [*check.found, *_linked_datasets(check)]]
    approvals = [
        _approval(a, digest)
        for a in [*check.found, *check.foreign]
        if a.predicate_type == APPROVAL_PREDICATE_TYPE and isinstance(a.predicate.get("created"), str)
        for digest in a.subject_digests
    ]
    return attestations, approvals


def _linked_datasets(check: AttestationCheck) -> list[Attestation]:
    """Dataset manifests are about the data (their subject is its Merkle root), not the model; they
    count for the model when a verified provenance attestation of the model names them as inputs."""
    inputs = {
        dep["digest"]["sha256"]
        for a in check.found
        if a.kind == "provenance"
        for dep in a.predicate.get("buildDefinition", {}).get("resolvedDependencies", [])
        if isinstance(dep, dict) and isinstance(dep.get("digest"), dict) and "sha256" in dep["digest"]
    }
    return [a for a in check.foreign if a.kind == "dataset" and inputs & set(a.subject_digests)]


def _signer(attestation: Attestation) -> dict[str, Any]:
    s = attestation.signer
    return {"method": s.method, "identity": s.identity, "issuer": s.issuer}


def _attestation(a: Attestation) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "predicate_type": a.predicate_type,
        "file": a.source,
        "signer": _signer(a),
        "predicate": a.predicate,
    }


def _approval(a: Attestation, digest: str) -> dict[str, Any]:
    p = a.predicate
    return {
        "approver": _signer(a),
        "root_digest": digest,
        "reason": str(p.get("reason", "")),
        "scope": p.get("scope") if isinstance(p.get("scope"), str) else None,
        "created": p["created"],
        "expires": p.get("expires") if isinstance(p.get("expires"), str) else None,
        "file": a.source,
    }


def _subject(path: Path, manifest: Manifest | None, report: ScanReport) -> dict[str, Any]:
    root = path.resolve()
    files = []
    formats: set[str] = set()
    for file in report.files:
        rel = _relative(file.path, path)
        inside = sorted({v for k, v in file.formats.items() if k} - {file.format})
        files.append({"path": rel, "size": file.size, "format": file.format, "contains": inside})
        formats.add(file.format)
        formats.update(inside)
    return {
        "path": str(path),
        "name": root.name,
        "root_digest": manifest.root_digest if manifest else None,
        "hash_algorithm": manifest.config.algorithm if manifest else "sha256",
        "total_bytes": sum(f["size"] for f in files),
        "files": sorted(files, key=lambda f: f["path"]),
        "formats": sorted(formats),
    }


def _relative(file: str, path: Path) -> str:
    """A scanned path relative to the gated directory, as the signed manifest names it."""
    if not path.is_dir():
        return path.name if Path(file) == path else file
    try:
        return Path(file).resolve().relative_to(path.resolve()).as_posix()
    except (ValueError, OSError):
        return file


def _scan(report: ScanReport, path: Path) -> dict[str, Any]:
    findings = report.all_findings()
    counts = dict.fromkeys(_SEVERITIES, 0)
    for finding in findings:
        counts[finding.severity.label] += 1
    top = report.max_severity
    return {
        "max_severity": top.label if top is not None else "none",
        "counts": counts,
        "findings": [
            {
                "rule_id": f.rule_id,
                "severity": f.severity.label,
                "message": f.message,
                "file": _relative(f.file, path),
                "member": f.member,
                "construct": f.construct,
            }
            for f in findings
        ],
    }


def _capability(report: CapabilityReport) -> dict[str, Any]:
    families = [
        {
            "family": d.family,
            "capability": d.capability,
            "confidence": round(d.confidence, 3),
            "severity": d.severity,
        }
        for bundle in report.bundles
        for d in bundle.reported
        if d.capability
    ]
    return {
        "severity": report.severity,
        "capabilities": sorted({f["capability"] for f in families if f["capability"]}),
        "families": families,
    }


def model_metadata(path: Path) -> dict[str, Any]:
    """Licence and architecture from ``config.json`` and the model card's front matter (README.md)."""
    meta: dict[str, Any] = {"license": None, "model_type": None, "architectures": [], "sources": []}
    if not path.is_dir():
        return meta
    config = _read_small(path / "config.json")
    if config:
        try:
            doc = json.loads(config)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            meta["sources"].append("config.json")
            if isinstance(doc.get("license"), str):
                meta["license"] = doc["license"]
            if isinstance(doc.get("model_type"), str):
                meta["model_type"] = doc["model_type"]
            arch = doc.get("architectures")
            if isinstance(arch, list):
                meta["architectures"] = [a for a in arch if isinstance(a, str)]
    card = _front_matter(_read_small(path / "README.md"))
    if card:
        meta["sources"].append("README.md")
        if isinstance(card.get("license"), str):
            meta["license"] = card["license"]  # the model card is where hubs keep the licence
    return meta


def _read_small(path: Path, limit: int = 1 << 20) -> str | None:
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > limit:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _front_matter(text: str | None) -> dict[str, Any] | None:
    """Top-level ``key: value`` scalars of a Hugging Face model card's front matter.

    Only plain scalars are read (``license: apache-2.0``); a YAML library would cost more to import
    than the whole rest of the metadata step, and nested keys are not needed here.
    """
    if not text or not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    fields: dict[str, Any] = {}
    for line in text[3:end].splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key[0].isspace() and not key.startswith("#"):
            value = value.split(" #", 1)[0].strip().strip("\"'")
            if value:
                fields[key.strip()] = value
    return fields


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_when(text: str) -> dt.datetime:
    """A date (``2026-12-31``, end of that day UTC) or an RFC 3339 time."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MlwardenError(f"invalid date {text!r}", hint="use YYYY-MM-DD or an RFC 3339 time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
