"""Errors of the audit log: a bad proof or key is a usage error (2); a tampered log is a denial (1)."""

from __future__ import annotations

from mlwarden.core.merkle import ProofError
from mlwarden.errors import MlwardenError

__all__ = ["AuditError", "AuditTamperedError", "NoteError", "ProofError"]


class AuditError(MlwardenError):
    """The audit log could not do what was asked (missing tables, bad key, bad arguments)."""


class NoteError(AuditError):
    """A signed note is malformed, or no trusted signature on it verifies."""

    exit_code = 1


class AuditTamperedError(AuditError):
    """``verify`` found the log edited, truncated, extended or reordered behind the log's back."""

    exit_code = 1
