"""The policy engine behind ``mlwarden gate``: a versioned YAML policy judged over an evidence document.

The pieces, in the order they run:

- ``schema``: the policy file (``apiVersion: mlwarden.dev/policy/v1``), strict; errors are one line.
- ``cel``: custom rules in CEL, compiled once when the policy loads.
- ``evidence``: the v1 evidence document the gate collects (docs/evidence.schema.json).
- ``rules`` and ``waivers``: the built-in rules and the owned, dated exceptions to them.
- ``engine``: :func:`load_policy` and :func:`evaluate`, which reads no clock, file or network.
- ``opa``: :func:`evaluate_opa`, the same evidence judged by an Open Policy Agent server instead.
- ``decision`` and ``render``: the :class:`Decision` and its table, JSON and SARIF forms.

This package sees only ``mlwarden.core`` and ``mlwarden.errors``: evidence is handed to it, so it never
scans, hashes or verifies anything itself. A missing, empty or invalid policy never allows.

::

    from mlwarden.policy import evaluate, load_policy
    decision = evaluate(load_policy("production"), evidence)
    if not decision.allowed:
        print("\\n".join(decision.reasons))
"""

from mlwarden.policy.decision import Decision, Outcome, RuleOutcome, WaiverUse
from mlwarden.policy.engine import Policy, evaluate, load_policy, shipped_names, shipped_text
from mlwarden.policy.errors import EvidenceError, InvalidPolicyError, PolicyError
from mlwarden.policy.evidence import Evidence, evidence_json_schema, validate_evidence
from mlwarden.policy.opa import evaluate_opa, opa_endpoint
from mlwarden.policy.render import render_decision, to_sarif

__all__ = [
    "Decision",
    "Evidence",
    "EvidenceError",
    "InvalidPolicyError",
    "Outcome",
    "Policy",
    "PolicyError",
    "RuleOutcome",
    "WaiverUse",
    "evaluate",
    "evaluate_opa",
    "evidence_json_schema",
    "load_policy",
    "opa_endpoint",
    "render_decision",
    "shipped_names",
    "shipped_text",
    "to_sarif",
    "validate_evidence",
]
