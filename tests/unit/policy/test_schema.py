"""The policy file: strict schema, one-line errors naming the key path, and name resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlwarden.policy import Decision, InvalidPolicyError, Policy, load_policy, shipped_names
from mlwarden.policy.schema import FORMATS

from .samples import evidence, policy

HEAD = "apiVersion: mlwarden.dev/policy/v1\nkind: Policy\n"


def error_of(text: str) -> str:
    with pytest.raises(InvalidPolicyError) as caught:
        Policy.from_yaml(text, "policy.yaml")
    message = caught.value.message
    assert "\n" not in message and "Traceback" not in message
    assert caught.value.exit_code == 2 and caught.value.hint
    return message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD + "rules:\n  - {type: signatures}\n  - {type: formats, deny: [pickle]}\n"
            "  - {type: max_severity, max: hgh}\n",
            "policy.yaml: rules[2].max: 'hgh' is not one of none, info, low, medium, high, critical",
        ),
        (
            HEAD + "rules:\n  - {type: max_severity, max: high, maxx: low}\n",
            "policy.yaml: rules[0].maxx: unknown key "
            "(allowed: id, description, enforcement, when, type, max)",
        ),
        (
            HEAD + "rules:\n  - {type: max_sev, max: high}\n",
            "policy.yaml: rules[0].type: 'max_sev' is not one of max_severity, signatures, attestations, "
            "formats, capability, license, metadata, cel",
        ),
        (HEAD + "rules:\n  - {max: high}\n", "policy.yaml: rules[0]: 'type' is missing"),
        (HEAD + "rules:\n  - {type: cel}\n", "policy.yaml: rules[0].expr: required key is missing"),
        (
            HEAD + "rule:\n  - {type: signatures}\n",
            "policy.yaml: rule: unknown key (allowed: apiVersion, kind, name, "
            "description, mode, roles, rules, waivers)",
        ),
        (HEAD + "mode: strict\nrules: []\n", "policy.yaml: mode: 'strict' is not one of enforce, warn"),
        (
            HEAD + "rules:\n  - {type: signatures, keys: [abc]}\n",
            "policy.yaml: rules[0].keys[0]: 'abc' is not a key fingerprint "
            "(64 hex digits: the SHA-256 of the public key PEM)",
        ),
        (
            HEAD + "rules:\n  - {type: signatures, min: 0}\n",
            "policy.yaml: rules[0].min: input should be greater than or equal to 1 (got 0)",
        ),
        (
            HEAD + "rules:\n  - {type: formats, deny: [safetensor]}\n",
            "policy.yaml: rules[0].deny[0]: unknown format 'safetensor'",
        ),
        (
            HEAD + "rules:\n  - {type: attestations, require: [sbom]}\n",
            "policy.yaml: rules[0].require[0]: unknown attestation kind 'sbom'",
        ),
        (
            HEAD + "roles:\n  approvers: {keys: [], people: []}\nrules:\n  - {type: signatures}\n",
            "policy.yaml: roles.approvers.people: unknown key (allowed: keys, identities)",
        ),
        (
            HEAD + "rules:\n  - {type: signatures}\nwaivers:\n  - {rule: signatures, owner: a, reason: b}\n",
            "policy.yaml: waivers[0].expires: required key is missing",
        ),
        (
            HEAD + "rules:\n  - {type: signatures}\nwaivers:\n  - {rule: signatures, owner: a, reason: b, "
            "expires: soon}\n",
            "policy.yaml: waivers[0].expires: input should be a valid date",
        ),
    ],
)
def test_schema_errors_are_one_line_naming_the_key_path(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


def test_several_errors_are_counted_not_listed() -> None:
    message = error_of(
        HEAD + "rules:\n  - {type: max_severity, max: hgh}\n  - {type: signatures, min: zero}\n"
    )
    assert message.endswith("(and 1 more error)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "policy.yaml: the policy is empty; an empty policy denies"),
        ("# only a comment\n", "policy.yaml: the policy is empty; an empty policy denies"),
        ("- a\n- b\n", "policy.yaml: a policy must be a YAML mapping"),
        ("kind: Policy\nrules: []\n", "policy.yaml: apiVersion: missing (expected mlwarden.dev/policy/v1)"),
        (
            "apiVersion: mlwarden.dev/policy/v2\nkind: Policy\nfuture: {}\n",
            "policy.yaml: apiVersion: 'mlwarden.dev/policy/v2' is not supported "
            "(expected mlwarden.dev/policy/v1)",
        ),
        (
            HEAD.replace("Policy", "Pollicy") + "rules: []\n",
            "policy.yaml: kind: 'Pollicy' is not one of Policy",
        ),
        (HEAD + "rules: []\n", "policy.yaml: rules: the policy has no rules; an empty policy denies"),
        (HEAD, "policy.yaml: rules: the policy has no rules; an empty policy denies"),
        (HEAD + "rules: [\n", "policy.yaml:4:1: expected the node content, but found '<stream end>'"),
        (HEAD + "kind: Policy\nrules: []\n", "policy.yaml:3:1: duplicate key 'kind'"),
        (
            HEAD + "rules:\n  - &r {type: signatures}\n  - *r\n",
            "policy.yaml:5:5: YAML aliases are not supported in policies",
        ),
        (
            HEAD + "rules:\n  - {type: signatures}\n  - {type: signatures, min: 2}\n",
            "policy.yaml: rules[1].id: duplicate rule id 'signatures' (rules[0] has it); "
            "give each rule its own id",
        ),
        (
            HEAD + "rules:\n  - {id: a, type: cel, expr: 'true'}\n  - {id: a, type: signatures}\n",
            "policy.yaml: rules[1].id: duplicate rule id 'a'",
        ),
        (
            HEAD + "rules:\n  - {type: formats}\n",
            "policy.yaml: rules[0]: a formats rule takes exactly one of allow or deny",
        ),
        (
            HEAD + "rules:\n  - {type: formats, allow: [json], deny: [pickle]}\n",
            "policy.yaml: rules[0]: a formats rule takes exactly one of allow or deny",
        ),
        (
            HEAD + "rules:\n  - {type: capability}\n",
            "policy.yaml: rules[0].approver_role: role 'approvers' is not defined under roles",
        ),
        (
            HEAD + "rules:\n  - {type: attestations, require: [scan], trusted_builders: [x]}\n",
            "policy.yaml: rules[0].trusted_builders: only applies to provenance",
        ),
        (
            HEAD + "rules:\n  - {type: signatures, min: 2, keys: ['" + "1" * 64 + "']}\n",
            "policy.yaml: rules[0].min: 2 signers required but only 1 allowed",
        ),
        (
            HEAD + "rules:\n  - {type: signatures}\nwaivers:\n"
            "  - {rule: signature, owner: a, reason: b, expires: 2027-01-01}\n",
            "policy.yaml: waivers[0].rule: no rule has id 'signature' (ids: signatures)",
        ),
        (
            HEAD + "rules:\n  - {type: signatures}\nwaivers:\n"
            "  - {rule: signatures, finding: x, owner: a, reason: b, expires: 2027-01-01}\n",
            "policy.yaml: waivers[0].finding: rule 'signatures' has no findings to waive",
        ),
        (
            HEAD + "rules:\n  - {type: cel, expr: 'true'}\nwaivers:\n"
            "  - {rule: cel, file: '*.pkl', owner: a, reason: b, expires: 2027-01-01}\n",
            "policy.yaml: waivers[0].file: rule 'cel' has no files to waive",
        ),
        (
            HEAD + "rules:\n  - {type: signatures}\nwaivers:\n  - {rule: signatures, owner: '', reason: b, "
            "expires: 2027-01-01}\n",
            "policy.yaml: waivers[0].owner: string should have at least 1 character",
        ),
    ],
)
def test_invalid_policies(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


def test_rule_ids_default_to_the_type_and_may_be_given() -> None:
    loaded = Policy.from_yaml(policy("- {type: signatures}\n- {id: no-crit, type: max_severity, max: high}"))
    assert loaded.document.rule_ids() == ["signatures", "no-crit"]
    assert loaded.name == "test"


def test_invalid_policy_as_a_denying_decision() -> None:
    with pytest.raises(InvalidPolicyError) as caught:
        Policy.from_yaml(HEAD + "rules: []\n", "p.yaml")
    decision = Decision.from_error(caught.value, source="p.yaml")
    assert not decision.allowed
    assert decision.reasons == ["policy: p.yaml: rules: the policy has no rules; an empty policy denies"]
    assert decision.to_dict()["error"] == caught.value.message
    assert decision.summary().startswith("DENIED: p.yaml: rules:")


# --------------------------------------------------------------------------- load_policy


def test_shipped_policies_by_name() -> None:
    assert shipped_names() == ["baseline", "dev", "production"]
    for name in shipped_names():
        loaded = load_policy(name)
        assert loaded.name == name and loaded.source == f"{name} (shipped)"
        assert loaded.document.description


def test_unknown_shipped_name() -> None:
    with pytest.raises(
        InvalidPolicyError, match=r"no shipped policy named 'prod' \(shipped: baseline, dev, production\)"
    ):
        load_policy("prod")


def test_a_bare_name_never_reads_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file called 'production' in the working directory cannot stand in for the shipped policy."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "production").write_text(policy("- {type: cel, expr: 'true'}"), encoding="utf-8")
    assert load_policy("production").source == "production (shipped)"
    assert load_policy("./production").source == "production"
    assert load_policy(Path("production")).source == "production"


def test_missing_and_unreadable_files_are_invalid_policies(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicyError, match="no such policy file; a missing policy denies"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(InvalidPolicyError, match="is a directory"):
        load_policy(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidPolicyError, match="not UTF-8"):
        load_policy(binary)


def test_policy_from_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(policy("- {type: signatures}").replace("name: test\n", ""), encoding="utf-8")
    loaded = load_policy(str(path))
    assert loaded.name == "mine" and loaded.source == str(path)


def test_dates_may_be_quoted_and_fingerprints_prefixed() -> None:
    text = policy(
        "- {type: signatures, keys: ['sha256:" + "AB" * 32 + "']}",
        extra="waivers:\n  - {rule: signatures, owner: a, reason: b, expires: '2027-01-01'}\n",
    )
    loaded = Policy.from_yaml(text)
    assert loaded.document.rules[0].keys == ["ab" * 32]  # type: ignore[union-attr]


def test_every_scanner_format_is_known_to_policies() -> None:
    """A policy naming a format the scanner reports must validate; keep the lists in step."""
    from mlwarden.scanning.sniff import FORMATS as SNIFFED

    assert set(SNIFFED) <= FORMATS
    assert evidence()["subject"]["formats"]  # sample evidence uses real names too
    assert set(evidence()["subject"]["formats"]) <= FORMATS
