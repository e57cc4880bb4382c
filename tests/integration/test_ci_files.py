"""The CI integration files parse, and use only inputs they declare and options mlwarden has."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlwarden.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "mlwarden.yml"
ACTION = REPO / "action.yml"
PRE_COMMIT = REPO / ".pre-commit-hooks.yaml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("no sub-commands")


def options_of(name: str) -> set[str]:
    return {opt for action in subcommand(name)._actions for opt in action.option_strings}


def gate_options(text: str) -> set[str]:
    """Options given to ``mlwarden gate``: on its command lines (and their continuations), and in the
    shell arrays (``args=(gate ...)``, ``args+=(...)``) a script builds the command from."""
    found: set[str] = set()
    invocation = False
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0]
        arrays = re.findall(r"args\+?=\(([^)]*)\)", line)
        if arrays:
            found |= {o for a in arrays for o in OPTION.findall(a)}
            continue
        if re.search(r"\bmlwarden gate\b", line):
            invocation = True
        elif invocation and not line.strip().startswith("--"):
            invocation = False
        if invocation:
            found |= set(OPTION.findall(line))
    return found


@pytest.mark.parametrize("path", [WORKFLOW, ACTION, PRE_COMMIT, GITLAB], ids=lambda p: p.name)
def test_yaml_parses(path: Path) -> None:
    assert load(path)


def test_action_inputs_are_declared_and_used() -> None:
    action = load(ACTION)
    text = ACTION.read_text()
    declared = set(action["inputs"])
    used = set(re.findall(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)", text))
    used |= set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", "\n".join(_conditions(action))))
    assert used <= declared, f"undeclared inputs: {used - declared}"
    assert declared <= used, f"inputs never used: {declared - used}"
    assert {"path", "policy", "signature", "key", "attestations", "format", "fail-on-deny"} <= declared
    assert action["inputs"]["path"]["required"] is True
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert spec.get("required") or "default" in spec, f"optional input {name} has no default"


def _conditions(action: dict[str, Any]) -> list[str]:
    return [str(step["if"]) for step in action["runs"]["steps"] if "if" in step]


def test_action_steps_are_consistent() -> None:
    action = load(ACTION)
    runs = action["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    ids = {step["id"] for step in steps if "id" in step}
    text = ACTION.read_text()
    for step_id in re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", text):
        assert step_id in ids, step_id
    for step in steps:
        if "run" in step:
            assert step.get("shell") == "bash", step.get("name")
            # inputs reach scripts through env only: no ${{ }} pasted into shell code (script injection)
            assert "${{" not in step["run"], step.get("name")
    uses = [step["uses"] for step in steps if "uses" in step]
    assert "github/codeql-action/upload-sarif@v3" in uses
    assert any(u.startswith("actions/setup-python@") for u in uses)
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["category"] == "${{ inputs.category }}"
    assert upload["with"]["sarif_file"] == "${{ inputs.output }}"
    for name, output in action["outputs"].items():
        assert re.fullmatch(r"\$\{\{ steps\.gate\.outputs\.[a-z-]+ \}\}", output["value"]), name


def test_action_passes_only_real_gate_options() -> None:
    used = gate_options(ACTION.read_text())
    assert {"--policy", "--format", "-o", "--signature", "--key", "--attestations", "--approver-key"} <= used
    assert used <= options_of("gate"), used - options_of("gate")


def test_workflow_uploads_sarif_to_code_scanning() -> None:
    workflow = load(WORKFLOW)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare 'on' key as true
    assert {"push", "pull_request"} <= set(triggers)
    (job,) = workflow["jobs"].values()
    assert job["permissions"]["security-events"] == "write"
    steps = job["steps"]
    upload = next(s for s in steps if s.get("uses") == "github/codeql-action/upload-sarif@v3")
    assert upload["with"]["category"]
    gate = next(s for s in steps if "mlwarden gate" in s.get("run", ""))
    words = gate["run"].split()
    assert words[words.index("--format") + 1] == "sarif"
    assert words[words.index("-o") + 1] == upload["with"]["sarif_file"]
    assert "always()" in upload["if"]  # a denied model's reasons are uploaded too
    assert any("pip install" in s.get("run", "") for s in steps)
    used = gate_options(WORKFLOW.read_text())
    assert {"--policy", "--signature", "--key", "--attestations", "--format", "-o"} <= used
    assert used <= options_of("gate"), used - options_of("gate")
    for variable in re.findall(r"\$([A-Z_]+)", gate["run"]):
        assert variable in job["env"], variable


def test_workflow_demo_step_uses_real_quickstart_options() -> None:
    workflow = load(WORKFLOW)
    (job,) = workflow["jobs"].values()
    demo = next(s for s in job["steps"] if "mlwarden quickstart" in s.get("run", ""))
    args = demo["run"].split()[2:]
    parsed = _parse(["quickstart", *args])
    assert str(parsed.dir) in job["env"]["MODEL"]


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_pre_commit_hooks() -> None:
    hooks = load(PRE_COMMIT)
    assert isinstance(hooks, list)
    ids = [hook["id"] for hook in hooks]
    assert len(ids) == len(set(ids)) and "mlwarden-scan" in ids
    for hook in hooks:
        for key in ("id", "name", "entry", "language", "description"):
            assert hook.get(key), (hook.get("id"), key)
        assert hook["language"] == "python"  # installs this repository's package
        assert hook["entry"].split()[0] == "mlwarden"
        re.compile(hook["files"])
    scan = next(h for h in hooks if h["id"] == "mlwarden-scan")
    args = build_parser().parse_args([*scan["entry"].split()[1:], "model.pt", "weights.safetensors"])
    assert args.command == "scan" and args.quiet
    pattern = re.compile(scan["files"])
    for name in ("model.pt", "a/b/pytorch_model.bin", "x.SAFETENSORS", "m.onnx", "w.gguf", "c.pkl", "d.npz"):
        assert pattern.search(name), name
    for name in ("README.md", "train.py", "setup.cfg"):
        assert not pattern.search(name), name
    gate = next(h for h in hooks if h["id"] == "mlwarden-gate")
    assert gate["pass_filenames"] is False  # a gate judges one model directory, given in args
    assert gate["entry"] == "mlwarden gate"


def test_gitlab_example() -> None:
    doc = load(GITLAB)
    assert "stages" not in doc  # an included file must not override the project's stages
    job = doc["mlwarden-gate"]
    script = "\n".join(job["script"])
    words = script.split()
    assert words[words.index("--format") + 1] == "sarif"
    sarif = words[words.index("-o") + 1]
    assert job["artifacts"]["when"] == "always"
    assert sarif in job["artifacts"]["paths"]
    assert "reports" not in job["artifacts"]  # GitLab's SAST report is its own format, not SARIF
    assert "not SARIF" in GITLAB.read_text()
    used = gate_options(GITLAB.read_text())
    assert {"--policy", "--signature", "--key", "--attestations", "--format", "-o"} <= used
    assert used <= options_of("gate"), used - options_of("gate")
    for variable in re.findall(r"\$([A-Z_]+)", script):
        assert variable in job["variables"], variable


def _step(name: str) -> dict[str, Any]:
    return next(s for s in load(ACTION)["runs"]["steps"] if s.get("name") == name)


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_action_scripts_run(tmp_path: Path) -> None:
    """The action's own gate and enforce scripts, run by bash against the quickstart workspace."""
    from mlwarden.services.quickstart import run_quickstart

    mlwarden_bin = Path(sys.executable).parent / "mlwarden"
    if not mlwarden_bin.exists():
        pytest.skip("the mlwarden console script is not installed beside this interpreter")
    run_quickstart(tmp_path / "qs")
    output = tmp_path / "github_output"
    base = {
        "PATH": f"{mlwarden_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_OUTPUT": str(output),
    }
    inputs = {
        "GATE_PATH": "qs/models/faceswap",
        "GATE_POLICY": "qs/policy/production.yaml",
        "GATE_SIGNATURES": "qs/signatures/faceswap.sig\n",
        "GATE_KEYS": "qs/keys/publisher.pub",
        "GATE_ATTESTATIONS": "qs/attestations/faceswap",
        "GATE_APPROVER_KEYS": "qs/keys/approver.pub\n\n",
        "GATE_FORMAT": "sarif",
        "GATE_OUTPUT": "out.sarif",
    }
    gate = _step("mlwarden gate")
    assert set(inputs) == set(gate["env"])
    done = _bash(gate["run"], {**base, **inputs}, tmp_path)
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs == {"exit-code": "0", "decision": "allow", "report": "out.sarif", "written": "true"}
    assert json.loads((tmp_path / "out.sarif").read_text())["version"] == "2.1.0"

    output.write_text("")
    denied = _bash(gate["run"], {**base, **inputs, "GATE_APPROVER_KEYS": ""}, tmp_path)
    assert denied.returncode == 0, denied.stderr  # the gate step records; the enforce step decides
    assert "decision=deny" in output.read_text() and "exit-code=1" in output.read_text()

    enforce = _step("Enforce the decision")
    for code, fail_on_deny, expected in (
        ("0", "true", 0),
        ("1", "true", 1),
        ("1", "false", 0),
        ("2", "false", 2),
    ):
        env = {**base, "GATE_CODE": code, "GATE_PATH": "m", "FAIL_ON_DENY": fail_on_deny}
        assert _bash(enforce["run"], env, tmp_path).returncode == expected, (code, fail_on_deny)
