"""ONNX, TensorFlow SavedModel and GraphDef scanning from the protobuf wire format."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.protobuf import ProtobufScanner
from mlwarden.scanning.engine import scan_bytes, scan_path
from mlwarden.scanning.interface import BytesBlob, ScanContext, ScanLimits


def _direct(data: bytes) -> tuple[list[Finding], ScanContext]:
    ctx = ScanContext(file="t", limits=ScanLimits(), nested=lambda b, n, c: iter(()))
    return list(ProtobufScanner().scan(BytesBlob(data), ctx)), ctx


def _rules(findings: list[Finding], at_least: Severity = Severity.INFO) -> set[str]:
    return {f.rule_id for f in findings if f.severity >= at_least}


def _model(
    nodes: list[onnx.NodeProto],
    initializers: list[TensorProto] | None = None,
    functions: list[onnx.FunctionProto] | None = None,
    extra_opsets: tuple[str, ...] = (),
) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    graph = helper.make_graph(nodes, "g", [x], [y], initializers or [])
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in extra_opsets)]
    return helper.make_model(graph, opset_imports=opsets, functions=functions or [])


def _external(name: str, location: str) -> TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [3], [0.0, 0.0, 0.0])
    del tensor.float_data[:]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _benign() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], dtype=np.float32), "w")
    return _model([helper.make_node("Add", ["x", "w"], ["t"]), helper.make_node("Relu", ["t"], ["y"])], [w])


def test_benign_onnx_has_no_findings_and_records_facts(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save_model(_benign(), path)
    report = scan_path(path).files[0]
    assert report.format == "protobuf"
    assert report.findings == []
    facts = report.facts[""]["onnx"]
    assert facts["inputs"] == [{"name": "x", "shape": ["N", 3], "elem_type": TensorProto.FLOAT}]
    assert facts["outputs"][0]["name"] == "y"
    assert facts["initializers"] == [{"name": "w", "dims": [3], "data_type": TensorProto.FLOAT}]
    assert facts["op_types"] == {"Add": 1, "Relu": 1}
    assert facts["opset_import"] == {"": 17}


def test_onnx_saved_with_relative_external_data_is_clean(tmp_path: Path) -> None:
    model = _benign()
    onnx.save_model(
        model,
        tmp_path / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    report = scan_path(tmp_path / "m.onnx")
    by_file = {Path(f.path).name: f for f in report.files}
    assert _rules(by_file["m.onnx"].findings, Severity.LOW) == set()
    assert by_file["m.onnx"].facts[""]["onnx"]["external_data"] == [
        {"tensor": "w", "location": "weights.bin"}
    ]


@pytest.mark.parametrize(
    "location",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "sub/../../x.bin",
        "C:\\Windows\\x",
        "file:///etc/shadow",
        "..\\..\\secret",
    ],
)
def test_external_data_escaping_the_model_directory_is_high(tmp_path: Path, location: str) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(
        _model([helper.make_node("Add", ["x", "w"], ["y"])], [_external("w", location)]).SerializeToString()
    )
    findings = scan_path(path).files[0].findings
    escape = [f for f in findings if f.rule_id == "onnx/external-data-escape"]
    assert len(escape) == 1
    assert escape[0].severity == Severity.HIGH
    assert escape[0].construct == location


def test_external_data_in_a_constant_attribute_is_checked() -> None:
    const = helper.make_node("Constant", [], ["c"], value=_external("c", "../../../root/.ssh/id_rsa"))
    model = _model([const, helper.make_node("Add", ["x", "c"], ["y"])])
    findings, _ = _direct(model.SerializeToString())
    assert "onnx/external-data-escape" in _rules(findings, Severity.HIGH)


def test_external_data_without_location_is_malformed() -> None:
    tensor = _external("w", "x.bin")
    del tensor.external_data[:]
    findings, _ = _direct(_model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor]).SerializeToString())
    assert "onnx/external-data-malformed" in _rules(findings, Severity.MEDIUM)


def test_custom_domain_is_medium_and_python_op_is_critical() -> None:
    nodes = [
        helper.make_node("Mystery", ["x"], ["t"], domain="com.vendor.ops", name="m1"),
        helper.make_node("Mystery", ["t"], ["u"], domain="com.vendor.ops", name="m2"),
        helper.make_node("PyOp", ["u"], ["y"], domain="ai.onnx.contrib", name="evil"),
    ]
    findings, ctx = _direct(
        _model(nodes, extra_opsets=("com.vendor.ops", "ai.onnx.contrib")).SerializeToString()
    )
    custom = [f for f in findings if f.rule_id == "onnx/custom-op-domain"]
    assert [(f.severity, f.construct, f.details["count"]) for f in custom] == [
        (Severity.MEDIUM, "com.vendor.ops:Mystery", 2)
    ]
    python = [f for f in findings if f.rule_id == "onnx/python-op"]
    assert python[0].severity == Severity.CRITICAL
    assert "evil" in python[0].message
    assert ctx.facts[""]["onnx"]["op_types"]["ai.onnx.contrib:PyOp"] == 1


def test_standard_domains_are_not_flagged() -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], domain="ai.onnx"),
        helper.make_node("FusedMatMul", ["a", "a"], ["b"], domain="com.microsoft"),
        helper.make_node("Identity", ["b"], ["y"]),
    ]
    findings, _ = _direct(_model(nodes, extra_opsets=("com.microsoft",)).SerializeToString())
    assert findings == []


def test_subgraphs_of_if_and_loop_are_analysed() -> None:
    out = helper.make_tensor_value_info("o", TensorProto.FLOAT, [1])
    evil = helper.make_graph(
        [helper.make_node("PythonOp", ["x"], ["o"], domain="com.microsoft")], "then", [], [out]
    )
    plain = helper.make_graph([helper.make_node("Identity", ["x"], ["o"])], "else", [], [out])
    cond = helper.make_node("If", ["c"], ["y"], then_branch=evil, else_branch=plain)
    findings, ctx = _direct(_model([cond]).SerializeToString())
    assert "onnx/python-op" in _rules(findings, Severity.CRITICAL)
    assert ctx.facts[""]["onnx"]["graph_count"] == 3


def test_local_functions_are_noted_and_their_nodes_analysed() -> None:
    func = helper.make_function(
        "my.local",
        "Helper",
        ["a"],
        ["b"],
        [helper.make_node("PyOp", ["a"], ["b"], domain="ai.onnx.contrib")],
        [helper.make_opsetid("", 17)],
    )
    call = helper.make_node("Helper", ["x"], ["y"], domain="my.local")
    model = _model([call], functions=[func], extra_opsets=("my.local",))
    findings, ctx = _direct(model.SerializeToString())
    local = [f for f in findings if f.rule_id == "onnx/local-function"]
    assert local[0].severity == Severity.INFO
    assert local[0].construct == "my.local:Helper"
    assert "onnx/python-op" in _rules(findings)
    assert "onnx/custom-op-domain" not in _rules(findings)  # calling the local function is not a custom op
    assert ctx.facts[""]["onnx"]["functions"] == [{"domain": "my.local", "name": "Helper", "nodes": 1}]


# -- hand-built wire format -------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _vi(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def test_deeply_nested_subgraphs_hit_the_depth_limit() -> None:
    graph = _ld(1, _ld(4, "Relu"))
    for _ in range(60):  # GraphProto.node -> NodeProto.attribute -> AttributeProto.g -> GraphProto
        graph = _ld(1, _ld(4, "If") + _ld(5, _ld(1, "then_branch") + _ld(6, graph)))
    model = _vi(1, 8) + _ld(7, graph)
    report = scan_bytes(model, "deep.onnx")
    rules = _rules(report.findings)
    assert "limit/protobuf-depth" in rules
    assert "malformed/parse-error" not in rules


def _node_def(name: str, op: str, inputs: tuple[str, ...] = (), attrs: bytes = b"") -> bytes:
    return _ld(1, name) + _ld(2, op) + b"".join(_ld(3, i) for i in inputs) + attrs


def _string_const(name: str, value: str) -> bytes:
    tensor = _vi(1, 7) + _ld(8, value)  # DT_STRING, string_val
    attr = _ld(5, _ld(1, "value") + _ld(2, _ld(8, tensor)))
    return _node_def(name, "Const", attrs=attr)


def _graph_def() -> bytes:
    nodes = [
        _string_const("path", "/etc/passwd"),
        _node_def("read", "ReadFile", ("path",)),
        _node_def("py", "PyFunc", ("read",)),
        _node_def("ckpt", "SaveV2", ("path", "names", "slices")),
        _node_def("out", "Identity", ("py",)),
    ]
    library = _ld(2, _ld(1, _ld(1, _ld(1, "__inference_fn_1")) + _ld(3, _node_def("e", "EagerPyFunc"))))
    return b"".join(_ld(1, n) for n in nodes) + library + _ld(4, _vi(1, 1087))


def test_graph_def_python_and_file_ops() -> None:
    report = scan_bytes(_graph_def(), "frozen.pb")
    assert report.format == "protobuf"
    by_rule = {(f.rule_id, f.construct): f for f in report.findings}
    assert by_rule[("tensorflow/python-op", "PyFunc")].severity == Severity.CRITICAL
    assert by_rule[("tensorflow/python-op", "EagerPyFunc")].severity == Severity.CRITICAL
    read = by_rule[("tensorflow/file-access", "ReadFile")]
    assert read.severity == Severity.HIGH
    assert "/etc/passwd" in read.message
    assert by_rule[("tensorflow/checkpoint-path", "SaveV2")].severity == Severity.HIGH
    facts = report.facts[""]["tensorflow"]
    assert facts["kind"] == "graph_def"
    assert facts["op_types"]["PyFunc"] == 1
    assert facts["functions"] == ["__inference_fn_1"]


def test_saved_model_wrapping_a_graph_def() -> None:
    meta = _ld(1, _ld(4, "serve")) + _ld(2, _graph_def())
    saved = _vi(1, 1) + _ld(2, meta)
    report = scan_bytes(saved, "saved_model.pb")
    facts = report.facts[""]["tensorflow"]
    assert facts["kind"] == "saved_model"
    assert facts["tags"] == ["serve"]
    assert "tensorflow/python-op" in _rules(report.findings, Severity.CRITICAL)


def test_print_to_a_file_is_high() -> None:
    attr = _ld(5, _ld(1, "output_stream") + _ld(2, _ld(2, "file:///tmp/leak")))
    graph = _ld(1, _node_def("p", "PrintV2", ("x",), attr)) + _ld(1, _node_def("x", "Placeholder"))
    findings, _ = _direct(graph)
    assert [f.message for f in findings if f.rule_id == "tensorflow/file-access"] == [
        "PrintV2 node 'p' writes to 'file:///tmp/leak'"
    ]


def test_unknown_protobuf_like_a_sentencepiece_model_is_quiet() -> None:
    piece = _ld(1, "▁the") + b"\x15" + b"\x00\x00\x80\xbf"  # piece, score (fixed32)
    data = b"".join(_ld(1, piece) for _ in range(20)) + _ld(2, _vi(3, 8000))
    report = scan_bytes(data, "tokenizer.model")
    assert report.format == "protobuf"
    assert report.findings == []
    assert report.facts[""]["protobuf"] == {"schema": "unknown"}


def test_every_prefix_of_a_model_is_handled_without_raising() -> None:
    nodes = [helper.make_node("PyOp", ["x"], ["y"], domain="ai.onnx.contrib")]
    data = _model(nodes, [_external("w", "../x")]).SerializeToString()
    for end in range(len(data) + 1):
        findings, _ = _direct(data[:end])
        assert all(f.rule_id != "malformed/parse-error" for f in findings)
    truncated, _ = _direct(data[: len(data) - 3])
    assert "malformed/truncated" in _rules(truncated)


def test_random_garbage_never_raises() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        data = bytes([rng.choice([0x08, 0x0A, 0x12])]) + rng.randbytes(rng.randint(0, 200))
        _direct(data)
    base = _model([helper.make_node("Relu", ["x"], ["y"])]).SerializeToString()
    for _ in range(300):
        mutated = bytearray(base)
        for _ in range(3):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        _direct(bytes(mutated))
