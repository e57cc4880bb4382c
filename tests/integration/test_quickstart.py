"""mlwarden quickstart end to end: the demo workspace, its decisions, its table and its follow-up commands."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlwarden.services.quickstart import MARKER, run_quickstart
from mlwarden.signing import key_fingerprint

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "assets" / "sarif-schema-2.1.0.json"

EXPECTED = {  # label -> (decision, blocking rule ids of the shipped production policy)
    "benign": ("allow", []),
    "malicious": ("deny", ["no-high-findings", "safe-formats"]),
    "faceswap-unapproved": ("deny", ["deepfake-approval"]),
    "faceswap-approved": ("allow", []),
    "unsigned": ("deny", ["signed", "provenance"]),
}


Run = tuple[Path, subprocess.CompletedProcess[str], float]
"""(working directory holding ./demo, the quickstart run, its wall seconds)"""

EXPECTED_MODELS = ("benign", "faceswap", "malicious", "unsigned")
SIGNED = ("benign", "faceswap", "malicious")


CLI = [sys.executable, "-m", "mlwarden"]


def mlwarden(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def paste(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a printed 'Try next' command line as a user would paste it (mlwarden -> this interpreter)."""
    words = shlex.split(command)
    assert words[0] == "mlwarden"
    return mlwarden(*words[1:], cwd=cwd)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("quickstart")
    start = time.monotonic()
    proc = mlwarden("quickstart", "--dir", "demo", cwd=cwd)
    return cwd, proc, time.monotonic() - start


def test_exit_code_and_speed(workspace: Run) -> None:
    _, proc, seconds = workspace
    assert proc.returncode == 0, proc.stderr
    assert seconds < 60  # the bound on a 2-core machine; it typically takes 2-4 s


def test_decisions_are_the_expected_ones(workspace: Run) -> None:
    cwd, _, _ = workspace
    reports = cwd / "demo" / "reports"
    assert sorted(p.name for p in reports.iterdir()) == sorted(f"{label}.decision.json" for label in EXPECTED)
    for label, (decision, blocking) in EXPECTED.items():
        doc = json.loads((reports / f"{label}.decision.json").read_text())
        assert doc["decision"] == decision, (label, doc["reasons"])
        failed = [r["rule_id"] for r in doc["rules"] if r["outcome"] in ("fail", "error")]
        assert failed == blocking, (label, doc["reasons"])
        assert doc["policy"]["source"].endswith("production.yaml")


def test_summary_table_and_try_next(workspace: Run) -> None:
    _, proc, _ = workspace
    out = proc.stdout
    table, _, after = out.partition("Try next:")
    rows = [line for line in table.splitlines() if line.startswith("│ ") and not line.startswith("│  ")]
    assert [row.split("│")[1].strip() for row in rows] == list(EXPECTED)
    assert [row.split("│")[2].strip() for row in rows] == [d for d, _ in EXPECTED.values()]
    flat = " ".join(" ".join(line.strip("│ ").split()) for line in table.splitlines())
    assert "os.system" in flat  # why the malicious model was denied
    assert "needs an approval" in flat and "approved by key" in flat
    assert "not signed" in flat
    assert "2 allowed, 3 denied" in table
    commands = [line.strip() for line in after.splitlines() if line.startswith("  mlwarden ")]
    assert any(c.startswith("mlwarden gate demo/models/faceswap") and "--format sarif" in c for c in commands)
    assert "mlwarden scan demo/models/malicious" in commands
    # progress on stderr, results on stdout
    assert "mlwarden quickstart: gate faceswap-unapproved: denied" in proc.stderr
    assert "mlwarden quickstart: gate" not in out


