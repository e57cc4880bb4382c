"""mlwarden gate and approve end to end: real models, real keys, shipped and custom policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from mlwarden.cli.main import main
from mlwarden.services.quickstart import write_model
from mlwarden.signing import key_fingerprint

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "assets" / "sarif-schema-2.1.0.json"
EVIDENCE_SCHEMA = REPO / "docs" / "evidence.schema.json"
SLSA = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "m", "digest": {"sha256": "00" * 32}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {
        "buildDefinition": {
            "buildType": "https://mlwarden.dev/buildtypes/train/v1",
            "externalParameters": {},
        },
        "runDetails": {"builder": {"id": "https://mlwarden.dev/builders/local@v1"}, "metadata": {}},
    },
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """Keys, four models, signatures and attestations, and a production policy naming the approver."""
    for name in ("publisher", "approver"):
        assert main(["keygen", "--out", str(tmp_path / f"{name}.pem")]) == 0
    (tmp_path / "slsa.json").write_text(json.dumps(SLSA))
    for kind in ("benign", "malicious", "faceswap", "unsigned"):
        model = tmp_path / kind
        write_model(kind, model)
        att = tmp_path / f"{kind}-att"
        att.mkdir()
        if kind == "unsigned":
            continue
        key = str(tmp_path / "publisher.pem")
        assert main(["sign", str(model), "--key", key, "-o", str(tmp_path / f"{kind}.sig")]) == 0
        provenance = ["--predicate", str(tmp_path / "slsa.json"), "--key", key, "-o", str(att / "slsa.json")]
        assert main(["attest", str(model), "--type", "provenance", *provenance]) == 0
    fingerprint = key_fingerprint((tmp_path / "approver.pub").read_bytes())
    policy = run("policy", "show", "production", cwd=tmp_path).stdout
    policy = policy.replace("keys: []", f"keys: [{fingerprint}]", 1)
    (tmp_path / "production.yaml").write_text(policy)
    return tmp_path


def gate(
    ws: Path, kind: str, *extra: str, policy: str = "production.yaml"
) -> subprocess.CompletedProcess[str]:
    signature = [] if kind == "unsigned" else ["--signature", f"{kind}.sig"]
    return run(
        "gate", kind, "--policy", policy, *signature, "--key", "publisher.pub",
        "--attestations", f"{kind}-att", "--approver-key", "approver.pub", *extra, cwd=ws,
    )  # fmt: skip


def test_benign_signed_model_with_provenance_is_allowed(ws: Path) -> None:
    result = gate(ws, "benign", "--format", "json", "--evidence-out", "evidence.json")
    assert result.returncode == 0, result.stdout + result.stderr
    decision = json.loads(result.stdout)
    assert decision["allowed"] is True
    evidence = json.loads((ws / "evidence.json").read_text())
    jsonschema.validate(evidence, json.loads(EVIDENCE_SCHEMA.read_text()))
    assert evidence["signatures"]["verified"] is True
    assert evidence["signatures"]["signers"][0]["identity"] == key_fingerprint(
        (ws / "publisher.pub").read_bytes()
    )
    assert [a["kind"] for a in evidence["attestations"]] == ["provenance"]
    assert evidence["metadata"]["license"]
    assert (
        evidence["subject"]["root_digest"]
        == json.loads(run("hash", "benign", "-f", "json", cwd=ws).stdout)["root_digest"]
    )


def test_unsigned_and_malicious_models_are_denied_with_reasons(ws: Path) -> None:
    unsigned = gate(ws, "unsigned", "--format", "json")
    assert unsigned.returncode == 1
    failed = {r["rule_id"] for r in json.loads(unsigned.stdout)["rules"] if r["outcome"] == "fail"}
    assert "signed" in failed and "provenance" in failed
    malicious = gate(ws, "malicious", "--format", "json")
    assert malicious.returncode == 1
    failed = {r["rule_id"] for r in json.loads(malicious.stdout)["rules"] if r["outcome"] == "fail"}
    assert {"no-high-findings", "safe-formats"} <= failed
    assert "signed" not in failed  # it is signed: a signature says who, not that the content is safe
    table = gate(ws, "malicious")
    assert table.returncode == 1 and "no-high-findings" in table.stdout


def test_tampered_model_fails_its_signature(ws: Path) -> None:
    (ws / "benign" / "config.json").write_text('{"model_type": "swapped"}')
    result = gate(ws, "benign", "--format", "json")
    assert result.returncode == 1
    signed = next(r for r in json.loads(result.stdout)["rules"] if r["rule_id"] == "signed")
    assert signed["outcome"] == "fail" and "config.json" in signed["reason"]


def test_deepfake_capability_needs_an_approval_by_someone_else(ws: Path) -> None:
    unapproved = gate(ws, "faceswap", "--format", "json")
    assert unapproved.returncode == 1
    rule = next(r for r in json.loads(unapproved.stdout)["rules"] if r["rule_id"] == "deepfake-approval")
    assert rule["outcome"] == "fail"

    # The publisher approving their own model does not count (two-person rule) ...
    self_approval = ["--reason", "mine", "-o", str(ws / "faceswap-att" / "self.json")]
    assert main(["approve", str(ws / "faceswap"), "--key", str(ws / "publisher.pem"), *self_approval]) == 0
    assert gate(ws, "faceswap").returncode == 1
    (ws / "faceswap-att" / "self.json").unlink()

    # ... nor does an approval of other bytes ...
    assert main(["approve", str(ws / "benign"), "--key", str(ws / "approver.pem"), "--reason", "x",
                 "-o", str(ws / "faceswap-att" / "other.json")]) == 0  # fmt: skip
    assert gate(ws, "faceswap").returncode == 1
    (ws / "faceswap-att" / "other.json").unlink()

    # ... but the approver's approval of these bytes does.
    approval = [
        "--reason",
        "consented dubbing project",
        "--expires",
        "2099-12-31",
        "-o",
        "faceswap-att/ok.json",
    ]
    assert run("approve", "faceswap", "--key", "approver.pem", *approval, cwd=ws).returncode == 0
    approved = gate(ws, "faceswap", "--format", "json")
    assert approved.returncode == 0, approved.stdout


def test_sarif_output_is_valid(ws: Path) -> None:
    result = gate(ws, "malicious", "--format", "sarif", "-o", "gate.sarif")
    assert result.returncode == 1
    assert "denied; sarif written to gate.sarif" in result.stderr
    sarif = json.loads((ws / "gate.sarif").read_text())
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    assert sarif["runs"][0]["results"]
    # From outside the working directory: absolute file URIs, which take no uriBaseId.
    outside = run(
        "gate", str(ws / "malicious"), "--policy", "baseline", "--format", "sarif", cwd=ws / "benign"
    )
    locations = [
        loc["physicalLocation"]["artifactLocation"]
        for result in json.loads(outside.stdout)["runs"][0]["results"]
        for loc in result.get("locations", [])
    ]
    assert locations and all(a["uri"].startswith("file:///") and "uriBaseId" not in a for a in locations)


def test_missing_empty_or_invalid_policy_denies_in_one_line(ws: Path) -> None:
    missing = gate(ws, "benign", policy="nope.yaml")
    assert missing.returncode == 1 and missing.stderr.startswith("mlwarden: denied:")
    assert missing.stderr.count("\n") == 1
    (ws / "empty.yaml").write_text("")
    assert gate(ws, "benign", policy="empty.yaml").returncode == 1
    (ws / "bad.yaml").write_text("apiVersion: mlwarden.dev/policy/v1\nkind: Policy\nname: x\nrules: 3\n")
    bad = gate(ws, "benign", policy="bad.yaml")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    as_json = gate(ws, "benign", "--format", "json", policy="bad.yaml")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["allowed"] is False


def test_dev_policy_warns_but_allows(ws: Path) -> None:
    result = gate(ws, "malicious", policy="dev")
    assert result.returncode == 0


def test_gate_bad_input(ws: Path) -> None:
    gone = run("gate", "no-such-model", "--policy", "baseline", cwd=ws)
    assert gone.returncode == 2 and "does not exist" in gone.stderr
    assert run("approve", "benign", "--key", "approver.pem", "--reason", " ", cwd=ws).returncode == 2
    past = run(
        "approve", "benign", "--key", "approver.pem", "--reason", "x", "--expires", "2001-01-01", cwd=ws
    )
    assert past.returncode == 2 and "not in the future" in past.stderr
    inside = run("approve", "benign", "--key", "approver.pem", "--reason", "x", "-o", "benign/a.json", cwd=ws)
    assert inside.returncode == 2 and "inside the model" in inside.stderr


def test_dataset_manifest_counts_through_the_models_provenance(ws: Path) -> None:
    """data manifest (signed) -> train --data (provenance) -> attest -> gate requiring a dataset."""
    data = ws / "data"
    data.mkdir()
    (data / "train.csv").write_text("x,y\n1,2\n3,4\n")
    key = str(ws / "publisher.pem")
    assert (
        main(["data", "manifest", str(data), "--key", key, "-o", str(ws / "benign-att" / "data.json")]) == 0
    )
    model = ws / "trained"
    script = "import os, pathlib; pathlib.Path(os.environ['MLWARDEN_OUTPUT_DIR'], 'w.txt').write_text('w')"
    trained = run(
        "train", "--data", "benign-att/data.json", "--data-key", "publisher.pub", "--output", "trained",
        "--provenance", "prov.json", "--", sys.executable, "-c", script, cwd=ws,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    att = ws / "trained-att"
    att.mkdir()
    (att / "data.json").write_bytes((ws / "benign-att" / "data.json").read_bytes())
    assert main(["attest", str(model), "--type", "provenance", "--predicate", str(ws / "prov.json"),
                 "--key", key, "-o", str(att / "slsa.json")]) == 0  # fmt: skip
    assert main(["sign", str(model), "--key", key, "-o", str(ws / "trained.sig")]) == 0
    (ws / "needs-data.yaml").write_text(
        "apiVersion: mlwarden.dev/policy/v1\nkind: Policy\nname: needs-data\nrules:\n"
        "  - {id: data, type: attestations, require: [provenance, dataset]}\n"
    )
    allowed = gate(ws, "trained", "--format", "json", policy="needs-data.yaml")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    # Without the provenance that names it, the same signed manifest does not count.
    (att / "slsa.json").unlink()
    assert gate(ws, "trained", policy="needs-data.yaml").returncode == 1
