"""The rule matrix: every built-in rule allowing and denying, and the capability rule's approvals."""

from __future__ import annotations

from typing import Any

import pytest

from mlwarden.policy import Decision, Outcome, Policy, evaluate

from .samples import (
    APPROVER_KEY,
    DIGEST,
    OTHER_DIGEST,
    PUBLISHER_KEY,
    STRANGER_KEY,
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


def judge(rules: str, doc: dict[str, Any], *, extra: str = "") -> Decision:
    return evaluate(Policy.from_yaml(policy(rules, extra=extra), "test.yaml"), doc)


def only(decision: Decision) -> tuple[Outcome, str]:
    assert len(decision.outcomes) == 1
    outcome = decision.outcomes[0]
    assert decision.allowed == (outcome.outcome is not Outcome.FAIL and outcome.outcome is not Outcome.ERROR)
    return outcome.outcome, outcome.reason


# --------------------------------------------------------------------------- max_severity


@pytest.mark.parametrize(
    ("limit", "severities", "expected"),
    [
        ("medium", [], Outcome.PASS),
        ("medium", ["low", "medium"], Outcome.PASS),
        ("medium", ["high"], Outcome.FAIL),
        ("medium", ["info", "critical"], Outcome.FAIL),
        ("high", ["high"], Outcome.PASS),
        ("none", ["info"], Outcome.FAIL),
        ("critical", ["critical"], Outcome.PASS),
    ],
)
def test_max_severity(limit: str, severities: list[str], expected: Outcome) -> None:
    doc = with_findings(evidence(), *(finding(s) for s in severities))
    outcome, reason = only(judge(f"- {{type: max_severity, max: {limit}}}", doc))
    assert outcome is expected, reason


def test_max_severity_names_the_findings_and_their_files() -> None:
    doc = with_findings(
        evidence(),
        finding("critical", "pickle/dangerous-global", "weights/model.pkl", "os.system"),
        finding("high", "zip/crc-mismatch", "weights/archive.zip"),
    )
    decision = judge("- {type: max_severity, max: medium}", doc)
    outcome = decision.outcomes[0]
    assert outcome.reason.startswith("2 finding(s) above medium: critical pickle/dangerous-global")
    assert "(os.system)" in outcome.reason
    assert outcome.files == ("weights/model.pkl", "weights/archive.zip")


def test_max_severity_does_not_trust_a_findings_list_shorter_than_the_counts() -> None:
    doc = with_findings(evidence(), finding("high"))
    doc["scan"]["counts"]["critical"] = 3  # the gate truncated the list: the unlisted ones still count
    doc["scan"]["max_severity"] = "critical"
    extra = """
    waivers:
      - {rule: max_severity, finding: pickle/dangerous-global, owner: ana, reason: known, expires: 2027-01-01}
    """
    outcome, reason = only(judge("- {type: max_severity, max: medium}", doc, extra=extra))
    assert outcome is Outcome.FAIL
    assert "counted 4 finding(s) above medium" in reason


# --------------------------------------------------------------------------- signatures


def test_signatures_pass_with_any_verified_signer() -> None:
    outcome, reason = only(judge("- {type: signatures}", evidence()))
    assert outcome is Outcome.PASS and PUBLISHER_KEY[:16] in reason


def test_signatures_unsigned_model_fails() -> None:
    doc = evidence(signatures__signers=[], signatures__verified=False, signatures__error="no signature given")
    outcome, reason = only(judge("- {type: signatures}", doc))
    assert outcome is Outcome.FAIL and reason == "the model is not signed: no signature given"


def test_signatures_verification_failure_fails() -> None:
    doc = evidence(signatures__verified=False, signatures__error="model.safetensors was modified")
    outcome, reason = only(judge("- {type: signatures}", doc))
    assert outcome is Outcome.FAIL and "model.safetensors was modified" in reason


def test_signatures_by_allowed_key() -> None:
    allowed = (
        f"- {{type: signatures, keys: ['{PUBLISHER_KEY.upper()}']}}"  # fingerprints are case-insensitive
    )
    assert only(judge(allowed, evidence()))[0] is Outcome.PASS
    other = f"- {{type: signatures, keys: ['{STRANGER_KEY}']}}"
    outcome, reason = only(judge(other, evidence()))
    assert outcome is Outcome.FAIL and "0 of 1" in reason and "not allowed: key 1111" in reason


def test_signatures_by_identity_and_issuer() -> None:
    doc = evidence(signatures__signers=[person("release@example.com")])
    rule = "- {type: signatures, identities: [{identity: release@example.com, issuer: https://accounts.example.com}]}"
    assert only(judge(rule, doc))[0] is Outcome.PASS
    wrong_issuer = (
        "- {type: signatures, identities: [{identity: release@example.com, issuer: https://evil.example}]}"
    )
    assert only(judge(wrong_issuer, doc))[0] is Outcome.FAIL
    any_issuer = "- {type: signatures, identities: [{identity: release@example.com}]}"
    assert only(judge(any_issuer, doc))[0] is Outcome.PASS


def test_signatures_min_counts_distinct_allowed_signers() -> None:
    two = evidence(signatures__signers=[key(PUBLISHER_KEY), key(APPROVER_KEY), key(PUBLISHER_KEY)])
    rule = f"- {{type: signatures, min: 2, keys: ['{PUBLISHER_KEY}', '{APPROVER_KEY}']}}"
    assert only(judge(rule, two))[0] is Outcome.PASS
    one = evidence(signatures__signers=[key(PUBLISHER_KEY), key(PUBLISHER_KEY)])
    outcome, reason = only(judge(rule, one))
    assert outcome is Outcome.FAIL and "1 of 2" in reason


# --------------------------------------------------------------------------- attestations


def test_attestations_required_kinds() -> None:
    doc = evidence(
        attestations=[
            attestation("scan", "https://mlwarden.dev/attestation/scan/v1"),
            attestation("dataset", "https://mlwarden.dev/attestation/dataset-manifest/v1"),
        ]
    )
    assert only(judge("- {type: attestations, require: [scan, dataset]}", doc))[0] is Outcome.PASS
    uri = "- {type: attestations, require: ['https://mlwarden.dev/attestation/dataset-manifest/v1']}"
    assert only(judge(uri, doc))[0] is Outcome.PASS
    outcome, reason = only(judge("- {type: attestations, require: [scan, capability, provenance]}", doc))
    assert outcome is Outcome.FAIL and reason == "missing attestation(s): capability; provenance"


def test_attestations_provenance_from_a_trusted_builder() -> None:
    doc = evidence(attestations=[provenance("https://ci.example.com/builders/gpu@v2")])
    exact = "- {type: attestations, require: [provenance], trusted_builders: [https://ci.example.com/builders/gpu@v2]}"
    assert only(judge(exact, doc))[0] is Outcome.PASS
    prefix = "- {type: attestations, require: [provenance], trusted_builders: ['https://ci.example.com/*']}"
    assert only(judge(prefix, doc))[0] is Outcome.PASS
    other = (
        "- {type: attestations, require: [provenance], trusted_builders: [https://ci.example.org/builder]}"
    )
    outcome, reason = only(judge(other, doc))
    assert outcome is Outcome.FAIL
    assert "built by https://ci.example.com/builders/gpu@v2, not trusted" in reason


def test_attestations_from_allowed_signers_only() -> None:
    doc = evidence(
        attestations=[attestation("scan", "https://mlwarden.dev/attestation/scan/v1", signer=STRANGER_KEY)]
    )
    rule = f"- {{type: attestations, require: [scan], signers: {{keys: ['{PUBLISHER_KEY}']}}}}"
    outcome, reason = only(judge(rule, doc))
    assert outcome is Outcome.FAIL and "not an allowed signer" in reason
    rule = f"- {{type: attestations, require: [scan], signers: {{keys: ['{STRANGER_KEY}']}}}}"
    assert only(judge(rule, doc))[0] is Outcome.PASS


# --------------------------------------------------------------------------- formats


def pickled() -> dict[str, Any]:
    doc = evidence()
    doc["subject"]["files"].append({"path": "legacy/model.pt", "size": 99, "format": "pytorch-zip"})
    doc["subject"]["formats"] = ["json", "pytorch-zip", "safetensors"]
    return doc


def test_formats_deny_pickle_based() -> None:
    assert only(judge("- {type: formats, deny: [pickle-based]}", evidence()))[0] is Outcome.PASS
    decision = judge("- {type: formats, deny: [pickle-based]}", pickled())
    outcome, reason = only(decision)
    assert (
        outcome is Outcome.FAIL and reason == "1 file(s) in a refused format: legacy/model.pt (pytorch-zip)"
    )
    assert decision.outcomes[0].files == ("legacy/model.pt",)


def test_formats_inside_containers_count_too() -> None:
    """A PyTorch zip is a zip file holding a pickle: subject.formats names the pickle."""
    doc = evidence()
    doc["subject"]["files"].append({"path": "model.pt", "size": 99, "format": "zip"})
    doc["subject"]["formats"] = ["json", "pickle", "safetensors", "zip"]
    decision = judge("- {type: formats, deny: [pickle-based]}", doc)
    outcome, reason = only(decision)
    assert outcome is Outcome.FAIL and reason == "refused format(s) inside containers: pickle"
    waived = judge(
        "- {type: formats, deny: [pickle-based]}",
        doc,
        extra="waivers:\n  - {rule: formats, file: '*.pt', owner: a, reason: b, expires: 2027-01-01}\n",
    )
    assert only(waived)[0] is Outcome.FAIL  # no file glob names a member: only a whole-rule waiver would
    assert only(judge("- {type: formats, allow: [json, safetensors, zip]}", doc))[0] is Outcome.FAIL


def test_formats_inside_a_named_file_are_waivable_per_file() -> None:
    """With ``contains`` (what the gate records), the file holding the pickle is named and waivable."""
    doc = evidence()
    doc["subject"]["files"].append({"path": "model.pt", "size": 99, "format": "zip", "contains": ["pickle"]})
    doc["subject"]["formats"] = ["json", "pickle", "safetensors", "zip"]
    decision = judge("- {type: formats, deny: [pickle-based]}", doc)
    outcome, reason = only(decision)
    assert (
        outcome is Outcome.FAIL
        and reason == "1 file(s) in a refused format: model.pt (zip containing pickle)"
    )
    assert decision.outcomes[0].files == ("model.pt",)
    waiver = "waivers:\n  - {rule: formats, file: '*.pt', owner: a, reason: b, expires: 2099-01-01}\n"
    assert only(judge("- {type: formats, deny: [pickle-based]}", doc, extra=waiver))[0] is Outcome.WAIVED


def test_formats_allow_list() -> None:
    rule = "- {type: formats, allow: [safetensors, json]}"
    assert only(judge(rule, evidence()))[0] is Outcome.PASS
    outcome, reason = only(judge(rule, pickled()))
    assert outcome is Outcome.FAIL and "outside the allow-list: legacy/model.pt" in reason


# --------------------------------------------------------------------------- capability and approvals

CAPABILITY = "- {type: capability, max_severity: medium, unless_approved: true}"


def test_capability_below_the_limit_passes() -> None:
    assert only(judge(CAPABILITY, deepfake(evidence(), "medium")))[0] is Outcome.PASS
    assert only(judge(CAPABILITY, evidence()))[0] is Outcome.PASS


def test_capability_without_approval_fails() -> None:
    outcome, reason = only(judge(CAPABILITY, deepfake(evidence())))
    assert outcome is Outcome.FAIL
    assert reason.startswith("high deepfake capability (face_swap) needs an approval for aaaaaaaaaaaaaaaa")
    assert reason.endswith("none found")


def test_capability_never_approvable_when_unless_approved_is_false() -> None:
    doc = deepfake(evidence(approvals=[approval(key(APPROVER_KEY))]))
    outcome, reason = only(judge("- {type: capability, max_severity: medium, unless_approved: false}", doc))
    assert outcome is Outcome.FAIL and reason == "high deepfake capability (face_swap) is above medium"


def test_capability_approved_by_an_approver_for_this_digest_passes() -> None:
    doc = deepfake(evidence(approvals=[approval(key(APPROVER_KEY))]))
    outcome, reason = only(judge(CAPABILITY, doc))
    assert outcome is Outcome.PASS
    assert "approved by key 2222222222222222…" in reason and "research use" in reason


def test_capability_approved_by_an_identity_holding_the_role() -> None:
    doc = deepfake(evidence(approvals=[approval(person("lead@example.com"))]))
    assert only(judge(CAPABILITY, doc))[0] is Outcome.PASS
    doc = deepfake(evidence(approvals=[approval(person("lead@example.com", "https://other-issuer.example"))]))
    outcome, reason = only(judge(CAPABILITY, doc))
    assert outcome is Outcome.FAIL and "does not hold the approvers role" in reason


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"digest": OTHER_DIGEST}, "it is for another digest bbbbbbbbbbbbbbbb…"),
        ({"expires": "2026-11-28T11:59:59Z"}, "it expired on 2026-11-28T11:59:59Z"),
        ({"created": "2026-11-28T12:05:01Z"}, "it is dated 2026-11-28T12:05:01Z, after the evaluation time"),
    ],
)
def test_capability_approval_refused(changes: dict[str, Any], refusal: str) -> None:
    doc = deepfake(evidence(approvals=[approval(key(APPROVER_KEY), **changes)]))
    outcome, reason = only(judge(CAPABILITY, doc))
    assert outcome is Outcome.FAIL
    assert reason.endswith(f"refused approval.att.json: {refusal}")


