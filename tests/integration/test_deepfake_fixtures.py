"""The deepfake fixture generator writes real, loadable artifacts and a manifest that describes all of them.

Every file is opened by its own library (torch.load(weights_only=True), onnx.load + onnx.checker,
safetensors.safe_open, a numpy-only unpickler for DeepFaceLab's pickled '.npy' parts, a structural parse of
the faiss index), spot checks confirm that the catalogued identifying structure is present at full size,
and two runs with the same seed are byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import struct
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
safetensors = pytest.importorskip("safetensors")
from filelock import FileLock  # noqa: E402  (a torch dependency)
from safetensors import safe_open  # noqa: E402

from tests.conftest import load_script  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CAPABILITIES = {
    "face-swap",
    "face-reenactment",
    "lip-sync",
    "face-restoration",
    "voice-conversion",
    "voice-clone",
    "tts",
    "identity-adapter",
    "image-generation",
    "video-generation",
}
FIELDS = {
    "path",
    "family",
    "capability",
    "expected_severity",
    "benign",
    "renamed",
    "format",
    "hard_case",
    "notes",
}
LEGACY_TORCH_HEAD = b"\x80\x02\x8a\x0a"  # pickled LONG1 magic number that opens a legacy torch.save file
GENERIC_NAME = re.compile(r"^(?:[a-z]|model|weights|checkpoint|data|config\d*)\.[a-z]+$")


def _load_generator() -> ModuleType:
    return load_script("gen_deepfake_fixtures")


@pytest.fixture(scope="session")
def gen() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="session")
def fixtures(
    gen: ModuleType, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> tuple[Path, list[dict[str, Any]]]:
    """Generated once per session, shared by the xdist workers (~270 MiB): the first one writes, under a
    file lock; the others read the finished manifest (written last)."""
    base = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        base = base.parent
    root = base / "deepfake-fixtures"
    with FileLock(str(base / "deepfake-fixtures.lock")):
        if not (root / "manifest.json").exists():
            gen.generate(root, seed=0)
    return root, json.loads((root / "manifest.json").read_text(encoding="utf-8"))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")


def _entry_of(path: Path, root: Path, manifest: list[dict[str, Any]]) -> dict[str, Any]:
    rel = path.relative_to(root).as_posix()
    for e in manifest:
        if rel == e["path"] or rel.startswith(e["path"] + "/"):
            return e
    raise AssertionError(f"{rel} is not covered by the manifest")


# --------------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------------


def test_manifest_lists_relative_paths_inside_the_output(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    for e in manifest:
        assert not Path(e["path"]).is_absolute() and ".." not in Path(e["path"]).parts
        assert (root / e["path"]).resolve().is_relative_to(root.resolve())


def test_manifest_entries_are_well_formed(
    gen: ModuleType, fixtures: tuple[Path, list[dict[str, Any]]]
) -> None:
    root, manifest = fixtures
    hard_ids = set(gen.HARD_CASES.values())
    paths = [e["path"] for e in manifest]
    assert len(paths) == len(set(paths))
    for e in manifest:
        assert set(e) == FIELDS, e
        assert (root / e["path"]).exists(), e["path"]
        assert e["hard_case"] is None or e["hard_case"] in hard_ids
        assert isinstance(e["notes"], str)
        if e["benign"]:
            assert e["family"] in gen.BENIGN
            assert e["capability"] is None
            assert e["expected_severity"] == "none"
            assert not e["renamed"]
        else:
            assert e["capability"] in CAPABILITIES
            assert e["expected_severity"] in {"high", "medium", "low"}
            known = gen.FAMILIES.get(e["family"]) or gen.EXTRA_GENERATORS.get(e["family"])
            assert known == (e["capability"], e["expected_severity"])
        if (root / e["path"]).is_dir():
            assert e["format"] in {"bundle-dir", "diffusers-dir", "hf-dir"}


def test_manifest_covers_every_file(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    for path in _files(root):
        _entry_of(path, root, manifest)


def test_coverage_of_families_capabilities_and_hard_cases(
    gen: ModuleType, fixtures: tuple[Path, list[dict[str, Any]]]
) -> None:
    _, manifest = fixtures
    originals = [e for e in manifest if not e["renamed"]]
    deepfake = {e["family"] for e in originals if not e["benign"] and e["family"] in gen.FAMILIES}
    assert len(deepfake) >= 15
    assert {e["capability"] for e in originals if not e["benign"]} == CAPABILITIES
    assert {e["hard_case"] for e in originals if e["hard_case"]} == set(gen.HARD_CASES.values())
    assert {e["family"] for e in originals if e["benign"]} == gen.BENIGN
    assert sum(e["benign"] for e in originals) >= 10


def test_every_deepfake_artifact_has_a_renamed_copy(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    originals = [e for e in manifest if not e["renamed"] and not e["benign"]]
    renamed = [e for e in manifest if e["renamed"]]
    assert len(renamed) == len(originals)
    for orig, copy in zip(originals, renamed, strict=True):
        assert copy["notes"] == f"renamed copy of {orig['path']}; file names carry no signal"
        assert (copy["family"], copy["capability"], copy["format"]) == (
            orig["family"],
            orig["capability"],
            orig["format"],
        )
        assert re.fullmatch(r"renamed/r\d\d(/[^/]+)?", copy["path"]), copy["path"]
        target = root / copy["path"]
        if target.is_file():
            assert GENERIC_NAME.match(target.name), target.name
        elif copy["format"] == "bundle-dir":
            for f in target.rglob("*"):
                assert GENERIC_NAME.match(f.name) or f.name in {"vocab.json"}, f


def test_renamed_torch_zips_do_not_leak_the_original_name(
    fixtures: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, manifest = fixtures
    checked = 0
    for e in manifest:
        if not e["renamed"]:
            continue
        for f in [root / e["path"]] if (root / e["path"]).is_file() else (root / e["path"]).rglob("*"):
            if f.is_file() and f.read_bytes()[:2] == b"PK":
                names = zipfile.ZipFile(f).namelist()
                assert {n.split("/", 1)[0] for n in names} == {f.stem}, (f, names[:2])
                checked += 1
    assert checked >= 20


# --------------------------------------------------------------------------------------------------------
# Every file is real: it loads with its own library
# --------------------------------------------------------------------------------------------------------


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """DeepFaceLab parts are pickles of numpy arrays: allow exactly the numpy reconstruction globals."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        return super().find_class(module, name)


