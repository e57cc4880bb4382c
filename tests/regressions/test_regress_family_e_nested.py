"""Family E: nested / second-stage loaders. The loader itself is critical, and a constant bytes argument
that is a pickle is scanned recursively (it appears as an ``@<offset>`` member).
"""

from __future__ import annotations

import pytest
from regress_lib import (
    EMPTY_TUPLE,
    GETCWD_P2,
    MARK,
    REDUCE,
    TUPLE,
    Raw,
    call,
    expect,
    g0_call,
    p4,
    s4_call,
    sbu,
    scan_file,
    sg,
    torch_zip,
)

from mlwarden.scanning import Severity

C, H = Severity.CRITICAL, Severity.HIGH


@pytest.mark.parametrize(
    ("module", "name", "source"),
    [
        pytest.param(
            "_pickle",
            "loads",
            "https://github.com/protectai/modelscan/issues/267",
            id="E-01-MS-267-_pickle.loads",
        ),
        pytest.param(
            "pickle",
            "loads",
            "https://github.com/mmaitre314/picklescan/commit/12a1353",
            id="E-01-PS-12a1353-pickle.loads",
        ),
        pytest.param(
            "dill._dill",
            "loads",
            "https://huggingface.co/aisecre/pickle-bypass-dill-nested-deserialization",
            id="E-02-HF-aisecre-dill._dill.loads",
        ),
    ],
)
def test_e01_e02_nested_loads_of_constant_bytes(module: str, name: str, source: str, tmp_path) -> None:
    """E-01 (picklescan 12a1353, modelscan issue #267) and E-02 (HF aisecre PoC: picklescan and modelscan do
    not look inside an opaque BINBYTES argument): the loader is critical and the inner pickle is scanned too.
    """
    findings = scan_file(tmp_path, "model.pkl", s4_call(module, name, GETCWD_P2))
    expect(findings, C, construct=f"{module}.{name}", rule="pickle/nested-loader")
    inner = expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member_contains="@")
    assert inner.member is not None and inner.member.startswith("@"), source


def test_e01_nested_loads_of_computed_value(tmp_path) -> None:
    """E-01 variant: the bytes handed to ``pickle.loads`` are computed at load time (here ``bytes.fromhex``),
    so the inner payload cannot be scanned; that must be reported, not ignored. Source:
    https://github.com/protectai/modelscan/issues/267
    """
    data = p4(call(sg("pickle", "loads"), Raw(call(sg("builtins", "bytes.fromhex"), GETCWD_P2.hex()))))
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="pickle.loads")
    expect(findings, H, rule="pickle/nested-loader-dynamic")


def test_e03_joblib_load_trampoline(tmp_path) -> None:
    """E-03, ModelAudit PR #626 (https://github.com/promptfoo/modelaudit/pull/626, fix 966c2233):
    ``joblib.load`` was on ModelAudit's ML-safe list and loads another file with pickle.
    """
    findings = scan_file(tmp_path, "model.joblib", g0_call("joblib", "load", "/nonexistent/other.pkl"))
    expect(findings, C, construct="joblib.load", rule="pickle/nested-loader")


def test_e04_partial_torch_load(tmp_path) -> None:
    """E-04, picklescan 93764d6 / fixture malicious19
    (https://github.com/mmaitre314/picklescan/commit/93764d6): ``functools.partial(torch.load,
    "some_other_model.bin", pickle_file="config.json", weights_only=False)()``.
    """
    data = p4(
        sg("functools", "partial"),
        MARK,
        sg("torch", "load"),
        TUPLE,
        REDUCE,
        MARK,
        sg("torch", "load"),
        MARK,
        sbu("some_other_model.bin"),
        TUPLE,
        MARK,
        sbu("pickle_file"),
        sbu("config.json"),
        sbu("weights_only"),
        b"\x89",
        b"d",
        b"N",
        TUPLE,
        b"b",
        EMPTY_TUPLE,
        REDUCE,
    )
    findings = scan_file(tmp_path, "model.pkl", data)
    expect(findings, C, construct="torch.load", rule="pickle/nested-loader")
    expect(findings, H, construct="functools.partial", rule="pickle/")


@pytest.mark.parametrize("container", ["raw", "torch-zip"], ids=["E-05-raw", "E-05-torch-zip"])
def test_e05_torch_storage_load_from_bytes(container: str, tmp_path) -> None:
    """E-05 (fickling ML allowlist note; ModelAudit ALWAYS_DANGEROUS): ``torch.storage._load_from_bytes``
    calls ``torch.load(io.BytesIO(b))``. It is a real torch helper, so mlwarden scans its constant argument
    instead of failing every legacy checkpoint: the malicious inner pickle is the critical finding. Source:
    https://github.com/trailofbits/fickling (fickling/ml.py), catalogue E-05.
    """
    data = s4_call("torch.storage", "_load_from_bytes", GETCWD_P2)
    if container == "raw":
        findings = scan_file(tmp_path, "model.pkl", data)
        prefix = "@"
    else:
        findings = scan_file(tmp_path, "model.pt", torch_zip(data))
        prefix = "archive/data.pkl!@"
    inner = expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member_contains="@")
    assert inner.member is not None and inner.member.startswith(prefix)
