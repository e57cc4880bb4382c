"""The policy file, ``apiVersion: mlwarden.dev/policy/v1``: pydantic models and a strict YAML loader.

Unknown keys are rejected everywhere, because a misspelt key (``max_severty``) silently ignored is a
rule silently not enforced. YAML is read with PyYAML's safe loader, with duplicate keys and aliases
refused for the same reason. Every error is one line naming the file and the key path::

    policy.yaml: rules[2].max: 'hgh' is not one of none, info, low, medium, high, critical
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mlwarden.policy.errors import InvalidPolicyError

API_VERSION = "mlwarden.dev/policy/v1"
KIND = "Policy"
HINT = "see docs/policy.md, or run 'mlwarden policy validate FILE'"

ScanSeverity = Literal["none", "info", "low", "medium", "high", "critical"]
CapabilitySeverity = Literal["none", "low", "medium", "high"]
Enforcement = Literal["enforce", "warn"]

FORMAT_GROUPS: dict[str, frozenset[str]] = {
    # Formats whose loading runs pickle, i.e. arbitrary code: never safe to load from an untrusted source.
    "pickle-based": frozenset({"pickle", "pytorch-zip", "pytorch-legacy", "joblib", "dill"}),
    "archives": frozenset({"zip", "tar", "7z", "gzip", "bz2", "xz", "lz4", "lzma", "zlib"}),
}
FORMATS = frozenset(
    {
        *FORMAT_GROUPS["pickle-based"],
        *FORMAT_GROUPS["archives"],
        *"numpy npz keras hdf5 savedmodel graphdef onnx gguf safetensors protobuf".split(),
        *"json text python jinja unknown empty unreadable".split(),
    }
)
"""Every format name the scanner reports; a policy naming another is a typo, and is refused."""

ATTESTATION_KINDS = ("scan", "capability", "provenance", "dataset", "approval")
METADATA_FIELDS = ("license", "model_type", "architectures", "sources")
_RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$"


def _fingerprint(value: str) -> str:
    text = value.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError(
            f"{value!r} is not a key fingerprint (64 hex digits: the SHA-256 of the public key PEM)"
        )
    return text


def _format_name(value: str) -> str:
    if value not in FORMATS and value not in FORMAT_GROUPS:
        known = ", ".join(sorted(FORMATS | FORMAT_GROUPS.keys()))
        raise ValueError(f"unknown format {value!r} (known: {known})")
    return value


def _attestation_kind(value: str) -> str:
    if value not in ATTESTATION_KINDS and ":" not in value:
        raise ValueError(
            f"unknown attestation kind {value!r} (use {', '.join(ATTESTATION_KINDS)} or a predicate type URI)"
        )
    return value


Fingerprint = Annotated[str, AfterValidator(_fingerprint)]
FormatName = Annotated[str, AfterValidator(_format_name)]
AttestationKind = Annotated[str, AfterValidator(_attestation_kind)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityRef(_Model):
    """A certificate or Sigstore identity; ``issuer`` pins the OIDC issuer when given."""

    identity: NonEmpty
    issuer: str | None = None


class Principals(_Model):
    """Signers named by key fingerprint or by identity; used for roles and signer allow-lists."""

    keys: list[Fingerprint] = []
    identities: list[IdentityRef] = []

    def __len__(self) -> int:
        return len(self.keys) + len(self.identities)


class RuleBase(_Model):
    id: Annotated[str, Field(pattern=_RULE_ID)] | None = None
    description: str = ""
    enforcement: Enforcement | None = None
    when: NonEmpty | None = None
    """A CEL condition; when it is false the rule is skipped."""


class MaxSeverityRule(RuleBase):
    type: Literal["max_severity"]
    max: ScanSeverity


class SignaturesRule(RuleBase):
    type: Literal["signatures"]
    min: int = Field(1, ge=1)
    keys: list[Fingerprint] = []
    identities: list[IdentityRef] = []


class AttestationsRule(RuleBase):
    type: Literal["attestations"]
    require: Annotated[list[AttestationKind], Field(min_length=1)]
    trusted_builders: list[NonEmpty] = []
    signers: Principals | None = None


class FormatsRule(RuleBase):
    type: Literal["formats"]
    allow: list[FormatName] | None = None
    deny: list[FormatName] | None = None


class CapabilityRule(RuleBase):
    type: Literal["capability"]
    max_severity: CapabilitySeverity = "medium"
    capabilities: list[NonEmpty] = []
    unless_approved: bool = True
    approver_role: NonEmpty = "approvers"
    scope: str | None = None


class LicenseRule(RuleBase):
    type: Literal["license"]
    allow: list[NonEmpty] = []
    deny: list[NonEmpty] = []
    require: bool = False


class MetadataMatch(_Model):
    model_type: list[NonEmpty] = []
    architectures: list[NonEmpty] = []
    sources: list[NonEmpty] = []


class MetadataRule(RuleBase):
    type: Literal["metadata"]
    require: list[Literal["license", "model_type", "architectures", "sources"]] = []
    allow: MetadataMatch | None = None
    deny: MetadataMatch | None = None


class CelRule(RuleBase):
    type: Literal["cel"]
    expr: NonEmpty
    message: str | None = None


AnyRule = (
    MaxSeverityRule
    | SignaturesRule
    | AttestationsRule
    | FormatsRule
    | CapabilityRule
    | LicenseRule
    | MetadataRule
    | CelRule
)
Rule = Annotated[AnyRule, Field(discriminator="type")]
RULE_TYPES = (
    "max_severity",
    "signatures",
    "attestations",
    "formats",
    "capability",
    "license",
    "metadata",
    "cel",
)


class Waiver(_Model):
    """An accepted exception: a whole rule, or the findings or files of one rule that match."""

    rule: NonEmpty
    finding: NonEmpty | None = None
    file: NonEmpty | None = None
    owner: NonEmpty
    reason: NonEmpty
    expires: dt.date

    def describe(self) -> str:
        """``rule`` or ``rule (finding X in glob)``, as named in reasons."""
        parts = [f"finding {self.finding}" if self.finding else "", f"file {self.file}" if self.file else ""]
        detail = ", ".join(p for p in parts if p)
        return f"{self.rule} ({detail})" if detail else self.rule


class PolicyDocument(_Model):
    """A whole policy file."""

    apiVersion: Literal["mlwarden.dev/policy/v1"]  # noqa: N815 - the key as written in the file
    kind: Literal["Policy"]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None
    description: str = ""
    mode: Enforcement = "enforce"
    roles: dict[NonEmpty, Principals] = {}
    rules: list[Rule] = []
    waivers: list[Waiver] = []

    def rule_ids(self) -> list[str]:
        """Each rule's id: the one given, else its type."""
        return [rule.id or rule.type for rule in self.rules]


