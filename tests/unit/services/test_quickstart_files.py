"""The quickstart's hand-written demo files are what they claim to be, and its workspace handling is safe."""

from __future__ import annotations

import itertools
import json
import pickletools
import struct
from pathlib import Path

import pytest

from mlwarden.capability import classify
from mlwarden.policy import Decision, Policy, RuleOutcome
from mlwarden.policy.decision import Outcome
from mlwarden.scanning import Severity, scan_path
from mlwarden.services import quickstart as qs
from mlwarden.signing import generate_key, key_fingerprint, public_key_pem


@pytest.fixture
def models(tmp_path: Path) -> Path:
    for kind in ("benign", "malicious", "faceswap", "unsigned"):
        qs.write_model(kind, tmp_path / kind)
    return tmp_path


def test_faceswap_onnx_classifies_as_face_swap_high(models: Path) -> None:
    report = classify([models / "faceswap"])
    (bundle,) = report.bundles
    assert bundle.labels == ["face-swap"]
    assert bundle.severity == "high"
    assert bundle.family == "insightface-inswapper"
    top = bundle.reported[0]
    assert top.status == "detected" and top.confidence >= 0.7
    kinds = {hit.kind for hit in top.hits}
    assert {"onnx_input", "onnx_output", "onnx_initializer"} <= kinds
    assert "filename_regex" not in kinds  # recognised from structure, not from a telling file name


def test_faceswap_onnx_is_a_valid_model_proto(models: Path) -> None:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(models / "faceswap" / "face_swapper.onnx"), load_external_data=False)
    shapes = lambda values: {  # noqa: E731
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values
    }
    assert shapes(model.graph.input) == {"target": [1, 3, 128, 128], "source": [1, 512]}
    assert shapes(model.graph.output) == {"output": [1, 3, 128, 128]}
    inits = [(t.name, list(t.dims)) for t in model.graph.initializer]
    assert inits[-1] == ("emap", [512, 512])  # insightface reads the LAST initializer as emap
    assert sum(name.startswith("styles.") for name, _ in inits) == 12
    assert {n.op_type for n in model.graph.node} <= {"MatMul", "Gemm", "Conv", "Identity"}
    assert model.opset_import[0].domain == "" and model.opset_import[0].version == 11


def test_faceswap_onnx_scans_clean(models: Path) -> None:
    report = scan_path(models / "faceswap")
    assert {f.format for f in report.files} == {"protobuf", "text"}
    assert not [f for f in report.all_findings() if f.severity >= Severity.LOW]


def test_malicious_pickle_is_flagged_critical_and_never_loaded(models: Path) -> None:
    path = models / "malicious" / "pytorch_model.bin"
    report = scan_path(path)
    critical = [f for f in report.all_findings() if f.severity is Severity.CRITICAL]
    assert [f.construct for f in critical] == ["os.system"]
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(path.read_bytes())]
    assert ops[0] == ("PROTO", 2)
    assert ("GLOBAL", "os system") in ops
    assert ("BINUNICODE", qs.PAYLOAD_COMMAND) in ops
    assert qs.PAYLOAD_COMMAND.startswith("echo ")  # harmless even if someone did load it
    assert [name for name, _ in ops[-3:]] == ["REDUCE", "SETITEM", "STOP"]


def test_benign_safetensors_scans_clean_and_is_well_formed(models: Path) -> None:
    data = (models / "benign" / "model.safetensors").read_bytes()
    (length,) = struct.unpack_from("<Q", data)
    assert length % 8 == 0 and length & 0xFF != 0x80
    header = json.loads(data[8 : 8 + length])
    offsets = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert offsets[0][0] == 0 and offsets[-1][1] == len(data) - 8 - length
    assert all(a[1] == b[0] for a, b in itertools.pairwise(offsets))
    for kind in ("benign", "unsigned"):
        report = scan_path(models / kind)
        assert not report.all_findings(), [f.message for f in report.all_findings()]
        assert {f.format for f in report.files} >= {"safetensors"}
        assert classify([models / kind]).severity == "none"
    numpy_st = pytest.importorskip("safetensors.numpy")
    tensors = numpy_st.load_file(str(models / "benign" / "model.safetensors"))
    assert {k: v.shape for k, v in tensors.items()} == {
        "fc1.weight": (16, 8),
        "fc1.bias": (16,),
        "fc2.weight": (4, 16),
        "fc2.bias": (4,),
    }


