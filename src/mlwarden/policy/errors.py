"""Policy errors.

::

    MlwardenError
    └── PolicyError                 base of the policy engine's errors                       exit code 2
        ├── InvalidPolicyError      missing, unreadable, empty or invalid policy (schema, CEL)
        └── EvidenceError           the evidence document does not match docs/evidence.schema.json

A policy that cannot be used never allows: callers that must still emit a decision (``mlwarden gate``
writing SARIF for CI) turn the error into a denying :class:`~mlwarden.policy.Decision` with
``Decision.from_error(err)``. Exit code 2, not 1, because nothing was decided about the model itself.
"""

from __future__ import annotations

from mlwarden.errors import MlwardenError


class PolicyError(MlwardenError):
    """Base of every error raised by ``mlwarden.policy``."""


class InvalidPolicyError(PolicyError):
    """The policy is missing, empty or invalid; ``message`` is one line naming the file and key path."""


class EvidenceError(PolicyError):
    """The evidence document is malformed (the gate's bug, or a hand-edited recorded evidence file)."""
