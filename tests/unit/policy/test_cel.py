"""CEL rules on the official runtime: compile errors make the policy invalid, runtime errors fail the rule."""

from __future__ import annotations

import pytest

from mlwarden.policy import InvalidPolicyError, Outcome, Policy, evaluate

from .samples import deepfake, evidence, finding, policy, with_findings


def cel(expr: str, **extra: str) -> str:
    fields = "".join(f", {k}: {v!r}" for k, v in extra.items())
    return f"- {{id: custom, type: cel, expr: {expr!r}{fields}}}"


def outcome_of(rules: str, doc: dict[str, object] | None = None) -> tuple[Outcome, str]:
    decision = evaluate(Policy.from_yaml(policy(rules), "p.yaml"), doc or evidence())
    first = decision.outcomes[0]
    return first.outcome, first.reason


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("evidence.scan.counts.critical == 0", Outcome.PASS),
        ("evidence.signatures.verified && size(evidence.signatures.signers) >= 2", Outcome.FAIL),
        ("evidence.subject.formats.all(f, f in ['json', 'safetensors'])", Outcome.PASS),
        ("evidence.subject.files.exists(f, f.path.endsWith('.pkl'))", Outcome.FAIL),
        ("evidence.subject.root_digest != null", Outcome.PASS),
        ("evidence.metadata.license.lowerAscii() == 'apache-2.0'", Outcome.PASS),  # strings extension
        ("now == timestamp('2026-11-28T12:00:00Z')", Outcome.PASS),
        ("now < timestamp('2026-01-01T00:00:00Z')", Outcome.FAIL),
        ("severity[evidence.scan.max_severity] < severity.high", Outcome.PASS),
        ("severity_rank(evidence.scan.max_severity) < severity_rank('high')", Outcome.PASS),
        ("severity_rank('bogus') == -1 && severity.critical == 5", Outcome.PASS),
        ("evidence.time.startsWith('2026-')", Outcome.PASS),
    ],
)
def test_expressions_see_evidence_and_now(expr: str, expected: Outcome) -> None:
    outcome, reason = outcome_of(cel(expr))
    assert outcome is expected, reason


def test_false_expression_fails_with_its_message() -> None:
    doc = with_findings(evidence(), finding("high"))
    expr = "evidence.scan.findings.filter(f, severity[f.severity] >= severity.high).size() == 0"
    assert outcome_of(cel(expr, message="no high finding at all"), doc) == (
        Outcome.FAIL,
        "no high finding at all",
    )
    assert outcome_of(cel(expr), doc) == (Outcome.FAIL, f"expression is false: {expr}")


def test_capability_families_in_cel() -> None:
    expr = "evidence.capability.families.all(f, f.confidence < 0.9 || f.severity != 'high')"
    assert outcome_of(cel(expr), deepfake(evidence()))[0] is Outcome.FAIL
    assert outcome_of(cel(expr), evidence())[0] is Outcome.PASS


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "evidence.scan.counts.critical ==",
            "rules[0].expr: CEL: 1:33: Syntax error: mismatched input '<EOF>'",
        ),
        (
            "evidnce.scan.max_severity == 'none'",
            "rules[0].expr: CEL: 1:13: undeclared reference to 'evidnce.scan.max_severity'",
        ),
        ("'a string'", "rules[0].expr: CEL: the expression is a string, not a bool"),
        ("size(evidence.subject.files)", "rules[0].expr: CEL: the expression is a int, not a bool"),
        ("severity[3] > 1", "rules[0].expr: CEL: 1:9: found no matching overload for '_[_]'"),
        ("severity_rank(3) > 1", "rules[0].expr: CEL: 1:14: found no matching overload for 'severity_rank'"),
    ],
)
def test_compile_errors_make_the_policy_invalid(expr: str, message: str) -> None:
    with pytest.raises(InvalidPolicyError) as caught:
        Policy.from_yaml(policy(cel(expr)), "p.yaml")
    assert caught.value.message.startswith(f"p.yaml: {message}"), caught.value.message
    assert "\n" not in caught.value.message


def test_a_compile_error_in_when_makes_the_policy_invalid() -> None:
    with pytest.raises(InvalidPolicyError, match=r"p.yaml: rules\[0\].when: CEL: .*Syntax error"):
        Policy.from_yaml(policy("- {type: signatures, when: 'evidence.'}"), "p.yaml")


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("evidence.scan.nope == 1", 'CEL error: Key not found in map : "nope"'),
        ("evidence.subject.total_bytes / 0 == 1", "CEL error: divide by zero"),
        ("evidence.subject.name", "CEL error: the expression gave a string, not a bool"),
        ("severity['severe'] > 1", 'CEL error: Key not found in map : "severe"'),
        ("evidence.subject.files[5].size > 0", "CEL error: Index error: index=5 size=2"),
    ],
)
def test_runtime_errors_fail_that_rule_only(expr: str, reason: str) -> None:
    rules = cel(expr) + "\n- {type: signatures}"
    decision = evaluate(Policy.from_yaml(policy(rules)), evidence())
    custom, signatures = decision.outcomes
    assert custom.outcome is Outcome.ERROR and custom.reason.startswith(reason), custom.reason
    assert signatures.outcome is Outcome.PASS
    assert not decision.allowed  # an error denies: the engine fails closed


def test_when_skips_a_rule() -> None:
    rule = "- {type: max_severity, max: medium, when: \"evidence.subject.name != 'face'\"}"
    doc = with_findings(evidence(), finding("critical"))
    assert outcome_of(rule, doc) == (Outcome.SKIPPED, "when is false")
    doc["subject"]["name"] = "other"
    assert outcome_of(rule, doc)[0] is Outcome.FAIL


def test_an_error_in_when_is_the_rule_error() -> None:
    rule = "- {type: signatures, when: 'evidence.missing'}"
    outcome, reason = outcome_of(rule)
    assert outcome is Outcome.ERROR and reason.startswith("CEL error in when: Key not found in map")


def test_compiled_once_per_policy() -> None:
    loaded = Policy.from_yaml(policy(cel("true") + "\n- {type: signatures, when: 'true'}"))
    assert set(loaded.programs) == {(0, "expr"), (1, "when")}
    programs = dict(loaded.programs)
    for _ in range(3):
        evaluate(loaded, evidence())
    assert dict(loaded.programs) == programs