def _parse_faiss_ivfflat(data: bytes) -> tuple[int, int, int]:
    """(d, ntotal, nlist) of an IndexIVFFlat file; every byte accounted for."""
    assert data[:4] == b"IwFl"
    d, ntotal, _, _, trained, metric = struct.unpack_from("<iqqq?i", data, 4)
    assert trained and metric == 1
    nlist, _nprobe = struct.unpack_from("<QQ", data, 37)  # 4-byte fourcc + 33-byte index header
    off = 53
    assert data[off : off + 4] == b"IxF2"
    qd, qn = struct.unpack_from("<iq", data, off + 4)
    assert (qd, qn) == (d, nlist)
    off += 4 + 33
    (nfloat,) = struct.unpack_from("<Q", data, off)
    off += 8 + 4 * nfloat
    off += 1 + 8  # direct map type + empty array
    assert data[off : off + 4] == b"ilar"
    n2, code_size = struct.unpack_from("<QQ", data, off + 4)
    assert (n2, code_size) == (nlist, 4 * d)
    off += 20
    kind = data[off : off + 4]
    (nsizes,) = struct.unpack_from("<Q", data, off + 4)
    values = struct.unpack_from(f"<{nsizes}Q", data, off + 12)
    off += 12 + 8 * nsizes
    sizes = list(values) if kind == b"full" else list(values[1::2])
    assert sum(sizes) == ntotal
    off += sum(sizes) * (code_size + 8)
    assert off == len(data)
    return d, ntotal, nlist


