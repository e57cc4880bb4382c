"""Family B: name-matching and resolution tricks: a denied target imported under a name the matcher misses
(submodules, dotted qualnames through innocent modules, implementation-module aliases, attribute poisoning,
prefix/wildcard/context bugs in other scanners' matchers).
"""

from __future__ import annotations

import pytest
from regress_lib import (
    CMD,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    POP,
    REDUCE,
    STACK_GLOBAL,
    TUPLE,
    Raw,
    binunicode,
    call,
    expect,
    g0_call,
    get,
    glob,
    p2,
    p4,
    proto,
    put,
    s4_call,
    sbu,
    scan_file,
    sg,
)

from mlwarden.scanning import Severity
from mlwarden.scanning._formats import pickle_rules

C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM


@pytest.mark.parametrize(
    ("data", "construct"),
    [
        pytest.param(
            s4_call(
                "asyncio.unix_events", "_UnixSubprocessTransport._start", {}, CMD, True, None, None, None, 0
            ),
            "asyncio.unix_events._UnixSubprocessTransport._start",
            id="B-01-asyncio.unix_events",
        ),
        pytest.param(
            s4_call("asyncio.subprocess", "create_subprocess_shell", CMD),
            "asyncio.subprocess.create_subprocess_shell",
            id="B-01-asyncio.subprocess",
        ),
        pytest.param(
            s4_call("aiohttp.client", "request", "GET", "http://example.invalid"),
            "aiohttp.client.request",
            id="B-01-aiohttp.client",
        ),
        pytest.param(s4_call("os.path", "expandvars", "$HOME"), "os.path.expandvars", id="B-01-os.path"),
    ],
)
def test_b01_submodule_of_denied_package(data: bytes, construct: str, tmp_path) -> None:
    """B-01, CVE-2025-10157 / GHSA-f7qq-56ww-84cr (JFrog; fickling issue #190 names GHSA-gx77-x2pv-48v7).

    Source: https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/2025/10xxx/CVE-2025-10157.json
    picklescan matched ``module`` exactly, so ``asyncio.unix_events`` escaped the ``asyncio: *`` entry.
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct=construct, rule="pickle/")


@pytest.mark.parametrize(
    ("data", "construct"),
    [
        pytest.param(
            s4_call("pathlib", "os.getcwd"), "pathlib.os.getcwd", id="B-02-GHSA-5j3x-jp52-966f-pathlib.os"
        ),
        pytest.param(
            p4(sg("numpy", "__builtins__")),
            "numpy.__builtins__",
            id="B-02-GHSA-5j3x-jp52-966f-numpy.__builtins__",
        ),
        pytest.param(
            s4_call("torch", "serialization.load", "other.bin"),
            "torch.serialization.load",
            id="B-02-GHSA-5j3x-jp52-966f-torch.serialization.load",
        ),
        # GLOBAL resolves dotted names too once the stream declared PROTO 4
        pytest.param(
            p4(call(glob("os", "path.basename"), "/x")),
            "os.path.basename",
            id="B-02-GHSA-5j3x-jp52-966f-GLOBAL-after-PROTO4",
        ),
        pytest.param(
            s4_call("inspect", "os.getcwd"), "inspect.os.getcwd", id="B-02-GHSA-5j3x-jp52-966f-inspect.os"
        ),
        # fickling test_private_stdlib_allowlist: an allowed module + a dotted private name is not allowed
        pytest.param(
            s4_call("__future__", "_ssl.RAND_bytes", 8),
            "__future__._ssl.RAND_bytes",
            id="B-02-GHSA-5j3x-jp52-966f-__future__._ssl",
        ),
    ],
)
def test_b02_dotted_attribute_through_innocent_module(data: bytes, construct: str, tmp_path) -> None:
    """B-02, fickling GHSA-5j3x-jp52-966f (fix d985f89): protocol 4 resolves ``name`` by successive getattr,
    so ``STACK_GLOBAL "pathlib" "os.getcwd"`` reaches ``os.getcwd`` through ``pathlib.os``.

    Source: https://github.com/trailofbits/fickling/security/advisories/GHSA-5j3x-jp52-966f
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct=construct, rule="pickle/")


