"""Evaluation as a whole: the shipped policies, determinism, the decision document, a 50-rule policy."""

from __future__ import annotations

import statistics
import time
from typing import Any

from mlwarden.policy import Decision, Outcome, Policy, evaluate, load_policy, validate_evidence

from .samples import (
    APPROVER_KEY,
    approval,
    deepfake,
    evidence,
    finding,
    key,
    person,
    policy,
    provenance,
    with_findings,
)


def outcomes(decision: Decision) -> dict[str, Outcome]:
    return {o.rule_id: o.outcome for o in decision.outcomes}


def unsigned() -> dict[str, Any]:
    return evidence(
        signatures__signers=[], signatures__verified=False, signatures__error="no signature given"
    )


def pickled() -> dict[str, Any]:
    doc = evidence(attestations=[provenance("https://ci.example.com/builder")])
    doc["subject"]["files"].append({"path": "pytorch_model.bin", "size": 10, "format": "pytorch-zip"})
    doc["subject"]["formats"] = ["json", "pytorch-zip", "safetensors"]
    return doc


def production_with_approver() -> Policy:
    text = load_policy("production").text.replace("keys: []        #", f"keys: ['{APPROVER_KEY}']  #")
    assert APPROVER_KEY in text
    return Policy.from_yaml(text, "production-approvers.yaml")


# --------------------------------------------------------------------------- shipped policies


def test_baseline_allows_a_signed_clean_model() -> None:
    decision = evaluate(load_policy("baseline"), evidence())
    assert decision.allowed and outcomes(decision) == {
        "no-high-findings": Outcome.PASS,
        "signed": Outcome.PASS,
    }


def test_baseline_denies_an_unsigned_model() -> None:
    decision = evaluate(load_policy("baseline"), unsigned())
    assert not decision.allowed
    assert decision.reasons == ["signed: the model is not signed: no signature given"]


def test_baseline_denies_high_findings() -> None:
    decision = evaluate(load_policy("baseline"), with_findings(evidence(), finding("high")))
    assert not decision.allowed and outcomes(decision)["no-high-findings"] is Outcome.FAIL


def test_production_denies_pickle() -> None:
    decision = evaluate(load_policy("production"), pickled())
    assert not decision.allowed
    assert decision.reasons == [
        "safe-formats: 1 file(s) in a refused format: pytorch_model.bin (pytorch-zip)"
    ]


def test_production_requires_provenance() -> None:
    decision = evaluate(load_policy("production"), evidence())
    assert decision.reasons == ["provenance: missing attestation(s): provenance"]


def test_production_deepfake_needs_an_approval_and_an_approver() -> None:
    doc = deepfake(evidence(attestations=[provenance("https://ci.example.com/builder")]))
    doc["approvals"] = [approval(key(APPROVER_KEY))]
    shipped = evaluate(load_policy("production"), doc)  # nobody holds the role until the policy names them
    assert not shipped.allowed and outcomes(shipped)["deepfake-approval"] is Outcome.FAIL
    named = evaluate(production_with_approver(), doc)
    assert named.allowed, named.reasons
    doc["approvals"] = [approval(key(APPROVER_KEY), "c" * 64)]
    assert not evaluate(production_with_approver(), doc).allowed


def test_production_allows_a_clean_signed_model_with_provenance() -> None:
    doc = evidence(attestations=[provenance("https://ci.example.com/builder")])
    assert evaluate(load_policy("production"), doc).allowed


def test_dev_warns_but_allows() -> None:
    doc = deepfake(with_findings(pickled(), finding("critical")))
    doc["signatures"] = {"verified": False, "error": "no signature given", "signers": []}
    decision = evaluate(load_policy("dev"), doc)
    assert decision.allowed and decision.mode == "warn"
    assert set(outcomes(decision).values()) == {Outcome.FAIL}
    assert all(not o.blocking for o in decision.outcomes)
    assert decision.summary().startswith("ALLOWED by dev with 4 warning(s)")


# --------------------------------------------------------------------------- the engine


def test_evaluation_is_deterministic_and_reads_its_time_from_the_evidence() -> None:
    loaded = load_policy("production")
    doc = deepfake(pickled())
    first = evaluate(loaded, doc).to_dict()
    assert all(evaluate(loaded, doc).to_dict() == first for _ in range(3))
    assert first["time"] == doc["time"]


def test_typed_evidence_is_accepted_too() -> None:
    doc = with_findings(evidence(), finding("critical", construct="os.system"))
    typed = validate_evidence(doc)
    cel = policy("- {id: c, type: cel, expr: \"evidence.scan.findings[0].construct == 'os.system'\"}")
    assert evaluate(Policy.from_yaml(cel), typed).allowed
    assert (
        evaluate(load_policy("baseline"), typed).to_dict() == evaluate(load_policy("baseline"), doc).to_dict()
    )