def test_files_keys_and_policy(workspace: Run) -> None:
    cwd, _, _ = workspace
    ws = cwd / "demo"
    assert json.loads((ws / MARKER).read_text())["mlwarden"]
    for who in ("publisher", "approver"):
        assert stat.S_IMODE((ws / "keys" / f"{who}.pem").stat().st_mode) == 0o600
        assert (ws / "keys" / f"{who}.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert sorted(p.name for p in (ws / "models").iterdir()) == sorted(EXPECTED_MODELS)
    assert sorted(p.name for p in (ws / "signatures").iterdir()) == [f"{m}.sig" for m in SIGNED]
    for name in ("benign", "malicious", "faceswap"):
        found = sorted(p.name for p in (ws / "attestations" / name).iterdir())
        extra = ["approval.json"] if name == "faceswap" else []
        assert found == sorted(["capability.json", "provenance.json", "scan.json", *extra])
    assert not (ws / "attestations" / "unsigned").exists()
    approver = key_fingerprint((ws / "keys" / "approver.pub").read_bytes())
    publisher = key_fingerprint((ws / "keys" / "publisher.pub").read_bytes())
    policy = (ws / "policy" / "production.yaml").read_text()
    assert approver in policy and publisher not in policy


def test_provenance_is_slsa_from_the_demo_training_run(
    workspace: Run,
) -> None:
    cwd, _, _ = workspace
    bundle = json.loads((cwd / "demo" / "attestations" / "benign" / "provenance.json").read_text())
    import base64

    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    build = statement["predicate"]["buildDefinition"]
    assert build["externalParameters"]["command"][0] == sys.executable
    assert build["externalParameters"]["seeds"] == {"global": 42}
    assert not any(d.get("name") == "source" for d in build["resolvedDependencies"])  # no git repo walked


def test_try_next_gate_writes_sarif_code_scanning_accepts(
    workspace: Run,
) -> None:
    cwd, proc, _ = workspace
    command = next(line.strip() for line in proc.stdout.splitlines() if "--format sarif" in line)
    done = paste(command, cwd)
    assert done.returncode == 0, done.stderr  # the approved face-swap model is allowed
    # and the same command on the malicious model: denied, with results
    bad = command.replace("faceswap", "malicious").replace("malicious.sarif", "malicious.sarif")
    denied = paste(bad, cwd)
    assert denied.returncode == 1, denied.stderr
    schema = json.loads(SARIF_SCHEMA.read_text())
    for name, results in (("faceswap.sarif", False), ("malicious.sarif", True)):
        sarif: dict[str, Any] = json.loads((cwd / name).read_text())
        jsonschema.validate(sarif, schema)
        (run,) = sarif["runs"]
        assert run["tool"]["driver"]["name"] == "mlwarden"
        assert bool(run["results"]) is results
        rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
        for result in run["results"]:  # what GitHub code scanning needs of every result
            assert result["ruleId"] in rule_ids and result["message"]["text"]
            for location in result["locations"]:
                uri = location["physicalLocation"]["artifactLocation"]["uri"]
                assert not uri.startswith("/") and "://" not in uri, uri  # relative to the checkout
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"no-high-findings", "safe-formats"}


def test_every_try_next_command_runs(workspace: Run) -> None:
    cwd, proc, _ = workspace
    _, _, after = proc.stdout.partition("Try next:")
    commands = [line.strip() for line in after.splitlines() if line.startswith("  mlwarden ")]
    expected = {"gate": 0, "scan": 1, "classify": 1, "policy": 0}  # scan/classify exit 1: unsafe, high
    assert sorted(shlex.split(c)[1] for c in commands) == sorted(expected)
    for command in commands:
        if "--format sarif" in command:
            continue  # run (and its SARIF checked) below
        done = paste(command, cwd)
        assert done.returncode == expected[shlex.split(command)[1]], (command, done.stderr)


def test_try_next_tamper_is_denied(workspace: Run, tmp_path: Path) -> None:
    cwd, proc, _ = workspace
    shutil.copytree(cwd / "demo", tmp_path / "demo")
    line = next(line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("echo tampered"))
    tamper, _, gate = line.partition(" && ")
    target = shlex.split(tamper)[-1]
    with (tmp_path / target).open("a") as fh:
        fh.write("tampered\n")
    done = paste(gate, tmp_path)
    assert done.returncode == 1
    assert "config.json" in done.stdout


def test_rerun_rebuilds_and_json(tmp_path: Path) -> None:
    first = mlwarden("quickstart", "--dir", "ws", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    old_key = (tmp_path / "ws" / "keys" / "publisher.pem").read_bytes()
    again = mlwarden("quickstart", "--dir", "ws", "--format", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["ok"] is True
    assert {o["label"]: (o["decision"], o["as_expected"]) for o in doc["outcomes"]} == {
        label: (decision, True) for label, (decision, _) in EXPECTED.items()
    }
    for outcome in doc["outcomes"]:
        assert outcome["blocking_rules"] == EXPECTED[outcome["label"]][1]
        assert outcome["command"].startswith("mlwarden gate ws/models/")
    assert doc["try_next"] and all(t["command"] and t["shows"] for t in doc["try_next"])
    assert (tmp_path / "ws" / "keys" / "publisher.pem").read_bytes() != old_key  # rebuilt, new keys


def test_refuses_a_directory_that_is_not_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    done = mlwarden("quickstart", "--dir", "mine", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not a quickstart workspace" in done.stderr and "--force" in done.stderr
    assert done.stdout == ""
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    done = mlwarden("quickstart", "--dir", "file", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_force_offline_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--force writes beside someone's files and keeps them; and no socket is ever opened."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    (tmp_path / "notes.txt").write_text("keep me")
    lines: list[str] = []
    result = run_quickstart(tmp_path, force=True, progress=lines.append)
    assert result.ok, [(o.label, o.reason) for o in result.outcomes]
    assert [o.label for o in result.outcomes] == list(EXPECTED)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert lines and all("\n" not in line for line in lines)
    assert result.seconds < 60
    assert os.environ.get("GIT_CEILING_DIRECTORIES") != str(tmp_path.parent)  # the caller's env is untouched
