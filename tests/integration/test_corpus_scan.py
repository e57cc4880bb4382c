"""The whole generated corpus in one scan: every malicious file flagged, no benign file at high,
every malformed file reported without a crash, and nothing executed (the payloads' marker never appears).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlwarden.scanning import ScanConfig, Severity, scan_path
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def _load_generator() -> Any:
    return load_script("gen_corpus")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], Path]:
    base = tmp_path_factory.mktemp("corpus")
    marker = base / "marker-must-not-exist"
    out = base / "corpus"
    manifest = _load_generator().generate(out, scale="small", marker=str(marker), seed=0)
    return out, manifest, marker


@pytest.mark.slow
def test_whole_corpus_in_one_scan(corpus: tuple[Path, list[dict[str, Any]], Path]) -> None:
    root, manifest, marker = corpus
    report = scan_path(root, ScanConfig(jobs=2))
    by_path = {Path(f.path).relative_to(root).as_posix(): f for f in report.files}
    missed, false_positives, crashed = [], [], []
    for entry in manifest:
        result = by_path.get(entry["path"])
        if result is None:  # a directory entry (SavedModel): judge by the files under it
            results = [f for p, f in by_path.items() if p.startswith(entry["path"] + "/")]
        else:
            results = [result]
        assert results, f"{entry['path']} was not scanned"
        top = max((f.max_severity or Severity.INFO for f in results), default=Severity.INFO)
        if entry["label"] == "malicious" and top < Severity.HIGH:
            missed.append((entry["path"], entry["family"]))
        if entry["label"] == "benign" and top >= Severity.HIGH:
            false_positives.append((entry["path"], [f.rule_id for r in results for f in r.findings]))
        if any(
            f.rule_id == "malformed/parse-error" and "internal" in f.message
            for r in results
            for f in r.findings
        ):
            crashed.append(entry["path"])
    assert missed == []
    assert false_positives == []
    assert crashed == []
    assert not marker.exists(), "a payload ran during scanning"
    assert sum(1 for e in manifest if e["label"] == "malicious") >= 60
