"""Rendering a decision: a table for people, JSON, and SARIF 2.1.0 valid against the official schema."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlwarden.errors import UsageError
from mlwarden.policy import Decision, Policy, evaluate, load_policy, render_decision, to_sarif
from mlwarden.policy.errors import InvalidPolicyError

from .samples import deepfake, evidence, finding, policy, with_findings

SARIF_SCHEMA = Path(__file__).resolve().parents[3] / "tests" / "assets" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def assert_valid(validator: jsonschema.protocols.Validator, document: Any) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def mixed() -> Decision:
    """A deny with a failure at two files, a warning, a waived rule and a CEL error."""
    text = policy(
        """
        - {id: no-high, type: max_severity, max: medium, description: No finding above medium.}
        - {id: signed, type: signatures}
        - {id: formats, type: formats, deny: [pickle-based], enforcement: warn}
        - {id: capability, type: capability}
        - {id: custom, type: cel, expr: 'evidence.nope'}
        """,
        extra="waivers:\n  - {rule: capability, owner: ana, reason: research, expires: 2026-12-31}\n",
    )
    doc = deepfake(
        with_findings(evidence(), finding("critical", file="a.pkl"), finding("high", file="sub/b.pkl"))
    )
    doc["subject"]["files"] += [{"path": "a.pkl", "size": 1, "format": "pickle"}]
    return evaluate(Policy.from_yaml(text, "p.yaml"), doc)


def render(decision: Decision, fmt: str) -> str:
    out = io.StringIO()
    render_decision(decision, fmt, out)
    return out.getvalue()


def test_sarif_is_valid_and_has_one_result_per_failed_rule(
    sarif_validator: jsonschema.protocols.Validator,
) -> None:
    sarif = json.loads(render(mixed(), "sarif"))
    assert_valid(sarif_validator, sarif)
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "mlwarden"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "no-high",
        "signed",
        "formats",
        "capability",
        "custom",
    ]
    assert run["tool"]["driver"]["rules"][0]["shortDescription"]["text"] == "No finding above medium."
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert set(by_rule) == {"no-high", "formats", "capability", "custom"}
    assert by_rule["no-high"]["level"] == "error"
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in by_rule["no-high"]["locations"]]
    assert uris == ["models/face/a.pkl", "models/face/sub/b.pkl"]
    assert by_rule["formats"]["level"] == "warning"
    assert by_rule["custom"]["level"] == "error" and by_rule["custom"]["properties"]["outcome"] == "error"
    custom_uri = by_rule["custom"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert custom_uri == "models/face"  # not about one file: the model
    waived = by_rule["capability"]
    assert waived["level"] == "note"
    assert waived["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "research (owner ana, expires 2026-12-31)",
        }
    ]
    assert run["properties"]["decision"] == "deny"
    assert by_rule["no-high"]["partialFingerprints"]["mlwardenRootDigest/v1"].endswith(":no-high")


def test_sarif_of_an_allowed_decision_has_no_results(sarif_validator: jsonschema.protocols.Validator) -> None:
    sarif = to_sarif(evaluate(load_policy("baseline"), evidence()))
    assert_valid(sarif_validator, sarif)
    assert sarif["runs"][0]["results"] == [] and sarif["runs"][0]["properties"]["decision"] == "allow"


def test_sarif_of_an_invalid_policy(sarif_validator: jsonschema.protocols.Validator) -> None:
    decision = Decision.from_error(
        InvalidPolicyError("p.yaml: rules: the policy has no rules"), source="p.yaml"
    )
    sarif = to_sarif(decision)
    assert_valid(sarif_validator, sarif)
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "policy" and result["level"] == "error"


def test_sarif_for_a_single_file_model_points_at_the_file(
    sarif_validator: jsonschema.protocols.Validator,
) -> None:
    doc = with_findings(evidence(), finding("critical", file="evil.pkl"))
    doc["subject"].update(
        path="downloads/evil.pkl",
        name="evil.pkl",
        files=[{"path": "evil.pkl", "size": 1, "format": "pickle"}],
    )
    sarif = to_sarif(evaluate(load_policy("baseline"), doc))
    assert_valid(sarif_validator, sarif)
    location = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "downloads/evil.pkl"


def test_json_is_the_decision_document() -> None:
    decision = mixed()
    assert json.loads(render(decision, "json")) == decision.to_dict()


def test_table_for_people() -> None:
    text = render(mixed(), "table")
    assert "policy test" in text
    for word in (
        "no-high",
        "fail",
        "fail (warn)",
        "waived",
        "error",
        "waiver capability by ana until 2026-12-31",
    ):
        assert word in text
    assert text.rstrip().splitlines()[-1].startswith("DENIED by test: 2 rule(s) failed (no-high, custom)")


def test_unknown_format() -> None:
    with pytest.raises(UsageError, match="unknown decision format 'xml'"):
        render_decision(mixed(), "xml", io.StringIO())
