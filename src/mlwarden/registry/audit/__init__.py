"""Tamper-evident audit log: RFC 6962/9162 Merkle tree in the registry database, C2SP signed checkpoints.

``AuditLog`` appends entries (inside the caller's transaction when given one) and signs checkpoints;
``verify`` checks a whole log, from the database or an export, with only the log's verifier key.
"""

from mlwarden.registry.audit.errors import AuditError, AuditTamperedError, NoteError, ProofError
from mlwarden.registry.audit.log import (
    AUDIT_METADATA,
    KNOWN_ACTIONS,
    AuditLog,
    ConsistencyProof,
    Event,
    InclusionProof,
    Problem,
    VerifyReport,
    audit_engine,
    canonical_json,
    create_schema,
    export,
    format_time,
    initialize,
    leaf_data,
    verify,
)
from mlwarden.registry.audit.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint

__all__ = [
    "AUDIT_METADATA",
    "KNOWN_ACTIONS",
    "AuditError",
    "AuditLog",
    "AuditTamperedError",
    "Checkpoint",
    "ConsistencyProof",
    "Event",
    "InclusionProof",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "Problem",
    "ProofError",
    "VerifyReport",
    "audit_engine",
    "canonical_json",
    "create_schema",
    "export",
    "format_time",
    "initialize",
    "leaf_data",
    "open_checkpoint",
    "verify",
]
