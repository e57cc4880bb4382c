"""Keras .h5 files: configs in root attributes, links out of the file, damaged files."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.hdf5 import Hdf5Scanner
from mlwarden.scanning.engine import scan_bytes, scan_path
from mlwarden.scanning.interface import BytesBlob, ScanContext, ScanLimits

# Marshalled code is only ever byte-searched; this stands in for a Lambda's base64 bytecode.
_FAKE_CODE = base64.b64encode(b"\xe3\x00\x00\x00\x00\xda\x02os\xda\x06system").decode()


def _sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    dense = {"class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}}
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [dense, *layers]}}


def _lambda_layer(name: str = "evil") -> dict[str, Any]:
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "function": [_FAKE_CODE, None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
        },
    }


def _write(path: Path, config: dict[str, Any] | None, training: dict[str, Any] | None = None) -> Path:
    with h5py.File(path, "w") as h5:
        if config is not None:
            h5.attrs["model_config"] = json.dumps(config)
        if training is not None:
            h5.attrs["training_config"] = json.dumps(training).encode()
        h5.attrs["keras_version"] = "2.15.0"
        h5.attrs["backend"] = "tensorflow"
        weights = h5.create_group("model_weights").create_group("dense")
        weights.create_dataset("kernel:0", data=np.zeros((3, 4), dtype=np.float32))
    return path


def _direct(data: bytes) -> list[Finding]:
    ctx = ScanContext(file="t", limits=ScanLimits(), nested=lambda b, n, c: iter(()))
    return list(Hdf5Scanner().scan(BytesBlob(data), ctx))


def test_benign_model_is_clean_and_records_layers(tmp_path: Path) -> None:
    report = scan_path(_write(tmp_path / "m.h5", _sequential())).files[0]
    assert report.format == "hdf5"
    assert report.findings == []
    assert report.facts[""]["keras"] == {
        "layers": {"Dense": 1},
        "layer_count": 1,
        "model_class": "Sequential",
    }
    assert report.facts[""]["hdf5"]["keras_version"] == "2.15.0"


def test_lambda_layer_is_critical(tmp_path: Path) -> None:
    report = scan_path(_write(tmp_path / "m.h5", _sequential(_lambda_layer("sneaky")))).files[0]
    lambdas = [f for f in report.findings if f.rule_id == "keras/lambda-layer"]
    assert [(f.severity, f.construct) for f in lambdas] == [(Severity.CRITICAL, "sneaky")]
    assert lambdas[0].details["bytecode_names"] == ["os", "system"]
    assert [f.rule_id for f in report.findings] == ["keras/lambda-layer"]  # __main__ of a lambda is not extra


def test_training_config_custom_loss_is_analysed(tmp_path: Path) -> None:
    training = {
        "loss": {
            "module": "subprocess",
            "class_name": "function",
            "config": "check_output",
            "registered_name": None,
        }
    }
    findings = scan_path(_write(tmp_path / "m.h5", _sequential(), training)).files[0].findings
    assert [(f.rule_id, f.severity, f.construct) for f in findings] == [
        ("keras/dangerous-module", Severity.CRITICAL, "subprocess.check_output")
    ]


def test_external_link_and_external_storage_are_high(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.h5", _sequential())
    with h5py.File(path, "a") as h5:
        h5["leak"] = h5py.ExternalLink("/etc/passwd", "/data")
        h5.create_dataset("ext", shape=(4,), dtype="u1", external=[("/etc/shadow", 0, 4)])
    findings = scan_path(path).files[0].findings
    by_rule = {f.rule_id: f for f in findings}
    assert by_rule["hdf5/external-link"].severity == Severity.HIGH
    assert by_rule["hdf5/external-link"].construct == "/etc/passwd"
    assert by_rule["hdf5/external-storage"].construct == "/etc/shadow"


def test_damaged_file_falls_back_to_byte_search(tmp_path: Path) -> None:
    data = bytearray(_write(tmp_path / "m.h5", _sequential(_lambda_layer())).read_bytes())
    data[8:48] = b"\xff" * 40  # wreck the superblock, keep the magic
    report = scan_bytes(bytes(data), "m.h5")
    rules = {(f.rule_id, f.severity) for f in report.findings}
    assert ("malformed/hdf5", Severity.MEDIUM) in rules
    assert ("keras/lambda-layer", Severity.CRITICAL) in rules


def test_invalid_config_json_is_medium(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = "{not json"
    assert [(f.rule_id, f.severity) for f in _direct(path.read_bytes())] == [
        ("keras/config-json", Severity.MEDIUM)
    ]


def test_prefixes_and_mutations_never_raise(tmp_path: Path) -> None:
    data = _write(tmp_path / "m.h5", _sequential(_lambda_layer())).read_bytes()
    for end in [*range(0, 64), *range(64, len(data) + 1, 97), len(data)]:
        _direct(data[:end])
    mutated = bytearray(data)
    for i in range(0, len(mutated), 211):
        mutated[i] ^= 0x5A
    _direct(bytes(mutated))