def test_capability_approval_dated_within_clock_skew_counts() -> None:
    doc = deepfake(evidence(approvals=[approval(key(APPROVER_KEY), created="2026-11-28T12:04:59Z")]))
    assert only(judge(CAPABILITY, doc))[0] is Outcome.PASS


def test_capability_approval_by_someone_without_the_role_refused() -> None:
    doc = deepfake(evidence(approvals=[approval(key(STRANGER_KEY))]))
    outcome, reason = only(judge(CAPABILITY, doc))
    assert outcome is Outcome.FAIL and "key 3333333333333333… does not hold the approvers role" in reason


def test_capability_approval_by_the_signer_themself_refused() -> None:
    """Two-person rule: the approver holds the role but also signed the model."""
    doc = deepfake(evidence(signatures__signers=[key(APPROVER_KEY)], approvals=[approval(key(APPROVER_KEY))]))
    outcome, reason = only(judge(CAPABILITY, doc))
    assert outcome is Outcome.FAIL and "also signed the model (two-person rule)" in reason
    doc = deepfake(
        evidence(
            signatures__signers=[person("lead@example.com")], approvals=[approval(person("lead@example.com"))]
        )
    )
    assert "two-person rule" in only(judge(CAPABILITY, doc))[1]


def test_capability_one_valid_approval_among_refused_ones_is_enough() -> None:
    approvals = [
        approval(key(APPROVER_KEY), OTHER_DIGEST, file="old.att.json"),
        approval(key(APPROVER_KEY), file="new.att.json"),
    ]
    outcome, reason = only(judge(CAPABILITY, deepfake(evidence(approvals=approvals))))
    assert outcome is Outcome.PASS and "(new.att.json)" in reason