def _load(path: Path, entry: dict[str, Any]) -> str:
    """Open ``path`` with the library that wrote it; return what it was."""
    data = path.read_bytes()
    suffix = path.suffix
    if suffix in {".json"}:
        json.loads(data)
        return "json"
    if suffix in {".txt", ".hash", ".pb"}:
        return "side-file"  # summary text / CRC sidecar / ONNX external data (checked with its model)
    if data[:4] == b"IwFl":
        _parse_faiss_ivfflat(data)
        return "faiss"
    if entry["format"] == "onnx" or suffix in {".onnx", ".dfm"}:
        model = onnx.load(str(path), load_external_data=False)
        assert model.graph.input and model.graph.output
        onnx.checker.check_model(str(path), full_check=True)
        return "onnx"
    if data[:2] == b"PK":
        torch.load(path, weights_only=True)
        return "torch-zip"
    if data[:4] == LEGACY_TORCH_HEAD:
        torch.load(path, weights_only=True)
        return "torch-legacy"
    if data[:2] in {b"03", b"04", b"05", b"06"} and data[2:4] == b"\x03\x04":
        with pytest.raises(Exception):  # noqa: B017 - torch only says it is not a zip / not a pickle
            torch.load(path, weights_only=True)
        torch.load(io.BytesIO(b"PK" + data[2:]), weights_only=True)  # what GPT-SoVITS' load_sovits_new does
        return "patched-magic-zip"
    if data[:2] == b"\x80\x04":
        _NumpyOnlyUnpickler(io.BytesIO(data)).load()
        return "dfl-pickle"
    (header_len,) = struct.unpack_from("<Q", data)
    if data[8:10] == b'{"' and 8 + header_len <= len(data):
        with safe_open(str(path), framework="pt") as f:
            names = f.keys()
            for key in names:
                f.get_slice(key).get_shape()
        return "safetensors"
    raise AssertionError(f"no loader recognises {path}")