def test_a_policy_without_rules_built_by_hand_denies() -> None:
    loaded = Policy.from_yaml(policy("- {type: signatures}"))
    empty = Policy(loaded.document.model_copy(update={"rules": []}), "by-hand", "")
    decision = evaluate(empty, evidence())
    assert not decision.allowed and decision.error == "the policy has no rules; an empty policy denies"


def test_decision_document() -> None:
    text = policy(
        "- {id: no-high, type: max_severity, max: medium, description: no high findings}\n"
        "- {type: signatures}",
        extra="waivers:\n  - {rule: no-high, owner: ana, reason: r, expires: 2026-12-31}\n",
    )
    doc = with_findings(evidence(), finding("high"))
    result = evaluate(Policy.from_yaml(text, "p.yaml"), doc).to_dict()
    assert result["decision_version"] == 1 and result["allowed"] is True and result["decision"] == "allow"
    assert result["policy"] == {"name": "test", "source": "p.yaml", "engine": "mlwarden"}
    assert result["subject"] == {"path": "models/face", "name": "face", "root_digest": "a" * 64}
    assert result["counts"] == {"pass": 1, "fail": 0, "waived": 1, "error": 0, "skipped": 0}
    rule = result["rules"][0]
    assert (rule["rule_id"], rule["outcome"], rule["description"]) == (
        "no-high",
        "waived",
        "no high findings",
    )
    assert rule["waivers"][0]["owner"] == "ana"
    assert result["waivers_used"][0]["waived"] == ["high pickle/dangerous-global in model.pkl"]
    assert result["expired_waivers"] == [] and result["reasons"] == [] and result["error"] is None


def test_identity_signers_and_approvers_together() -> None:
    doc = deepfake(evidence(signatures__signers=[person("dev@example.com")]))
    doc["approvals"] = [approval(person("lead@example.com"))]
    rules = "- {type: signatures, identities: [{identity: dev@example.com}]}\n- {type: capability}"
    assert evaluate(Policy.from_yaml(policy(rules)), doc).allowed


# --------------------------------------------------------------------------- performance


CEL_RULES = {
    "a": "evidence.scan.findings.all(f, severity[f.severity] < 5)",
    "b": "evidence.subject.files.all(f, f.size < 1000000000)",
    "c": "evidence.subject.files.exists(f, f.format == 'json')",
    "d": "evidence.signatures.verified && now > timestamp('2026-01-01T00:00:00Z')",
    "e": "size(evidence.scan.findings) == evidence.scan.counts.info + evidence.scan.counts.low"
    " + evidence.scan.counts.medium + evidence.scan.counts.high",
}


def fifty_rules() -> str:
    """25 built-in and 25 CEL rules, the mix bench/policy_eval.py measures."""
    rules = []
    for i in range(5):
        rules += [
            f"- {{id: sev-{i}, type: max_severity, max: critical}}",
            f"- {{id: sig-{i}, type: signatures}}",
            f"- {{id: fmt-{i}, type: formats, deny: [pickle-based]}}",
            f"- {{id: cap-{i}, type: capability, max_severity: high}}",
            f"- {{id: lic-{i}, type: license, deny: ['cc-by-nc-*']}}",
        ]
        rules += [f"- {{id: cel-{name}{i}, type: cel, expr: {expr!r}}}" for name, expr in CEL_RULES.items()]
    return "\n".join(rules)


def big_evidence() -> dict[str, Any]:
    doc = evidence()
    doc["subject"]["files"] = [
        {"path": f"shard-{i:03}.safetensors", "size": 1 << 20, "format": "safetensors"} for i in range(49)
    ] + [{"path": "config.json", "size": 500, "format": "json"}]
    severities = ["info", "low", "medium", "high"]
    return with_findings(
        doc,
        *(finding(severities[i % 4], f"rule/{i % 17}", f"shard-{i % 49:03}.safetensors") for i in range(200)),
    )


def test_fifty_rules_over_realistic_evidence() -> None:
    """Prints the time; benchmarks, not tests, judge it (bench/policy_eval.py, target 50 ms)."""
    loaded = Policy.from_yaml(policy(fifty_rules()))
    assert len(loaded.document.rules) == 50
    doc = big_evidence()
    decision = evaluate(loaded, doc)
    assert decision.allowed, decision.reasons
    assert len(decision.outcomes) == 50
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        evaluate(loaded, doc)
        runs.append(time.perf_counter() - started)
    print(f"\n50-rule policy over 200 findings and 50 files: median {statistics.median(runs) * 1000:.2f} ms")
