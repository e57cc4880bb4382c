"""``mlwarden policy list | show | validate | eval | test | evidence-schema`` through the real entry point."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlwarden.cli import main as cli_main
from mlwarden.cli.policy import add_policy_commands
from mlwarden.policy import shipped_text
from tests.unit.policy.samples import (
    APPROVER_KEY,
    approval,
    deepfake,
    evidence,
    finding,
    key,
    policy,
    with_findings,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def policy_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hook ``add_policy_commands`` into the real parser until main.py does it itself (then a no-op)."""
    original = cli_main.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "policy" not in commands.choices:
            add_policy_commands(commands, cli_main._Parser)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli_main.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("mlwarden: error: ") and "Traceback" not in err


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def unsigned() -> dict[str, Any]:
    return evidence(
        signatures__signers=[], signatures__verified=False, signatures__error="no signature given"
    )


# --------------------------------------------------------------------------- list, show, validate


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["baseline", "dev", "production"]
    assert "warn" in out.splitlines()[1]


def test_show_prints_the_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "policy", "show", "production")
    assert code == 0 and out == shipped_text("production")
    mine = tmp_path / "mine.yaml"
    mine.write_text(policy("- {type: signatures}"), encoding="utf-8")
    code, out, _ = run(capsys, "policy", "show", mine)
    assert code == 0 and out == mine.read_text(encoding="utf-8")


def test_show_refuses_an_invalid_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy("- {type: max_severity, max: hgh}"), encoding="utf-8")
    code, out, err = run(capsys, "policy", "show", bad)
    assert code == 2 and out == "" and one_line(err)
    assert f"{bad}: rules[0].max: 'hgh' is not one of none, info, low, medium, high, critical" in err


def test_validate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(policy("- {type: signatures}"), encoding="utf-8")
    code, out, err = run(capsys, "policy", "validate", good, "production")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"{good}: valid (1 rules, mode enforce, 0 waivers)",
        "production (shipped): valid (5 rules, mode enforce, 0 waivers)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the policy is empty; an empty policy denies"),
        (policy("- {type: cel, expr: 'evidence.scan.counts.critical =='}"), "rules[0].expr: CEL: 1:"),
        (policy("- {type: signatures, colour: red}"), "rules[0].colour: unknown key"),
    ],
)
def test_validate_invalid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "policy", "validate", path)
    assert code == 2 and out == "" and one_line(err) and f"{path}: {message}" in err


def test_validate_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "policy", "validate", tmp_path / "nope.yaml")
    assert code == 2 and one_line(err) and "no such policy file; a missing policy denies" in err


def test_validate_notes_expired_waivers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    waiver = "waivers:\n  - {rule: signatures, owner: ana, reason: r, expires: 2020-01-01}\n"
    path.write_text(policy("- {type: signatures}", extra=waiver), encoding="utf-8")
    code, _, err = run(capsys, "policy", "validate", path)
    assert code == 0 and "waiver for signatures expired on 2020-01-01 (ana)" in err


# --------------------------------------------------------------------------- eval


def test_eval_allow_and_deny(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    clean = write_json(tmp_path / "clean.json", evidence())
    code, out, _ = run(capsys, "policy", "eval", clean, "--policy", "baseline")
    assert code == 0 and "ALLOWED by baseline" in out
    code, out, _ = run(
        capsys, "policy", "eval", write_json(tmp_path / "u.json", unsigned()), "-p", "baseline"
    )
    assert code == 1 and "DENIED by baseline: 1 rule(s) failed (signed)" in out


def test_eval_sarif_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = write_json(tmp_path / "e.json", with_findings(unsigned(), finding("critical")))
    out_file = tmp_path / "policy.sarif"
    code, out, err = run(capsys, "policy", "eval", doc, "-p", "production", "-f", "sarif", "-o", out_file)
    assert code == 1 and out == "" and f"sarif written to {out_file}" in err
    sarif = json.loads(out_file.read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "tests" / "assets" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"no-high-findings", "signed", "provenance"}


def test_eval_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "policy", "eval", write_json(tmp_path / "e.json", evidence()), "-p", "dev", "-f", "json"
    )
    assert code == 0 and json.loads(out)["policy"]["name"] == "dev"


def test_eval_opa_unreachable_denies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    doc = write_json(tmp_path / "e.json", evidence())
    code, out, _ = run(
        capsys, "policy", "eval", doc, "--opa-url", f"http://127.0.0.1:{port}", "--opa-timeout", "2"
    )
    assert code == 1 and "cannot connect" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--opa-url", "file:///etc/passwd"], "--opa-url 'file:///etc/passwd' is not an http(s) URL"),
        ([], "one of the arguments --policy/-p --opa-url is required"),
        (["-p", "baseline", "--opa-url", "http://x"], "not allowed with argument"),
    ],
)
def test_eval_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    doc = write_json(tmp_path / "e.json", evidence())
    code, _, err = run(capsys, "policy", "eval", doc, *argv)
    assert code == 2 and one_line(err) and message in err