def test_capability_approval_without_expiry_and_with_scope() -> None:
    doc = deepfake(evidence(approvals=[approval(key(APPROVER_KEY), expires=None, scope="research")]))
    assert only(judge(CAPABILITY, doc))[0] is Outcome.PASS
    scoped = "- {type: capability, max_severity: medium, scope: production}"
    outcome, reason = only(judge(scoped, doc))
    assert outcome is Outcome.FAIL and "its scope is 'research', not 'production'" in reason


def test_capability_unhashable_model_cannot_be_approved() -> None:
    doc = deepfake(evidence(subject__root_digest=None, approvals=[approval(key(APPROVER_KEY))]))
    outcome, reason = only(judge(CAPABILITY, doc))
    assert outcome is Outcome.FAIL and "no root digest" in reason


def test_capability_limited_to_named_capabilities() -> None:
    doc = deepfake(evidence())
    rule = "- {type: capability, max_severity: medium, unless_approved: false, capabilities: [voice_cloning]}"
    assert only(judge(rule, doc))[0] is Outcome.PASS
    rule = "- {type: capability, max_severity: medium, unless_approved: false, capabilities: [face_swap]}"
    assert only(judge(rule, doc))[0] is Outcome.FAIL


def test_approval_digest_comparison_ignores_case() -> None:
    doc = deepfake(evidence(approvals=[approval(key(APPROVER_KEY), DIGEST.upper())]))
    assert only(judge(CAPABILITY, doc))[0] is Outcome.PASS


