"""The result of judging one evidence document: allow or deny, and why, rule by rule.

A decision denies unless every rule ran and passed (or was waived, skipped, or only warns). A rule that
could not be evaluated (``error``) denies like a failure: the engine fails closed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from mlwarden.errors import MlwardenError

Enforcement = Literal["enforce", "warn"]
DECISION_VERSION = 1


class Outcome(enum.StrEnum):
    """What happened to one rule."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    WAIVED = "waived"  # it failed, and an active waiver covers every item it reported
    ERROR = "error"  # it could not be evaluated (a CEL runtime error); denies like a failure
    SKIPPED = "skipped"  # its ``when`` condition was false


@dataclass(frozen=True, slots=True)
class WaiverUse:
    """A waiver as listed in a decision, with what it waived (or would have, when expired)."""

    rule: str
    owner: str
    reason: str
    expires: str
    finding: str | None = None
    file: str | None = None
    waived: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "finding": self.finding,
            "file": self.file,
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires,
            "waived": list(self.waived),
        }


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's verdict. ``files`` are the files it objects to (relative to the subject path)."""

    rule_id: str
    type: str
    outcome: Outcome
    reason: str
    enforcement: Enforcement = "enforce"
    description: str = ""
    waivers: tuple[WaiverUse, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Failed or errored, whether or not it is enforced."""
        return self.outcome in (Outcome.FAIL, Outcome.ERROR)

    @property
    def blocking(self) -> bool:
        """Failed or errored under ``enforce``: this outcome alone denies."""
        return self.failed and self.enforcement == "enforce"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "type": self.type,
            "outcome": self.outcome.value,
            "enforcement": self.enforcement,
            "reason": self.reason,
            "description": self.description,
            "waivers": [w.to_dict() for w in self.waivers],
            "files": list(self.files),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """Allow or deny, with every rule's outcome and every waiver used or expired."""

    allowed: bool
    mode: Enforcement
    policy: str
    source: str
    outcomes: tuple[RuleOutcome, ...]
    engine: Literal["mlwarden", "opa"] = "mlwarden"
    waivers_used: tuple[WaiverUse, ...] = ()
    expired_waivers: tuple[WaiverUse, ...] = ()
    subject_path: str | None = None
    subject_name: str | None = None
    root_digest: str | None = None
    time: str | None = None
    error: str | None = None
    """Set when the policy itself could not be used; the decision then denies."""

    @classmethod
    def from_error(cls, error: MlwardenError | str, *, source: str = "", policy: str = "") -> Decision:
        """A deny whose one reason is ``error``: a missing, empty or invalid policy never allows."""
        message = error.message if isinstance(error, MlwardenError) else error
        outcome = RuleOutcome("policy", "policy", Outcome.ERROR, message)
        return cls(
            allowed=False, mode="enforce", policy=policy, source=source, outcomes=(outcome,), error=message
        )

    @property
    def failed(self) -> tuple[RuleOutcome, ...]:
        """Outcomes that failed or errored (blocking or only warning)."""
        return tuple(o for o in self.outcomes if o.failed)

    @property
    def reasons(self) -> list[str]:
        """One ``rule-id: reason`` line per failed rule."""
        return [f"{o.rule_id}: {o.reason}" for o in self.failed]

    def counts(self) -> dict[str, int]:
        """How many rules ended in each outcome."""
        counts = {o.value: 0 for o in Outcome}
        for outcome in self.outcomes:
            counts[outcome.outcome.value] += 1
        return counts

    def summary(self) -> str:
        """One line: the verdict, the policy, and what decided it."""
        name = self.policy or self.source or "policy"
        failed = self.failed
        if self.error is not None:
            return f"DENIED: {self.error}"
        if not self.allowed:
            blocking = [o for o in failed if o.blocking]
            return (
                f"DENIED by {name}: {len(blocking)} rule(s) failed ({', '.join(o.rule_id for o in blocking)})"
            )
        if failed:
            return f"ALLOWED by {name} with {len(failed)} warning(s) ({', '.join(o.rule_id for o in failed)})"
        waived = f", {len(self.waivers_used)} waiver(s) used" if self.waivers_used else ""
        return f"ALLOWED by {name}: {len(self.outcomes)} rule(s) checked{waived}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (documented in docs/policy.md, "The decision")."""
        return {
            "decision_version": DECISION_VERSION,
            "allowed": self.allowed,
            "decision": "allow" if self.allowed else "deny",
            "mode": self.mode,
            "policy": {"name": self.policy, "source": self.source, "engine": self.engine},
            "subject": {
                "path": self.subject_path,
                "name": self.subject_name,
                "root_digest": self.root_digest,
            },
            "time": self.time,
            "error": self.error,
            "summary": self.summary(),
            "counts": self.counts(),
            "reasons": self.reasons,
            "rules": [o.to_dict() for o in self.outcomes],
            "waivers_used": [w.to_dict() for w in self.waivers_used],
            "expired_waivers": [w.to_dict() for w in self.expired_waivers],
        }