def parse_policy(text: str, source: str) -> PolicyDocument:
    """YAML text → a checked :class:`PolicyDocument`; raises :class:`InvalidPolicyError` (one line)."""
    from mlwarden.policy._validation import describe  # noqa: PLC0415

    data = load_yaml(text, source)
    if data is None:
        raise InvalidPolicyError(f"{source}: the policy is empty; an empty policy denies", hint=HINT)
    if not isinstance(data, dict):
        raise InvalidPolicyError(f"{source}: a policy must be a YAML mapping", hint=HINT)
    api = data.get("apiVersion")
    if api != API_VERSION:  # first, so a future version is named as such rather than as unknown keys
        got = "missing" if api is None else f"{api!r} is not supported"
        raise InvalidPolicyError(f"{source}: apiVersion: {got} (expected {API_VERSION})", hint=HINT)
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicyError(f"{source}: {describe(exc, PolicyDocument)}", hint=HINT) from None
    _check_references(document, source)
    return document


def _check_references(doc: PolicyDocument, source: str) -> None:
    """What a schema cannot say: unique ids, and every name a rule or waiver refers to exists."""

    def fail(path: str, message: str) -> None:
        raise InvalidPolicyError(f"{source}: {path}: {message}", hint=HINT)

    if not doc.rules:
        fail("rules", "the policy has no rules; an empty policy denies")
    ids = doc.rule_ids()
    seen: dict[str, int] = {}
    for index, (rule, rule_id) in enumerate(zip(doc.rules, ids, strict=True)):
        where = f"rules[{index}]"
        if rule_id in seen:
            fail(
                f"{where}.id",
                f"duplicate rule id {rule_id!r} (rules[{seen[rule_id]}] has it); give each rule its own id",
            )
        seen[rule_id] = index
        if isinstance(rule, FormatsRule) and (rule.allow is None) == (rule.deny is None):
            fail(where, "a formats rule takes exactly one of allow or deny")
        if isinstance(rule, CapabilityRule) and rule.unless_approved and rule.approver_role not in doc.roles:
            fail(f"{where}.approver_role", f"role {rule.approver_role!r} is not defined under roles")
        if isinstance(rule, AttestationsRule) and rule.trusted_builders and "provenance" not in rule.require:
            fail(f"{where}.trusted_builders", "only applies to provenance; add provenance to require")
        if isinstance(rule, SignaturesRule):
            listed = len(rule.keys) + len(rule.identities)
            if listed and listed < rule.min:
                fail(f"{where}.min", f"{rule.min} signers required but only {listed} allowed")
    for index, waiver in enumerate(doc.waivers):
        where = f"waivers[{index}]"
        if waiver.rule not in seen:
            fail(f"{where}.rule", f"no rule has id {waiver.rule!r} (ids: {', '.join(ids)})")
        rule = doc.rules[seen[waiver.rule]]
        if waiver.finding is not None and not isinstance(rule, MaxSeverityRule):
            fail(f"{where}.finding", f"rule {waiver.rule!r} has no findings to waive (only max_severity has)")
        if waiver.file is not None and not isinstance(rule, MaxSeverityRule | FormatsRule):
            fail(
                f"{where}.file", f"rule {waiver.rule!r} has no files to waive (max_severity and formats have)"
            )


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys and aliases; errors are one line with a position."""
    import yaml  # noqa: PLC0415

    class _Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "YAML aliases are not supported in policies", event.start_mark
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            keys: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                keys.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise InvalidPolicyError(f"{where}: {problem}", hint="fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise InvalidPolicyError(
            f"{source}: {' '.join(str(exc).split())}", hint="fix the YAML syntax"
        ) from None
