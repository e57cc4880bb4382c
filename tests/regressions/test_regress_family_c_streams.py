"""Family C: opcode-stream / static-VM desynchronisation. The scanner must follow the stack and memo exactly
as CPython does, never stop at a parse error without reporting it, and read every stream in the file.
"""

from __future__ import annotations

import pytest
from regress_lib import (
    BENIGN_P2,
    CODE,
    EMPTY_DICT,
    EMPTY_LIST,
    EMPTY_TUPLE,
    GETCWD_P0,
    GETCWD_P2,
    MARK,
    MEMOIZE,
    NEWOBJ_EX,
    NONE,
    OBJ,
    POP,
    POP_MARK,
    REDUCE,
    STACK_GLOBAL,
    TUPLE,
    TUPLE1,
    Raw,
    binbytes,
    binint,
    binunicode8,
    call,
    expect,
    frame,
    get,
    glob,
    p2,
    p4,
    proto,
    put,
    sbu,
    scan_file,
    sg,
    string0,
    torch_zip,
    unicode0,
)

from mlwarden.scanning import Severity

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
HF = "https://huggingface.co/"


@pytest.mark.parametrize(
    "trailer", [b"", b"\n\n\t\t"], ids=["C-01-PS-22-malicious11", "C-01-PS-22-invalid-bytes"]
)
def test_c01_memo_indirection_for_stack_global(trailer: bytes, tmp_path) -> None:
    """C-01, picklescan issue #22 (ImaginaryCTF "Safe Pickle";
    https://github.com/mmaitre314/picklescan/issues/22, fixture malicious11.pkl): the STACK_GLOBAL operands
    come from memo GETs, with decoy strings nearby.
    """
    data = (
        proto(4)
        + b"".join(
            [
                unicode0("os"),
                put(2),
                POP,
                unicode0("getcwd"),
                put(3),
                POP,
                unicode0("torch"),
                put(0),
                POP,
                unicode0("LongStorage"),
                put(1),
                POP,
                get(2),
                get(3),
                STACK_GLOBAL,
                MARK,
                TUPLE,
                REDUCE,
            ]
        )
        + b"."
        + trailer
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


def test_c02_stack_global_from_string_opcodes_at_position_zero(tmp_path) -> None:
    """C-02, GHSA-9gvj-pp9x-gcfr / CVE-2025-71325 (picklescan PR
    https://github.com/mmaitre314/picklescan/pull/46, fixture malicious23.pkl): no PROTO; STRING operands;
    STACK_GLOBAL as the third opcode.
    """
    data = b"S'os'\nS'getcwd'\n\x93" + b"S'x'\n\x85R."
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


def test_c03_invalid_memo_key_keeps_earlier_findings(tmp_path) -> None:
    """C-03, picklescan commit d3273f4 (keyerror-exploit.pkl;
    https://github.com/mmaitre314/picklescan/commit/d3273f4): a real REDUCE runs, then ``BINGET 3`` of a key
    never stored makes the walker raise KeyError.
    """
    data = (
        proto(4)
        + b"".join(
            [
                glob("os", "getcwd"),
                EMPTY_TUPLE,
                REDUCE,
                POP,
                sbu("os"),
                MEMOIZE,
                get(3),
                get(0),
                STACK_GLOBAL,
                binint(0x42),
            ]
        )
        + b"."
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")
    expect(findings, M, rule="malformed/pickle")


def test_c04_memo_type_confusion(tmp_path) -> None:
    """C-04, picklescan commit d3273f4 (type-confusion-exploit.pkl): the memo holds an int, so STACK_GLOBAL
    gets a non-string module after an earlier REDUCE has already run. Source:
    https://github.com/mmaitre314/picklescan/commit/d3273f4
    """
    data = (
        proto(4)
        + b"".join(
            [
                glob("os", "getcwd"),
                EMPTY_TUPLE,
                REDUCE,
                POP,
                b"J" + (42).to_bytes(4, "little"),
                MEMOIZE,
                sbu("getcwd"),
                MEMOIZE,
                get(0),
                get(1),
                STACK_GLOBAL,
                EMPTY_TUPLE,
                REDUCE,
            ]
        )
        + b"."
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")
    expect(findings, H, rule="pickle/dynamic-global")


def test_c05_memoize_after_pop(tmp_path) -> None:
    """C-05, modelscan memo poisoning (https://huggingface.co/celvexgroup/modelscan-memo-poison-poc):
    modelscan memoised the previous opcode's argument; after POP the VM memoises the real stack top
    ("builtins").
    """
    data = p4(
        sbu("builtins"),
        sbu("x"),
        POP,
        MEMOIZE,
        sbu("exec"),
        MEMOIZE,
        get(0),
        get(1),
        STACK_GLOBAL,
        sbu(CODE),
        TUPLE1,
        REDUCE,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="builtins.exec", rule="pickle/dangerous-global")


def test_c06_memo_overwrite_desync(tmp_path) -> None:
    """C-06, "ShadowPickle-class" memo desync (https://huggingface.co/TESTforge42/scanner-bypass-memo-desync):
    memo slots are first written with None, then overwritten from stack tops a naive walker gets wrong.
    """
    data = p4(
        NONE,
        put(0),
        POP,
        NONE,
        put(1),
        POP,
        sbu("os"),
        NONE,
        POP,
        put(0),
        POP,
        sbu("getcwd"),
        NONE,
        POP,
        put(1),
        POP,
        get(0),
        get(1),
        STACK_GLOBAL,
        EMPTY_TUPLE,
        REDUCE,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


def test_c07_obj_call_discarded_by_pop(tmp_path) -> None:
    """C-07, fickling GHSA-mxhj-88fx-4pcv (fix ff423da;
    https://github.com/trailofbits/fickling/security/advisories/GHSA-mxhj-88fx-4pcv): an OBJ call whose
    result is POPped was never recorded.
    """
    data = p4(MARK, sg("smtplib", "SMTP"), sbu("127.0.0.1"), OBJ, POP, NONE)
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, H, construct="smtplib.SMTP", rule="pickle/")


def test_c08_inst_opcode(tmp_path) -> None:
    """C-08, picklescan commit 40001cd (malicious10.pkl;
    https://github.com/mmaitre314/picklescan/commit/40001cd): INST carries module and name inline;
    ``__builtin__`` is mapped to builtins at protocol 0.
    """
    data = MARK + string0(CODE) + b"i__builtin__\nexec\n."
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="builtins.exec", rule="pickle/dangerous-global")


EXT_IDS = ["C-09-MA-623-EXT1", "C-09-MA-623-EXT2", "C-09-MA-623-EXT4"]
EXTS = [b"\x82\x01", b"\x83\x01\x02", b"\x84\x01\x02\x03\x04"]


@pytest.mark.parametrize("ext", EXTS, ids=EXT_IDS)
def test_c09_extension_registry_call(ext: bytes, tmp_path) -> None:
    """C-09, ModelAudit PR #623 (https://github.com/promptfoo/modelaudit/pull/623, fix ffb5ec1c): EXT pushes a
    callable registered at load time with ``copyreg.add_extension``; no name is in the file. The unresolvable
    callable is reported HIGH.
    """
    findings = scan_file(tmp_path, "model.pkl", p2(ext, EMPTY_TUPLE, REDUCE))
    expect(findings, H, rule="pickle/extension-code")


@pytest.mark.parametrize("ext", EXTS, ids=[f"{i}-reduced" for i in EXT_IDS])
def test_c09_extension_call_is_reported_high(ext: bytes, tmp_path) -> None:
    """C-09 (https://github.com/promptfoo/modelaudit/pull/623) asks for CRITICAL once the EXT callable is
    REDUCEd. mlwarden reports HIGH on purpose: copyreg's extension registry is empty in every stock
    loader, so the stream fails before the call unless the loading process registered codes itself;
    HIGH still fails the default gate, and the callable cannot be named, so it cannot be allowlisted.
    """
    findings = scan_file(tmp_path, "model.pkl", p2(ext, EMPTY_TUPLE, REDUCE))
    expect(findings, H, rule="pickle/extension-code")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            p4(binunicode8("posix"), binunicode8("getcwd"), STACK_GLOBAL, EMPTY_TUPLE, REDUCE),
            id="C-10-MA-518-BINUNICODE8",
        ),
        pytest.param(
            p4(sg("posix", "getcwd"), EMPTY_TUPLE, EMPTY_DICT, NEWOBJ_EX), id="C-10-MA-581-NEWOBJ_EX"
        ),
    ],
)
def test_c10_binunicode8_and_newobj_ex(data: bytes, tmp_path) -> None:
    """C-10, ModelAudit PR #518 / #581 (https://github.com/promptfoo/modelaudit/pull/518,
    https://github.com/promptfoo/modelaudit/pull/581): BINUNICODE8 operands and NEWOBJ_EX calls were unseen.
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="posix.getcwd", rule="pickle/dangerous-global")


def test_c11_numpy_size_getitem_and_builtins_dict(tmp_path) -> None:
    """C-11, modelscan issue #330 (https://github.com/protectai/modelscan/issues/330): BUILD sets
    ``numpy.size.shape = numpy.__builtins__``; ``numpy.size(numpy.size, "eval")`` then returns
    ``builtins["eval"]``, which is REDUCEd. No denylisted name appears in the file.
    """
    data = p4(
        sg("numpy", "size"),
        put(0),
        POP,
        sg("numpy", "__builtins__"),
        put(1),
        POP,
        get(0),
        NONE,
        EMPTY_DICT,
        sbu("shape"),
        get(1),
        b"s",
        b"\x86",
        b"b",
        POP,
        call(get(0), Raw(get(0)), "eval"),
        sbu("1+1"),
        TUPLE1,
        REDUCE,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="numpy.__builtins__", rule="pickle/attribute-traversal")
    expect(findings, H, rule="pickle/attribute-overwrite")


def test_c12_import_module_getattr_string_join(tmp_path) -> None:
    """C-12, modelscan issue #331 (https://github.com/protectai/modelscan/issues/331): the module name is
    built at load time with ``str.join`` reached through ``getattr(import_module("builtins"), "str")``.
    """
    data = p4(
        call(sg("importlib", "import_module"), "builtins"),
        put(0),
        POP,
        call(sg("builtins", "getattr"), Raw(get(0)), "str"),
        put(1),
        POP,
        call(sg("builtins", "getattr"), Raw(get(1)), "join"),
        put(2),
        POP,
        call(get(2), "", ["o", "s"]),
        put(3),
        POP,
        call(sg("importlib", "import_module"), Raw(get(3))),
        put(4),
        POP,
        call(sg("builtins", "getattr"), Raw(get(4)), "getcwd"),
        EMPTY_TUPLE,
        REDUCE,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="importlib.import_module", rule="pickle/")
    expect(findings, C, construct="builtins.getattr", rule="pickle/")


def test_c13_partial_parse_is_not_clean(tmp_path) -> None:
    """C-13, modelscan partial parse (https://huggingface.co/hoanghai2110/scanner-bypass-poc): a benign
    pickle, an invalid ``\\xfe`` separator, then the payload; modelscan returned the benign globals with no
    error.
    """
    data = p2(EMPTY_LIST, sbu("benign"), b"a") + b"\xfe" + GETCWD_P2
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


@pytest.mark.parametrize(
    ("prefix", "member"),
    [
        pytest.param(b"I0x10\n0", None, id="C-14-INT-0x10"),
        pytest.param(b"L0x10L\n0", None, id="C-15-LONG-0x10"),
        pytest.param(b"I0x10\n0", "archive/data.pkl", id="C-14-INT-0x10-torch-zip"),
        pytest.param(b"I010\n0", None, id="C-14-INT-octal"),
    ],
)
def test_c14_c15_int_long_base0_desync(prefix: bytes, member: str | None, tmp_path) -> None:
    """C-14 / C-15: ``pickletools`` parses INT/LONG in base 10 and stops on ``0x10``; CPython uses base 0 and
    goes on to the payload. Sources: https://huggingface.co/TESTforge42/scanner-bypass-genops-poc ,
    https://huggingface.co/TESTforge42/scanner-bypass-long-desync ,
    https://huggingface.co/TESTforge42/scanner-bypass-ptzip-int-desync (torch zip variant).
    """
    payload = prefix + b"cos\ngetcwd\n)R."
    if member is None:
        findings = scan_file(tmp_path, "model.pkl", payload)
    else:
        findings = scan_file(tmp_path, "model.pt", torch_zip(payload))
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member=member)


def test_c16_frame_boundary_divergence(tmp_path) -> None:
    """C-16, fickling test_frame_boundary_divergence (CPython issue 154848;
    https://github.com/trailofbits/fickling, test/test_bypasses.py): a BINBYTES declares more bytes than its
    FRAME holds; a frame-respecting parser sees one bytes object, ``pickle.load(file)`` can read past the
    frame into a buried GLOBAL/REDUCE.
    """
    hidden = glob("os", "getcwd") + EMPTY_TUPLE + REDUCE + POP
    hidden += b"N" * (0x107 - 2 - len(hidden))
    data = (
        proto(5)
        + b"".join(
            [
                NONE,
                unicode0("a" * (8192 * 16 - 17)),
                POP,
                MARK,
                frame(2),
                b"B" + (0x107).to_bytes(4, "little"),
                b"\0\0",
                hidden,
                POP_MARK,
            ]
        )
        + b"."
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, H, rule="pickle/frame-violation")


def test_c17_misplaced_proto(tmp_path) -> None:
    """C-17, fickling MisplacedProtoAnalysis / DuplicateProtoAnalysis (commit db0b960;
    https://github.com/trailofbits/fickling/commit/db0b960): a second PROTO inside the stream.
    """
    data = b"\x80\x02K\x01\x80\x04" + sg("os", "getcwd") + EMPTY_TUPLE + REDUCE + b"."
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, L, rule="pickle/misplaced-proto")
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GETCWD_P2 + b"\x80\x04\x8c\xff", id="C-18a-MA-625-malformed-tail"),
        pytest.param(b"\x80\x04\x8c\xff" + GETCWD_P2, id="C-18b-MA-625-malformed-first-stream"),
        pytest.param(p2(binint(1)) + b"\x00" + GETCWD_P2, id="C-18c-MA-581-single-junk-byte"),
        pytest.param(
            p2(binint(1)) + bytes(range(256)).replace(b"\x80", b"\x00") + GETCWD_P2,
            id="C-18c-MA-581-256-junk-bytes",
        ),
    ],
)
def test_c18_malformed_tails_and_resync(data: bytes, tmp_path) -> None:
    """C-18, ModelAudit PR #625 / #581 (https://github.com/promptfoo/modelaudit/pull/625 ,
    https://github.com/promptfoo/modelaudit/pull/581): (a) a malformed tail dropped the findings of a
    malicious first stream; (b) a malformed first stream hid a malicious second one; (c) junk between streams
    stopped multi-stream scanning.
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


@pytest.mark.parametrize(
    ("data", "construct"),
    [
        pytest.param(BENIGN_P2 + GETCWD_P2, "os.getcwd", id="C-19-after-stop"),
        pytest.param(
            p2(EMPTY_LIST, MARK, sbu("a"), sbu("b"), sbu("c"), b"e")
            + p2(call(glob("requests.api", "get"), "http://example.invalid", p=2)),
            "requests.api.get",
            id="C-19-PS-malicious6-requests",
        ),
    ],
)
def test_c19_data_after_stop(data: bytes, construct: str, tmp_path) -> None:
    """C-19, picklescan fixture malicious6.pkl (https://github.com/mmaitre314/picklescan,
    tests/init_data_files.py): ``pickle.loads`` ignores bytes after STOP, but loaders that call ``load``
    repeatedly run later streams.
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    f = expect(findings, H, construct=construct, rule="pickle/")
    assert "stream 2" in f.message


def test_c22_callable_passed_as_data(tmp_path) -> None:
    """C-22, fickling PYSEC-2026-2149 / ModelAudit PR #1061
    (https://github.com/promptfoo/modelaudit/pull/1061): ``collections.defaultdict(os.getcwd)`` never REDUCEs
    the dangerous global; a later missing-key lookup or SETITEMS does. The import alone is the finding.
    """
    data = p4(
        call(sg("collections", "defaultdict"), Raw(sg("os", "getcwd"))),
        MARK,
        sbu("k"),
        call(sg("builtins", "int")),
        b"u",
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")
    assert not any(f.construct == "collections.defaultdict" for f in findings)


def test_c24_resolver_family_is_critical_on_its_own(tmp_path) -> None:
    """C-24, fickling 9a6d03f (https://github.com/trailofbits/fickling/commit/9a6d03f) and
    https://huggingface.co/xry6/huntr-picklescan-bypass-poc: ``"getcwd"`` only appears as a SHORT_BINSTRING.
    """
    data = p4(
        call(sg("importlib", "import_module"), "os"),
        put(0),
        POP,
        sg("inspect", "getattr_static"),
        MARK,
        get(0),
        b"U\x06getcwd",
        TUPLE,
        REDUCE,
        EMPTY_TUPLE,
        REDUCE,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="inspect.getattr_static", rule="pickle/dangerous-global")
    expect(findings, C, construct="importlib.import_module", rule="pickle/dangerous-global")


def test_g01_error_after_side_effect(tmp_path) -> None:
    """G-01 / C-03 pattern (exception-oriented programming, arXiv 2508.19774): the stream fails on purpose
    right after its side effect. The failure must add a finding, not remove the earlier one. Source:
    https://arxiv.org/html/2508.19774v1 (abstract only).
    """
    data = proto(2) + glob("os", "getcwd") + EMPTY_TUPLE + REDUCE + binbytes(b"x")[:1] + b"\xff\xff"
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")
    expect(findings, M, rule="malformed/pickle")


def test_protocol_0_payload_sniffed_without_extension(tmp_path) -> None:
    """D-02 / D-08 support: a protocol 0 stream has no magic; content sniffing must still treat it as a
    pickle. Source: ModelAudit PR #624 (https://github.com/promptfoo/modelaudit/pull/624).
    """
    findings = scan_file(tmp_path, "README", GETCWD_P0)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")