def test_eval_an_unusable_policy_denies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = write_json(tmp_path / "e.json", evidence())
    code, out, err = run(capsys, "policy", "eval", doc, "-p", "nonesuch", "-f", "json")
    assert code == 1 and err.startswith("mlwarden: denied: no shipped policy named 'nonesuch'")
    decision = json.loads(out)
    assert decision["allowed"] is False and decision["rules"][0]["outcome"] == "error"
    missing = tmp_path / "missing.yaml"
    code, out, err = run(capsys, "policy", "eval", doc, "-p", missing)
    assert code == 1 and "no such policy file; a missing policy denies" in err and "DENIED" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "e.json: not JSON"),
        ('{"evidence_version": 1}', "e.json: time: required key is missing"),
        ("[]", "e.json: the evidence document must be a JSON object"),
    ],
)
def test_eval_bad_evidence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "e.json"
    path.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "policy", "eval", path, "-p", "baseline")
    assert code == 2 and one_line(err) and message in err


# --------------------------------------------------------------------------- test


def recorded(folder: Path) -> Path:
    """Recorded evidence for the production policy with an approver, and their expectations."""
    write_json(folder / "clean-signed.deny.json", evidence())  # no provenance: production denies
    write_json(folder / "unsigned.deny.json", unsigned())
    approved = deepfake(evidence())
    approved["approvals"] = [approval(key(APPROVER_KEY))]
    approved["expect"] = {"decision": "deny", "rules": {"deepfake-approval": "pass", "provenance": "fail"}}
    write_json(folder / "nested" / "approved.json", approved)
    write_json(folder / "pickle.json", {**unsigned(), "expect": "deny"})
    return folder


def production_with_approver(tmp_path: Path) -> Path:
    text = shipped_text("production").replace("keys: []        #", f"keys: ['{APPROVER_KEY}']  #")
    path = tmp_path / "production.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_policy_test_all_expectations_hold(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = recorded(tmp_path / "evidence")
    code, out, _ = run(capsys, "policy", "test", production_with_approver(tmp_path), folder)
    assert code == 0, out
    assert "policy test: 4 of 4 expectation(s) held" in out
    assert "approved.json" in out and "FAILED" not in out


def test_policy_test_reports_what_did_not_hold(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = recorded(tmp_path / "evidence")
    write_json(folder / "wrong.allow.json", unsigned())
    write_json(folder / "no-expectation.json", evidence())
    (folder / "broken.deny.json").write_text("{", encoding="utf-8")
    write_json(folder / "conflict.allow.json", {**evidence(), "expect": "deny"})
    code, out, _ = run(
        capsys, "policy", "test", production_with_approver(tmp_path), folder, "--format", "json"
    )
    assert code == 1
    report = json.loads(out)
    assert (report["held"], report["total"]) == (4, 8)
    cases = {Path(c["file"]).name: c for c in report["cases"]}
    assert cases["wrong.allow.json"]["got"] == "deny"
    assert "signed: the model is not signed" in cases["wrong.allow.json"]["detail"]
    assert "no expectation" in cases["no-expectation.json"]["detail"]
    assert cases["broken.deny.json"]["got"] == "error" and "not JSON" in cases["broken.deny.json"]["detail"]
    assert "the file name says allow but its expect key says deny" in cases["conflict.allow.json"]["detail"]


def test_policy_test_rule_expectations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = {**evidence(), "expect": {"rules": {"signed": "fail"}}}
    path = write_json(tmp_path / "e.json", doc)
    code, out, _ = run(capsys, "policy", "test", "baseline", path)
    assert code == 1 and "signed: expected fail, got pass" in out


def test_policy_test_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "policy", "test", "baseline", tmp_path)
    assert code == 2 and one_line(err) and "no evidence files found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: mlwarden.dev/policy/v1\nkind: Policy\nrules: []\n", encoding="utf-8")
    write_json(tmp_path / "e.allow.json", evidence())
    code, _, err = run(capsys, "policy", "test", bad, tmp_path)
    assert code == 2 and one_line(err) and "the policy has no rules" in err


def test_evidence_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "evidence-schema")
    assert code == 0
    assert json.loads(out) == json.loads((ROOT / "docs" / "evidence.schema.json").read_text(encoding="utf-8"))


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["policy", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("list", "show", "validate", "eval", "test", "evidence-schema", "NAME.allow.json"):
        assert name in out


def test_the_cli_module_imports_nothing_heavy() -> None:
    """``mlwarden --help`` must not pay for pydantic, PyYAML or CEL."""
    heavy = "('pydantic', 'yaml', 'cel_expr_python', 'rich', 'mlwarden.policy')"
    probe = f"import sys, mlwarden.cli.policy; print(sorted(m for m in {heavy} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
