"""The built-in rules: each reads the typed evidence and returns a :class:`Verdict`.

Rules never raise on what the evidence says; they judge it. A rule that objects to several things (the
findings above a severity, the files in a refused format) reports them as :class:`Item` s so waivers can
cover them one by one; an objection that is not about one item (``residual``) is waived only by a waiver
for the whole rule. The registry is the explicit :data:`CHECKS` table, keyed by the rule ``type``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from mlwarden.policy.cel import CelProgram
from mlwarden.policy.evidence import RANK, Approval, Evidence, Principal, parse_time
from mlwarden.policy.schema import (
    FORMAT_GROUPS,
    AttestationsRule,
    CapabilityRule,
    CelRule,
    FormatsRule,
    IdentityRef,
    LicenseRule,
    MaxSeverityRule,
    MetadataMatch,
    MetadataRule,
    Principals,
    SignaturesRule,
)
from mlwarden.policy.waivers import Item

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far an approval's ``created`` may be after the evidence time (the approver's clock runs fast)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule found. It passed when there are neither items nor a residual objection."""

    reason: str = ""
    """Why it passed; for a failure, the words before the items (``finding(s) above medium``)."""
    items: tuple[Item, ...] = ()
    residual: str | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.items and self.residual is None and self.error is None


@dataclass(slots=True)
class Context:
    """What every rule of one evaluation shares: the evidence, its time, the policy's roles."""

    evidence: Evidence
    raw: Mapping[str, Any]
    at: dt.datetime
    roles: Mapping[str, Principals]
    _activation: Any = field(default=None, repr=False)

    @property
    def activation(self) -> Any:
        """CEL bindings, made once per evaluation and only when a CEL expression runs."""
        if self._activation is None:
            from mlwarden.policy.cel import activation  # noqa: PLC0415

            self._activation = activation(self.raw, self.at)
        return self._activation


def describe(principal: Principal) -> str:
    """A signer as people read it: ``key 3f2a…`` or ``alice@example.com (issuer)``."""
    if principal.method == "key":
        return f"key {principal.identity[:16]}…"
    return principal.identity + (f" ({principal.issuer})" if principal.issuer else "")


def matches(principal: Principal, keys: Sequence[str], identities: Sequence[IdentityRef]) -> bool:
    """Whether ``principal`` is one of the listed keys or identities (an identity's issuer when pinned)."""
    if principal.method == "key":
        return principal.identity.lower() in keys
    return any(
        ref.identity == principal.identity and (ref.issuer is None or ref.issuer == principal.issuer)
        for ref in identities
    )


def _some(texts: Iterable[str], limit: int = 3) -> str:
    listed = list(texts)
    more = len(listed) - limit
    return ", ".join(listed[:limit]) + (f" (+{more} more)" if more > 0 else "")


def check_max_severity(rule: MaxSeverityRule, ctx: Context) -> Verdict:
    """No finding above ``max``; findings can be waived by rule id and file glob."""
    scan = ctx.evidence.scan
    limit = RANK[rule.max]
    items = tuple(
        Item(
            f"{f.severity} {f.rule_id} in {f.file}{'!' + f.member if f.member else ''}"
            + (f" ({f.construct_})" if f.construct_ else ""),
            file=f.file,
            finding=f.rule_id,
        )
        for f in scan.findings
        if RANK[f.severity] > limit
    )
    counted = sum(n for name, n in scan.counts.model_dump().items() if RANK[name] > limit)
    residual = None
    if counted > len(items) or (not items and RANK[scan.max_severity] > limit):
        residual = (
            f"the scan counted {max(counted, 1)} finding(s) above {rule.max} "
            f"(highest: {scan.max_severity}) but listed {len(items)}"
        )
    if items or residual:
        return Verdict(f"finding(s) above {rule.max}", items, residual)
    return Verdict(f"highest severity {scan.max_severity} (max {rule.max})")


def check_signatures(rule: SignaturesRule, ctx: Context) -> Verdict:
    """Verified signatures from at least ``min`` distinct allowed signers (anyone, when none are listed)."""
    signatures = ctx.evidence.signatures
    if not signatures.signers:
        extra = f": {signatures.error}" if signatures.error else ""
        return Verdict(residual=f"the model is not signed{extra}")
    if not signatures.verified:
        return Verdict(residual=f"signature verification failed: {signatures.error or 'no reason given'}")
    restricted = bool(rule.keys or rule.identities)
    allowed = {
        (s.method, s.identity.lower(), s.issuer): s
        for s in signatures.signers
        if not restricted or matches(s, rule.keys, rule.identities)
    }
    if len(allowed) < rule.min:
        others = [
            describe(s) for s in signatures.signers if (s.method, s.identity.lower(), s.issuer) not in allowed
        ]
        rejected = f"; not allowed: {_some(others)}" if others else ""
        return Verdict(
            residual=f"{len(allowed)} of {rule.min} required signature(s) from allowed signers{rejected}"
        )
    return Verdict(f"signed by {_some(describe(s) for s in allowed.values())}")