def test_every_file_loads_with_its_own_library(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    kinds: dict[str, int] = {}
    for path in _files(root):
        kind = _load(path, _entry_of(path, root, manifest))
        kinds[kind] = kinds.get(kind, 0) + 1
    assert {
        "onnx",
        "torch-zip",
        "torch-legacy",
        "patched-magic-zip",
        "dfl-pickle",
        "safetensors",
        "faiss",
    } <= set(kinds)


# --------------------------------------------------------------------------------------------------------
# Identifying structure is present at full size (spot checks against the catalog)
# --------------------------------------------------------------------------------------------------------


def _onnx_io(path: Path) -> tuple[dict[str, list[Any]], dict[str, list[Any]], list[tuple[str, list[int]]]]:
    g = onnx.load(str(path), load_external_data=False).graph

    def dims(vi: Any) -> list[Any]:
        return [
            d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim
        ]

    inits = [(i.name, list(i.dims)) for i in g.initializer]
    return {i.name: dims(i) for i in g.input}, {o.name: dims(o) for o in g.output}, inits


def _first(manifest: list[dict[str, Any]], family: str, fmt: str | None = None) -> str:
    return next(
        e["path"]
        for e in manifest
        if e["family"] == family and not e["renamed"] and fmt in (None, e["format"])
    )


def test_swapper_and_recogniser_onnx_signatures(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    ins, outs, inits = _onnx_io(root / _first(manifest, "insightface-inswapper"))
    assert ins == {"target": [1, 3, 128, 128], "source": [1, 512]}
    assert list(outs) == ["output"]
    assert inits[-1] == ("emap", [512, 512])
    styles = [s for n, s in inits if re.match(r"^styles\.[0-5]\.style[12]\.linear\.weight$", n)]
    assert styles == [[2048, 512]] * 12
    ins, outs, _ = _onnx_io(root / _first(manifest, "arcface-recognition"))
    assert list(ins.values()) == [[1, 3, 112, 112]] and list(outs.values()) == [[1, 512]]
    _, outs, _ = _onnx_io(root / _first(manifest, "scrfd-retinaface-detector"))
    assert len(outs) >= 5
    ins, _, _ = _onnx_io(root / _first(manifest, "wav2lip", "onnx"))
    assert ins["source"] == [1, 1, 80, 16]
    ins, _, _ = _onnx_io(root / _first(manifest, "blendswap"))
    assert ins["source"] == [1, 3, 112, 112]


def test_facefusion_hash_sidecar_is_the_crc32_of_its_model(
    fixtures: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, manifest = fixtures
    bundle = root / _first(manifest, "facefusion-face-swapper-onnx")
    crc = zlib.crc32((bundle / "simswap_256.onnx").read_bytes()) & 0xFFFFFFFF
    assert (bundle / "simswap_256.hash").read_text() == f"{crc:08x}"


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= _flat(v, f"{prefix}{k}.")
    else:
        out[prefix[:-1]] = obj
    return out


def test_pytorch_checkpoints_carry_the_catalogued_keys_and_shapes(
    fixtures: tuple[Path, list[dict[str, Any]]],
) -> None:
    root, manifest = fixtures

    def load(rel: str) -> Any:
        return torch.load(root / rel, weights_only=True)

    wav2lip = _flat(load(_first(manifest, "wav2lip", "pytorch-legacy")))
    assert wav2lip["state_dict.module.face_encoder_blocks.0.0.conv_block.0.weight"].shape == (16, 6, 7, 7)
    assert wav2lip["state_dict.module.audio_encoder.0.conv_block.0.weight"].shape == (32, 1, 3, 3)
    syncnet = _flat(load(_first(manifest, "syncnet-lip-sync-discriminator", "pytorch-legacy")))
    assert not any("face_decoder_blocks" in k or "output_block" in k for k in syncnet)

    rvc = load(_first(manifest, "rvc") + "/MyVoice.pth")
    assert {"weight", "config", "info", "sr", "f0", "version"} == set(rvc) and len(rvc["config"]) == 18
    assert rvc["weight"]["enc_p.emb_phone.weight"].shape == (192, 768)

    fomm = _flat(load(_first(manifest, "first-order-motion-model")))
    assert fomm["kp_detector.jacobian.weight"].shape == (40, 35, 7, 7)
    tpsmm = _flat(load(_first(manifest, "thin-plate-spline-motion-model")))
    assert tpsmm["kp_detector.fg_encoder.fc.weight"].shape == (100, 512)
    resnet = load(_first(manifest, "generic-image-classifier"))
    assert resnet["fc.weight"].shape == (1000, 512)

    lp = root / _first(manifest, "liveportrait", "bundle-dir")
    assert load(f"{lp.relative_to(root)}/base_models/motion_extractor.pth")[
        "detector.fc_kp.weight"
    ].shape == (63, 768)
    stitch = load(f"{lp.relative_to(root)}/retargeting_models/stitching_retargeting_module.pth")
    assert set(stitch) == {"retarget_shoulder", "retarget_mouth", "retarget_eye"}
    assert stitch["retarget_shoulder"]["mlp.0.weight"].shape == (128, 126)

    faceid = _flat(load(_first(manifest, "ip-adapter-faceid")))
    assert faceid["image_proj.proj.0.weight"].shape == (1024, 512)
    plain = _flat(load(_first(manifest, "ip-adapter-plain")))
    assert plain["image_proj.proj.weight"].shape == (3072, 1024)
    latentsync = _flat(load(_first(manifest, "latentsync")))
    assert latentsync["state_dict.conv_in.weight"].shape == (320, 13, 3, 3)


def test_configs_and_diffusers_indexes(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    classes = {
        json.loads((root / e["path"] / "model_index.json").read_text())["_class_name"]
        for e in manifest
        if e["format"] == "diffusers-dir" and not e["renamed"]
    }
    assert {"StableDiffusionPipeline", "StableVideoDiffusionPipeline"} <= classes
    musetalk = json.loads((root / _first(manifest, "musetalk") / "musetalk.json").read_text())
    assert (musetalk["_class_name"], musetalk["in_channels"], musetalk["cross_attention_dim"]) == (
        "UNet2DConditionModel",
        8,
        384,
    )
    xtts = json.loads((root / _first(manifest, "coqui-xtts-v2", "bundle-dir") / "config.json").read_text())
    assert xtts["model"] == "xtts"
    svc = json.loads((root / _first(manifest, "so-vits-svc") / "config.json").read_text())
    assert svc["model"]["speech_encoder"].startswith("vec") and svc["model"]["ssl_dim"] and svc["spk"]


def test_onnx_external_data_is_referenced_not_embedded(fixtures: tuple[Path, list[dict[str, Any]]]) -> None:
    root, manifest = fixtures
    unet = root / _first(manifest, "diffusers-image-pipeline") / ".." / "stable-diffusion-v1-5-onnx" / "unet"
    model = onnx.load(str(unet / "model.onnx"), load_external_data=False)
    locations = {kv.value for t in model.graph.initializer for kv in t.external_data if kv.key == "location"}
    assert locations == {"weights.pb"}
    full = onnx.load(str(unet / "model.onnx"))
    conv_in = next(t for t in full.graph.initializer if t.name == "conv_in.weight")
    assert list(conv_in.dims) == [320, 4, 3, 3] and len(conv_in.raw_data) == 320 * 4 * 3 * 3 * 4


# --------------------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------------------


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(root)}


def test_same_seed_is_byte_identical(
    gen: ModuleType, fixtures: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    root, manifest = fixtures
    again = gen.generate(tmp_path / "again", seed=0)
    assert again == manifest
    assert json.loads((tmp_path / "again" / "manifest.json").read_text(encoding="utf-8")) == again
    assert _digest(tmp_path / "again") == _digest(root)
