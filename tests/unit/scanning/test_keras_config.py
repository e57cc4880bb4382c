"""Keras config analysis shared by the HDF5, JSON and zip (.keras) scanners."""

from __future__ import annotations

from typing import Any

import pytest

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.keras_config import analyze_keras_config
from mlwarden.scanning.interface import ScanContext, ScanLimits


def _analyze(config: object) -> tuple[list[Finding], ScanContext]:
    ctx = ScanContext(file="t", limits=ScanLimits(), nested=lambda b, n, c: iter(()))
    return list(analyze_keras_config(config, ctx, "test")), ctx


def _k3(
    class_name: str, config: dict[str, Any], module: str = "keras.layers", registered: str | None = None
) -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": registered}


def _functional(*layers: dict[str, Any]) -> dict[str, Any]:
    return _k3("Functional", {"name": "model", "layers": list(layers)}, module="keras")


DENSE = _k3(
    "Dense", {"name": "d", "units": 2, "kernel_initializer": _k3("GlorotUniform", {}, "keras.initializers")}
)


def test_keras3_benign_model_is_clean() -> None:
    findings, ctx = _analyze(_functional(_k3("InputLayer", {"name": "in"}), DENSE))
    assert findings == []
    assert ctx.facts[""]["keras"] == {
        "layers": {"InputLayer": 1, "Dense": 1},
        "layer_count": 2,
        "model_class": "Functional",
    }


def test_keras3_lambda_with_marshalled_code_is_reported_once() -> None:
    function = {"class_name": "__lambda__", "config": {"code": "4wAAAA==", "defaults": None, "closure": None}}
    findings, _ = _analyze(_functional(_k3("Lambda", {"name": "lam", "function": function})))
    assert [(f.rule_id, f.severity, f.construct) for f in findings] == [
        ("keras/lambda-layer", Severity.CRITICAL, "lam")
    ]


def test_lambdas_nested_in_wrappers_and_submodels_are_found() -> None:
    inner = _k3("Lambda", {"name": "deep", "function": "ZGVhZGJlZWY=", "function_type": "lambda"})
    wrapper = {"class_name": "TimeDistributed", "config": {"name": "td", "layer": inner}}
    sub = {"class_name": "Sequential", "config": {"name": "sub", "layers": [wrapper]}}
    findings, ctx = _analyze({"class_name": "Functional", "config": {"layers": [sub]}})
    assert [f.construct for f in findings] == ["deep"]
    assert ctx.facts[""]["keras"]["layers"] == {"Sequential": 1, "TimeDistributed": 1, "Lambda": 1}


@pytest.mark.parametrize(
    ("obj", "rule", "severity", "construct"),
    [
        (
            _k3("function", {}, "os") | {"config": "system"},
            "keras/dangerous-module",
            Severity.CRITICAL,
            "os.system",
        ),
        (
            _k3("Dense", {"name": "x"}, "builtins"),
            "keras/dangerous-module",
            Severity.CRITICAL,
            "builtins.Dense",
        ),
        (
            _k3("MyLayer", {"name": "x"}, "my_pkg.layers", "my_pkg>MyLayer"),
            "keras/custom-object",
            Severity.MEDIUM,
            "my_pkg>MyLayer",
        ),
        (
            _k3("MyLayer", {"name": "x"}, "__main__", "Custom>MyLayer"),
            "keras/custom-object",
            Severity.MEDIUM,
            "Custom>MyLayer",
        ),
        (
            _k3("Thing", {"name": "x"}, "somepkg.mod"),
            "keras/untrusted-module",
            Severity.HIGH,
            "somepkg.mod.Thing",
        ),
        (
            _k3("Thing", {"name": "x"}, "my_pkg", "subprocess>Popen"),
            "keras/dangerous-module",
            Severity.CRITICAL,
            "subprocess>Popen",
        ),
        (
            _k3("function", {}, "keras.utils") | {"config": "get_file"},
            "keras/gadget-function",
            Severity.HIGH,
            "keras.utils.get_file",
        ),
        (
            _k3("TFSMLayer", {"filepath": "/tmp/x"}),
            "keras/gadget-function",
            Severity.HIGH,
            "keras.layers.TFSMLayer",
        ),
        (
            {"class_name": "TFOpLambda", "config": {"name": "op", "function": "io.write_file"}},
            "keras/gadget-function",
            Severity.HIGH,
            "tensorflow.io.write_file",
        ),
        (
            _k3("function", {}, "keras.config") | {"config": "enable_unsafe_deserialization"},
            "keras/gadget-function",
            Severity.CRITICAL,
            "keras.config.enable_unsafe_deserialization",
        ),
    ],
)
def test_modules_custom_objects_and_gadgets(
    obj: dict[str, Any], rule: str, severity: Severity, construct: str
) -> None:
    findings, _ = _analyze(_functional(DENSE, _k3("Dense", {"name": "d2", "activation": obj})))
    hits = [(f.rule_id, f.severity, f.construct) for f in findings]
    assert (rule, severity, construct) in hits


def test_size_limits_become_findings() -> None:
    deep: Any = []
    for _ in range(500):
        deep = [deep]
    findings, _ = _analyze({"class_name": "Functional", "config": {"layers": deep}})
    assert [(f.rule_id, f.severity) for f in findings] == [("limit/keras-config", Severity.HIGH)]


def test_odd_shapes_do_not_raise() -> None:
    for config in (
        None,
        3,
        "x",
        [],
        {},
        {"class_name": 5, "config": []},
        {"layers": [{"class_name": None}]},
        {"class_name": "Lambda", "config": "not a dict"},
        {"module": 7, "registered_name": 9},
    ):
        _analyze(config)
