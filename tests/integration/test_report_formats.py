"""The real CLI on real files: JSON and SARIF reports validated against their schemas, exit codes.

JSON output is checked against ``docs/scan-report.schema.json`` (draft 2020-12); SARIF output
against the official OASIS SARIF 2.1.0 schema in ``tests/assets`` (draft-04), plus the fields
GitHub code scanning reads.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = ROOT / "docs" / "scan-report.schema.json"
SARIF_SCHEMA = ROOT / "tests" / "assets" / "sarif-schema-2.1.0.json"

# GLOBAL os.system, MARK, STRING 'true', TUPLE, REDUCE, STOP: os.system('true') on load.
EVIL_PICKLE = b"cos\nsystem\n(S'true'\ntR."
SEVERITIES = ["info", "low", "medium", "high", "critical"]


# --------------------------------------------------------------------------- helpers


def run_cli(*args: str | os.PathLike[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env["COLUMNS"] = "200"  # keep rich from wrapping the summary line
    return subprocess.run(
        [sys.executable, "-m", "mlwarden", "scan", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _validator(schema_path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    # Format checking where the checkers are installed ("uri" needs rfc3987; checked by hand below).
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid(validator: jsonschema.protocols.Validator, document: Any) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def report_validator() -> jsonschema.protocols.Validator:
    return _validator(REPORT_SCHEMA)


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    return _validator(SARIF_SCHEMA)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Five real files in ``tmp_path/models``; the CLI runs with ``cwd=tmp_path``."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "evil.pkl").write_bytes(EVIL_PICKLE)
    (models / "good.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "ok"}, protocol=4))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", EVIL_PICKLE)
        zf.writestr("archive/version", "3\n")
    (models / "evil.zip").write_bytes(buffer.getvalue())
    (models / "empty.bin").write_bytes(b"")
    (models / "truncated.pkl").write_bytes(pickle.dumps(list(range(100)), protocol=4)[:20])
    return tmp_path


def _single(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- JSON


def test_json_stdout_matches_schema(corpus: Path, report_validator: jsonschema.protocols.Validator) -> None:
    result = run_cli("models", "--format", "json", cwd=corpus)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert_valid(report_validator, report)

    by_path = {Path(f["path"]).name: f for f in report["files"]}
    assert set(by_path) == {"evil.pkl", "good.pkl", "evil.zip", "empty.bin", "truncated.pkl"}
    assert report["roots"] == ["models"]
    assert report["summary"]["files"] == 5
    assert report["summary"]["bytes"] == sum(f["size"] for f in report["files"])
    assert report["summary"]["max_severity"] == "critical"
    total = len(report["findings"]) + sum(len(f["findings"]) for f in report["files"])
    assert sum(report["summary"]["by_severity"].values()) == total

    evil = by_path["evil.pkl"]
    assert evil["format"] == "pickle"
    assert evil["max_severity"] == "critical"
    assert any(f["construct"] == "os.system" and f["member"] is None for f in evil["findings"])

    zipped = by_path["evil.zip"]
    assert zipped["format"] == "zip"
    assert zipped["member_formats"].get("archive/data.pkl") == "pickle"
    hit = [f for f in zipped["findings"] if f["construct"] == "os.system"]
    assert hit and hit[0]["member"] == "archive/data.pkl" and hit[0]["severity"] == "critical"

    assert by_path["good.pkl"]["findings"] == [] and by_path["good.pkl"]["max_severity"] is None
    assert by_path["empty.bin"]["size"] == 0
    assert [f["rule_id"] for f in by_path["empty.bin"]["findings"]] == ["format/empty"]
    truncated = by_path["truncated.pkl"]
    assert truncated["findings"], "a truncated pickle must be reported"
    assert all(f["severity"] in SEVERITIES for f in truncated["findings"])


def test_json_each_file_alone_matches_schema(
    corpus: Path, report_validator: jsonschema.protocols.Validator
) -> None:
    expected = {"evil.pkl": 1, "evil.zip": 1, "good.pkl": 0, "empty.bin": 0, "truncated.pkl": 0}
    for name, code in expected.items():
        result = run_cli(f"models/{name}", "--format", "json", cwd=corpus)
        assert result.returncode == code, (name, result.stderr)
        report = json.loads(result.stdout)
        assert_valid(report_validator, report)
        assert [f["path"] for f in report["files"]] == [str(Path("models") / name)]


def test_json_output_file_is_atomic(corpus: Path, report_validator: jsonschema.protocols.Validator) -> None:
    out = corpus / "reports" / "scan.json"
    out.parent.mkdir()
    result = run_cli("models", "--format", "json", "--output", out, cwd=corpus)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "wrote json report" in result.stderr and "Traceback" not in result.stderr
    assert_valid(report_validator, json.loads(out.read_text(encoding="utf-8")))
    assert sorted(p.name for p in out.parent.iterdir()) == ["scan.json"], "temporary file left behind"

    # Same bytes as stdout apart from the timings.
    stdout = json.loads(run_cli("models", "--format", "json", cwd=corpus).stdout)
    from_file = json.loads(out.read_text(encoding="utf-8"))
    for doc in (stdout, from_file):
        doc["seconds"] = 0
        for f in doc["files"]:
            f["seconds"] = 0
    assert stdout == from_file


def test_output_to_missing_directory_is_an_error(corpus: Path) -> None:
    out = corpus / "no-such-dir" / "scan.json"
    result = run_cli("models", "--format", "json", "--output", out, cwd=corpus)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.parent.exists()
    assert sorted(p.name for p in corpus.iterdir()) == ["models"]


# --------------------------------------------------------------------------- SARIF


def _check_github_fields(sarif: dict[str, Any]) -> None:
    """What GitHub code scanning reads from an uploaded SARIF file."""
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mlwarden"
    rules = driver["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids)), "rule ids must be unique"
    for rule in rules:
        assert rule["id"]
        score = float(rule["properties"]["security-severity"])
        assert 0.0 <= score <= 10.0
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"none", "note", "warning", "error"}
    assert run["results"], "expected results"
    for result in run["results"]:
        assert result["ruleId"] in ids
        if "ruleIndex" in result:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"none", "note", "warning", "error"}
        assert result["message"]["text"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri


def _assert_relative_uri(uri: str) -> None:
    parts = urlsplit(uri)
    assert not parts.scheme and not parts.netloc, uri
    assert not uri.startswith("/") and "\\" not in uri and " " not in uri, uri
    assert ".." not in Path(uri).parts, uri


def test_sarif_stdout_matches_official_schema(
    corpus: Path, sarif_validator: jsonschema.protocols.Validator
) -> None:
    result = run_cli("models", "--format", "sarif", cwd=corpus)
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    assert_valid(sarif_validator, sarif)
    _check_github_fields(sarif)

    run = sarif["runs"][0]
    uris = set()
    for res in run["results"]:
        location = res["locations"][0]["physicalLocation"]["artifactLocation"]
        _assert_relative_uri(location["uri"])
        assert location.get("uriBaseId") == "SRCROOT"
        uris.add(location["uri"])
    assert {"models/evil.pkl", "models/evil.zip"} <= uris
    base = run["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert base.startswith("file:///") and base.endswith("/")

    by_rule = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    critical = [r for r in run["results"] if "os.system" in r["message"]["text"]]
    assert len(critical) == 2  # the bare pickle and the one inside the zip
    for res in critical:
        assert res["level"] == "error"
        assert float(by_rule[res["ruleId"]]["properties"]["security-severity"]) >= 9.0
    in_zip = [
        r
        for r in critical
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/evil.zip"
    ]
    assert in_zip and "archive/data.pkl" in in_zip[0]["message"]["text"]


def test_sarif_output_file(corpus: Path, sarif_validator: jsonschema.protocols.Validator) -> None:
    out = corpus / "scan.sarif"
    result = run_cli("models", "--format", "sarif", "-o", "scan.sarif", "--fail-on", "critical", cwd=corpus)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    sarif = json.loads(out.read_text(encoding="utf-8"))
    assert_valid(sarif_validator, sarif)
    _check_github_fields(sarif)
    assert sorted(p.name for p in corpus.iterdir()) == ["models", "scan.sarif"], "temporary file left behind"


def test_sarif_clean_scan_is_valid_and_empty(
    tmp_path: Path, sarif_validator: jsonschema.protocols.Validator
) -> None:
    _single(tmp_path, "good.pkl", pickle.dumps({"a": 1}))
    result = run_cli("good.pkl", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sarif = json.loads(result.stdout)
    assert_valid(sarif_validator, sarif)
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["tool"]["driver"]["name"] == "mlwarden"


def test_sarif_path_outside_cwd_is_an_absolute_file_uri(
    tmp_path: Path, sarif_validator: jsonschema.protocols.Validator
) -> None:
    evil = _single(tmp_path, "evil.pkl", EVIL_PICKLE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(evil, "--format", "sarif", cwd=elsewhere)
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    assert_valid(sarif_validator, sarif)
    artifact = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": evil.resolve().as_uri()}  # an absolute URI takes no uriBaseId


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("name", "data", "fail_on", "code"),
    [
        ("evil.pkl", EVIL_PICKLE, None, 1),
        ("evil.pkl", EVIL_PICKLE, "critical", 1),
        ("good.pkl", pickle.dumps({"a": 1}), None, 0),
        ("good.pkl", pickle.dumps({"a": 1}), "info", 0),
        ("empty.bin", b"", "info", 1),  # an empty file is an info finding
        ("empty.bin", b"", "low", 0),
        ("truncated.pkl", pickle.dumps(list(range(100)))[:20], None, 0),
        ("truncated.pkl", pickle.dumps(list(range(100)))[:20], "medium", 1),
        ("truncated.pkl", pickle.dumps(list(range(100)))[:20], "CRITICAL", 0),
    ],
)
def test_exit_codes(tmp_path: Path, name: str, data: bytes, fail_on: str | None, code: int) -> None:
    _single(tmp_path, name, data)
    extra = ["--fail-on", fail_on] if fail_on else []
    result = run_cli(name, "--format", "json", *extra, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["does-not-exist.pkl"], id="missing-path"),
        pytest.param(["good.pkl", "--fail-on", "severe"], id="bad-fail-on"),
        pytest.param(["good.pkl", "--fail-on", ""], id="empty-fail-on"),
        pytest.param(["good.pkl", "--format", "xml"], id="bad-format"),
        pytest.param(["good.pkl", "--jobs", "0"], id="bad-jobs"),
    ],
)
@pytest.mark.parametrize("fmt", ["table", "json", "sarif"])
def test_usage_and_runtime_errors_exit_2(tmp_path: Path, args: list[str], fmt: str) -> None:
    _single(tmp_path, "good.pkl", pickle.dumps({"a": 1}))
    if "--format" not in args:
        args = [*args, "--format", fmt]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlwarden")
    assert result.stdout == ""


def test_missing_path_among_good_ones_names_it(tmp_path: Path) -> None:
    _single(tmp_path, "good.pkl", pickle.dumps({"a": 1}))
    result = run_cli("good.pkl", "nope.pkl", "--format", "json", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.pkl" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- table


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_table_prints_summary_line(corpus: Path) -> None:
    result = run_cli("models", cwd=corpus)
    assert result.returncode == 1, result.stderr
    out = _flat(result.stdout)
    assert re.search(r"UNSAFE 5 file\(s\), \d+ B in \d+\.\d\ds: 2 critical, 2 medium, 1 info ", out), out
    assert "(fails at high or above)" in out
    assert "os.system" in out or "pickle/dangerous-global" in out


def test_table_clean_summary(tmp_path: Path) -> None:
    _single(tmp_path, "good.pkl", pickle.dumps({"a": 1}))
    _single(tmp_path, "empty.bin", b"")
    result = run_cli(".", "--fail-on", "low", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = _flat(result.stdout)
    assert re.search(r"OK 2 file\(s\), \d+ B in \d+\.\d\ds: 1 info", out), out
    assert "(fails at low or above)" in out