# --------------------------------------------------------------------------- license and metadata


@pytest.mark.parametrize(
    ("rule", "license_", "expected"),
    [
        ("{type: license, allow: [apache-2.0, mit]}", "Apache-2.0", Outcome.PASS),
        ("{type: license, allow: [apache-2.0, mit]}", "llama2", Outcome.FAIL),
        ("{type: license, allow: [apache-2.0]}", None, Outcome.FAIL),
        ("{type: license, deny: ['cc-by-nc-*']}", "cc-by-nc-4.0", Outcome.FAIL),
        ("{type: license, deny: ['cc-by-nc-*']}", "cc-by-4.0", Outcome.PASS),
        ("{type: license, require: true}", None, Outcome.FAIL),
        ("{type: license, require: true}", "other", Outcome.PASS),
        ("{type: license, deny: [gpl-3.0]}", None, Outcome.PASS),
    ],
)
def test_license(rule: str, license_: str | None, expected: Outcome) -> None:
    outcome, reason = only(judge(f"- {rule}", evidence(metadata__license=license_)))
    assert outcome is expected, reason


def test_metadata_required_and_matched() -> None:
    rule = """
    - type: metadata
      require: [model_type, sources]
      deny: {architectures: ['*FaceSwap*']}
    """
    doc = evidence(metadata__sources=["hf://org/model"])
    assert only(judge(rule, doc))[0] is Outcome.PASS
    outcome, reason = only(judge(rule, evidence()))
    assert outcome is Outcome.FAIL and reason == "sources is missing"
    doc = evidence(metadata__sources=["x"], metadata__architectures=["InsightFaceSwapper"])
    outcome, reason = only(judge(rule, doc))
    assert outcome is Outcome.FAIL and "architectures 'InsightFaceSwapper' is denied (*FaceSwap*)" in reason