@pytest.mark.parametrize(
    ("data", "construct", "severity"),
    [
        # pickle.dumps at protocol 2 of an object reducing to os.getcwd writes "posix getcwd" on Linux
        pytest.param(p2(glob("posix", "getcwd"), EMPTY_TUPLE, REDUCE), "posix.getcwd", C, id="B-03-posix-p2"),
        pytest.param(s4_call("posix", "getcwd"), "posix.getcwd", C, id="B-03-posix-p4"),
        pytest.param(g0_call("nt", "system", CMD), "nt.system", C, id="B-03-nt"),
        pytest.param(
            s4_call("_operator", "methodcaller", "getcwd"),
            "_operator.methodcaller",
            C,
            id="B-03-GHSA-955r-x9j8-7rhh-_operator.methodcaller",
        ),
        pytest.param(
            s4_call("_operator", "attrgetter", "getcwd"),
            "_operator.attrgetter",
            C,
            id="B-03-GHSA-46h3-79wf-xr6c-_operator.attrgetter",
        ),
        pytest.param(
            s4_call("_io", "FileIO", "/etc/hostname"),
            "_io.FileIO",
            M,
            id="B-03-GHSA-9726-w42j-3qjr-_io.FileIO",
        ),
        pytest.param(s4_call("_pickle", "loads", b"\x80\x04K\x01."), "_pickle.loads", C, id="B-03-_pickle"),
        # __builtin__ at protocol <= 2 is mapped to builtins, exactly as the real unpickler does
        pytest.param(
            g0_call("__builtin__", "eval", "1+1", p=2), "builtins.eval", C, id="B-03-__builtin__-p2"
        ),
        # at protocol >= 3 it is not mapped; it must still not pass
        pytest.param(s4_call("__builtin__", "eval", "1+1"), "__builtin__.eval", C, id="B-03-__builtin__-p4"),
        pytest.param(s4_call("_socket", "socket"), "_socket.socket", H, id="B-03-_socket"),
        pytest.param(s4_call("_ctypes", "dlopen", None), "_ctypes.dlopen", C, id="B-03-_ctypes"),
    ],
)
def test_b03_implementation_module_aliases(data: bytes, construct: str, severity: Severity, tmp_path) -> None:
    """B-03: ``pickle`` records ``obj.__module__`` (posix/nt, _operator, _io, _pickle, __builtin__), so a
    denylist written with public names misses them (picklescan GHSA-955r-x9j8-7rhh, GHSA-46h3-79wf-xr6c,
    GHSA-9726-w42j-3qjr; https://github.com/mmaitre314/picklescan/security/advisories).
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, severity, construct=construct, rule="pickle/")


def test_b04_build_attribute_poisoning_memo_desync(tmp_path) -> None:
    """B-04, modelscan issue #85 (https://github.com/protectai/modelscan/issues/85): BUILD with slot-state
    sets ``numpy.prod.a = "os"`` and ``numpy.prod.b = "getcwd"``; ``GLOBAL numpy prod.a`` then pushes the
    string ``"os"``, and STACK_GLOBAL of the two memo entries imports ``os.getcwd``. No denied name is in the
    file.
    """
    data = (
        proto(5)
        + b"".join(
            [
                glob("numpy", "prod"),
                MARK,
                b"N",
                EMPTY_DICT,
                sbu("a"),
                sbu("os"),
                b"s",
                TUPLE,
                b"b",
                POP,
                glob("numpy", "prod"),
                MARK,
                b"N",
                EMPTY_DICT,
                sbu("b"),
                sbu("getcwd"),
                b"s",
                TUPLE,
                b"b",
                POP,
                glob("numpy", "prod.a"),
                put(0),
                POP,
                glob("numpy", "prod.b"),
                put(1),
                POP,
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
    expect(findings, H, rule="pickle/attribute-overwrite", construct=None)
    expect(findings, C, construct="os.getcwd", rule="pickle/")


@pytest.mark.parametrize(
    ("data", "construct"),
    [
        pytest.param(
            s4_call("ast", "literal_eval", "1"),
            "ast.literal_eval",
            id="B-05-GHSA-cffv-grgg-g429-literal_eval",
        ),
        pytest.param(p4(sg("ast", "parse")), "ast.parse", id="B-05-GHSA-cffv-grgg-g429-ast.parse"),
    ],
)
def test_b05_unknown_stdlib_global_still_flagged(data: bytes, construct: str, tmp_path) -> None:
    """B-05, fickling GHSA-cffv-grgg-g429 / CVE-2026-14535 (fix 41ce7cb): a shared "already reported" set made
    the ML allowlist pass skip every import, so a stdlib global missing from the denylist came out
    LIKELY_SAFE. mlwarden is allowlist-first: anything not allowed is at least MEDIUM.
    Source: https://github.com/trailofbits/fickling/security/advisories/GHSA-cffv-grgg-g429
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, M, construct=construct, rule="pickle/")