def _builder(predicate: Mapping[str, Any]) -> str | None:
    run = predicate.get("runDetails")
    builder = run.get("builder") if isinstance(run, dict) else None
    ident = builder.get("id") if isinstance(builder, dict) else None
    return ident if isinstance(ident, str) else None


def _trusted(builder: str | None, trusted: Sequence[str]) -> bool:
    """Exact match, or a prefix match for an entry ending in ``*`` (``https://ci.example/*``)."""
    if builder is None:
        return False
    return any(builder == t or (t.endswith("*") and builder.startswith(t[:-1])) for t in trusted)


def check_attestations(rule: AttestationsRule, ctx: Context) -> Verdict:
    """Each required kind is attested (by an allowed signer; provenance from a trusted builder)."""
    missing: list[str] = []
    for kind in rule.require:
        found = [a for a in ctx.evidence.attestations if kind in (a.kind, a.predicate_type)]
        notes: list[str] = []
        if found and rule.signers is not None:
            signers = rule.signers
            kept = [a for a in found if matches(a.signer, signers.keys, signers.identities)]
            notes += [
                f"{a.file} signed by {describe(a.signer)}, not an allowed signer"
                for a in found
                if a not in kept
            ]
            found = kept
        if found and kind == "provenance" and rule.trusted_builders:
            kept = [a for a in found if _trusted(_builder(a.predicate), rule.trusted_builders)]
            notes += [
                f"{a.file} built by {_builder(a.predicate) or 'an unnamed builder'}, not trusted"
                for a in found
                if a not in kept
            ]
            found = kept
        if not found:
            missing.append(kind + (f" ({_some(notes, 2)})" if notes else ""))
    if missing:
        return Verdict(residual=f"missing attestation(s): {'; '.join(missing)}")
    return Verdict(f"attested: {', '.join(rule.require)}")


def _expand(names: Sequence[str]) -> frozenset[str]:
    out: set[str] = set()
    for name in names:
        out |= FORMAT_GROUPS.get(name, {name})
    return frozenset(out)


def check_formats(rule: FormatsRule, ctx: Context) -> Verdict:
    """Every format is allowed (``allow``) or none is refused (``deny``).

    Files are judged by their own format and the formats inside them (``contains``: the pickle in a
    PyTorch zip), waivable per file glob. A refused format in ``subject.formats`` that no file accounts
    for (evidence from an older producer) is a residual objection only a whole-rule waiver covers.
    """
    subject = ctx.evidence.subject
    if rule.allow is not None:
        allowed = _expand(rule.allow)
        headline = "file(s) in a format outside the allow-list"

        def refused(name: str) -> bool:
            return name not in allowed
    else:
        denied = _expand(rule.deny or [])
        headline = "file(s) in a refused format"

        def refused(name: str) -> bool:
            return name in denied

    items: list[Item] = []
    named: set[str] = set()
    for f in subject.files:
        bad = [name for name in (f.format, *f.contains) if refused(name)]
        if bad:
            named.update(bad)
            inside = [name for name in bad if name != f.format]
            what = f.format + (f" containing {', '.join(inside)}" if inside else "")
            items.append(Item(f"{f.path} ({what})", file=f.path))
    nested = sorted({name for name in subject.formats if refused(name)} - named)
    residual = f"refused format(s) inside containers: {', '.join(nested)}" if nested else None
    if items or residual:
        return Verdict(headline, tuple(items), residual)
    return Verdict(f"formats: {', '.join(subject.formats) or 'none'}")


def _approval_refusal(
    approval: Approval, ctx: Context, rule: CapabilityRule, signers: set[str], digest: str
) -> str | None:
    """Why one approval does not count, or None when it does."""
    if approval.root_digest.lower() != digest:
        return f"it is for another digest {approval.root_digest[:16]}…"
    if approval.expires is not None and parse_time(approval.expires) <= ctx.at:
        return f"it expired on {approval.expires}"
    if parse_time(approval.created) > ctx.at + CLOCK_SKEW:
        return f"it is dated {approval.created}, after the evaluation time"
    if rule.scope is not None and approval.scope != rule.scope:
        return f"its scope is {approval.scope!r}, not {rule.scope!r}"
    role = ctx.roles.get(rule.approver_role, Principals())
    if not matches(approval.approver, role.keys, role.identities):
        return f"{describe(approval.approver)} does not hold the {rule.approver_role} role"
    if approval.approver.identity.lower() in signers:
        return f"{describe(approval.approver)} also signed the model (two-person rule)"
    return None


