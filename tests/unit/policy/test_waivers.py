"""Waivers: per rule, finding or file, owned and dated; an expired one denies; every use is listed."""

from __future__ import annotations

from typing import Any

from mlwarden.policy import Decision, Outcome, Policy, evaluate

from .samples import evidence, finding, policy, with_findings

RULES = """
- {id: no-high, type: max_severity, max: medium}
- {id: signed, type: signatures}
- {id: safe-formats, type: formats, deny: [pickle-based]}
"""


def decide(waivers: str, doc: dict[str, Any]) -> Decision:
    return evaluate(Policy.from_yaml(policy(RULES, extra="waivers:\n" + waivers)), doc)


def risky() -> dict[str, Any]:
    doc = with_findings(
        evidence(),
        finding("critical", "pickle/dangerous-global", "legacy/a.pkl", "os.system"),
        finding("high", "pickle/unknown-global", "legacy/b.pkl"),
        finding("high", "zip/crc-mismatch", "weights.zip"),
    )
    doc["subject"]["files"] += [
        {"path": "legacy/a.pkl", "size": 10, "format": "pickle"},
        {"path": "legacy/b.pkl", "size": 10, "format": "pickle"},
    ]
    return doc


def by_id(decision: Decision) -> dict[str, Any]:
    return {o.rule_id: o for o in decision.outcomes}


def test_a_whole_rule_waiver_waives_the_rule_and_is_listed() -> None:
    waivers = "  - {rule: no-high, owner: ana, reason: vendor model under review, expires: 2026-12-31}\n"
    waivers += "  - {rule: safe-formats, owner: ana, reason: migrating to safetensors, expires: 2026-12-31}\n"
    decision = decide(waivers, risky())
    assert decision.allowed
    outcome = by_id(decision)["no-high"]
    assert outcome.outcome is Outcome.WAIVED
    assert outcome.reason.startswith(
        "waived by ana until 2026-12-31 (vendor model under review): 3 finding(s)"
    )
    assert [w.owner for w in outcome.waivers] == ["ana"]
    assert [(w.rule, len(w.waived)) for w in decision.waivers_used] == [("no-high", 3), ("safe-formats", 2)]
    assert decision.to_dict()["waivers_used"][0]["reason"] == "vendor model under review"


def test_finding_and_file_waivers_cover_only_what_they_match() -> None:
    waivers = (
        "  - {rule: no-high, finding: pickle/dangerous-global, file: 'legacy/*', owner: bo, reason: r, "
        "expires: 2026-12-31}\n"
        "  - {rule: no-high, file: 'legacy/b.pkl', owner: cy, reason: r, expires: 2026-12-31}\n"
        "  - {rule: no-high, finding: zip/crc-mismatch, file: 'other/*', owner: di, reason: r, "
        "expires: 2026-12-31}\n"
    )
    decision = decide(waivers, risky())
    outcome = by_id(decision)["no-high"]
    assert outcome.outcome is Outcome.FAIL
    assert outcome.reason == "1 finding(s) above medium: high zip/crc-mismatch in weights.zip (2 more waived)"
    assert outcome.files == ("weights.zip",)
    assert [w.owner for w in outcome.waivers] == ["bo", "cy"]
    assert [w.owner for w in decision.waivers_used] == ["bo", "cy"]  # di's matched nothing: not used


def test_when_every_finding_is_waived_the_rule_is_waived() -> None:
    waivers = "  - {rule: no-high, file: '*', owner: bo, reason: r, expires: 2026-12-31}\n"
    outcome = by_id(decide(waivers, risky()))["no-high"]
    assert outcome.outcome is Outcome.WAIVED and outcome.reason.startswith("3 item(s) waived: 3 finding(s)")


def test_file_waivers_for_formats() -> None:
    waivers = "  - {rule: safe-formats, file: 'legacy/a.pkl', owner: bo, reason: r, expires: 2026-12-31}\n"
    outcome = by_id(decide(waivers, risky()))["safe-formats"]
    assert outcome.outcome is Outcome.FAIL
    assert outcome.reason == "1 file(s) in a refused format: legacy/b.pkl (pickle) (1 more waived)"


def test_a_waiver_is_valid_through_its_expiry_date() -> None:
    waivers = "  - {rule: signed, owner: ana, reason: r, expires: 2026-11-28}\n"
    doc = evidence(signatures__signers=[], signatures__verified=False)
    assert by_id(decide(waivers, doc))["signed"].outcome is Outcome.WAIVED
    doc["time"] = "2026-11-29T00:00:00Z"
    assert by_id(decide(waivers, doc))["signed"].outcome is Outcome.FAIL


def test_the_waiver_date_is_judged_in_utc() -> None:
    waivers = "  - {rule: signed, owner: ana, reason: r, expires: 2026-11-28}\n"
    doc = evidence(signatures__signers=[], signatures__verified=False, time="2026-11-29T01:00:00+02:00")
    assert by_id(decide(waivers, doc))["signed"].outcome is Outcome.WAIVED  # still the 28th in UTC


def test_an_expired_waiver_denies() -> None:
    waivers = "  - {rule: signed, owner: ana, reason: r, expires: 2026-11-01}\n"
    doc = evidence(signatures__signers=[], signatures__verified=False)
    decision = decide(waivers, doc)
    assert not decision.allowed
    outcome = by_id(decision)["signed"]
    assert outcome.outcome is Outcome.FAIL
    assert outcome.reason == "the model is not signed; waiver for signed expired on 2026-11-01 (ana)"
    assert [(w.rule, w.owner, w.expires) for w in decision.expired_waivers] == [
        ("signed", "ana", "2026-11-01")
    ]
    assert decision.waivers_used == ()


def test_an_expired_waiver_denies_even_when_its_rule_passes() -> None:
    """Stale exceptions are cleaned up, not left to wake up when the rule next fails."""
    waivers = "  - {rule: signed, owner: ana, reason: r, expires: 2026-11-01}\n"
    decision = decide(waivers, evidence())
    outcome = by_id(decision)["signed"]
    assert (
        outcome.outcome is Outcome.FAIL and outcome.reason == "waiver for signed expired on 2026-11-01 (ana)"
    )
    assert not decision.allowed


def test_an_expired_finding_waiver_names_what_it_covered() -> None:
    waivers = (
        "  - {rule: no-high, finding: zip/crc-mismatch, owner: ana, reason: r, expires: 2026-12-31}\n"
        "  - {rule: no-high, finding: pickle/unknown-global, owner: bo, reason: r, expires: 2025-06-30}\n"
    )
    decision = decide(waivers, risky())
    outcome = by_id(decision)["no-high"]
    assert outcome.outcome is Outcome.FAIL
    assert "2 finding(s) above medium" in outcome.reason
    assert outcome.reason.endswith(
        "waiver for no-high (finding pickle/unknown-global) expired on 2025-06-30 (bo)"
    )
    assert [w.owner for w in decision.waivers_used] == ["ana"]
    assert [w.owner for w in decision.expired_waivers] == ["bo"]


def test_waivers_do_not_cover_errors() -> None:
    text = policy(
        "- {id: custom, type: cel, expr: 'evidence.nope'}",
        extra="waivers:\n  - {rule: custom, owner: ana, reason: r, expires: 2026-12-31}\n",
    )
    decision = evaluate(Policy.from_yaml(text), evidence())
    assert decision.outcomes[0].outcome is Outcome.ERROR and not decision.allowed