def test_metadata_allow_list() -> None:
    rule = "- {type: metadata, allow: {model_type: [bert, 'llama*']}}"
    assert only(judge(rule, evidence()))[0] is Outcome.PASS
    assert only(judge(rule, evidence(metadata__model_type="Llama3")))[0] is Outcome.PASS
    outcome, reason = only(judge(rule, evidence(metadata__model_type="stylegan")))
    assert outcome is Outcome.FAIL and "model_type 'stylegan' is not allowed" in reason
    outcome, reason = only(judge(rule, evidence(metadata__model_type=None)))
    assert outcome is Outcome.FAIL and "model_type is missing" in reason


# --------------------------------------------------------------------------- enforcement


def test_a_warn_rule_reports_but_does_not_deny() -> None:
    doc = with_findings(evidence(), finding("critical"))
    decision = judge("- {type: max_severity, max: medium, enforcement: warn}\n- {type: signatures}", doc)
    assert decision.allowed
    assert decision.outcomes[0].outcome is Outcome.FAIL and not decision.outcomes[0].blocking
    assert decision.summary().startswith("ALLOWED by test with 1 warning(s) (max_severity)")


def test_warn_mode_allows_everything_and_reports_failures() -> None:
    doc = with_findings(evidence(signatures__signers=[], signatures__verified=False), finding("critical"))
    decision = evaluate(
        Policy.from_yaml(policy("- {type: max_severity, max: medium}\n- {type: signatures}", mode="warn")),
        doc,
    )
    assert decision.allowed and decision.mode == "warn"
    assert [o.outcome for o in decision.outcomes] == [Outcome.FAIL, Outcome.FAIL]
    assert all(o.enforcement == "warn" for o in decision.outcomes)
    assert len(decision.reasons) == 2
