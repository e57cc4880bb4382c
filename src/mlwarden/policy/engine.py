"""Load a policy (a file or a shipped name), compile its CEL once, and evaluate it over evidence.

``evaluate`` is deterministic: it reads no clock, file or network. Time comes from the evidence
(``time``), so recorded evidence gives the same decision tomorrow as today.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlwarden.policy.cel import CelCompileError, CelProgram
from mlwarden.policy.decision import Decision, Enforcement, Outcome, RuleOutcome, WaiverUse
from mlwarden.policy.errors import InvalidPolicyError
from mlwarden.policy.evidence import Evidence, validate_evidence
from mlwarden.policy.rules import CHECKS, Context, Verdict, check_cel
from mlwarden.policy.schema import HINT, AnyRule, CelRule, PolicyDocument, Waiver, parse_policy
from mlwarden.policy.waivers import Item, RuleWaivers, by_rule, expired_reason

MAX_POLICY_BYTES = 1 << 20
_SHIPPED_NAME = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Policy:
    """A checked policy with its CEL compiled; build it with :meth:`from_yaml`, :meth:`from_file` or
    :func:`load_policy`."""

    document: PolicyDocument
    source: str
    text: str = field(repr=False)
    programs: Mapping[tuple[int, str], CelProgram] = field(default_factory=dict, repr=False)
    """Compiled CEL by (rule index, ``expr`` or ``when``)."""

    @property
    def name(self) -> str:
        """The policy's ``name``, else its file's stem."""
        return self.document.name or Path(self.source).stem

    @property
    def mode(self) -> Enforcement:
        return self.document.mode

    @classmethod
    def from_yaml(cls, text: str, source: str = "policy") -> Policy:
        """Parse, check and compile; raises :class:`InvalidPolicyError` with one line."""
        document = parse_policy(text, source)
        programs: dict[tuple[int, str], CelProgram] = {}
        for index, rule in enumerate(document.rules):
            sources = {"when": rule.when, "expr": rule.expr if isinstance(rule, CelRule) else None}
            for key, expression in sources.items():
                if expression is None:
                    continue
                try:
                    programs[(index, key)] = CelProgram(expression)
                except CelCompileError as exc:
                    raise InvalidPolicyError(
                        f"{source}: rules[{index}].{key}: CEL: {exc}", hint=HINT
                    ) from None
        return cls(document, source, text, programs)

    @classmethod
    def from_file(cls, path: Path) -> Policy:
        """Read a policy file; a missing or unreadable file is an :class:`InvalidPolicyError`."""
        try:
            if path.stat().st_size > MAX_POLICY_BYTES:
                raise InvalidPolicyError(f"{path}: larger than 1 MiB; not a policy", hint=HINT)
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidPolicyError(
                f"{path}: no such policy file; a missing policy denies",
                hint="check the path, or use a shipped policy (mlwarden policy list)",
            ) from None
        except IsADirectoryError:
            raise InvalidPolicyError(f"{path}: is a directory, not a policy file", hint=HINT) from None
        except UnicodeDecodeError:
            raise InvalidPolicyError(f"{path}: not UTF-8 text", hint=HINT) from None
        except OSError as exc:
            raise InvalidPolicyError(f"{path}: cannot read: {exc.strerror or exc}", hint=HINT) from None
        return cls.from_yaml(text, str(path))

    @classmethod
    def shipped(cls, name: str) -> Policy:
        """One of the policies shipped with mlwarden (``mlwarden policy list``)."""
        return cls.from_yaml(shipped_text(name), f"{name} (shipped)")


def shipped_names() -> list[str]:
    """Names of the shipped policies, sorted."""
    folder = resources.files("mlwarden.policy") / "shipped"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def shipped_text(name: str) -> str:
    """The YAML of a shipped policy; an unknown name is an :class:`InvalidPolicyError`."""
    names = shipped_names()
    if name not in names:
        raise InvalidPolicyError(
            f"no shipped policy named {name!r} (shipped: {', '.join(names)})",
            hint=f"to use a file, give its path (./{name}.yaml)",
        )
    return (resources.files("mlwarden.policy") / "shipped" / f"{name}.yaml").read_text(encoding="utf-8")


def load_policy(name_or_path: str | Path) -> Policy:
    """A shipped policy by bare name (``production``), else a policy file.

    A bare lower-case name never reads a file of that name, so a file dropped into the working directory
    cannot stand in for a shipped policy; write ``./production`` to mean the file.
    """
    if isinstance(name_or_path, str) and _SHIPPED_NAME.fullmatch(name_or_path):
        return Policy.shipped(name_or_path)
    return Policy.from_file(Path(name_or_path))


def evaluate(policy: Policy, evidence: Mapping[str, Any] | Evidence) -> Decision:
    """Judge ``evidence`` (a v1 evidence document) by ``policy``; raises only :class:`EvidenceError`."""
    raw: Mapping[str, Any]
    if isinstance(evidence, Evidence):
        typed, raw = evidence, evidence.model_dump(by_alias=True)
    else:
        typed, raw = validate_evidence(evidence), evidence
    document = policy.document
    ctx = Context(typed, raw, typed.at, document.roles)
    waivers = by_rule(document.waivers, ctx.at)
    uses: dict[int, list[str]] = {}
    outcomes: list[RuleOutcome] = []
    if not document.rules:  # parse_policy refuses this; a Policy built by hand must not allow either
        return Decision.from_error("the policy has no rules; an empty policy denies", source=policy.source)
    for index, (rule, rule_id) in enumerate(zip(document.rules, document.rule_ids(), strict=True)):
        enforcement: Enforcement = "warn" if "warn" in (document.mode, rule.enforcement) else "enforce"
        outcome = _judge(policy, index, rule, rule_id, ctx, waivers.get(rule_id), uses)
        outcomes.append(
            RuleOutcome(
                rule_id=rule_id,
                type=rule.type,
                outcome=outcome.outcome,
                reason=outcome.reason,
                enforcement=enforcement,
                description=rule.description,
                waivers=outcome.waivers,
                files=outcome.files,
            )
        )
    used = tuple(_use(w, tuple(uses[i])) for i, w in enumerate(document.waivers) if uses.get(i))
    expired = tuple(_use(w) for book in waivers.values() for w in book.expired)
    subject = typed.subject
    return Decision(
        allowed=not any(o.blocking for o in outcomes),
        mode=document.mode,
        policy=policy.name,
        source=policy.source,
        outcomes=tuple(outcomes),
        waivers_used=used,
        expired_waivers=expired,
        subject_path=subject.path,
        subject_name=subject.name,
        root_digest=subject.root_digest,
        time=typed.time,
    )


def _use(waiver: Waiver, waived: tuple[str, ...] = ()) -> WaiverUse:
    return WaiverUse(
        rule=waiver.rule,
        owner=waiver.owner,
        reason=waiver.reason,
        expires=waiver.expires.isoformat(),
        finding=waiver.finding,
        file=waiver.file,
        waived=waived,
    )


def _judge(
    policy: Policy,
    index: int,
    rule: AnyRule,
    rule_id: str,
    ctx: Context,
    book: RuleWaivers | None,
    uses: dict[int, list[str]],
) -> RuleOutcome:
    """Run one rule and apply its waivers. ``uses`` collects what each waiver (by index) waived."""
    guard = policy.programs.get((index, "when"))
    if guard is not None:
        result = guard.run(ctx.activation)
        if result.error is not None:
            return _with_expired(
                RuleOutcome(rule_id, rule.type, Outcome.ERROR, f"CEL error in when: {result.error}"), book
            )
        if not result.value:
            return _with_expired(RuleOutcome(rule_id, rule.type, Outcome.SKIPPED, "when is false"), book)
    if isinstance(rule, CelRule):
        verdict = check_cel(rule, ctx, policy.programs[(index, "expr")])
    else:
        verdict = CHECKS[rule.type](rule, ctx)
    if verdict.error is not None:
        return _with_expired(RuleOutcome(rule_id, rule.type, Outcome.ERROR, verdict.error), book)
    if verdict.passed:
        return _with_expired(RuleOutcome(rule_id, rule.type, Outcome.PASS, verdict.reason), book)
    return _with_expired(_waive(policy, rule_id, rule.type, verdict, book, uses), book)


def _index(policy: Policy, waiver: Waiver) -> int:
    return next(i for i, w in enumerate(policy.document.waivers) if w is waiver)


def _waive(
    policy: Policy,
    rule_id: str,
    rule_type: str,
    verdict: Verdict,
    book: RuleWaivers | None,
    uses: dict[int, list[str]],
) -> RuleOutcome:
    """A failed verdict, less what active waivers cover."""
    failure = _failure_text(verdict, list(verdict.items))
    whole = book.whole_rule() if book is not None else None
    if whole is not None:
        uses.setdefault(_index(policy, whole), []).extend([i.text for i in verdict.items] or [failure])
        reason = f"waived by {whole.owner} until {whole.expires.isoformat()} ({whole.reason}): {failure}"
        return RuleOutcome(rule_id, rule_type, Outcome.WAIVED, reason, waivers=(_use(whole),))
    remaining: list[Item] = []
    applied: dict[int, Waiver] = {}
    for item in verdict.items:
        waiver = book.matching(item) if book is not None else None
        if waiver is None:
            remaining.append(item)
            continue
        position = _index(policy, waiver)
        applied[position] = waiver
        uses.setdefault(position, []).append(item.text)
    refs = tuple(_use(w) for _, w in sorted(applied.items()))
    waived = len(verdict.items) - len(remaining)
    if not remaining and verdict.residual is None:
        reason = f"{waived} item(s) waived: {_failure_text(verdict, list(verdict.items))}"
        return RuleOutcome(rule_id, rule_type, Outcome.WAIVED, reason, waivers=refs)
    reason = _failure_text(verdict, remaining) + (f" ({waived} more waived)" if waived else "")
    files = tuple(dict.fromkeys(i.file for i in remaining if i.file is not None))
    return RuleOutcome(rule_id, rule_type, Outcome.FAIL, reason, waivers=refs, files=files)


def _failure_text(verdict: Verdict, items: list[Item]) -> str:
    parts = [verdict.residual] if verdict.residual else []
    if items:
        shown = "; ".join(i.text for i in items[:3])
        more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
        parts.append(f"{len(items)} {verdict.reason}: {shown}{more}")
    return "; ".join(parts)


def _with_expired(outcome: RuleOutcome, book: RuleWaivers | None) -> RuleOutcome:
    """An expired waiver fails its rule whatever the rule found: it must be renewed or removed."""
    if book is None or not book.expired:
        return outcome
    expired = "; ".join(expired_reason(w) for w in book.expired)
    if outcome.outcome in (Outcome.FAIL, Outcome.ERROR):
        reason = f"{outcome.reason}; {expired}"
        kind = outcome.outcome
    else:
        reason, kind = expired, Outcome.FAIL
    return RuleOutcome(
        outcome.rule_id,
        outcome.type,
        kind,
        reason,
        waivers=outcome.waivers,
        files=outcome.files,
    )