@pytest.mark.parametrize(
    ("data", "construct", "severity"),
    [
        pytest.param(
            p4(sg("sklearn.ensemble._forest", "__builtins__")),
            "sklearn.ensemble._forest.__builtins__",
            C,
            id="B-06-MA-518-sklearn.__builtins__",
        ),
        pytest.param(
            s4_call("sklearn.ensemble._anything", "execute", CMD),
            "sklearn.ensemble._anything.execute",
            M,
            id="B-06-MA-518-sklearn-prefix",
        ),
        pytest.param(
            s4_call("xgboost.core", "_load_lib"), "xgboost.core._load_lib", M, id="B-06-MA-518-xgboost-prefix"
        ),
    ],
)
def test_b06_allowlist_is_exact_not_prefix(data: bytes, construct: str, severity: Severity, tmp_path) -> None:
    """B-06, ModelAudit PR #518 (https://github.com/promptfoo/modelaudit/pull/518, fix e736ebbe): the ML
    allowlist matched by prefix, so any name under ``sklearn.*`` passed. mlwarden allows exact names only.
    """
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, severity, construct=construct, rule="pickle/")


def test_b07_wildcard_representation(tmp_path) -> None:
    """B-07, ModelAudit gen_bypass_v4.py POC 25/31 (commit e736ebbe): ``"ctypes": ["*"]`` was compared with
    ``== "*"`` and never matched. Source: https://github.com/promptfoo/modelaudit/pull/518
    """
    data = p2(glob("ctypes", "CDLL"), binunicode("/nonexistent/libcanary.so"), b"\x85", REDUCE)
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="ctypes.CDLL", rule="pickle/dangerous-global")


def test_b08_ml_context_never_downgrades(tmp_path) -> None:
    """B-08, ModelAudit PR #388 (fix a8462f3b; https://github.com/promptfoo/modelaudit/pull/388): 24+
    legitimate torch references raised "ML confidence" and downgraded ``os.system`` to a warning.
    """
    noise = sg("torch._utils", "_rebuild_tensor_v2") + POP
    data = p4(noise * 30, call(sg("posix", "getcwd")))
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="posix.getcwd", rule="pickle/dangerous-global")
    assert not any(f.construct == "torch._utils._rebuild_tensor_v2" for f in findings)


def test_b09_exact_name_matching() -> None:
    """B-09 (design note, picklescan ``_unsafe_globals`` string values use substring semantics): ``"partial"``
    did not match ``partialmethod``; modelscan's ``eval`` matched ``evaluate``. mlwarden matches exact names.
    Source: picklescan src/picklescan/scanner.py (HEAD f15d54d), catalogue B-09.
    """
    assert pickle_rules.judge("functools", "partialmethod").severity >= H
    assert pickle_rules.judge("functools", "partial").severity >= H
    evaluate = pickle_rules.judge("mlwarden_probe.metrics", "evaluate")
    assert evaluate is not None and evaluate.severity == M  # unknown, not "eval"


def test_b05_passes_do_not_share_state(tmp_path) -> None:
    """B-05 lesson: the same global reported by two passes is reported once per stream, and a second distinct
    unknown global is never swallowed by the first. Source: fickling GHSA-cffv-grgg-g429.
    """
    data = p4(
        call(sg("ast", "literal_eval"), "1"),
        POP,
        call(sg("ast", "parse"), "1"),
        POP,
        call(sg("os", "getcwd")),
        POP,
        Raw(b"N").ops,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    for construct, sev in (("ast.literal_eval", M), ("ast.parse", M), ("os.getcwd", C)):
        expect(findings, sev, construct=construct)
