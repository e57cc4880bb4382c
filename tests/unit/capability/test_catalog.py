"""Catalogue loading and validation, and the scoring rules on hand-made evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlwarden.capability import CapabilityConfig, Catalog
from mlwarden.capability.classifier import classify_evidence
from mlwarden.capability.evidence import Evidence, Tensor
from mlwarden.errors import CapabilityError, ConfigError


def test_shipped_catalogue_loads_and_is_versioned() -> None:
    catalog = Catalog.load()
    assert catalog.version >= "2026.11.28"
    assert len([f for f in catalog.families if not f.benign]) >= 43
    assert all(f.indicators for f in catalog.families)


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("family", "message"),
    [
        ({"family": "x", "capability": "mind-control", "severity": "high", "indicators": []}, "capability"),
        ({"family": "x", "capability": "face-swap", "severity": "dire", "indicators": []}, "severity"),
        (
            {
                "family": "x",
                "capability": "face-swap",
                "severity": "high",
                "indicators": [{"kind": "vibes", "value": "x", "weight": 0.5}],
            },
            "kind",
        ),
        (
            {
                "family": "x",
                "capability": "face-swap",
                "severity": "high",
                "indicators": [{"kind": "state_dict_key_regex", "value": "(", "weight": 0.5}],
            },
            "regex",
        ),
        (
            {
                "family": "x",
                "capability": "face-swap",
                "severity": "high",
                "indicators": [{"kind": "top_level_key", "value": "k", "weight": 1.5}],
            },
            "weight",
        ),
        (
            {
                "family": "x",
                "capability": "face-swap",
                "severity": "high",
                "indicators": [
                    {
                        "kind": "all_of",
                        "value": "n",
                        "weight": 0.9,
                        "of": [
                            {"kind": "filename_regex", "value": "a"},
                            {"kind": "top_level_key", "value": "k"},
                        ],
                    }
                ],
            },
            "structural",
        ),
    ],
)
def test_invalid_extra_catalogues_are_refused(
    tmp_path: Path, family: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, {"schema": 1, "version": "t", "families": [family]})
    with pytest.raises(CapabilityError, match=message):
        Catalog.load([path])


def test_extra_catalogue_adds_and_replaces_families(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "schema": 1,
            "version": "local.1",
            "families": [
                {
                    "family": "in-house-swapper",
                    "capability": "face-swap",
                    "severity": "high",
                    "indicators": [{"kind": "top_level_key", "value": "swap_head", "weight": 0.9}],
                }
            ],
        },
    )
    catalog = Catalog.load([path])
    assert catalog.version.endswith("+local.1")
    evidence = Evidence(root="m.pt", parts=["m.pt"], top_level_keys=[("swap_head", "m.pt")])
    result = classify_evidence(evidence, catalog)
    assert result.labels == ["face-swap"] and result.family == "in-house-swapper"


def test_names_alone_never_reach_high() -> None:
    catalog = Catalog.load()
    evidence = Evidence(root="inswapper_128.onnx", parts=["models/inswapper_128.onnx"])
    result = classify_evidence(evidence, catalog)
    assert result.severity != "high"
    assert all(d.confidence <= 0.5 for d in result.detections)


def test_shape_mismatch_counts_half() -> None:
    catalog = Catalog.load()
    full = Evidence(
        root="a",
        parts=["a"],
        onnx_inputs=[Tensor("source", (1, 512), "a"), Tensor("target", (1, 3, 256, 256), "a")],
    )
    off = Evidence(
        root="a", parts=["a"], onnx_inputs=[Tensor("source", (1, 7), "a"), Tensor("target", (1, 9), "a")]
    )
    assert classify_evidence(full, catalog).severity == "high"
    assert classify_evidence(off, catalog).severity != "high"


def test_capability_config_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError):
        CapabilityConfig.from_settings({"catalogue": []})
