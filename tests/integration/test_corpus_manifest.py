"""Sanity checks for scripts/gen_corpus.py and scripts/gen_examples.py. Nothing here loads a payload."""

from __future__ import annotations

import collections
import io
import json
import pickletools
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_script

REPO = Path(__file__).resolve().parents[2]
LABELS = {"malicious", "benign", "malformed"}
CORE_MALICIOUS_FAMILIES = set(
    "os-system subprocess builtins-eval-exec getattr-chain memo-indirection stack-global-dynamic "
    "inst-obj-opcodes build-setstate ext-copyreg nested-pickle-loads ml-gadget torch-zip torch-legacy "
    "joblib-compressed numpy-object-array keras-lambda keras-module onnx-external-data savedmodel-pyfunc "
    "gguf-template archive-nesting zip-crc-mismatch zip-magic-overwritten multiple-pickles data-after-stop "
    "protocol0-text".split()
)


def _load(name: str) -> ModuleType:
    return load_script(name)


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    pytest.importorskip("torch")
    return _load("gen_corpus")


@pytest.fixture(scope="module")
def small(
    gen: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, str]], str]:
    base = tmp_path_factory.mktemp("corpus")
    marker = str(base / "custom-marker")
    out = base / "a"
    return out, gen.generate(out, scale="small", marker=marker, seed=0), marker


@pytest.mark.slow
def test_manifest_lists_every_file(small: tuple[Path, list[dict[str, str]], str]) -> None:
    out, manifest, _ = small
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    listed = [e["path"] for e in manifest]
    assert len(listed) == len(set(listed)), "duplicate manifest paths"
    assert set(listed) == on_disk
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest
    for e in manifest:
        assert e["label"] in LABELS, e
        assert e["path"].split("/", 1)[0] == e["label"], e
        for key in ("family", "format", "description"):
            assert e[key] and "\n" not in e[key], e
        if e["label"] == "malicious":
            assert e.get("technique"), e


@pytest.mark.slow
def test_small_scale_counts_and_families(small: tuple[Path, list[dict[str, str]], str]) -> None:
    out, manifest, _ = small
    counts = collections.Counter(e["label"] for e in manifest)
    assert counts["malicious"] >= 60
    assert counts["benign"] >= 40
    assert counts["malformed"] >= 20
    families = {e["family"] for e in manifest if e["label"] == "malicious"}
    assert families >= CORE_MALICIOUS_FAMILIES, CORE_MALICIOUS_FAMILIES - families
    size = sum((out / e["path"]).stat().st_size for e in manifest)
    assert size < 30_000_000


@pytest.mark.slow
def test_payloads_use_the_requested_marker(small: tuple[Path, list[dict[str, str]], str]) -> None:
    out, manifest, marker = small
    default = _load("gen_corpus").DEFAULT_MARKER.encode()
    for e in manifest:
        assert default not in (out / e["path"]).read_bytes(), e["path"]
    raw = [e for e in manifest if e["family"] == "os-system" and e["format"] == "pickle"]
    assert raw
    for e in raw:
        if "nt_system" not in e["path"]:
            assert marker.encode() in (out / e["path"]).read_bytes(), e["path"]


@pytest.mark.slow
def test_malicious_pickles_are_well_formed_opcode_streams(
    small: tuple[Path, list[dict[str, str]], str],
) -> None:
    """Static check only: every hand-assembled pickle disassembles up to its first STOP."""
    out, manifest, _ = small
    broken_on_purpose = {"truncated-after-payload", "data-after-stop"}
    checked = 0
    for e in manifest:
        if e["label"] != "malicious" or e["format"] != "pickle" or e["family"] in broken_on_purpose:
            continue
        ops = [op.name for op, _, _ in pickletools.genops(io.BytesIO((out / e["path"]).read_bytes()))]
        assert ops[-1] == "STOP", e["path"]
        checked += 1
    assert checked >= 50


@pytest.mark.slow
def test_generation_is_deterministic_for_a_seed(
    gen: ModuleType, small: tuple[Path, list[dict[str, str]], str], tmp_path: Path
) -> None:
    out, manifest, marker = small
    again = gen.generate(tmp_path / "b", scale="small", marker=marker, seed=0)
    assert again == manifest
    assert gen.digest(tmp_path / "b") == gen.digest(out)
    other = gen.generate(tmp_path / "c", scale="small", marker=marker, seed=1)
    assert gen.digest(tmp_path / "c") != gen.digest(out)
    assert {e["label"] for e in other} == LABELS


def test_generate_refuses_a_non_empty_output(tmp_path: Path) -> None:
    gen = _load("gen_corpus")
    (tmp_path / "benign").mkdir()
    (tmp_path / "benign" / "x").write_bytes(b"")
    with pytest.raises(FileExistsError):
        gen.generate(tmp_path, scale="small")
    with pytest.raises(ValueError, match="scale"):
        gen.generate(tmp_path / "new", scale="huge")


def test_committed_examples_match_the_generator(tmp_path: Path) -> None:
    examples = _load("gen_examples")
    written = examples.generate_examples(tmp_path)
    committed = REPO / "examples"
    assert sum(p.stat().st_size for p in written) < 2_000_000
    for path in written:
        rel = path.relative_to(tmp_path)
        if rel.name == "lambda_layer.keras" and sys.version_info[:2] != (3, 11):
            continue  # embeds CPython bytecode, which differs between Python versions
        assert (committed / rel).read_bytes() == path.read_bytes(), f"examples/{rel} is stale"
