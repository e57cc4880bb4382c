"""safetensors header checks against the data section it describes."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.safetensors import SafetensorsScanner
from mlwarden.scanning.engine import scan_bytes, scan_path
from mlwarden.scanning.interface import BytesBlob, ScanContext, ScanLimits


def _direct(data: bytes) -> list[Finding]:
    ctx = ScanContext(file="t", limits=ScanLimits(), nested=lambda b, n, c: iter(()))
    return list(SafetensorsScanner().scan(BytesBlob(data), ctx))


def _valid(tmp_path: Path) -> bytes:
    path = tmp_path / "m.safetensors"
    tensors = {"a": np.zeros((2, 3), dtype=np.float32), "b": np.arange(4, dtype=np.int64)}
    save_file(tensors, path, metadata={"format": "pt"})
    return path.read_bytes()


def _build(header: dict[str, Any], data: bytes, raw_header: bytes | None = None) -> bytes:
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


def _rules(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.rule_id, f.severity) for f in findings]


def test_valid_file_is_clean_and_records_tensors(tmp_path: Path) -> None:
    _valid(tmp_path)
    report = scan_path(tmp_path / "m.safetensors").files[0]
    assert report.format == "safetensors"
    assert report.findings == []
    facts = report.facts[""]["safetensors"]
    assert facts["tensor_count"] == 2
    assert facts["metadata"] == {"format": "pt"}
    assert {t["name"]: (t["dtype"], t["shape"]) for t in facts["tensors"]} == {
        "a": ("F32", [2, 3]),
        "b": ("I64", [4]),
    }


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    ("header", "data", "expected"),
    [
        (
            {"t": {**F32_2, "data_offsets": [0, 4096]}},
            b"\0" * 8,
            ("safetensors/out-of-bounds", Severity.HIGH),
        ),
        ({"t": {**F32_2, "shape": [3]}}, b"\0" * 8, ("safetensors/size-mismatch", Severity.HIGH)),
        ({"t": {**F32_2, "dtype": "F99"}}, b"\0" * 8, ("safetensors/unknown-dtype", Severity.MEDIUM)),
        ({"t": {**F32_2, "shape": [-2]}}, b"\0" * 8, ("safetensors/bad-shape", Severity.HIGH)),
        ({"t": {**F32_2, "shape": [True, 2]}}, b"\0" * 8, ("safetensors/bad-shape", Severity.HIGH)),
        ({"t": {**F32_2, "data_offsets": [8, 0]}}, b"\0" * 8, ("safetensors/bad-offsets", Severity.HIGH)),
        ({"t": {**F32_2, "data_offsets": "0-8"}}, b"\0" * 8, ("safetensors/bad-offsets", Severity.HIGH)),
        ({"t": [1, 2]}, b"", ("safetensors/bad-entry", Severity.MEDIUM)),
        ({"__metadata__": {"a": 1}, "t": F32_2}, b"\0" * 8, ("safetensors/bad-metadata", Severity.MEDIUM)),
        (
            {"t": {**F32_2, "dtype": "F4", "shape": [3]}},
            b"\0" * 8,
            ("safetensors/size-mismatch", Severity.HIGH),
        ),
    ],
)
def test_inconsistent_entries(header: dict[str, Any], data: bytes, expected: tuple[str, Severity]) -> None:
    assert expected in _rules(_direct(_build(header, data)))


def test_overlap_gap_and_trailing_bytes() -> None:
    overlap = {"a": F32_2, "b": {**F32_2, "data_offsets": [4, 12]}}
    assert ("safetensors/overlap", Severity.HIGH) in _rules(_direct(_build(overlap, b"\0" * 12)))
    gap = {"a": F32_2, "b": {**F32_2, "data_offsets": [12, 20]}}
    assert _rules(_direct(_build(gap, b"\0" * 20))) == [("safetensors/gap", Severity.LOW)]
    trailing = _direct(_build({"a": F32_2}, b"\0" * 10))
    assert _rules(trailing) == [("safetensors/trailing-data", Severity.LOW)]
    assert trailing[0].offset == 8 + len(json.dumps({"a": F32_2})) + 8


def test_header_problems() -> None:
    assert _rules(_direct(b"\x05\x00")) == [("malformed/truncated", Severity.MEDIUM)]
    too_big = struct.pack("<Q", 200 << 20) + b"{" + b"\0" * 16
    assert _rules(_direct(too_big)) == [("safetensors/header-too-large", Severity.HIGH)]
    past_end = struct.pack("<Q", 1000) + b'{"a": 1}'
    assert _rules(_direct(past_end)) == [("malformed/truncated", Severity.HIGH)]
    assert _rules(_direct(_build({}, b"", b"[1, 2]"))) == [("safetensors/header-json", Severity.MEDIUM)]
    assert _rules(_direct(_build({}, b"", b"{not json"))) == [("safetensors/header-json", Severity.MEDIUM)]
    assert _rules(_direct(_build({}, b"", b'{"a": "\xff"}'))) == [
        ("safetensors/header-encoding", Severity.MEDIUM)
    ]
    deep = b"{" + b'"a":[' * 5000 + b"]" * 5000 + b"}"
    assert _rules(_direct(_build({}, b"", deep))) == [("safetensors/header-json", Severity.MEDIUM)]


def test_duplicate_tensor_names_are_high() -> None:
    raw = (
        b'{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
        b' "t": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}'
    )
    findings = _direct(_build({}, b"\0" * 8, raw))
    assert [(f.rule_id, f.construct) for f in findings] == [("safetensors/duplicate-key", "t")]


def test_padded_header_is_accepted(tmp_path: Path) -> None:
    raw = json.dumps({"a": F32_2}).encode() + b"        "
    assert _direct(_build({}, b"\0" * 8, raw)) == []


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, ("echo pwned",))


def test_trailing_pickle_is_scanned_as_a_member(tmp_path: Path) -> None:
    data = _valid(tmp_path) + pickle.dumps(_Evil(), protocol=4)
    report = scan_bytes(data, "polyglot.safetensors")
    assert ("safetensors/trailing-data", Severity.LOW) in _rules(report.findings)
    hidden = [f for f in report.findings if f.member == "<trailing-data>"]
    assert hidden
    assert max(f.severity for f in hidden) == Severity.CRITICAL


def test_every_prefix_is_handled_without_raising(tmp_path: Path) -> None:
    data = _valid(tmp_path)
    for end in range(len(data) + 1):
        _direct(data[:end])
    assert ("safetensors/out-of-bounds", Severity.HIGH) in _rules(_direct(data[:-4]))


def test_header_length_ending_in_0x80_is_still_safetensors(tmp_path: Path) -> None:
    """One header length in 32 starts with the byte of pickle's PROTO opcode; the real library writes it."""
    for extra in range(300):
        path = tmp_path / f"m{extra}.safetensors"
        save_file({"w" + "x" * extra: np.zeros(2, dtype=np.float32)}, path)
        data = path.read_bytes()
        if data[0] == 0x80:
            break
    else:
        pytest.fail("no header length ending in 0x80 within 300 names")
    report = scan_bytes(data, "m.safetensors")
    assert report.format == "safetensors"
    assert report.findings == []


def test_pickle_safetensors_polyglot_is_scanned_as_the_pickle(tmp_path: Path) -> None:
    """PROTO 2 then SHORT_BINBYTES swallowing the rest of the length and the '{': pickle.load runs it."""
    payload = pickle.dumps(print, protocol=2)[2:]  # the stream after PROTO: GLOBAL builtins print, STOP
    head = b"\x80\x02C\x05\x00\x00\x00\x00{"  # SHORT_BINBYTES of 5 bytes, ending with the JSON's '{'
    (n,) = struct.unpack_from("<Q", head)
    body = head + b"0" + payload  # POP the bytes, then the payload
    data = body + b"\x00" * (n + 8 - len(body))
    assert pickle.loads(data) is print  # it really is a pickle
    report = scan_bytes(data, "model.safetensors")
    assert report.format == "pickle"
    assert any(f.construct == "builtins.print" for f in report.findings)