def check_capability(rule: CapabilityRule, ctx: Context) -> Verdict:
    """Deepfake capability at most ``max_severity``, unless approved for this exact digest.

    An approval counts when it names ``subject.root_digest``, is unexpired at the evidence time, is signed
    by a holder of ``approver_role``, and its approver did not also sign the model.
    """
    capability = ctx.evidence.capability
    if rule.capabilities:
        families = [f for f in capability.families if f.capability in rule.capabilities]
        labels = sorted(
            {f.capability for f in families} | (set(capability.capabilities) & set(rule.capabilities))
        )
        severity = max((f.severity for f in families), key=RANK.__getitem__, default="none")
    else:
        labels = list(capability.capabilities)
        severity = capability.severity
    if RANK[severity] <= RANK[rule.max_severity]:
        return Verdict(f"capability severity {severity} (max {rule.max_severity})")
    what = f"{severity} deepfake capability ({', '.join(labels) or 'unlabelled'})"
    if not rule.unless_approved:
        return Verdict(residual=f"{what} is above {rule.max_severity}")
    digest = ctx.evidence.subject.root_digest
    if digest is None:
        return Verdict(residual=f"{what} needs an approval, but the model has no root digest to approve")
    digest = digest.lower()
    signers = {s.identity.lower() for s in ctx.evidence.signatures.signers}
    refused: list[str] = []
    for approval in ctx.evidence.approvals:
        why = _approval_refusal(approval, ctx, rule, signers, digest)
        if why is None:
            return Verdict(
                f"{what} approved by {describe(approval.approver)} ({approval.file}): {approval.reason}"
            )
        refused.append(f"{approval.file}: {why}")
    need = f"{what} needs an approval for {digest[:16]}… by a holder of the {rule.approver_role} role"
    return Verdict(residual=f"{need}; " + (f"refused {_some(refused, 2)}" if refused else "none found"))


def check_license(rule: LicenseRule, ctx: Context) -> Verdict:
    """The declared licence is not denied and, with an allow-list, is on it (case-insensitive globs)."""
    license_ = ctx.evidence.metadata.license
    if not license_:
        if rule.require or rule.allow:
            return Verdict(residual="no licence declared (config.json or model card)")
        return Verdict("no licence declared (not required)")
    name = license_.lower()
    for pattern in rule.deny:
        if fnmatchcase(name, pattern.lower()):
            return Verdict(residual=f"licence {license_!r} is denied ({pattern})")
    if rule.allow and not any(fnmatchcase(name, p.lower()) for p in rule.allow):
        return Verdict(residual=f"licence {license_!r} is not allowed (allowed: {_some(rule.allow, 5)})")
    return Verdict(f"licence {license_}")


def _metadata_values(ctx: Context, key: str) -> list[str]:
    metadata = ctx.evidence.metadata
    value = getattr(metadata, key)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def check_metadata(rule: MetadataRule, ctx: Context) -> Verdict:
    """Required metadata is present; model type, architectures and sources match allow/deny globs."""
    problems: list[str] = [f"{key} is missing" for key in rule.require if not _metadata_values(ctx, key)]
    for key in MetadataMatch.model_fields:
        values = _metadata_values(ctx, key)
        denied = getattr(rule.deny, key, None) or []
        allowed = getattr(rule.allow, key, None) or []
        for value in values:
            hit = next((p for p in denied if fnmatchcase(value.lower(), p.lower())), None)
            if hit is not None:
                problems.append(f"{key} {value!r} is denied ({hit})")
            elif allowed and not any(fnmatchcase(value.lower(), p.lower()) for p in allowed):
                problems.append(f"{key} {value!r} is not allowed")
        if allowed and not values and key not in rule.require:
            problems.append(f"{key} is missing (an allow-list is set)")
    if problems:
        return Verdict(residual="; ".join(problems))
    return Verdict("metadata matches")


def check_cel(rule: CelRule, ctx: Context, program: CelProgram) -> Verdict:
    """A custom expression: true passes, false fails with ``message``, an error is the rule's error."""
    result = program.run(ctx.activation)
    if result.error is not None:
        return Verdict(error=f"CEL error: {result.error}")
    if not result.value:
        return Verdict(residual=rule.message or f"expression is false: {rule.expr}")
    return Verdict("expression holds")


BuiltinCheck = Callable[[Any, Context], Verdict]
CHECKS: dict[str, BuiltinCheck] = {
    "max_severity": check_max_severity,
    "signatures": check_signatures,
    "attestations": check_attestations,
    "formats": check_formats,
    "capability": check_capability,
    "license": check_license,
    "metadata": check_metadata,
}
"""Every built-in rule type but ``cel`` (which needs its compiled program; see the engine)."""
