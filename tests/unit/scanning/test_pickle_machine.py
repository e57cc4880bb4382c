"""The symbolic pickle machine: every opcode family, memo indirection, getattr chains, nested payloads."""

from __future__ import annotations

import collections
import datetime
import io
import os
import pickle
import pickletools
from pathlib import Path

import pytest

from mlwarden.scanning import Severity, scan_bytes
from mlwarden.scanning._formats.pickle_scanner import analyse_streams
from mlwarden.scanning._formats.pickle_vm import PickleMachine, decodes_as_pickle


class SystemCall:
    """Its pickle calls os.system; it is only ever scanned, never loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def imported(data: bytes) -> list[str]:
    return [i.ref.dotted for r in analyse_streams(data) for i in r.imports]


def critical(data: bytes) -> set[str]:
    report = scan_bytes(data, "payload")
    return {f.construct or "" for f in report.findings if f.severity >= Severity.CRITICAL}


@pytest.mark.parametrize("protocol", range(6))
def test_reduce_payload_found_in_every_protocol(protocol: int) -> None:
    data = pickle.dumps(SystemCall(), protocol=protocol)
    assert critical(data) == {"posix.system"}


@pytest.mark.parametrize("protocol", range(6))
def test_benign_values_round_trip_without_findings(protocol: int) -> None:
    value = {
        "ints": [1, -2, 2**70, True, None],
        "floats": (1.5, float("inf")),
        "text": "héllo",
        "bytes": b"\x00\x01",
        "set": {1, 2},
        "frozen": frozenset({3}),
        "ordered": collections.OrderedDict(a=1),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "nested": [[1], {"k": (2, 3)}],
    }
    data = pickle.dumps(value, protocol=protocol)
    result = analyse_streams(data)[0]
    assert result.stopped and result.error is None
    assert scan_bytes(data, "benign").findings == []


def test_memo_indirection_resolves_stack_global() -> None:
    # C-01: module and name go through the memo and are popped before STACK_GLOBAL.
    data = (
        b"\x80\x04\x8c\x02os\x94\x30\x8c\x06getcwd\x94\x30"  # 'os' MEMOIZE POP 'getcwd' MEMOIZE POP
        b"h\x00h\x01\x93)R."  # BINGET 0 BINGET 1 STACK_GLOBAL EMPTY_TUPLE REDUCE STOP
    )
    assert imported(data) == ["os.getcwd"]
    assert critical(data) == {"os.getcwd"}


def test_getattr_import_chain_resolves_target() -> None:
    # builtins.getattr(builtins.__import__('os'), 'system')('true')
    data = b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'true'\ntR."
    names = imported(data)
    assert "os.system" in names and "builtins.getattr" in names
    assert {"os.system", "builtins.getattr", "builtins.__import__"} <= critical(data)


def test_inst_and_obj_opcodes_are_calls() -> None:
    inst = b"(S'print(1)'\ni__builtin__\nexec\n."
    obj = b"(cbuiltins\nexec\nS'print(1)'\no."
    assert critical(inst) == {"builtins.exec"}
    assert critical(obj) == {"builtins.exec"}


def test_python2_names_are_mapped_like_the_real_unpickler() -> None:
    assert imported(b"c__builtin__\neval\n(S'1'\ntR.") == ["builtins.eval"]


def test_dotted_name_attribute_traversal_is_critical() -> None:
    name = b"OrderedDict.__init__.__globals__"
    data = b"\x80\x04\x8c\x0bcollections\x8c" + bytes([len(name)]) + name + b"\x93."
    assert critical(data) == {"collections.OrderedDict.__init__.__globals__"}


def test_extension_codes_are_reported() -> None:
    report = scan_bytes(b"\x80\x02\x82\x01)R.", "ext")
    assert {f.rule_id for f in report.findings} == {"pickle/extension-code"}
    assert report.findings[0].severity == Severity.HIGH


def test_unknown_global_is_medium_not_high() -> None:
    report = scan_bytes(b"\x80\x02cmy_project.layers\nCustomBlock\n)\x81.", "custom")
    assert [(f.rule_id, f.severity) for f in report.findings] == [("pickle/unknown-global", Severity.MEDIUM)]


def test_nested_pickle_loads_is_scanned() -> None:
    inner = pickle.dumps(SystemCall(), protocol=2)
    outer = b"\x80\x02c_pickle\nloads\nC" + bytes([len(inner)]) + inner + b"\x85R."
    report = scan_bytes(outer, "outer")
    by_rule = {(f.rule_id, f.construct, f.member) for f in report.findings}
    assert ("pickle/nested-loader", "_pickle.loads", None) in by_rule
    assert any(f.construct == "posix.system" and (f.member or "").startswith("@") for f in report.findings)


def test_torch_load_of_bytesio_is_scanned() -> None:
    inner = pickle.dumps(SystemCall(), protocol=2)
    outer = b"\x80\x02ctorch\nload\ncio\nBytesIO\nC" + bytes([len(inner)]) + inner + b"\x85R\x85R."
    assert "posix.system" in {f.construct for f in scan_bytes(outer, "x").findings}


def test_stream_after_stop_is_analysed() -> None:
    data = pickle.dumps([1, 2, 3], protocol=2) + pickle.dumps(SystemCall(), protocol=2)
    assert critical(data) == {"posix.system"}


def test_pickle_hidden_after_junk_is_found() -> None:
    data = pickle.dumps(["benign"]) + b"\xfe\x00junk" + b"\x80\x02cos\ngetcwd\n)R."
    findings = scan_bytes(data, "x").findings
    assert any(f.construct == "os.getcwd" and "hidden" in f.message for f in findings)


def test_int_opcode_parsed_as_cpython_does() -> None:
    # C-14: pickletools refuses I0x10, CPython accepts it; the payload after it must be seen.
    data = b"I0x10\n0cos\ngetcwd\n)R."
    assert pickle.loads(b"I0x10\n.") == 16
    with pytest.raises(ValueError):
        list(pickletools.genops(data))
    assert critical(data) == {"os.getcwd"}


def test_truncated_pickle_keeps_what_ran_before_the_cut() -> None:
    data = pickle.dumps(SystemCall(), protocol=2)[:-1]  # no STOP: the REDUCE would still have run
    report = scan_bytes(data, "cut")
    rules = {f.rule_id for f in report.findings}
    assert "pickle/dangerous-global" in rules and "malformed/pickle" in rules


def test_frame_violation_is_flagged() -> None:
    body = b"\x8c\x01a\x94."
    data = b"\x80\x04\x95" + (1).to_bytes(8, "little") + body  # frame claims 1 byte, opcodes run on
    assert "pickle/frame-violation" in {f.rule_id for f in scan_bytes(data, "f").findings}


def test_build_on_imported_function_is_flagged() -> None:
    # numpy.size with slot state {shape: x}: BUILD sets an attribute on the imported function (C-11).
    data = b"\x80\x04\x8c\x05numpy\x8c\x04size\x93N}\x8c\x05shape\x8c\x01xs\x86b."
    rules = {f.rule_id for f in scan_bytes(data, "b").findings}
    assert "pickle/attribute-overwrite" in rules


def test_machine_never_raises_on_garbage() -> None:
    for data in (b"", b"\x80", b"\x80\x05\x95", b"(((((", b"\xff" * 10, b"g99\n.", b"\x93\x93"):
        result = PickleMachine(data).run()
        assert result.error is not None


def test_protocol_zero_sniffing() -> None:
    assert decodes_as_pickle(b"(lp0\nI1\na.")
    assert not decodes_as_pickle(b"class Foo:\n    pass\n")


def test_real_torch_state_dict_records_tensor_shapes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    report = scan_bytes(buffer.getvalue(), "model.pt")
    assert report.findings == []
    facts = report.facts["archive/data.pkl"]["pickle"]
    assert facts["tensors"] == {"0.weight": [8, 4], "0.bias": [8], "2.weight": [2, 8], "2.bias": [2]}