def test_demo_files_are_reproducible_and_licensed() -> None:
    for kind in ("benign", "malicious", "faceswap", "unsigned"):
        files = qs.model_files(kind)
        assert files == qs.model_files(kind)
        assert files["README.md"].startswith(f"---\nlicense: {qs.LICENSE}\n---\n".encode())
    assert qs.model_files("benign")["model.safetensors"] != qs.model_files("unsigned")["model.safetensors"]
    with pytest.raises(qs.UsageError):
        qs.model_files("nope")


def test_workspace_policy_gives_the_approver_the_role() -> None:
    fingerprint = key_fingerprint(public_key_pem(generate_key("P-256")))
    text = qs.workspace_policy(fingerprint)
    policy = Policy.from_yaml(text, "workspace.yaml")
    assert policy.document.roles["approvers"].keys == [fingerprint]
    assert policy.document.name == "production"
    shipped = Policy.shipped("production").document
    assert policy.document.rules == shipped.rules  # only the role differs
    assert text.startswith("# Written by mlwarden quickstart")


def test_prepare_workspace_refuses_foreign_directories(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(qs.UsageError, match="not a quickstart workspace"):
        qs.prepare_workspace(foreign, force=False)
    (foreign / "models").mkdir()
    (foreign / "models" / "old").write_text("x")
    qs.prepare_workspace(foreign, force=True)
    assert (foreign / "thesis.tex").read_text() == "precious"  # only the quickstart's own entries go
    assert not (foreign / "models").exists()

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(qs.UsageError, match="not a directory"):
        qs.prepare_workspace(a_file, force=True)

    empty = tmp_path / "empty"
    empty.mkdir()
    qs.prepare_workspace(empty, force=False)
    qs.prepare_workspace(tmp_path / "new" / "nested", force=False)
    assert (tmp_path / "new" / "nested").is_dir()


def test_prepare_workspace_rebuilds_a_previous_workspace(tmp_path: Path) -> None:
    (tmp_path / qs.MARKER).write_text("{}")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "publisher.pem").write_text("old")
    (tmp_path / "notes.txt").write_text("kept")
    qs.prepare_workspace(tmp_path, force=False)
    assert not (tmp_path / "keys").exists() and not (tmp_path / qs.MARKER).exists()
    assert (tmp_path / "notes.txt").read_text() == "kept"


def _outcome(rule_id: str, kind: str, outcome: Outcome, reason: str) -> RuleOutcome:
    return RuleOutcome(rule_id, kind, outcome, reason)


def test_main_reason_names_the_content_before_the_paperwork() -> None:
    outcomes = (
        _outcome("provenance", "attestations", Outcome.FAIL, "no provenance"),
        _outcome("signed", "signatures", Outcome.FAIL, "not signed"),
        _outcome("no-high", "max_severity", Outcome.FAIL, "critical os.system"),
        _outcome("formats", "formats", Outcome.PASS, "ok"),
    )
    denied = Decision(allowed=False, mode="enforce", policy="p", source="p", outcomes=outcomes)
    reason, blocking = qs.main_reason(denied)
    assert reason == "no-high: critical os.system (also failed: provenance, signed)"
    assert [o.rule_id for o in blocking] == ["provenance", "signed", "no-high"]

    passed = (
        _outcome("signed", "signatures", Outcome.PASS, "signed by key"),
        _outcome("deepfake", "capability", Outcome.PASS, "face-swap approved by key abc"),
    )
    allowed = Decision(allowed=True, mode="enforce", policy="p", source="p", outcomes=passed)
    assert qs.main_reason(allowed) == ("face-swap approved by key abc", ())
    plain = Decision(allowed=True, mode="enforce", policy="p", source="p", outcomes=passed[:1])
    assert qs.main_reason(plain)[0] == "all 1 rule passed: signed"
