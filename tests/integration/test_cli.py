"""The command line end to end, as a user runs it: exit codes, one-line errors, config and env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PAYLOAD = b"cos\nsystem\n(S'true'\ntR."


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlwarden", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_clean_unsafe_and_error_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "ok.pkl").write_bytes(b"\x80\x02}q\x00.")
    (tmp_path / "evil.pkl").write_bytes(PAYLOAD)
    clean = run("scan", str(tmp_path / "ok.pkl"))
    assert clean.returncode == 0, clean.stderr
    assert "OK" in clean.stdout
    unsafe = run("scan", str(tmp_path))
    assert unsafe.returncode == 1
    assert "os.system" in unsafe.stdout and "UNSAFE" in unsafe.stdout
    missing = run("scan", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    for args in (
        ["scan"],
        ["scan", str(tmp_path), "--fail-on", "severe"],
        ["scan", str(tmp_path), "--jobs", "0"],
        ["frobnicate"],
        ["scan", str(tmp_path), "--format", "xml"],
    ):
        result = run(*args)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert "mlwarden" in result.stderr and "Traceback" not in result.stderr


def test_fail_on_threshold(tmp_path: Path) -> None:
    (tmp_path / "custom.pkl").write_bytes(b"\x80\x02cmy_project\nBlock\n)\x81.")
    assert run("scan", str(tmp_path)).returncode == 0
    assert run("scan", str(tmp_path), "--fail-on", "medium").returncode == 1


def test_json_to_file_and_summary_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(PAYLOAD)
    out = tmp_path / "report.json"
    result = run("scan", str(tmp_path / "evil.pkl"), "--format", "json", "--output", str(out))
    assert result.returncode == 1
    assert "wrote json report" in result.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["max_severity"] == "critical"
    assert report["files"][0]["findings"][0]["construct"] == "os.system"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pkl", "report.json"]


def test_unwritable_output_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "a.pkl").write_bytes(b"\x80\x02}q\x00.")
    result = run("scan", str(tmp_path / "a.pkl"), "-o", str(tmp_path / "no" / "dir" / "r.json"), "-f", "json")
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_config_file_and_environment(tmp_path: Path) -> None:
    nested = PAYLOAD
    import io
    import zipfile

    for level in range(4):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"l{level}", nested)
        nested = buffer.getvalue()
    (tmp_path / "deep.zip").write_bytes(nested)
    (tmp_path / "mlwarden.toml").write_text("[scan]\nmax_depth = 2\n")
    from_file = run("scan", "deep.zip", "-f", "json", cwd=tmp_path)
    rules = {f["rule_id"] for f in json.loads(from_file.stdout)["files"][0]["findings"]}
    assert "limit/depth" in rules
    from_env = run("scan", "deep.zip", "-f", "json", cwd=tmp_path, env={"MLWARDEN_SCAN__MAX_DEPTH": "10"})
    rules = {f["rule_id"] for f in json.loads(from_env.stdout)["files"][0]["findings"]}
    assert "limit/depth" not in rules and "pickle/dangerous-global" in rules
    (tmp_path / "mlwarden.toml").write_text("[scan]\nmax_dept = 2\n")
    bad = run("scan", "deep.zip", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown [scan] setting" in bad.stderr


def test_help_has_examples() -> None:
    result = run("scan", "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "exit codes" in result.stdout
    assert run("--version").stdout.startswith("mlwarden ")


def test_cli_start_up_imports_nothing_heavy() -> None:
    code = (
        "import sys, mlwarden.cli.main;"
        "print(sorted(m for m in ('rich', 'jinja2', 'h5py', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
