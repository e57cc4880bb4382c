"""Attestations: signed in-toto statements about a model, whose subject is the model's root digest.

Kinds and predicate types:

- ``scan``: ``https://mlwarden.dev/attestation/scan/v1``, the scan report (schema v1);
- ``capability``: ``https://mlwarden.dev/attestation/capability/v1``, the capability report;
- ``provenance``: ``https://slsa.dev/provenance/v1``, SLSA provenance (from ``mlwarden train``);
- anything else: a caller-given predicate type and predicate.

The subject is ``{"name": <model>, "digest": {"sha256": <OMS root digest>}}``, the same digest an OMS
signature of the model signs, so one verified signature binds every attestation to the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwarden.errors import UsageError
from mlwarden.hashing import HashingConfig, HashingError, Manifest, hash_model
from mlwarden.signing import Signer, SigningError, Trust, VerificationError, sign_statement, verify_statement
from mlwarden.signing.bundle import STATEMENT_TYPE

PREDICATE_TYPES = {
    "scan": "https://mlwarden.dev/attestation/scan/v1",
    "capability": "https://mlwarden.dev/attestation/capability/v1",
    "provenance": "https://slsa.dev/provenance/v1",
    "approval": "https://mlwarden.dev/attestation/approval/v1",
    "dataset": "https://mlwarden.dev/attestation/dataset-manifest/v1",
}
KINDS_BY_TYPE = {uri: kind for kind, uri in PREDICATE_TYPES.items()}


def model_statement(manifest: Manifest, predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1 about the hashed model."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": manifest.root_digest}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def evidence_predicate(kind: str, model_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Run the scan or the capability classification of ``model_path`` and return its report."""
    from mlwarden.capability import CapabilityConfig, classify_scan  # noqa: PLC0415
    from mlwarden.scanning import ScanConfig, scan_paths  # noqa: PLC0415

    report = scan_paths([model_path], ScanConfig.from_settings(settings.get("scan", {})))
    if kind == "scan":
        return report.to_dict()
    if kind == "capability":
        return classify_scan(report, CapabilityConfig.from_settings(settings.get("capability", {}))).to_dict()
    raise UsageError(
        f"cannot compute a {kind!r} attestation", hint="pass the predicate with --predicate FILE"
    )


def predicate_from_file(kind: str, raw: bytes) -> tuple[str, dict[str, Any]]:
    """Read a predicate (or an unsigned statement, whose predicate is taken) given by the user."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"--predicate is not JSON ({err})", hint="give a JSON object") from None
    if not isinstance(doc, dict):
        raise UsageError("--predicate is not a JSON object", hint="give a JSON object")
    if "dsseEnvelope" in doc:
        raise UsageError(
            "--predicate is a signed bundle", hint="give the unsigned statement or predicate to re-attest"
        )
    expected = PREDICATE_TYPES.get(kind, kind)
    if doc.get("_type") == STATEMENT_TYPE:
        if kind in PREDICATE_TYPES and doc.get("predicateType") != expected:
            raise UsageError(
                f"--predicate holds a {doc.get('predicateType')!r} statement, not {expected!r}",
                hint=f"give a {kind} statement",
            )
        predicate = doc.get("predicate")
        if not isinstance(predicate, dict):
            raise UsageError("--predicate statement has no predicate object", hint="give a JSON object")
        return str(doc.get("predicateType", expected)), predicate
    return expected, doc


def attest(
    model_path: str | os.PathLike[str],
    kind: str,
    private_key_pem: bytes,
    *,
    predicate: dict[str, Any],
    predicate_type: str,
    config: HashingConfig | None = None,
    password: bytes | None = None,
    certificate_chain: bytes | None = None,
) -> dict[str, Any]:
    """Hash the model and sign a statement about it; returns the bundle."""
    try:
        manifest = hash_model(model_path, config or HashingConfig())
    except HashingError as err:
        raise SigningError(err.message, hint=err.hint) from None
    body = model_statement(manifest, predicate_type, predicate)
    return sign_statement(body, private_key_pem, password=password, certificate_chain=certificate_chain)


@dataclass(frozen=True)
class Attestation:
    """A verified attestation about a verified model."""

    kind: str
    predicate_type: str
    predicate: dict[str, Any]
    signer: Signer
    source: str
    subject_digests: tuple[str, ...] = ()


@dataclass
class AttestationCheck:
    """What was found in an attestation folder for one model root digest."""

    found: list[Attestation] = field(default_factory=list)
    foreign: list[Attestation] = field(default_factory=list)  # authentic, but about other bytes
    rejected: list[str] = field(default_factory=list)  # "<file>: <why>"

    def kinds(self) -> set[str]:
        return {a.kind for a in self.found}


def collect_attestations(folder: Path, root_digest: str, anchors: Sequence[Trust]) -> AttestationCheck:
    """Every ``*.json`` bundle in ``folder`` signed by one of ``anchors`` about ``root_digest``.

    Bundles that do not authenticate or are about other bytes are listed in ``rejected`` with the
    reason, so a required attestation that is missing can say why.
    """
    if not folder.is_dir():
        raise UsageError(f"attestation folder {folder} does not exist", hint="check --attestations")
    check = AttestationCheck()
    for file in sorted(folder.glob("*.json")):
        try:
            raw = file.read_bytes()
        except OSError as err:
            check.rejected.append(f"{file.name}: unreadable ({err.strerror})")
            continue
        body, signer, why = _authenticate(raw, anchors)
        if body is None or signer is None:
            check.rejected.append(f"{file.name}: {why}")
            continue
        subjects = body.get("subject")
        digests = tuple(
            str(s["digest"]["sha256"])
            for s in (subjects if isinstance(subjects, list) else [])
            if isinstance(s, dict) and isinstance(s.get("digest"), dict) and "sha256" in s["digest"]
        )
        predicate_type = str(body.get("predicateType", ""))
        predicate = body.get("predicate")
        attestation = Attestation(
            KINDS_BY_TYPE.get(predicate_type, predicate_type),
            predicate_type,
            predicate if isinstance(predicate, dict) else {},
            signer,
            file.name,
            digests,
        )
        if root_digest in digests:
            check.found.append(attestation)
        else:
            check.foreign.append(attestation)
            check.rejected.append(f"{file.name}: about other bytes (subject is not root {root_digest[:16]}…)")
    return check


def _authenticate(raw: bytes, anchors: Iterable[Trust]) -> tuple[dict[str, Any] | None, Signer | None, str]:
    reasons: list[str] = []
    for anchor in anchors:
        try:
            body, signer = verify_statement(raw, anchor)
        except VerificationError as err:
            reasons.append(err.message)
            continue
        return body, signer, ""
    return None, None, "; ".join(dict.fromkeys(reasons)) or "no trust anchor given"


def require(check: AttestationCheck, kinds: Iterable[str]) -> None:
    """Raise :class:`VerificationError` naming every required kind that has no valid attestation."""
    missing = [k for k in kinds if k not in check.kinds()]
    if not missing:
        return
    detail = f" (rejected: {'; '.join(check.rejected[:3])})" if check.rejected else ""
    raise VerificationError(
        f"missing required attestation(s): {', '.join(missing)}{detail}",
        hint="create them with 'mlwarden attest' and pass their folder with --attestations",
    )
