"""The evidence document (v1): what ``mlwarden gate`` collected about one model, and all a policy sees.

The policy engine never scans, hashes or verifies anything itself; it judges this document. The models
below are its schema: ``docs/evidence.schema.json`` is generated from them by
:func:`evidence_json_schema` (``mlwarden policy evidence-schema``), and a test keeps the two equal.

Types are strict (a count is an int, not the string ``"3"``) because CEL expressions see the document
exactly as given, so the typed view the built-in rules read and the view CEL reads must agree. Every key
is required and unknown keys are rejected: a document the gate did not fill completely is a bug to
report, not something to judge leniently.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mlwarden.policy.errors import EvidenceError

EVIDENCE_VERSION = 1
SCHEMA_ID = "https://github.com/mlwarden/mlwarden/docs/evidence.schema.json"

ScanSeverity = Literal["none", "info", "low", "medium", "high", "critical"]
FindingSeverity = Literal["info", "low", "medium", "high", "critical"]
CapabilitySeverity = Literal["none", "low", "medium", "high"]

RANK = {"none": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
"""One order for scan and capability severities (CEL's ``severity`` map and ``severity_rank()``)."""


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 timestamp with an offset (``Z`` or ``+02:00``), as an aware datetime."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; write it as 2026-11-28T12:00:00Z")
    return value


def _rfc3339(text: str) -> str:
    parse_time(text)
    return text


Timestamp = Annotated[
    str,
    AfterValidator(_rfc3339),
    Field(json_schema_extra={"format": "date-time"}, description="RFC 3339 timestamp with an offset"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Principal(_Strict):
    """Who signed: established by signature verification, never taken from the signed payload."""

    method: Literal["key", "certificate", "sigstore"]
    identity: str = Field(
        description="hex SHA-256 key fingerprint (method key), certificate SAN or CN (certificate), "
        "or the OIDC identity (sigstore)"
    )
    issuer: str | None = Field(description="OIDC issuer (sigstore); null for keys")


class SubjectFile(_Strict):
    path: str = Field(description="POSIX path relative to subject.path, as in the signed manifest")
    size: int = Field(ge=0)
    format: str = Field(description="the scanner's format name for the file's bytes (pickle, zip, ...)")
    contains: list[str] = Field(
        default_factory=list,
        description="distinct formats found inside the file (the pickle in a PyTorch zip), sorted",
    )


class Subject(_Strict):
    path: str = Field(description="the model file or directory, as given to the gate")
    name: str
    root_digest: str | None = Field(
        description="OMS root digest (lower-case hex); null when the model could not be hashed"
    )
    hash_algorithm: Literal["sha256", "blake3"]
    total_bytes: int = Field(ge=0)
    files: list[SubjectFile]
    formats: list[str] = Field(
        description="distinct formats of the files and of the members inside them (a PyTorch zip adds "
        "zip and pickle), sorted"
    )


class Finding(_Strict):
    rule_id: str
    severity: FindingSeverity
    message: str
    file: str = Field(description="POSIX path relative to subject.path")
    member: str | None = Field(description="path inside containers, outermost first, joined with !")
    construct_: str | None = Field(
        alias="construct", description="what was found: a callable's dotted name, an op type, ..."
    )


class Counts(_Strict):
    info: int = Field(ge=0)
    low: int = Field(ge=0)
    medium: int = Field(ge=0)
    high: int = Field(ge=0)
    critical: int = Field(ge=0)


class Scan(_Strict):
    max_severity: ScanSeverity
    counts: Counts
    findings: list[Finding]


class Family(_Strict):
    family: str
    capability: str
    confidence: float = Field(ge=0, le=1)
    severity: CapabilitySeverity


class Capability(_Strict):
    severity: CapabilitySeverity = Field(description="the highest severity among families")
    capabilities: list[str] = Field(description="capability labels such as face_swap, voice_cloning")
    families: list[Family]


class Signatures(_Strict):
    verified: bool = Field(description="every signature given checked out against the model bytes")
    error: str | None = Field(description="why verification failed; null when verified")
    signers: list[Principal]


class Attestation(_Strict):
    kind: str = Field(
        description="scan, capability, provenance, dataset, approval, or the predicate type URI"
    )
    predicate_type: str
    file: str = Field(description="where the attestation was read from")
    signer: Principal
    predicate: dict[str, Any]


class Approval(_Strict):
    approver: Principal
    root_digest: str = Field(
        description="the digest the approval is for; rules compare it with the subject's"
    )
    reason: str
    scope: str | None
    created: Timestamp
    expires: Timestamp | None
    file: str


class Metadata(_Strict):
    license: str | None
    model_type: str | None
    architectures: list[str]
    sources: list[str]


class Evidence(_Strict):
    """Everything the gate knows about one model, at one time."""

    model_config = ConfigDict(
        title="mlwarden evidence document",
        json_schema_extra={
            "description": "What `mlwarden gate` collected about one model; the input of every policy "
            "(built-in rules, CEL expressions and OPA). See docs/policy.md."
        },
    )

    evidence_version: Literal[1]
    time: Timestamp = Field(description="evaluation time; waiver and approval expiry are judged at it")
    subject: Subject
    scan: Scan
    capability: Capability
    signatures: Signatures
    attestations: list[Attestation] = Field(
        description="attestations whose signature verified and whose subject is subject.root_digest, "
        "plus dataset manifests that a verified provenance attestation names as inputs"
    )
    approvals: list[Approval] = Field(
        description="verified approval attestations, for any digest: rules check the digest themselves"
    )
    metadata: Metadata

    @property
    def at(self) -> dt.datetime:
        """``time`` as an aware datetime."""
        return parse_time(self.time)


def validate_evidence(document: object, source: str = "evidence") -> Evidence:
    """Check ``document`` against the v1 schema; raises :class:`EvidenceError` with one line."""
    from mlwarden.policy._validation import describe  # noqa: PLC0415

    if not isinstance(document, dict):
        raise EvidenceError(
            f"{source}: the evidence document must be a JSON object", hint="see docs/evidence.schema.json"
        )
    version = document.get("evidence_version")
    if version != EVIDENCE_VERSION:
        raise EvidenceError(
            f"{source}: evidence_version {version!r} is not supported (expected {EVIDENCE_VERSION})",
            hint="produce the evidence with this version of mlwarden gate",
        )
    try:
        return Evidence.model_validate(document)
    except ValidationError as exc:
        raise EvidenceError(
            f"{source}: {describe(exc, Evidence)}", hint="see docs/evidence.schema.json"
        ) from None


def evidence_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the evidence document, as shipped in docs/evidence.schema.json."""
    from pydantic.json_schema import GenerateJsonSchema  # noqa: PLC0415

    class _Untitled(GenerateJsonSchema):
        def field_title_should_be_set(self, schema: Any) -> bool:
            return False  # "Root Digest" beside root_digest says nothing

    schema = Evidence.model_json_schema(by_alias=True, schema_generator=_Untitled)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
