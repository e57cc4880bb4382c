"""The deepfake-capability classifier on generated fixtures in real distribution layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlwarden.capability import classify
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> Any:
    return load_script("gen_deepfake_fixtures")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("deepfake") / "fixtures"
    manifest = _generator().generate(out, seed=0)
    return out, manifest


@pytest.fixture(scope="module")
def results(fixtures: tuple[Path, list[dict[str, Any]]]) -> dict[str, Any]:
    root, manifest = fixtures
    report = classify([root / e["path"] for e in manifest])
    return {e["path"]: b for e, b in zip(manifest, report.bundles, strict=True)}


def test_every_family_recognised_with_its_label(
    fixtures: tuple[Path, list[dict[str, Any]]], results: dict[str, Any]
) -> None:
    _, manifest = fixtures
    wrong = []
    for entry in manifest:
        if entry["benign"]:
            continue
        bundle = results[entry["path"]]
        if bundle.severity != entry["expected_severity"] or entry["capability"] not in bundle.labels:
            wrong.append((entry["path"], entry["family"], bundle.severity, bundle.labels))
    assert wrong == []
    assert len({e["family"] for e in manifest if not e["benign"]}) >= 15


def test_renamed_copies_recognised_from_structure_alone(
    fixtures: tuple[Path, list[dict[str, Any]]], results: dict[str, Any]
) -> None:
    _, manifest = fixtures
    renamed = [e for e in manifest if e["renamed"] and not e["benign"]]
    assert len(renamed) >= 15
    for entry in renamed:
        best = [d for d in results[entry["path"]].reported if d.status == "detected"]
        assert best, entry["path"]
        # Structure alone clears the bar; names inside a bundle (model_index.json) may still add to it.
        assert best[0].structural_confidence >= 0.7 - 1e-9, (entry["path"], best[0].family)


def test_benign_lookalikes_never_high(
    fixtures: tuple[Path, list[dict[str, Any]]], results: dict[str, Any]
) -> None:
    _, manifest = fixtures
    benign = [e for e in manifest if e["benign"]]
    assert len({e["family"] for e in benign}) >= 10
    assert [
        (e["path"], results[e["path"]].severity) for e in benign if results[e["path"]].severity == "high"
    ] == []


def test_every_hard_case_is_covered_and_right(
    fixtures: tuple[Path, list[dict[str, Any]]], results: dict[str, Any]
) -> None:
    _, manifest = fixtures
    covered: dict[str, list[bool]] = {}
    for entry in manifest:
        if entry["hard_case"]:
            bundle = results[entry["path"]]
            ok = (
                bundle.severity != "high"
                if entry["benign"]
                else bundle.severity == entry["expected_severity"]
            )
            covered.setdefault(entry["hard_case"].split("-")[0], []).append(ok)
    assert sorted(covered) == [f"hc{n:02d}" for n in range(1, 13)]
    assert all(all(v) for v in covered.values()), covered


def test_indicators_name_their_parts(
    fixtures: tuple[Path, list[dict[str, Any]]], results: dict[str, Any]
) -> None:
    _, manifest = fixtures
    bundle_entry = next(e for e in manifest if e["family"] == "liveportrait" and e["format"] == "bundle-dir")
    bundle = results[bundle_entry["path"]]
    parts = {h.part.split("!")[0] for d in bundle.reported for h in d.hits}
    assert len(parts) >= 3, parts  # several files of the bundle contributed


def test_classify_cli_exit_codes_and_json(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    swapper = next(e for e in manifest if e["family"] == "insightface-inswapper" and e["renamed"])
    benign = next(e for e in manifest if e["benign"])
    cli = [sys.executable, "-m", "mlwarden", "classify", "-q"]
    high = subprocess.run([*cli, str(root / swapper["path"]), "-f", "json"], capture_output=True, text=True)
    assert high.returncode == 1, high.stderr
    doc = json.loads(high.stdout)
    assert doc["bundles"][0]["labels"] == ["face-swap"] and doc["bundles"][0]["severity"] == "high"
    assert doc["bundles"][0]["detections"][0]["indicators"]
    ok = subprocess.run([*cli, str(root / benign["path"])], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    never = subprocess.run(
        [*cli, str(root / swapper["path"]), "--fail-on", "never"], capture_output=True, text=True
    )
    assert never.returncode == 0
    scan = subprocess.run(
        [sys.executable, "-m", "mlwarden", "scan", "-q", str(root / swapper["path"]), "-f", "json"],
        capture_output=True,
        text=True,
    )
    assert scan.returncode == 0  # capability is evidence: it does not fail a scan
    assert json.loads(scan.stdout)["capability"]["severity"] == "high"
