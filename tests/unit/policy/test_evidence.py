"""The evidence document: docs/evidence.schema.json is what the engine accepts, and errors are one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlwarden.policy import EvidenceError, Policy, evaluate, evidence_json_schema, validate_evidence

from .samples import (
    APPROVER_KEY,
    approval,
    attestation,
    deepfake,
    evidence,
    finding,
    key,
    person,
    policy,
    provenance,
    with_findings,
)

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "evidence.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def full() -> dict[str, Any]:
    """Every part of the document filled in."""
    doc = deepfake(with_findings(evidence(), finding("high", construct="os.system"), finding("info")))
    doc["signatures"]["signers"].append(person("release@example.com"))
    doc["attestations"] = [
        attestation("scan", "https://mlwarden.dev/attestation/scan/v1", {"schema_version": "1"}),
        provenance("https://ci.example.com/builder"),
        attestation("https://example.com/custom/v1", "https://example.com/custom/v1"),
    ]
    doc["approvals"] = [
        approval(key(APPROVER_KEY)),
        approval(person("lead@example.com"), expires=None, scope="x"),
    ]
    doc["metadata"]["sources"] = ["https://huggingface.co/org/model"]
    return doc


def test_the_shipped_schema_is_the_engines_schema() -> None:
    """docs/evidence.schema.json is generated; regenerate it with `mlwarden policy evidence-schema`."""
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == evidence_json_schema()


@pytest.mark.parametrize("document", [evidence(), full()], ids=["minimal", "full"])
def test_sample_evidence_validates_against_the_schema(
    validator: jsonschema.protocols.Validator, document: dict[str, Any]
) -> None:
    errors = list(validator.iter_errors(document))
    assert not errors, [e.message for e in errors]
    validate_evidence(document)
    evaluate(Policy.from_yaml(policy("- {type: signatures}")), document)


def broken(change: str) -> dict[str, Any]:
    doc = full()
    if change == "extra":
        doc["subject"]["sha"] = "x"
    elif change == "missing":
        del doc["scan"]["counts"]["critical"]
    elif change == "severity":
        doc["scan"]["findings"][0]["severity"] = "severe"
    elif change == "string count":
        doc["scan"]["counts"]["high"] = "1"
    elif change == "signer method":
        doc["signatures"]["signers"][0]["method"] = "pgp"
    elif change == "confidence":
        doc["capability"]["families"][0]["confidence"] = 1.5
    elif change == "null list":
        doc["metadata"]["architectures"] = None
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("extra", "evidence.json: subject.sha: unknown key"),
        ("missing", "evidence.json: scan.counts.critical: required key is missing"),
        (
            "severity",
            "evidence.json: scan.findings[0].severity: 'severe' is not one of info, low, medium, high",
        ),
        ("string count", "evidence.json: scan.counts.high: input should be a valid integer (got '1')"),
        (
            "signer method",
            "evidence.json: signatures.signers[0].method: 'pgp' is not one of key, certificate",
        ),
        (
            "confidence",
            "evidence.json: capability.families[0].confidence: input should be less than or equal to 1",
        ),
        ("null list", "evidence.json: metadata.architectures: input should be a valid list"),
    ],
)
def test_malformed_evidence_is_refused_by_the_schema_and_the_engine(
    validator: jsonschema.protocols.Validator, change: str, message: str
) -> None:
    document = broken(change)
    assert list(validator.iter_errors(document)), "the JSON schema accepts what the engine refuses"
    with pytest.raises(EvidenceError) as caught:
        validate_evidence(document, "evidence.json")
    assert caught.value.message.startswith(message), caught.value.message
    assert "\n" not in caught.value.message and caught.value.exit_code == 2


def test_times_need_an_offset() -> None:
    with pytest.raises(
        EvidenceError, match=r"^evidence: time: '2026-11-28T12:00:00' has no UTC offset; write it as"
    ):
        validate_evidence(evidence(time="2026-11-28T12:00:00"))
    with pytest.raises(EvidenceError, match="is not an RFC 3339 timestamp"):
        validate_evidence(evidence(approvals=[approval(key(APPROVER_KEY), expires="next week")]))


@pytest.mark.parametrize("document", [None, [], "x", {"evidence_version": 2}, {}])
def test_not_an_evidence_document(document: Any) -> None:
    with pytest.raises(EvidenceError):
        validate_evidence(document)
