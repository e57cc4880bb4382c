#!/usr/bin/env python3
"""Generate random-weight deepfake-capable (and benign look-alike) model artifacts in their real layouts.

Usage::

    python scripts/gen_deepfake_fixtures.py OUT_DIR [--seed N]

Writes artifacts under ``OUT_DIR/{face-swap,face-reenactment,lip-sync,...,benign,renamed}/`` and
``OUT_DIR/manifest.json``: a JSON list of ``{"path", "family", "capability", "expected_severity", "benign",
"renamed", "format", "hard_case", "notes"}``. ``path`` is relative to OUT_DIR and names a file, or a
directory for multi-file bundles (LivePortrait, XTTS, diffusers pipelines, a DeepFaceLab workspace ...).

The family facts (tensor names, full-size shapes, ONNX input/output names, top-level checkpoint keys,
config fields) come from the deepfake catalog (``catalog.md``, ``catalog.json``, ``benign_lookalikes.json``).
Every artifact is a real container written by its own library: ``torch.save`` (zip and legacy),
``safetensors.torch.save_file``, ``onnx.save_model`` (one file with external data), ``pickle`` for the
DeepFaceLab parts, and a byte-exact faiss ``IndexIVFFlat`` for the RVC retrieval index. The tensors that
identify a family keep their catalogued full-size shapes; everything else is shrunk, so the artifacts are
structurally faithful but small. Contents are seeded random numbers and mean nothing.

Every deepfake artifact is written twice: under its distribution name, and again under ``renamed/rNN/``
with generic names (``model.bin``, ``weights.pt``, ``a.onnx`` ..., some with a misleading extension), so
that structure is the only signal left. Torch zips are re-saved (not copied) for the renamed copy, so the
archive folder inside the zip does not leak the original file name either.

Everything is deterministic for a given ``--seed``. The generator is importable:
``generate(out_dir, seed=0)`` returns the manifest list. Nothing here loads what it writes.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import pickle
import struct
import sys
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save_file

Writer = Callable[[Path], None]
Shape = tuple[int, ...]
Dim = int | str
Content = Writer | dict[str, Writer]

# (capability, expected severity) of the catalog families used here; benign look-alikes have neither.
FAMILIES: dict[str, tuple[str, str]] = {
    "insightface-inswapper": ("face-swap", "high"),
    "facefusion-face-swapper-onnx": ("face-swap", "high"),
    "hyperswap": ("face-swap", "high"),
    "uniface": ("face-swap", "high"),
    "blendswap": ("face-swap", "high"),
    "simswap": ("face-swap", "high"),
    "ghost-aei-net": ("face-swap", "high"),
    "faceshifter": ("face-swap", "high"),
    "deepfacelab-saehd-amp": ("face-swap", "high"),
    "liveportrait": ("face-reenactment", "high"),
    "first-order-motion-model": ("face-reenactment", "high"),
    "thin-plate-spline-motion-model": ("face-reenactment", "high"),
    "sadtalker": ("face-reenactment", "high"),
    "wav2lip": ("lip-sync", "high"),
    "musetalk": ("lip-sync", "high"),
    "latentsync": ("lip-sync", "high"),
    "gfpgan": ("face-restoration", "low"),
    "codeformer": ("face-restoration", "low"),
    "gpen": ("face-restoration", "low"),
    "rvc": ("voice-conversion", "high"),
    "so-vits-svc": ("voice-conversion", "high"),
    "seed-vc": ("voice-conversion", "high"),
    "gpt-sovits": ("voice-clone", "high"),
    "coqui-xtts-v2": ("voice-clone", "high"),
    "openvoice": ("voice-clone", "high"),
    "f5-tts": ("voice-clone", "high"),
    "bark": ("tts", "medium"),
    "ip-adapter-faceid": ("identity-adapter", "high"),
    "instantid": ("identity-adapter", "high"),
    "photomaker": ("identity-adapter", "high"),
    "pulid": ("identity-adapter", "high"),
    "stable-diffusion-1x-2x-single-file": ("image-generation", "medium"),
    "diffusers-image-pipeline": ("image-generation", "medium"),
    "ip-adapter-plain": ("image-generation", "medium"),
    "video-diffusion": ("video-generation", "medium"),
}

# Generators that are not catalog families but that the catalog names as the "ordinary" side of a
# hard case (plain StyleGAN2 vs GFPGAN/GPEN, plain VITS TTS vs the voice-conversion VITS derivatives).
EXTRA_GENERATORS: dict[str, tuple[str, str]] = {
    "stylegan2-generator": ("image-generation", "medium"),
    "vits-tts": ("tts", "medium"),
}

BENIGN = {
    "arcface-recognition",
    "scrfd-retinaface-detector",
    "face-landmark-parsing-masking",
    "syncnet-lip-sync-discriminator",
    "generic-image-classifier",
    "speech-recognition-and-ssl-encoders",
    "vocoders-and-codecs",
    "speaker-verification",
    "super-resolution-colorization",
    "text-encoders-and-lms",
}

# Short ids of the numbered items of catalog.md "What is hard to tell apart".
HARD_CASES = {
    1: "hc01-swapper-vs-recogniser",
    2: "hc02-facefusion-shared-io-names",
    3: "hc03-vits-family",
    4: "hc04-zero-shot-vs-plain-tts",
    5: "hc05-lipsync-vs-syncnet",
    6: "hc06-unet-repurposed-for-lipsync",
    7: "hc07-identity-vs-plain-ip-adapter",
    8: "hc08-reenactment-vs-vision-nets",
    9: "hc09-restoration-vs-generation-vs-upscaling",
    10: "hc10-partial-artifacts",
    11: "hc11-obfuscation",
    12: "hc12-hashes",
}

# Generic names for the renamed copies, by format (cycled).
GENERIC_FILE_NAMES: dict[str, tuple[str, ...]] = {
    "pytorch-zip": ("model.bin", "weights.pt", "checkpoint.pth", "model.ckpt", "data.bin"),
    "pytorch-legacy": ("weights.pt", "model.bin", "checkpoint.tar"),
    "patched-magic-zip": ("weights.pth",),
    "safetensors": ("model.safetensors", "weights.bin"),
    "onnx": ("a.onnx", "model.onnx", "model.bin"),
}
KEEP_IN_RENAMED = {"config.json", "model_index.json", "scheduler_config.json", "vocab.json", "merges.txt"}


# ---------------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------------


def torch_writer(obj: Any, *, legacy: bool = False) -> Writer:
    """torch.save to the path (zip archive named after the file stem, or the legacy non-zip format)."""

    def write(path: Path) -> None:
        if legacy:
            path.write_bytes(legacy_torch_bytes(obj))
        else:
            torch.save(obj, path)

    return write


def legacy_torch_bytes(obj: Any) -> bytes:
    """The bytes of torch.save(obj, f, _use_new_zipfile_serialization=False), with reproducible storage keys.

    torch's legacy writer names every storage ``str(storage._cdata)`` (a memory address) and writes the
    storages in sorted-key order, so two saves of equal data differ in keys AND storage order. This is the
    same writer (five protocol-2 pickles: magic number, protocol version, sys_info, the object with
    ``('storage', <type>, key, location, numel, None)`` persistent ids, the sorted key list; then each
    storage as 8-byte numel + raw bytes) with address-like keys numbered in order of first appearance."""
    storages: dict[str, tuple[torch.UntypedStorage, torch.dtype]] = {}
    keys: dict[int, str] = {}

    class _Pickler(pickle.Pickler):
        def persistent_id(self, o: Any) -> Any:
            if not isinstance(o, torch.storage.TypedStorage):
                return None
            untyped = o._untyped_storage
            key = keys.setdefault(untyped._cdata, str(94_000_000_000_000 + 4096 * len(keys)))
            storages.setdefault(key, (untyped, o.dtype))
            # a fresh str per reference, as torch builds one per call (so no pickle memo hit either)
            return (
                "storage",
                getattr(torch, o._pickle_storage_type()),
                str(int(key)),
                "cpu",
                o._size(),
                None,
            )

    version = torch.serialization.PROTOCOL_VERSION
    sys_info = {
        "protocol_version": version,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    f = io.BytesIO()
    for item in (torch.serialization.MAGIC_NUMBER, version, sys_info):
        pickle.dump(item, f, protocol=2)
    _Pickler(f, protocol=2).dump(obj)
    ordered = sorted(storages)
    pickle.dump(ordered, f, protocol=2)
    for key in ordered:
        untyped, dtype = storages[key]
        untyped._write_file(f, False, True, torch._utils._element_size(dtype))
    return f.getvalue()


def patched_magic_writer(obj: Any, head: bytes) -> Writer:
    """GPT-SoVITS ``my_save2``: torch.save into memory, then overwrite the leading b'PK' with ``head``."""
    assert len(head) == 2

    def write(path: Path) -> None:
        bio = io.BytesIO()
        torch.save(obj, bio)
        path.write_bytes(head + bio.getvalue()[2:])

    return write


def safetensors_writer(tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Writer:
    def write(path: Path) -> None:
        save_file(dict(tensors), str(path), metadata=metadata)

    return write


def onnx_writer(model: onnx.ModelProto, *, external: str | None = None) -> Writer:
    """onnx.save_model; with ``external`` every initializer goes to that one side file next to the model."""
    blob = model.SerializeToString()

    def write(path: Path) -> None:
        m = onnx.ModelProto()
        m.ParseFromString(blob)
        if external is None:
            onnx.save_model(m, str(path))
        else:
            onnx.save_model(
                m,
                str(path),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=external,
                size_threshold=0,
            )

    return write


def json_writer(obj: Any) -> Writer:
    def write(path: Path) -> None:
        path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")

    return write


def bytes_writer(data: bytes) -> Writer:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write


def pickle_writer(obj: Any) -> Writer:
    """Plain pickle protocol 4, as DeepFaceLab writes its ``.npy`` parts and ``_data.dat``."""
    return bytes_writer(pickle.dumps(obj, protocol=4))


# ---------------------------------------------------------------------------------------------------------
# Context: tensors, manifest, renamed copies
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    root: Path
    seed: int
    gen: torch.Generator
    manifest: list[dict[str, Any]] = field(default_factory=list)
    _paths: set[str] = field(default_factory=set)
    _renamed: int = 0
    _generic_cycle: dict[str, int] = field(default_factory=dict)

    # -- tensors --------------------------------------------------------------------------------------

    def t(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Seeded small random tensor (contents are meaningless; only names and shapes matter)."""
        return (torch.randn(tuple(shape), generator=self.gen) * 0.02).to(dtype)

    def sd(
        self, spec: Mapping[str, Sequence[int]], dtype: torch.dtype = torch.float32
    ) -> OrderedDict[str, Any]:
        """A state_dict from {name: shape}; ``num_batches_tracked`` entries become int64 scalars."""
        out: OrderedDict[str, Any] = OrderedDict()
        for name, shape in spec.items():
            if name.endswith("num_batches_tracked"):
                out[name] = torch.tensor(0, dtype=torch.int64)
            else:
                out[name] = self.t(shape, dtype)
        return out

    def arr(self, shape: Sequence[int], dtype: Any = np.float32) -> np.ndarray:
        return self.t(shape).numpy().astype(dtype)

    # -- output ---------------------------------------------------------------------------------------

    def _claim(self, rel: str) -> Path:
        if rel in self._paths:
            raise ValueError(f"duplicate fixture path {rel}")
        self._paths.add(rel)
        return self.root / rel

    def _materialise(self, rel: str, content: Content) -> None:
        target = self._claim(rel)
        if isinstance(content, dict):
            for inner, writer in content.items():
                p = target / inner
                p.parent.mkdir(parents=True, exist_ok=True)
                writer(p)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            content(target)

    def emit(
        self,
        rel: str,
        content: Content,
        *,
        family: str,
        fmt: str,
        hard_case: int | None = None,
        notes: str = "",
        generic: str | None = None,
        keep_inner_names: bool = False,
    ) -> None:
        """Write one artifact (a file, or a directory bundle when ``content`` is a dict) and record it.

        Deepfake families (catalog or extra generators) also get a renamed copy under ``renamed/``.
        """
        benign = family in BENIGN
        if benign:
            capability, severity = None, "none"
        elif family in FAMILIES:
            capability, severity = FAMILIES[family]
        else:
            capability, severity = EXTRA_GENERATORS[family]
        self._materialise(rel, content)
        entry = {
            "path": rel,
            "family": family,
            "capability": capability,
            "expected_severity": severity,
            "benign": benign,
            "renamed": False,
            "format": fmt,
            "hard_case": HARD_CASES[hard_case] if hard_case else None,
            "notes": notes,
        }
        self.manifest.append(entry)
        if benign:
            return
        self._renamed += 1
        rdir = f"renamed/r{self._renamed:02d}"
        renamed_content: Content
        if isinstance(content, dict):
            renamed_rel = rdir
            renamed_content = content if keep_inner_names else _generic_inner_names(content)
        else:
            name = generic or self._next_generic(fmt)
            renamed_rel = f"{rdir}/{name}"
            renamed_content = content
        self._materialise(renamed_rel, renamed_content)
        self.manifest.append(
            {
                **entry,
                "path": renamed_rel,
                "renamed": True,
                "hard_case": entry["hard_case"] or HARD_CASES[11],
                "notes": f"renamed copy of {rel}; file names carry no signal",
            }
        )

    def _next_generic(self, fmt: str) -> str:
        names = GENERIC_FILE_NAMES.get(fmt, ("model.bin",))
        i = self._generic_cycle.get(fmt, 0)
        self._generic_cycle[fmt] = i + 1
        return names[i % len(names)]


def _generic_inner_names(content: dict[str, Writer]) -> dict[str, Writer]:
    """Flatten a bundle and give its files letter names (a.pth, b.pth ...); keep the format-defining JSONs."""
    out: dict[str, Writer] = {}
    letter = 0
    for inner in sorted(content):
        base = inner.rsplit("/", 1)[-1]
        if base in KEEP_IN_RENAMED and base not in out:
            out[base] = content[inner]
            continue
        suffix = "." + base.rsplit(".", 1)[-1] if "." in base else ""
        if suffix == ".json":
            name = "config.json" if "config.json" not in out else f"config{letter}.json"
        else:
            name = f"{chr(ord('a') + letter)}{suffix}"
        letter += 1
        out[name] = content[inner]
    return out


# ---------------------------------------------------------------------------------------------------------
# ONNX helper: a small, checker-valid graph around the identifying inputs, outputs and initializers
# ---------------------------------------------------------------------------------------------------------


def _vi(name: str, shape: Sequence[Dim], elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, list(shape))


def onnx_model(
    inputs: Sequence[tuple[str, Sequence[Dim]]],
    outputs: Sequence[tuple[str, Sequence[Dim]]],
    inits: Sequence[tuple[str, np.ndarray]] = (),
    *,
    graph_name: str = "main_graph",
    producer: tuple[str, str] = ("pytorch", "1.13.1"),
    opset: int = 11,
    ir_version: int = 6,
) -> onnx.ModelProto:
    """Build a valid graph: every input and initializer feeds a node (Gemm / Conv where the shapes line up
    with an input, as in the real networks; ReduceSum otherwise), everything is summed into one scalar and
    each declared output is that scalar expanded to the output's shape. Shape constants are Constant nodes,
    so the initializer list (and its order: inswapper's emap must stay LAST) is exactly ``inits``."""
    nodes: list[onnx.NodeProto] = []
    scalars: list[str] = []
    k = 0

    def fresh(prefix: str) -> str:
        nonlocal k
        k += 1
        return f"/{prefix}_{k}/output_0"

    def reduce(x: str) -> None:
        y = fresh("ReduceSum")
        nodes.append(helper.make_node("ReduceSum", [x], [y], keepdims=0))
        scalars.append(y)

    vectors = {n: s for n, s in inputs if len(s) == 2 and isinstance(s[1], int)}
    images = {n: s for n, s in inputs if len(s) == 4 and isinstance(s[1], int)}
    for name, _shape in inputs:
        reduce(name)
    for name, array in inits:
        src = name
        if array.dtype != np.float32:
            src = fresh("Cast")
            nodes.append(helper.make_node("Cast", [name], [src], to=TensorProto.FLOAT))
        vec = next((v for v, s in vectors.items() if array.ndim == 2 and s[1] == array.shape[1]), None)
        img = next((i for i, s in images.items() if array.ndim == 4 and s[1] == array.shape[1]), None)
        if vec is not None:
            y = fresh("Gemm")
            nodes.append(helper.make_node("Gemm", [vec, src], [y], transB=1))
            reduce(y)
        elif img is not None:
            y = fresh("Conv")
            kh, kw = array.shape[2], array.shape[3]
            nodes.append(
                helper.make_node("Conv", [img, src], [y], kernel_shape=[kh, kw], pads=[kh // 2, kw // 2] * 2)
            )
            reduce(y)
        else:
            reduce(src)
    total = fresh("Sum")
    nodes.append(helper.make_node("Sum", scalars, [total]))
    for oname, oshape in outputs:
        shape_const = fresh("Constant")
        dims = np.array([d if isinstance(d, int) and d > 0 else 1 for d in oshape], dtype=np.int64)
        nodes.append(
            helper.make_node(
                "Constant", [], [shape_const], value=numpy_helper.from_array(dims, shape_const + "_value")
            )
        )
        nodes.append(helper.make_node("Expand", [total, shape_const], [oname]))
    graph = helper.make_graph(
        nodes,
        graph_name,
        [_vi(n, s) for n, s in inputs],
        [_vi(n, s) for n, s in outputs],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    model = helper.make_model(
        graph,
        producer_name=producer[0],
        producer_version=producer[1],
        opset_imports=[helper.make_opsetid("", opset)],
    )
    model.ir_version = ir_version
    return model


# ---------------------------------------------------------------------------------------------------------
# faiss IndexIVFFlat (RVC's retrieval index), written byte for byte as faiss::write_index does
# ---------------------------------------------------------------------------------------------------------


def faiss_ivfflat_bytes(xb: np.ndarray, centroids: np.ndarray, nprobe: int = 1) -> bytes:
    """IVF<nlist>,Flat with an IndexFlatL2 quantizer and ArrayInvertedLists ("IwFl" / "IxF2" / "ilar")."""
    n, d = xb.shape
    nlist = centroids.shape[0]
    metric_l2 = 1

    def header(ntotal: int) -> bytes:
        dummy = 1 << 20
        return struct.pack("<iqqq?i", d, ntotal, dummy, dummy, True, metric_l2)

    dist = ((xb[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    assign = dist.argmin(1)
    out = bytearray(b"IwFl" + header(n) + struct.pack("<QQ", nlist, nprobe))
    out += b"IxF2" + header(nlist) + struct.pack("<Q", nlist * d) + centroids.astype("<f4").tobytes()
    out += struct.pack("<bQ", 0, 0)  # direct map: none, empty array
    out += b"ilar" + struct.pack("<QQ", nlist, d * 4)
    lists = [np.flatnonzero(assign == i) for i in range(nlist)]
    sizes = [len(ids) for ids in lists]
    if sum(1 for s in sizes if s) > nlist // 2:
        out += b"full" + struct.pack("<Q", nlist) + struct.pack(f"<{nlist}Q", *sizes)
    else:
        sparse = [v for i, s in enumerate(sizes) if s for v in (i, s)]
        out += b"sprs" + struct.pack("<Q", len(sparse)) + struct.pack(f"<{len(sparse)}Q", *sparse)
    for ids in lists:
        if len(ids):
            out += xb[ids].astype("<f4").tobytes() + ids.astype("<i8").tobytes()
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------
# Small shared pieces
# ---------------------------------------------------------------------------------------------------------


def adam_state(
    n_params: int = 4, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)
) -> dict[str, Any]:
    """An (empty-state) optimizer state_dict as trainers save it next to the weights."""
    group = {"lr": lr, "betas": betas, "eps": 1e-8, "weight_decay": 0, "amsgrad": False}
    return {"state": {}, "param_groups": [{**group, "params": list(range(n_params))}]}


def conv_spec(prefix: str, cout: int, cin: int, k: int, *, bias: bool = True) -> dict[str, Shape]:
    spec: dict[str, Shape] = {f"{prefix}.weight": (cout, cin, k, k)}
    if bias:
        spec[f"{prefix}.bias"] = (cout,)
    return spec


def bn_spec(prefix: str, c: int) -> dict[str, Shape]:
    return {
        f"{prefix}.weight": (c,),
        f"{prefix}.bias": (c,),
        f"{prefix}.running_mean": (c,),
        f"{prefix}.running_var": (c,),
        f"{prefix}.num_batches_tracked": (),
    }


def resnet_spec(prefix: str, in_ch: int, fc_out: int, *, tiny: int = 4) -> dict[str, Shape]:
    """torchvision ResNet18 layout: conv1 at full size (64 x in x 7 x 7), fc [fc_out, 512] at full size,
    the residual layers shrunk to ``tiny`` channels (names kept)."""
    spec: dict[str, Shape] = {f"{prefix}conv1.weight": (64, in_ch, 7, 7), **bn_spec(f"{prefix}bn1", 64)}
    for layer in range(1, 5):
        for block in range(2):
            b = f"{prefix}layer{layer}.{block}"
            spec |= {f"{b}.conv1.weight": (tiny, tiny, 3, 3), **bn_spec(f"{b}.bn1", tiny)}
            spec |= {f"{b}.conv2.weight": (tiny, tiny, 3, 3), **bn_spec(f"{b}.bn2", tiny)}
        if layer > 1:
            spec |= {f"{prefix}layer{layer}.0.downsample.0.weight": (tiny, tiny, 1, 1)}
            spec |= bn_spec(f"{prefix}layer{layer}.0.downsample.1", tiny)
    spec |= {f"{prefix}fc.weight": (fc_out, 512), f"{prefix}fc.bias": (fc_out,)}
    return spec


def unet_config(in_channels: int, cross_attention_dim: int, **extra: Any) -> dict[str, Any]:
    return {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.6.0",
        "act_fn": "silu",
        "attention_head_dim": 8,
        "block_out_channels": [320, 640, 1280, 1280],
        "center_input_sample": False,
        "cross_attention_dim": cross_attention_dim,
        "down_block_types": [
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": in_channels,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 32,
        "out_channels": 4,
        "sample_size": 64,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        **extra,
    }


def unet_spec(in_channels: int, context_dim: int, *, motion: bool = False) -> dict[str, Shape]:
    """diffusers UNet2DConditionModel keys: conv_in and the first cross-attention at full size."""
    attn = "down_blocks.0.attentions.0.transformer_blocks.0"
    spec: dict[str, Shape] = {
        "conv_in.weight": (320, in_channels, 3, 3),
        "conv_in.bias": (320,),
        "time_embedding.linear_1.weight": (8, 320),
        "down_blocks.0.resnets.0.conv1.weight": (4, 4, 3, 3),
        f"{attn}.attn1.to_q.weight": (8, 8),
        f"{attn}.attn2.to_q.weight": (320, 320),
        f"{attn}.attn2.to_k.weight": (320, context_dim),
        f"{attn}.attn2.to_v.weight": (320, context_dim),
        f"{attn}.attn2.to_out.0.weight": (8, 8),
        "mid_block.attentions.0.proj_in.weight": (8, 8, 1, 1),
        "up_blocks.3.resnets.2.conv2.weight": (4, 4, 3, 3),
        "conv_norm_out.weight": (320,),
        "conv_out.weight": (4, 320, 3, 3),
        "conv_out.bias": (4,),
    }
    if motion:
        mm = "down_blocks.0.motion_modules.0.temporal_transformer"
        spec |= {
            f"{mm}.proj_in.weight": (8, 8),
            f"{mm}.transformer_blocks.0.attention_blocks.0.to_q.weight": (8, 8),
        }
    return spec


def vits_common(tiny: int = 4) -> dict[str, Shape]:
    """VITS posterior encoder / flow / HiFi-GAN decoder names shared by RVC, so-vits-svc, GPT-SoVITS,
    OpenVoice and plain VITS TTS (hard case 3); shrunk."""
    return {
        "enc_q.pre.weight": (tiny, tiny, 1),
        "enc_q.enc.in_layers.0.weight_v": (tiny, tiny, 5),
        "enc_q.proj.weight": (tiny, tiny, 1),
        "flow.flows.0.pre.weight": (tiny, tiny, 1),
        "flow.flows.0.enc.in_layers.0.weight_v": (tiny, tiny, 5),
        "flow.flows.0.post.weight": (tiny, tiny, 1),
        "dec.conv_pre.weight": (tiny, tiny, 7),
        "dec.ups.0.weight_g": (tiny, 1, 1),
        "dec.ups.0.weight_v": (tiny, tiny, 16),
        "dec.resblocks.0.convs1.0.weight_v": (tiny, tiny, 3),
        "dec.conv_post.weight": (1, tiny, 7),
    }


# ---------------------------------------------------------------------------------------------------------
# Face swap
# ---------------------------------------------------------------------------------------------------------


def face_swap(c: Ctx) -> None:
    # insightface inswapper_128 (FaceFusion's fp16 build): 2 inputs, 1 output, AdaIN style Linear(512 -> 2048)
    # in 6 residual blocks, 512x512 emap as the LAST initializer.
    f16 = np.float16
    inits = [
        (f"styles.{b}.style{s}.linear.weight", c.arr((2048, 512), f16)) for b in range(6) for s in (1, 2)
    ]
    inits += [(f"styles.{b}.style{s}.linear.bias", c.arr((2048,), f16)) for b in range(6) for s in (1, 2)]
    inits += [
        ("onnx::Conv_833", c.arr((8, 3, 7, 7), f16)),
        ("up0.1.weight", c.arr((3, 128, 7, 7), f16)),
        ("buff2fs", c.arr((512, 512))),
        ("emap", c.arr((512, 512))),
    ]
    model = onnx_model(
        [("target", [1, 3, 128, 128]), ("source", [1, 512])], [("output", [1, 3, 128, 128])], inits
    )
    c.emit(
        "face-swap/facefusion/.assets/models/inswapper_128_fp16.onnx",
        onnx_writer(model),
        family="insightface-inswapper",
        fmt="onnx",
        hard_case=1,
        notes="styles.N.styleK.linear.weight [2048,512] x12 at full size (fp16); emap [512,512] is the last "
        "initializer; the [1024,1024,3,3] styles.N.convK.1 weights are omitted (size)",
        generic="a.onnx",
    )

    # FaceFusion swappers: decided by the shape of 'source' (hard case 2).
    ff = [
        ("hyperswap", "hyperswap_1a_256.onnx", [1, 512], "source = ArcFace embedding"),
        ("uniface", "uniface_256.onnx", [1, 3, 256, 256], "source = 256x256 face image"),
        ("blendswap", "blendswap_256.onnx", [1, 3, 112, 112], "source = 112x112 face crop (ArcFace-sized)"),
    ]
    for family, name, src_shape, note in ff:
        inits = [("onnx::Conv_501", c.arr((8, 3, 3, 3))), ("onnx::Gemm_502", c.arr((16, 512)))]
        model = onnx_model(
            [("source", src_shape), ("target", [1, 3, 256, 256])], [("output", [1, 3, 256, 256])], inits
        )
        c.emit(
            f"face-swap/facefusion/.assets/models/{name}",
            onnx_writer(model),
            family=family,
            fmt="onnx",
            hard_case=2,
            notes=note,
        )

    # simswap_256 with FaceFusion's CRC32 '.hash' sidecar (hard case 12): the sidecar matches this file.
    model = onnx_model(
        [("source", [1, 512]), ("target", [1, 3, 256, 256])],
        [("output", [1, 3, 256, 256])],
        [("onnx::Gemm_700", c.arr((1024, 512))), ("onnx::Conv_701", c.arr((8, 3, 7, 7)))],
    )
    blob = model.SerializeToString()
    crc = f"{zlib.crc32(blob) & 0xFFFFFFFF:08x}"
    c.emit(
        "face-swap/facefusion-simswap",
        {"simswap_256.onnx": bytes_writer(blob), "simswap_256.hash": bytes_writer(crc.encode())},
        family="facefusion-face-swapper-onnx",
        fmt="bundle-dir",
        hard_case=12,
        notes=f"FaceFusion model + CRC32 sidecar ({crc} = zlib.crc32 of the .onnx); no published hash",
    )

    # SimSwap generator (pix2pixHD-style name): AdaIN ApplyStyle Linear(512 -> 1024) in BottleNeck blocks.
    spec: dict[str, Shape] = {
        "first_layer.1.weight": (64, 3, 7, 7),
        "first_layer.1.bias": (64,),
        "down1.0.weight": (8, 64, 3, 3),
        "down2.0.weight": (8, 8, 3, 3),
        "down3.0.weight": (8, 8, 3, 3),
    }
    for b in range(2):
        spec |= {
            f"BottleNeck.{b}.conv1.1.weight": (512, 512, 3, 3) if b == 0 else (8, 8, 3, 3),
            f"BottleNeck.{b}.style1.linear.weight": (1024, 512),
            f"BottleNeck.{b}.style1.linear.bias": (1024,),
            f"BottleNeck.{b}.conv2.1.weight": (8, 8, 3, 3),
            f"BottleNeck.{b}.style2.linear.weight": (1024, 512),
            f"BottleNeck.{b}.style2.linear.bias": (1024,),
        }
    spec |= {"up3.1.weight": (8, 8, 3, 3), "up1.1.weight": (8, 8, 3, 3), "last_layer.1.weight": (3, 64, 7, 7)}
    c.emit(
        "face-swap/SimSwap/checkpoints/people/550000_net_G.pth",
        torch_writer(c.sd(spec)),
        family="simswap",
        fmt="pytorch-zip",
        hard_case=1,
        notes="n_blocks reduced from 9 to 2; style Linear [1024,512] full size; one conv [512,512,3,3] full",
    )

    # GHOST AEI-Net generator (plain state_dict): attribute encoder + AAD generator.
    spec = {}
    for i in range(1, 8):
        spec[f"encoder.conv{i}.conv.weight"] = (4, 4, 4, 4)
        spec |= bn_spec(f"encoder.conv{i}.bn", 4)
    for i in range(1, 7):
        spec[f"encoder.deconv{i}.deconv.weight"] = (4, 4, 4, 4)
    spec["generator.up1.weight"] = (512, 1024, 2, 2)
    spec["generator.up1.bias"] = (1024,)
    for blk in range(1, 9):
        for aad in (1, 2):
            p = f"generator.AADBlk{blk}.AAD{aad}"
            spec |= {
                f"{p}.conv1.weight": (4, 4, 1, 1),
                f"{p}.conv2.weight": (4, 4, 1, 1),
                f"{p}.fc1.weight": (4, 512),
                f"{p}.fc1.bias": (4,),
                f"{p}.fc2.weight": (4, 512),
                f"{p}.fc2.bias": (4,),
                f"{p}.conv_h.weight": (1, 4, 1, 1),
            }
        spec[f"generator.AADBlk{blk}.conv1.weight"] = (4, 4, 3, 3)
        spec[f"generator.AADBlk{blk}.conv2.weight"] = (4, 4, 3, 3)
    c.emit(
        "face-swap/ghost/weights/G_unet_2blocks.pth",
        torch_writer(c.sd(spec)),
        family="ghost-aei-net",
        fmt="pytorch-zip",
        notes="generator.up1 ConvTranspose [512,1024,2,2] full size; AAD fc1/fc2 take the 512-d identity",
    )

    # FaceShifter (unofficial, PyTorch Lightning checkpoint): AEI-Net under 'G.', ArcFace under 'E.'.
    state = c.sd(
        {
            "G.generator.AADBlk1.AAD1.fc1.weight": (4, 512),
            "G.generator.AADBlk1.AAD1.fc2.weight": (4, 512),
            "G.generator.AADBlk1.AAD1.conv_h.weight": (1, 4, 1, 1),
            "G.generator.AADBlk2.AAD1.fc1.weight": (4, 512),
            "G.encoder.conv1.conv.weight": (4, 3, 4, 4),
            "E.conv1.weight": (4, 3, 3, 3),
            "E.fc.weight": (512, 8),
            "D.model0.0.weight": (4, 3, 4, 4),
        }
    )
    ckpt = {
        "epoch": 32,
        "global_step": 120000,
        "pytorch-lightning_version": "1.9.5",
        "state_dict": state,
        "optimizer_states": [adam_state(), adam_state()],
        "lr_schedulers": [],
    }
    c.emit(
        "face-swap/faceshifter/lightning_logs/version_0/checkpoints/faceshifter_epoch=32.ckpt",
        torch_writer(ckpt),
        family="faceshifter",
        fmt="pytorch-zip",
        notes="Lightning {'state_dict': ...} with AAD keys under a 'G.generator.' prefix",
    )

    # DeepFaceLab SAEHD workspace: pickled {tf-var-name: HWIO ndarray} '.npy' parts + '_data.dat'.
    def parts(names: Sequence[str], ch: int = 4) -> dict[str, np.ndarray]:
        out = {}
        for n in names:
            shape = (ch,) if n.endswith("bias:0") else (3, 3, ch, ch)
            out[n] = c.arr(shape)
        return out

    encoder = parts([f"down{i}/downs_0/conv1/{w}:0" for i in range(1, 5) for w in ("weight", "bias")])
    inter = parts(["dense1/weight:0", "dense1/bias:0", "dense2/weight:0", "upscale1/conv1/weight:0"])
    decoder = parts(
        [f"upscale{i}/conv1/weight:0" for i in range(3)]
        + [f"res{i}/conv1/weight:0" for i in range(3)]
        + ["out_conv/weight:0", "out_conv/bias:0"]
        + [f"upscalem{i}/conv1/weight:0" for i in range(3)]
        + ["out_convm/weight:0", "out_convm/bias:0"]
    )
    options = {
        "resolution": 224,
        "face_type": "wf",
        "archi": "df-ud",
        "ae_dims": 256,
        "e_dims": 64,
        "d_dims": 64,
        "d_mask_dims": 22,
        "masked_training": True,
        "random_warp": False,
        "gan_power": 0.0,
        "true_face_power": 0.0,
        "ct_mode": "none",
        "batch_size": 8,
        "pretrain": False,
    }
    data = {
        "iter": 250000,
        "options": options,
        "loss_history": [[0.21, 0.19], [0.2, 0.18]],
        "sample_for_preview": (c.arr((8, 8, 3)), c.arr((8, 8, 3))),
        "choosed_gpu_indexes": [0],
    }
    workspace = {
        "new_SAEHD_data.dat": pickle_writer(data),
        "new_SAEHD_encoder.npy": pickle_writer(encoder),
        "new_SAEHD_inter.npy": pickle_writer(inter),
        "new_SAEHD_decoder_src.npy": pickle_writer(decoder),
        "new_SAEHD_decoder_dst.npy": pickle_writer(parts(["upscale0/conv1/weight:0", "out_conv/weight:0"])),
        "new_SAEHD_summary.txt": bytes_writer(b"==---- Model Summary ----==\n== Model name: new_SAEHD\n"),
    }
    c.emit(
        "face-swap/DeepFaceLab/workspace/model",
        workspace,
        family="deepfacelab-saehd-amp",
        fmt="bundle-dir",
        hard_case=10,
        notes="'.npy' parts are pickles (protocol 4) of numpy arrays, not .npy arrays; numpy 2 writes "
        "numpy._core.multiarray globals where DFL-era files say numpy.core.multiarray",
    )
    # DeepFaceLive .dfm = tf2onnx export (NHWC, ':0' tensor names).
    model = onnx_model(
        [("in_face:0", ["unk__41", "unk__42", "unk__43", 3])],
        [
            ("out_face_mask:0", ["unk__44", 224, 224, 1]),
            ("out_celeb_face:0", ["unk__45", 224, 224, 3]),
            ("out_celeb_face_mask:0", ["unk__46", 224, 224, 1]),
        ],
        [("const_fold_opt__120", c.arr((3, 3, 3, 8))), ("const_fold_opt__121", c.arr((8,)))],
        graph_name="tf2onnx",
        producer=("tf2onnx", "1.9.3 1190aa"),
        opset=12,
        ir_version=7,
    )
    c.emit(
        "face-swap/DeepFaceLive/dfm_models/Jane_Doe_224.dfm",
        onnx_writer(model),
        family="deepfacelab-saehd-amp",
        fmt="onnx",
        hard_case=11,
        notes="DeepFaceLive model: ONNX under a .dfm extension (SAEHD export, no morph_value:0)",
    )


# ---------------------------------------------------------------------------------------------------------
# Face reenactment
# ---------------------------------------------------------------------------------------------------------


def face_reenactment(c: Ctx) -> None:
    # LivePortrait pretrained_weights/liveportrait: four base models + the stitching/retargeting dict.
    motion = {
        "detector.downsample_layers.0.0.weight": (8, 3, 4, 4),
        "detector.stages.0.0.dwconv.weight": (8, 1, 7, 7),
        "detector.norm.weight": (768,),
        "detector.fc_kp.weight": (63, 768),
        "detector.fc_kp.bias": (63,),
        "detector.fc_exp.weight": (63, 768),
        "detector.fc_exp.bias": (63,),
        "detector.fc_pitch.weight": (66, 768),
        "detector.fc_yaw.weight": (66, 768),
        "detector.fc_roll.weight": (66, 768),
        "detector.fc_scale.weight": (1, 768),
        "detector.fc_t.weight": (3, 768),
    }
    appearance = {
        "first.conv.weight": (8, 3, 3, 3),
        "down_blocks.0.conv.weight": (8, 8, 3, 3),
        "second.weight": (8, 8, 1, 1),
        "resblocks_3d.3dr0.conv1.weight": (32, 32, 3, 3, 3),
        "resblocks_3d.3dr0.conv2.weight": (32, 32, 3, 3, 3),
        "resblocks_3d.3dr1.conv1.weight": (32, 32, 3, 3, 3),
    }
    warping = {
        "dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight": (8, 8, 3, 3, 3),
        "dense_motion_network.compress.weight": (8, 8, 1, 1, 1),
        "dense_motion_network.mask.weight": (22, 8, 7, 7, 7),
        "dense_motion_network.occlusion.weight": (1, 8, 7, 7),
        "third.conv.weight": (8, 8, 3, 3),
        "fourth.weight": (8, 8, 1, 1),
    }
    spade = {"fc.weight": (8, 8, 3, 3), "conv_img.0.weight": (12, 64, 3, 3), "conv_img.0.bias": (12,)}
    for i in range(6):
        spade |= {
            f"G_middle_{i}.norm_0.mlp_shared.0.weight": (8, 8, 3, 3),
            f"G_middle_{i}.norm_0.mlp_gamma.weight": (8, 8, 3, 3),
            f"G_middle_{i}.conv_0.weight_orig": (8, 8, 3, 3),
            f"G_middle_{i}.conv_0.weight_u": (8,),
            f"G_middle_{i}.conv_0.weight_v": (72,),
        }

    def mlp(dims: Sequence[int]) -> OrderedDict[str, Any]:
        spec: dict[str, Shape] = {}
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            spec |= {f"mlp.{2 * i}.weight": (b, a), f"mlp.{2 * i}.bias": (b,)}
        return c.sd(spec)

    stitching = {
        "retarget_shoulder": mlp([126, 128, 128, 64, 65]),
        "retarget_mouth": mlp([65, 128, 128, 64, 63]),
        "retarget_eye": mlp([66, 256, 256, 128, 128, 64, 63]),
    }
    bundle = {
        "base_models/appearance_feature_extractor.pth": torch_writer(c.sd(appearance)),
        "base_models/motion_extractor.pth": torch_writer(c.sd(motion)),
        "base_models/spade_generator.pth": torch_writer(c.sd(spade)),
        "base_models/warping_module.pth": torch_writer(c.sd(warping)),
        "retargeting_models/stitching_retargeting_module.pth": torch_writer(stitching),
    }
    c.emit(
        "face-reenactment/LivePortrait/pretrained_weights/liveportrait",
        bundle,
        family="liveportrait",
        fmt="bundle-dir",
        hard_case=10,
        notes="five .pth files; stitching file is {'retarget_shoulder','retarget_mouth','retarget_eye'} "
        "each a bare mlp.N state_dict (no 'module.' prefix)",
    )
    c.emit(
        "face-reenactment/parts/stitching_retargeting_module.pth",
        torch_writer(stitching),
        family="liveportrait",
        fmt="pytorch-zip",
        hard_case=10,
        notes="LivePortrait part alone: stitching/retargeting MLPs (not a generator by itself)",
    )
    # FaceFusion's LivePortrait generator export: source/target are motion keypoints (hard case 2).
    model = onnx_model(
        [("feature_volume", [1, 32, 16, 64, 64]), ("source", [1, 21, 3]), ("target", [1, 21, 3])],
        [("output", [1, 3, 512, 512])],
        [("onnx::Conv_2001", c.arr((8, 32, 3, 3, 3)))],
    )
    c.emit(
        "face-reenactment/facefusion/.assets/models/live_portrait_generator.onnx",
        onnx_writer(model),
        family="liveportrait",
        fmt="onnx",
        hard_case=2,
        notes="inputs feature_volume + source/target motion points 1x21x3",
    )

    # First Order Motion Model vox-cpk.pth.tar (torch 1.0-era legacy format).
    kp = {
        "predictor.encoder.down_blocks.0.conv.weight": (8, 3, 3, 3),
        **bn_spec("predictor.encoder.down_blocks.0.norm", 8),
        "predictor.decoder.up_blocks.0.conv.weight": (8, 8, 3, 3),
        "kp.weight": (10, 35, 7, 7),
        "kp.bias": (10,),
        "jacobian.weight": (40, 35, 7, 7),
        "jacobian.bias": (40,),
    }
    gen = {
        "first.conv.weight": (8, 3, 7, 7),
        "down_blocks.0.conv.weight": (8, 8, 3, 3),
        "bottleneck.r0.conv1.weight": (8, 8, 3, 3),
        "bottleneck.r0.conv2.weight": (8, 8, 3, 3),
        "dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight": (8, 8, 3, 3),
        "dense_motion_network.mask.weight": (11, 8, 7, 7),
        "dense_motion_network.occlusion.weight": (1, 8, 7, 7),
        "final.weight": (3, 8, 7, 7),
    }
    disc = {"discs.1.down_blocks.0.conv.weight": (8, 13, 4, 4), "discs.1.conv.weight": (1, 8, 1, 1)}
    ckpt = {
        "generator": c.sd(gen),
        "discriminator": c.sd(disc),
        "kp_detector": c.sd(kp),
        "optimizer_generator": adam_state(),
        "optimizer_discriminator": adam_state(),
        "optimizer_kp_detector": adam_state(),
        "epoch": 99,
    }
    c.emit(
        "face-reenactment/first-order-model/vox-cpk.pth.tar",
        torch_writer(ckpt, legacy=True),
        family="first-order-motion-model",
        fmt="pytorch-legacy",
        notes="{'generator','kp_detector','discriminator','optimizer_*','epoch'}; jacobian [40,35,7,7]",
    )

    # Thin-Plate-Spline Motion Model vox.pth.tar: kp_detector.fg_encoder is a ResNet18 with fc 100x512.
    ckpt = {
        "kp_detector": c.sd(resnet_spec("fg_encoder.", 3, 100)),
        "bg_predictor": c.sd(
            {
                "bg_encoder.conv1.weight": (64, 6, 7, 7),
                **bn_spec("bg_encoder.bn1", 64),
                "bg_encoder.fc.weight": (6, 512),
            }
        ),
        "inpainting_network": c.sd(
            {
                "first.conv.weight": (8, 3, 7, 7),
                "down_blocks.0.conv.weight": (8, 8, 3, 3),
                "up_blocks.0.conv.weight": (8, 8, 3, 3),
                "resblock.0.conv1.weight": (8, 8, 3, 3),
                "final.weight": (3, 8, 7, 7),
            }
        ),
        "dense_motion_network": c.sd(
            {"hourglass.encoder.down_blocks.0.conv.weight": (8, 84, 3, 3), "maps.weight": (11, 8, 7, 7)}
        ),
        "avd_network": c.sd({"id_encoder.0.weight": (8, 100), "pose_encoder.0.weight": (8, 100)}),
        "optimizer": adam_state(),
        "optimizer_bg_predictor": adam_state(),
        "epoch": 100,
    }
    c.emit(
        "face-reenactment/Thin-Plate-Spline-Motion-Model/checkpoints/vox.pth.tar",
        torch_writer(ckpt),
        family="thin-plate-spline-motion-model",
        fmt="pytorch-zip",
        hard_case=8,
        notes="kp_detector.fg_encoder = torchvision ResNet18 layout (fc [100,512]); compare benign resnet18",
    )

    # SadTalker safetensors bundle: components separated by name prefix.
    tensors = c.sd(
        {
            "kp_extractor.predictor.encoder.down_blocks.0.conv.weight": (8, 3, 3, 3),
            "kp_extractor.kp.weight": (15, 8, 7, 7),
            "he_estimator.conv1.weight": (8, 3, 7, 7),
            "he_estimator.fc_yaw.weight": (66, 8),
            "generator.first.conv.weight": (8, 3, 7, 7),
            "generator.dense_motion_network.mask.weight": (16, 8, 7, 7, 7),
            "mapping.first.0.weight": (8, 73, 7),
            "mapping.fc_exp.weight": (45, 8),
            "audio2pose.netG.encoder.fc.weight": (8, 8),
            "audio2pose.audio_encoder.audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
            "audio2exp.netG.audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
            "audio2exp.netG.mapping1.weight": (64, 8),
        },
        torch.float16,
    )
    c.emit(
        "face-reenactment/SadTalker/checkpoints/SadTalker_V0.0.2_256.safetensors",
        safetensors_writer(tensors),
        family="sadtalker",
        fmt="safetensors",
        notes="audio2pose./audio2exp./kp_extractor./he_estimator./generator./mapping. prefixes in one file",
    )


# ---------------------------------------------------------------------------------------------------------
# Lip-sync
# ---------------------------------------------------------------------------------------------------------


def lip_sync(c: Ctx) -> None:
    # Wav2Lip GAN generator (torch 1.x legacy format, DataParallel 'module.' prefix).
    sd: dict[str, Shape] = {}
    sd |= conv_spec("module.face_encoder_blocks.0.0.conv_block.0", 16, 6, 7)
    sd |= bn_spec("module.face_encoder_blocks.0.0.conv_block.1", 16)
    sd |= conv_spec("module.face_encoder_blocks.1.0.conv_block.0", 8, 16, 3)
    sd |= conv_spec("module.audio_encoder.0.conv_block.0", 32, 1, 3)
    sd |= bn_spec("module.audio_encoder.0.conv_block.1", 32)
    sd |= conv_spec("module.audio_encoder.1.conv_block.0", 8, 32, 3)
    sd |= conv_spec("module.face_decoder_blocks.0.0.conv_block.0", 8, 8, 1)
    sd |= {"module.face_decoder_blocks.1.0.conv_block.0.weight": (8, 8, 3, 3)}
    sd |= conv_spec("module.output_block.0.conv_block.0", 32, 8, 3)
    sd |= conv_spec("module.output_block.1", 3, 32, 1)
    ckpt = {"state_dict": c.sd(sd), "optimizer": adam_state(), "global_step": 442000, "global_epoch": 120}
    c.emit(
        "lip-sync/Wav2Lip/checkpoints/wav2lip_gan.pth",
        torch_writer(ckpt, legacy=True),
        family="wav2lip",
        fmt="pytorch-legacy",
        hard_case=5,
        notes="generator: face_encoder_blocks + audio_encoder + face_decoder_blocks + output_block",
    )
    # FaceFusion wav2lip_96: source = mel chunk (hard case 2).
    model = onnx_model(
        [("source", [1, 1, 80, 16]), ("target", [1, 6, 96, 96])],
        [("output", [1, 3, 96, 96])],
        [("onnx::Conv_1200", c.arr((16, 6, 7, 7))), ("onnx::Conv_1201", c.arr((32, 1, 3, 3)))],
    )
    c.emit(
        "lip-sync/facefusion/.assets/models/wav2lip_96.onnx",
        onnx_writer(model),
        family="wav2lip",
        fmt="onnx",
        hard_case=2,
        notes="source mel 1x1x80x16, target 1x6x96x96: same input names as the swappers",
    )

    # MuseTalk: a diffusers UNet config (in 8, whisper-tiny 384-d context) + plain state_dict.
    c.emit(
        "lip-sync/MuseTalk/models/musetalk",
        {
            "musetalk.json": json_writer(unet_config(8, 384)),
            "pytorch_model.bin": torch_writer(c.sd(unet_spec(8, 384))),
        },
        family="musetalk",
        fmt="bundle-dir",
        hard_case=6,
        notes="conv_in [320,8,3,3] and attn2.to_k [320,384] full size",
    )

    # LatentSync stage-2 UNet: {'state_dict', 'global_step'}, 13 input channels, 384-d audio context.
    ckpt = {"state_dict": c.sd(unet_spec(13, 384, motion=True)), "global_step": 24000}
    c.emit(
        "lip-sync/LatentSync/checkpoints/latentsync_unet.pt",
        torch_writer(ckpt),
        family="latentsync",
        fmt="pytorch-zip",
        hard_case=6,
        notes="conv_in [320,13,3,3], attn2.to_k [320,384], AnimateDiff-style motion_modules",
    )


# ---------------------------------------------------------------------------------------------------------
# Face restoration
# ---------------------------------------------------------------------------------------------------------


def face_restoration(c: Ctx) -> None:
    spec: dict[str, Shape] = {
        "conv_body_first.weight": (8, 3, 1, 1),
        "conv_body_down.0.conv1.weight": (8, 8, 3, 3),
        "conv_body_up.0.conv1.weight": (8, 8, 3, 3),
        "final_conv.weight": (8, 8, 3, 3),
        "final_linear.weight": (8, 8),
        "stylegan_decoder.style_mlp.1.weight": (512, 512),
        "stylegan_decoder.constant_input.weight": (1, 8, 4, 4),
        "stylegan_decoder.style_conv1.modulated_conv.weight": (1, 8, 8, 3, 3),
        "stylegan_decoder.style_convs.0.modulated_conv.modulation.weight": (8, 512),
        "stylegan_decoder.to_rgbs.0.modulated_conv.weight": (1, 3, 8, 1, 1),
        "stylegan_decoder.noises.noise0": (1, 1, 4, 4),
        "toRGB.0.weight": (3, 8, 1, 1),
    }
    for i in range(2):
        spec |= {
            f"condition_scale.{i}.0.weight": (8, 8, 3, 3),
            f"condition_scale.{i}.2.weight": (8, 8, 3, 3),
            f"condition_shift.{i}.0.weight": (8, 8, 3, 3),
            f"condition_shift.{i}.2.weight": (8, 8, 3, 3),
        }
    c.emit(
        "face-restoration/GFPGAN/experiments/pretrained_models/GFPGANv1.4.pth",
        torch_writer({"params_ema": c.sd(spec)}),
        family="gfpgan",
        fmt="pytorch-zip",
        hard_case=9,
        notes="BasicSR {'params_ema': ...}; SFT condition_scale/shift + stylegan_decoder",
    )

    spec = {
        "position_emb": (256, 512),
        "feat_emb.weight": (512, 256),
        "feat_emb.bias": (512,),
        "ft_layers.0.self_attn.in_proj_weight": (1536, 512),
        "ft_layers.0.linear1.weight": (8, 512),
        "idx_pred_layer.0.weight": (512,),
        "idx_pred_layer.1.weight": (1024, 512),
        "quantize.embedding.weight": (1024, 256),
        "encoder.blocks.0.weight": (8, 3, 3, 3),
        "generator.blocks.0.weight": (8, 256, 3, 3),
    }
    for size in (32, 64, 128, 256):
        spec |= {
            f"fuse_convs_dict.{size}.encode_enc.conv1.weight": (4, 8, 3, 3),
            f"fuse_convs_dict.{size}.scale.0.weight": (4, 4, 3, 3),
            f"fuse_convs_dict.{size}.shift.0.weight": (4, 4, 3, 3),
        }
    c.emit(
        "face-restoration/CodeFormer/weights/CodeFormer/codeformer.pth",
        torch_writer({"params_ema": c.sd(spec)}),
        family="codeformer",
        fmt="pytorch-zip",
        hard_case=9,
        notes="position_emb [256,512], feat_emb [512,256], quantize.embedding [1024,256] full size",
    )

    spec = {}
    for i in range(8):
        spec[f"ecd{i}.0.conv.weight"] = (8, 8, 3, 3)
    spec |= {
        "final_linear.0.weight": (8, 8),
        "generator.style.1.weight": (512, 512),
        "generator.input.input": (1, 8, 4, 4),
        "generator.conv1.conv.weight": (1, 8, 8, 3, 3),
        "generator.convs.0.conv.weight": (1, 8, 8, 3, 3),
        "generator.convs.0.conv.modulation.weight": (8, 512),
        "generator.to_rgbs.0.conv.weight": (1, 3, 8, 1, 1),
        "generator.noises.noise_0": (1, 1, 4, 4),
    }
    c.emit(
        "face-restoration/GPEN/weights/GPEN-BFR-512.pth",
        torch_writer(c.sd(spec)),
        family="gpen",
        fmt="pytorch-zip",
        hard_case=9,
        notes="encoder ecdN + StyleGAN2 generator.* (collides with plain StyleGAN2 except for ecdN)",
    )


# ---------------------------------------------------------------------------------------------------------
# Voice conversion / voice cloning / TTS
# ---------------------------------------------------------------------------------------------------------


def voice(c: Ctx) -> None:
    f16 = torch.float16
    # RVC v2 inference weights + faiss retrieval index.
    weight = c.sd(
        {
            "enc_p.emb_phone.weight": (192, 768),
            "enc_p.emb_phone.bias": (192,),
            "enc_p.emb_pitch.weight": (256, 192),
            "enc_p.encoder.attn_layers.0.conv_q.weight": (4, 4, 1),
            "enc_p.proj.weight": (4, 4, 1),
            **{k: v for k, v in vits_common().items() if not k.startswith("enc_q")},
            "dec.m_source.l_linear.weight": (1, 9),
            "dec.m_source.l_linear.bias": (1,),
            "dec.noise_convs.0.weight": (4, 1, 24),
            "dec.cond.weight": (4, 256, 1),
            "emb_g.weight": (109, 256),
        },
        f16,
    )
    config = [
        1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        [12, 10, 2, 2], 512, [24, 20, 4, 4], 109, 256, 48000,
    ]  # fmt: skip
    rvc = {"weight": weight, "config": config, "info": "300epoch", "sr": "48k", "f0": 1, "version": "v2"}
    xb = c.arr((96, 768))
    index = faiss_ivfflat_bytes(xb, xb[:: 96 // 8][:8].copy())
    c.emit(
        "voice/RVC/MyVoice",
        {
            "MyVoice.pth": torch_writer(rvc),
            "added_IVF8_Flat_nprobe_1_MyVoice_v2.index": bytes_writer(index),
        },
        family="rvc",
        fmt="bundle-dir",
        hard_case=3,
        notes="fp16 {'weight','config'(18 items),'info','sr','f0','version'} + faiss IVF8,Flat index (d=768)",
    )
    c.emit(
        "voice/parts/added_IVF8_Flat_nprobe_1_OtherVoice_v2.index",
        bytes_writer(faiss_ivfflat_bytes(xb[:40].copy(), xb[:: 96 // 4][:4].copy())),
        family="rvc",
        fmt="faiss-index",
        hard_case=10,
        notes="RVC retrieval index alone (HuBERT feature bank, d=768): auxiliary part, not a generator",
        generic="data.index",
    )

    # so-vits-svc 4.1 training checkpoint + config.json.
    model = c.sd(
        {
            "pre.weight": (192, 768, 5),
            "pre.bias": (192,),
            "emb_uv.weight": (2, 192),
            "enc_p.f0_emb.weight": (256, 192),
            "enc_p.enc_.attn_layers.0.conv_q.weight": (4, 4, 1),
            "f0_decoder.prenet.weight": (4, 1, 3),
            "f0_decoder.decoder.attn_layers.0.conv_q.weight": (4, 4, 1),
            "f0_decoder.proj.weight": (1, 4, 1),
            "emb_g.weight": (200, 768),
            **vits_common(),
            "dec.m_source.l_linear.weight": (1, 9),
        }
    )
    svc_config = {
        "train": {"log_interval": 200, "eval_interval": 800, "seed": 1234, "epochs": 10000, "batch_size": 6},
        "data": {"sampling_rate": 44100, "filter_length": 2048, "hop_length": 512, "n_mel_channels": 80},
        "model": {
            "inter_channels": 192,
            "hidden_channels": 192,
            "filter_channels": 768,
            "n_heads": 2,
            "n_layers": 6,
            "gin_channels": 768,
            "ssl_dim": 768,
            "n_speakers": 200,
            "speech_encoder": "vec768l12",
            "speaker_embedding": False,
            "vol_embedding": False,
            "use_automatic_f0_prediction": True,
        },
        "spk": {"nyaru": 0},
    }
    c.emit(
        "voice/so-vits-svc/logs/44k",
        {
            "G_30400.pth": torch_writer(
                {"model": model, "iteration": 152, "optimizer": adam_state(lr=1e-4), "learning_rate": 1e-4}
            ),
            "config.json": json_writer(svc_config),
        },
        family="so-vits-svc",
        fmt="bundle-dir",
        hard_case=3,
        notes="pre [192,768,5], emb_uv [2,192], f0_emb [256,192], emb_g [200,768], f0_decoder; "
        "config model.speech_encoder=vec768l12 + ssl_dim + spk",
    )

    # GPT-SoVITS v2Pro SoVITS weights written by my_save2: leading b'PK' overwritten with b'05'.
    sovits = c.sd(
        {
            "enc_p.ssl_proj.weight": (192, 768, 1),
            "enc_p.text_embedding.weight": (732, 192),
            "enc_p.encoder_ssl.attn_layers.0.conv_q.weight": (4, 4, 1),
            "quantizer.vq.layers.0._codebook.embed": (1024, 768),
            "ref_enc.spectral.0.fc.weight": (8, 704),
            "ref_enc.fc.fc.weight": (512, 8),
            **{k: v for k, v in vits_common().items() if not k.startswith("enc_q")},
        },
        f16,
    )
    hps = {
        "train": {"epochs": 8, "batch_size": 4, "text_low_lr_rate": 0.4},
        "data": {"sampling_rate": 32000, "filter_length": 2048, "hop_length": 640, "n_mel_channels": 128},
        "model": {
            "inter_channels": 192,
            "hidden_channels": 192,
            "semantic_frame_rate": "25hz",
            "version": "v2",
        },
        "s2_ckpt_dir": "logs/myvoice",
        "name": "myvoice",
        "model_version": "v2Pro",
    }
    c.emit(
        "voice/GPT-SoVITS/SoVITS_weights_v2Pro/myvoice_e8_s96.pth",
        patched_magic_writer({"weight": sovits, "config": hps, "info": "8epoch_96iteration"}, b"05"),
        family="gpt-sovits",
        fmt="patched-magic-zip",
        hard_case=11,
        notes="torch zip whose first 2 bytes are b'05' (v2Pro) instead of b'PK': torch.load fails until "
        "b'PK' is restored; fp16, enc_q dropped (GPT-SoVITS savee)",
    )
    gpt = c.sd(
        {
            "model.bert_proj.weight": (512, 1024),
            "model.bert_proj.bias": (512,),
            "model.ar_text_embedding.word_embeddings.weight": (732, 512),
            "model.ar_text_position.alpha": (1,),
            "model.ar_audio_embedding.word_embeddings.weight": (1025, 512),
            "model.ar_audio_position.alpha": (1,),
            "model.h.layers.0.self_attn.in_proj_weight": (12, 4),
            "model.ar_predict_layer.weight": (1025, 512),
        },
        f16,
    )
    c.emit(
        "voice/GPT-SoVITS/GPT_weights_v2Pro/myvoice-e15.ckpt",
        torch_writer(
            {
                "weight": gpt,
                "config": {"model": {"vocab_size": 1025, "phoneme_vocab_size": 732}},
                "info": "GPT-e15",
            }
        ),
        family="gpt-sovits",
        fmt="pytorch-zip",
        hard_case=10,
        notes="s1 text-to-semantic GPT alone (needs the s2 SoVITS model to speak)",
    )

    # Coqui XTTS v2 release folder.
    gpt_sd = {
        "gpt.conditioning_encoder.init.weight": (8, 80, 1),
        "gpt.conditioning_encoder.attn.0.norm.weight": (8,),
        "gpt.conditioning_perceiver.latents": (32, 8),
        "gpt.conditioning_perceiver.layers.0.0.to_q.weight": (8, 8),
        "gpt.text_embedding.weight": (16, 8),
        "gpt.mel_embedding.weight": (16, 8),
        "gpt.text_head.weight": (16, 8),
        "gpt.mel_head.weight": (16, 8),
        "gpt.gpt.h.0.attn.c_attn.weight": (8, 24),
        "hifigan_decoder.waveform_decoder.conv_pre.weight": (8, 8, 7),
        "hifigan_decoder.waveform_decoder.ups.0.weight_v": (8, 4, 16),
        "hifigan_decoder.speaker_encoder.torch_spec.0.filter": (1, 1, 2),
        "hifigan_decoder.speaker_encoder.conv1.weight": (32, 1, 3, 3),
        "hifigan_decoder.speaker_encoder.layer1.0.conv1.weight": (4, 4, 3, 3),
        "hifigan_decoder.speaker_encoder.attention.0.weight": (8, 8, 1),
        "hifigan_decoder.speaker_encoder.fc.weight": (512, 8),
    }
    speakers = {
        name: {"gpt_cond_latent": c.t((1, 32, 1024)), "speaker_embedding": c.t((1, 512, 1))}
        for name in ("Claribel Dervla", "Daisy Studious")
    }
    xtts_config = {
        "model": "xtts",
        "model_args": {
            "gpt_num_audio_tokens": 1026,
            "gpt_use_perceiver_resampler": True,
            "d_vector_dim": 512,
        },
        "languages": ["en", "es", "fr", "de"],
        "audio": {"sample_rate": 22050, "output_sample_rate": 24000},
    }
    c.emit(
        "voice/XTTS-v2",
        {
            "config.json": json_writer(xtts_config),
            "model.pth": torch_writer({"model": c.sd(gpt_sd)}),
            "speakers_xtts.pth": torch_writer(speakers),
            "mel_stats.pth": torch_writer(c.t((80,))),
            "vocab.json": json_writer({"model": {"type": "BPE", "vocab": {"[STOP]": 0, "a": 1}}}),
        },
        family="coqui-xtts-v2",
        fmt="bundle-dir",
        hard_case=4,
        notes="config model=xtts; gpt.conditioning_encoder/perceiver + hifigan_decoder.speaker_encoder",
    )
    c.emit(
        "voice/parts/speakers_xtts.pth",
        torch_writer(speakers),
        family="coqui-xtts-v2",
        fmt="pytorch-zip",
        hard_case=10,
        notes="XTTS speaker bank alone: {name: {'gpt_cond_latent','speaker_embedding'}} (cloned voices)",
    )

    # OpenVoice v2 tone-colour converter + a base speaker embedding.
    converter = c.sd(
        {
            "ref_enc.convs.0.weight": (32, 1, 3, 3),
            "ref_enc.convs.1.weight": (8, 32, 3, 3),
            "ref_enc.gru.weight_ih_l0": (384, 64),
            "ref_enc.gru.weight_hh_l0": (384, 128),
            "ref_enc.gru.bias_ih_l0": (384,),
            "ref_enc.proj.weight": (256, 128),
            "ref_enc.proj.bias": (256,),
            **vits_common(),
        }
    )
    ov_config = {
        "_version_": "v2",
        "data": {"sampling_rate": 22050, "filter_length": 1024, "hop_length": 256, "n_speakers": 0},
        "model": {"zero_g": True, "inter_channels": 192, "hidden_channels": 192, "gin_channels": 256},
    }
    c.emit(
        "voice/OpenVoice/checkpoints_v2",
        {
            "converter/checkpoint.pth": torch_writer({"model": converter}),
            "converter/config.json": json_writer(ov_config),
            "base_speakers/ses/en-us.pth": torch_writer(c.t((1, 256, 1))),
        },
        family="openvoice",
        fmt="bundle-dir",
        hard_case=3,
        notes="converter = enc_q/flow/dec + ref_enc (GRU, proj [256,128]) and no enc_p/dp",
    )

    # F5-TTS v1 base (safetensors, EMA weights).
    f5 = c.sd(
        {
            "ema_model.transformer.text_embed.text_embed.weight": (32, 512),
            "ema_model.transformer.text_embed.text_blocks.0.dwconv.weight": (512, 1, 7),
            "ema_model.transformer.input_embed.proj.weight": (1024, 712),
            "ema_model.transformer.input_embed.proj.bias": (1024,),
            "ema_model.transformer.time_embed.time_mlp.0.weight": (8, 256),
            "ema_model.transformer.transformer_blocks.0.attn.to_q.weight": (8, 8),
            "ema_model.transformer.norm_out.linear.weight": (8, 8),
            "ema_model.transformer.proj_out.weight": (100, 1024),
            "ema_model.transformer.proj_out.bias": (100,),
        }
    )
    f5["ema_model.initted"] = torch.tensor(True)
    f5["ema_model.step"] = torch.tensor(1250000)
    c.emit(
        "voice/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors",
        safetensors_writer(f5),
        family="f5-tts",
        fmt="safetensors",
        hard_case=4,
        notes="input_embed.proj [1024,712] (100+100+512) and proj_out [100,1024] full size",
    )

    # Seed-VC: {'net': {'cfm': sd, 'length_regulator': sd}} (pruned release, no optimizer).
    seed_ckpt = {
        "net": {
            "cfm": c.sd(
                {
                    "estimator.x_embedder.weight": (8, 80),
                    "estimator.transformer.layers.0.attention.wqkv.weight": (24, 8),
                    "estimator.final_layer.linear.weight": (80, 8),
                }
            ),
            "length_regulator": c.sd(
                {
                    "content_in_proj.weight": (8, 768),
                    "model.0.weight": (8, 8, 3),
                    "embedding.weight": (2048, 8),
                }
            ),
        }
    }
    c.emit(
        "voice/seed-vc/checkpoints/DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth",
        torch_writer(seed_ckpt),
        family="seed-vc",
        fmt="pytorch-zip",
        notes="nested dict of state_dicts: net.cfm.estimator.* / net.length_regulator.*",
    )

    # Bark fine model (nanoGPT layout with per-codebook embeddings and heads, _orig_mod. prefix).
    bark_sd = {
        "_orig_mod.transformer.wpe.weight": (16, 8),
        "_orig_mod.transformer.h.0.attn.c_attn.weight": (24, 8),
    }
    for i in range(8):
        bark_sd[f"_orig_mod.transformer.wtes.{i}.weight"] = (16, 8)
    for i in range(7):
        bark_sd[f"_orig_mod.lm_heads.{i}.weight"] = (16, 8)
    model_args = {
        "block_size": 1024,
        "input_vocab_size": 1056,
        "output_vocab_size": 1056,
        "n_layer": 24,
        "n_head": 16,
        "n_embd": 1024,
        "dropout": 0.0,
        "bias": False,
        "n_codes_total": 8,
        "n_codes_given": 1,
    }
    c.emit(
        "voice/bark/fine_2.pt",
        torch_writer(
            {"model": c.sd(bark_sd), "model_args": model_args, "iter_num": 800000, "best_val_loss": 2.41}
        ),
        family="bark",
        fmt="pytorch-zip",
        hard_case=4,
        notes="model_args with input/output_vocab_size; compare benign nanoGPT ckpt.pt",
    )

    # Plain VITS TTS (LJSpeech): symbol embedding enc_p.emb + duration predictor dp; no conversion inputs.
    vits = c.sd(
        {
            "enc_p.emb.weight": (178, 192),
            "enc_p.encoder.attn_layers.0.conv_q.weight": (4, 4, 1),
            "enc_p.proj.weight": (4, 4, 1),
            "dp.pre.weight": (4, 4, 1),
            "dp.convs.convs_sep.0.weight": (4, 1, 3),
            "dp.flows.0.m": (2, 1),
            **vits_common(),
        }
    )
    c.emit(
        "voice/vits/pretrained_ljs.pth",
        torch_writer({"model": vits, "iteration": 640000, "optimizer": adam_state(), "learning_rate": 2e-4}),
        family="vits-tts",
        fmt="pytorch-zip",
        hard_case=3,
        notes="not a catalog family: ordinary VITS TTS (enc_p.emb + dp) - tts/medium per catalog hard case 3",
    )


# ---------------------------------------------------------------------------------------------------------
# Identity adapters and plain IP-Adapter
# ---------------------------------------------------------------------------------------------------------


def identity(c: Ctx) -> None:
    f16 = torch.float16
    lora: dict[str, Shape] = {}
    for layer in (1, 3):
        lora |= {
            f"{layer}.to_k_ip.weight": (320, 768),
            f"{layer}.to_v_ip.weight": (320, 768),
            f"{layer}.to_q_lora.down.weight": (128, 320),
            f"{layer}.to_q_lora.up.weight": (320, 128),
            f"{layer}.to_k_lora.down.weight": (128, 320),
            f"{layer}.to_out_lora.up.weight": (320, 128),
        }
    faceid = {
        "image_proj": c.sd(
            {
                "proj.0.weight": (1024, 512),
                "proj.0.bias": (1024,),
                "proj.2.weight": (8, 1024),
                "norm.weight": (768,),
                "norm.bias": (768,),
            },
            f16,
        ),
        "ip_adapter": c.sd(lora, f16),
    }
    c.emit(
        "identity-adapter/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin",
        torch_writer(faceid),
        family="ip-adapter-faceid",
        fmt="pytorch-zip",
        hard_case=7,
        notes="image_proj.proj.0 [1024,512] (InsightFace ID in) + LoRA in ip_adapter; proj.2 shrunk",
    )

    instant = {
        "image_proj": c.sd(
            {
                "latents": (1, 16, 1280),
                "proj_in.weight": (1280, 512),
                "proj_in.bias": (1280,),
                "proj_out.weight": (2048, 1280),
                "norm_out.weight": (2048,),
                "layers.0.0.to_q.weight": (8, 1280),
            },
            f16,
        ),
        "ip_adapter": c.sd({"1.to_k_ip.weight": (640, 2048), "1.to_v_ip.weight": (640, 2048)}, f16),
    }
    controlnet_cfg = {
        "_class_name": "ControlNetModel",
        "_diffusers_version": "0.21.2",
        "conditioning_channels": 3,
        "cross_attention_dim": 2048,
        "in_channels": 4,
        "addition_embed_type": "text_time",
    }
    controlnet = c.sd(
        {"controlnet_cond_embedding.conv_in.weight": (16, 3, 3, 3), "conv_in.weight": (320, 4, 3, 3)}, f16
    )
    c.emit(
        "identity-adapter/InstantID/checkpoints",
        {
            "ip-adapter.bin": torch_writer(instant),
            "ControlNetModel/config.json": json_writer(controlnet_cfg),
            "ControlNetModel/diffusion_pytorch_model.safetensors": safetensors_writer(
                controlnet, {"format": "pt"}
            ),
        },
        family="instantid",
        fmt="bundle-dir",
        hard_case=7,
        notes="Resampler proj_in [1280,512] (ArcFace in), latents [1,16,1280], proj_out [2048,1280]; "
        "IdentityNet ControlNetModel",
    )

    lora_prefix = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor"
    photomaker = {
        "id_encoder": c.sd(
            {
                "vision_model.embeddings.class_embedding": (1024,),
                "vision_model.encoder.layers.0.self_attn.q_proj.weight": (8, 8),
                "visual_projection.weight": (8, 1024),
                "visual_projection_2.weight": (1280, 1024),
                "fuse_module.mlp1.fc1.weight": (2048, 4096),
                "fuse_module.mlp1.fc2.weight": (8, 2048),
                "fuse_module.mlp2.fc1.weight": (8, 2048),
                "fuse_module.layer_norm.weight": (2048,),
            },
            f16,
        ),
        "lora_weights": c.sd({f"{lora_prefix}.to_q_lora.down.weight": (64, 640)}, f16),
    }
    c.emit(
        "identity-adapter/PhotoMaker/photomaker-v1.bin",
        torch_writer(photomaker),
        family="photomaker",
        fmt="pytorch-zip",
        hard_case=7,
        notes="{'id_encoder','lora_weights'}; fuse_module.mlp1.fc1 [2048,4096], visual_projection_2 full",
    )

    pulid = c.sd(
        {
            "pulid_encoder.id_embedding_mapping.0.weight": (8, 1280),
            "pulid_encoder.layers.0.0.to_q.weight": (8, 8),
            "pulid_encoder.latents": (1, 32, 8),
            "pulid_ca.0.to_q.weight": (8, 3072),
            "pulid_ca.0.to_kv.weight": (16, 8),
            "pulid_ca.1.to_q.weight": (8, 3072),
        },
        torch.bfloat16,
    )
    c.emit(
        "identity-adapter/PuLID/pulid_flux_v0.9.1.safetensors",
        safetensors_writer(pulid),
        family="pulid",
        fmt="safetensors",
        notes="Flux variant: pulid_encoder.* + pulid_ca.N.* (bf16); catalog gives no shapes",
    )

    plain = {
        "image_proj": c.sd({"proj.weight": (3072, 1024), "proj.bias": (3072,), "norm.weight": (768,)}, f16),
        "ip_adapter": c.sd({"1.to_k_ip.weight": (320, 768), "1.to_v_ip.weight": (320, 768)}, f16),
    }
    c.emit(
        "image-generation/IP-Adapter/models/ip-adapter_sd15.bin",
        torch_writer(plain),
        family="ip-adapter-plain",
        fmt="pytorch-zip",
        hard_case=7,
        notes="CLIP-fed image_proj.proj [3072,1024]: general image prompting, not identity",
    )


# ---------------------------------------------------------------------------------------------------------
# Image / video generation
# ---------------------------------------------------------------------------------------------------------


def _clip_text_config() -> dict[str, Any]:
    return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 768}


def generation(c: Ctx) -> None:
    f16 = torch.float16
    sd15 = c.sd(
        {
            "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
            "model.diffusion_model.input_blocks.0.0.bias": (320,),
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
            "model.diffusion_model.out.2.weight": (4, 320, 3, 3),
            "first_stage_model.encoder.conv_in.weight": (128, 3, 3, 3),
            "first_stage_model.decoder.conv_out.weight": (3, 128, 3, 3),
            "first_stage_model.quant_conv.weight": (8, 8, 1, 1),
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (16, 768),
            "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,),
        },
        f16,
    )
    c.emit(
        "image-generation/stable-diffusion/v1-5-pruned-emaonly.safetensors",
        safetensors_writer(sd15),
        family="stable-diffusion-1x-2x-single-file",
        fmt="safetensors",
        notes="CompVis single-file keys (model.diffusion_model / first_stage_model / cond_stage_model)",
    )

    def pipeline(
        class_name: str, unet: dict[str, Any], unet_spec_: dict[str, Shape], extra: dict[str, Any]
    ) -> dict[str, Writer]:
        index = {"_class_name": class_name, "_diffusers_version": "0.27.0", **extra}
        return {
            "model_index.json": json_writer(index),
            "unet/config.json": json_writer(unet),
            "unet/diffusion_pytorch_model.safetensors": safetensors_writer(
                c.sd(unet_spec_, f16), {"format": "pt"}
            ),
            "vae/config.json": json_writer({"_class_name": "AutoencoderKL", "latent_channels": 4}),
            "vae/diffusion_pytorch_model.safetensors": safetensors_writer(
                c.sd(
                    {"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_out.weight": (3, 128, 3, 3)}, f16
                ),
                {"format": "pt"},
            ),
            "scheduler/scheduler_config.json": json_writer(
                {"_class_name": "PNDMScheduler", "num_train_timesteps": 1000}
            ),
        }

    sd_components = {
        "feature_extractor": [None, None],
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    text_encoder = {
        "text_encoder/config.json": json_writer(_clip_text_config()),
        "text_encoder/model.safetensors": safetensors_writer(
            c.sd({"text_model.embeddings.token_embedding.weight": (16, 768)}, f16), {"format": "pt"}
        ),
        "tokenizer/vocab.json": json_writer({"<|startoftext|>": 49406, "<|endoftext|>": 49407}),
        "tokenizer/merges.txt": bytes_writer(b"#version: 0.2\n"),
    }
    c.emit(
        "image-generation/diffusers/stable-diffusion-v1-5",
        pipeline("StableDiffusionPipeline", unet_config(4, 768), unet_spec(4, 768), sd_components)
        | text_encoder,
        family="diffusers-image-pipeline",
        fmt="diffusers-dir",
        keep_inner_names=True,
        notes="model_index.json StableDiffusionPipeline; unet conv_in [320,4,3,3], context 768",
    )
    c.emit(
        "image-generation/diffusers/stable-diffusion-inpainting",
        pipeline("StableDiffusionInpaintPipeline", unet_config(9, 768), unet_spec(9, 768), sd_components)
        | text_encoder,
        family="diffusers-image-pipeline",
        fmt="diffusers-dir",
        hard_case=6,
        keep_inner_names=True,
        notes="inpainting UNet: in_channels 9 with 768-d context (vs MuseTalk 8/384, LatentSync 13/384)",
    )

    # diffusers ONNX pipeline: unet/model.onnx with its initializers in the external file unet/weights.pb.
    onnx_unet = onnx_model(
        [
            ("sample", ["batch", 4, "height", "width"]),
            ("timestep", [1]),
            ("encoder_hidden_states", ["batch", 77, 768]),
        ],
        [("out_sample", ["batch", 4, "height", "width"])],
        [
            ("conv_in.weight", c.arr((320, 4, 3, 3))),
            ("conv_in.bias", c.arr((320,))),
            ("onnx::MatMul_9001", c.arr((768, 320))),
        ],
        producer=("pytorch", "1.13.1"),
        opset=14,
        ir_version=8,
    )
    onnx_index = {
        "_class_name": "OnnxStableDiffusionPipeline",
        "_diffusers_version": "0.27.0",
        "feature_extractor": [None, None],
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
    }
    c.emit(
        "image-generation/diffusers/stable-diffusion-v1-5-onnx",
        {
            "model_index.json": json_writer(onnx_index),
            "unet/model.onnx": onnx_writer(onnx_unet, external="weights.pb"),
            "scheduler/scheduler_config.json": json_writer({"_class_name": "PNDMScheduler"}),
        },
        family="diffusers-image-pipeline",
        fmt="diffusers-dir",
        keep_inner_names=True,
        notes="OnnxStableDiffusionPipeline (ONNX UNet with external data unet/weights.pb); the catalog's "
        "anchored diffusers_class regex does not match the 'Onnx' prefix",
    )

    svd_unet = {
        "_class_name": "UNetSpatioTemporalConditionModel",
        "_diffusers_version": "0.24.0",
        "in_channels": 8,
        "out_channels": 4,
        "cross_attention_dim": 1024,
        "num_frames": 25,
    }
    svd_spec = {
        "conv_in.weight": (320, 8, 3, 3),
        "down_blocks.0.resnets.0.spatial_res_block.conv1.weight": (4, 4, 3, 3),
        "down_blocks.0.resnets.0.temporal_res_block.conv1.weight": (4, 4, 3, 1, 1),
        "down_blocks.0.attentions.0.temporal_transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "conv_out.weight": (4, 320, 3, 3),
    }
    svd_extra = {
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "unet": ["diffusers", "UNetSpatioTemporalConditionModel"],
        "vae": ["diffusers", "AutoencoderKLTemporalDecoder"],
    }
    c.emit(
        "video-generation/diffusers/stable-video-diffusion-img2vid-xt",
        pipeline("StableVideoDiffusionPipeline", svd_unet, svd_spec, svd_extra),
        family="video-diffusion",
        fmt="diffusers-dir",
        keep_inner_names=True,
        notes="StableVideoDiffusionPipeline + UNetSpatioTemporalConditionModel (diffusers names use "
        "temporal_transformer_blocks, not the SGM time_stack)",
    )
    mm: dict[str, Shape] = {}
    for blk in range(2):
        p = f"down_blocks.{blk}.motion_modules.0.temporal_transformer"
        mm |= {
            f"{p}.norm.weight": (320,),
            f"{p}.proj_in.weight": (320, 320),
            f"{p}.transformer_blocks.0.attention_blocks.0.to_q.weight": (8, 320),
            f"{p}.transformer_blocks.0.attention_blocks.0.pos_encoder.pe": (1, 32, 320),
        }
    c.emit(
        "video-generation/AnimateDiff/models/Motion_Module/mm_sd_v15_v2.ckpt",
        torch_writer(c.sd(mm, f16)),
        family="video-diffusion",
        fmt="pytorch-zip",
        notes="AnimateDiff motion module (plain state_dict of *.motion_modules.N.temporal_transformer.*)",
    )

    # Plain StyleGAN2 (rosinality layout): the decoder GFPGAN/GPEN embed, without face conditioning.
    g = {
        "style.1.weight": (512, 512),
        "style.1.bias": (512,),
        "input.input": (1, 8, 4, 4),
        "conv1.conv.weight": (1, 8, 8, 3, 3),
        "convs.0.conv.weight": (1, 8, 8, 3, 3),
        "convs.0.conv.modulation.weight": (8, 512),
        "to_rgb1.conv.weight": (1, 3, 8, 1, 1),
        "to_rgbs.0.conv.weight": (1, 3, 8, 1, 1),
        "noises.noise_0": (1, 1, 4, 4),
    }
    c.emit(
        "image-generation/stylegan2/stylegan2-ffhq-config-f.pt",
        torch_writer({"g_ema": c.sd(g), "latent_avg": c.t((512,))}),
        family="stylegan2-generator",
        fmt="pytorch-zip",
        hard_case=9,
        notes="not a catalog family: unconditional StyleGAN2 (image-generation/medium per the GFPGAN/GPEN "
        "collision notes)",
    )


# ---------------------------------------------------------------------------------------------------------
# Benign look-alikes
# ---------------------------------------------------------------------------------------------------------


def benign(c: Ctx) -> None:
    model = onnx_model(
        [("input.1", [1, 3, 112, 112])],
        [("683", [1, 512])],
        [
            ("onnx::Conv_1233", c.arr((64, 3, 3, 3))),
            ("fc.weight", c.arr((512, 8))),
            ("fc.bias", c.arr((512,))),
            ("features.weight", c.arr((512,))),
            ("features.bias", c.arr((512,))),
        ],
    )
    c.emit(
        "benign/insightface/models/buffalo_l/w600k_r50.onnx",
        onnx_writer(model),
        family="arcface-recognition",
        fmt="onnx",
        hard_case=1,
        notes="ONE 112x112 input, ONE 512 output: produces the identity vector swappers consume",
    )
    names = ["448", "471", "494", "451", "474", "497", "454", "477", "500"]
    widths = [1, 1, 1, 4, 4, 4, 10, 10, 10]
    outs: list[tuple[str, list[Dim]]] = [(name, ["n", w]) for name, w in zip(names, widths, strict=True)]
    model = onnx_model([("input.1", [1, 3, "?", "?"])], outs, [("onnx::Conv_501", c.arr((16, 3, 3, 3)))])
    c.emit(
        "benign/insightface/models/buffalo_l/det_10g.onnx",
        onnx_writer(model),
        family="scrfd-retinaface-detector",
        fmt="onnx",
        hard_case=2,
        notes="SCRFD: one dynamic image input, 9 outputs (score/bbox/kps x 3 strides)",
    )
    model = onnx_model(
        [("data", [1, 3, 192, 192])], [("fc1", [1, 212])], [("conv_1_conv2d_weight", c.arr((16, 3, 3, 3)))]
    )
    c.emit(
        "benign/insightface/models/buffalo_l/2d106det.onnx",
        onnx_writer(model),
        family="face-landmark-parsing-masking",
        fmt="onnx",
        hard_case=1,
        notes="106-point landmark net: 192x192 input",
    )
    parser = {
        **conv_spec("cp.resnet.conv1", 64, 3, 7, bias=False),
        **bn_spec("cp.resnet.bn1", 64),
        "cp.resnet.layer1.0.conv1.weight": (4, 4, 3, 3),
        "cp.arm16.conv.conv.weight": (4, 4, 3, 3),
        "cp.arm32.conv.conv.weight": (4, 4, 3, 3),
        "cp.conv_head32.conv.weight": (4, 4, 3, 3),
        "ffm.convblk.conv.weight": (4, 4, 1, 1),
        "conv_out.conv.conv.weight": (4, 4, 3, 3),
        "conv_out.conv_out.weight": (19, 4, 1, 1),
        "conv_out16.conv_out.weight": (19, 4, 1, 1),
    }
    c.emit(
        "benign/face-parsing/res/cp/79999_iter.pth",
        torch_writer(c.sd(parser)),
        family="face-landmark-parsing-masking",
        fmt="pytorch-zip",
        notes="BiSeNet face parser (19 classes)",
    )
    xseg = {
        "conv01/conv/weight:0": c.arr((3, 3, 3, 8)),
        "conv01/frn/weight:0": c.arr((1, 1, 1, 8)),
        "bp0/weight:0": c.arr((8,)),
        "conv11/conv/weight:0": c.arr((3, 3, 8, 8)),
        "up4/conv/weight:0": c.arr((3, 3, 8, 8)),
        "uconv43/conv/weight:0": c.arr((3, 3, 8, 8)),
        "out_conv/weight:0": c.arr((3, 3, 8, 1)),
        "out_conv/bias:0": c.arr((1,)),
    }
    c.emit(
        "benign/DeepFaceLab/workspace/model/XSeg_256.npy",
        pickle_writer(xseg),
        family="face-landmark-parsing-masking",
        fmt="dfl-pickled-npy",
        hard_case=11,
        notes="DFL XSeg segmentation part (1-channel out_conv): pickle under .npy, shares 'out_conv/' naming",
    )

    syncnet: dict[str, Shape] = {}
    syncnet |= conv_spec("face_encoder.0.conv_block.0", 32, 15, 7)
    syncnet |= bn_spec("face_encoder.0.conv_block.1", 32)
    syncnet |= conv_spec("face_encoder.1.conv_block.0", 8, 32, 5)
    syncnet |= conv_spec("audio_encoder.0.conv_block.0", 32, 1, 3)
    syncnet |= bn_spec("audio_encoder.0.conv_block.1", 32)
    syncnet |= conv_spec("audio_encoder.1.conv_block.0", 8, 32, 3)
    c.emit(
        "benign/Wav2Lip/checkpoints/lipsync_expert.pth",
        torch_writer(
            {
                "state_dict": c.sd(syncnet),
                "optimizer": adam_state(),
                "global_step": 200000,
                "global_epoch": 900,
            },
            legacy=True,
        ),
        family="syncnet-lip-sync-discriminator",
        fmt="pytorch-legacy",
        hard_case=5,
        notes="SyncNet: face_encoder + audio_encoder (conv_block naming), no decoder/output_block",
    )
    stable = c.sd(
        {
            "audio_encoder.down_blocks.0.conv1.weight": (8, 1, 3, 3),
            "visual_encoder.conv_in.weight": (8, 48, 3, 3),
            "visual_encoder.down_blocks.0.conv1.weight": (8, 8, 3, 3),
        }
    )
    c.emit(
        "benign/LatentSync/checkpoints/stable_syncnet.pt",
        torch_writer({"state_dict": stable, "global_step": 100000}),
        family="syncnet-lip-sync-discriminator",
        fmt="pytorch-zip",
        hard_case=5,
        notes="LatentSync SyncNet supervisor: audio_encoder/visual_encoder only",
    )

    c.emit(
        "benign/torchvision/resnet18-f37072fd.pth",
        torch_writer(c.sd(resnet_spec("", 3, 1000))),
        family="generic-image-classifier",
        fmt="pytorch-zip",
        hard_case=8,
        notes="ResNet18 classifier: conv1 [64,3,7,7], fc [1000,512] (compare TPSMM fg_encoder fc [100,512])",
    )

    whisper = {
        "dims": {
            "n_mels": 80,
            "n_vocab": 51865,
            "n_audio_ctx": 1500,
            "n_audio_state": 384,
            "n_audio_head": 6,
            "n_audio_layer": 4,
            "n_text_ctx": 448,
            "n_text_state": 384,
            "n_text_head": 6,
            "n_text_layer": 4,
        },
        "model_state_dict": c.sd(
            {
                "encoder.conv1.weight": (384, 80, 3),
                "encoder.conv2.weight": (8, 8, 3),
                "encoder.blocks.0.attn.query.weight": (384, 384),
                "encoder.blocks.0.attn.key.weight": (8, 8),
                "decoder.token_embedding.weight": (16, 384),
                "decoder.blocks.0.cross_attn.query.weight": (8, 8),
            },
            torch.float16,
        ),
    }
    c.emit(
        "benign/whisper/tiny.pt",
        torch_writer(whisper),
        family="speech-recognition-and-ssl-encoders",
        fmt="pytorch-zip",
        hard_case=3,
        notes="openai-whisper checkpoint {'dims','model_state_dict'}; token embedding shrunk",
    )
    hubert = c.sd(
        {
            "feature_extractor.conv_layers.0.conv.weight": (512, 1, 10),
            "feature_extractor.conv_layers.0.layer_norm.weight": (512,),
            "feature_projection.projection.weight": (8, 512),
            "encoder.layers.0.attention.k_proj.weight": (8, 8),
            "encoder.layers.0.attention.q_proj.weight": (8, 8),
            "encoder.pos_conv_embed.conv.weight_g": (1, 1, 128),
        }
    )
    c.emit(
        "benign/hubert-base-ls960",
        {
            "config.json": json_writer(
                {"architectures": ["HubertModel"], "model_type": "hubert", "hidden_size": 768}
            ),
            "model.safetensors": safetensors_writer(hubert, {"format": "pt"}),
        },
        family="speech-recognition-and-ssl-encoders",
        fmt="hf-dir",
        hard_case=3,
        notes="HF HubertModel feature extractor (RVC / so-vits-svc content encoder)",
    )

    hifigan: dict[str, Shape] = {
        "conv_pre.weight_g": (512, 1, 1),
        "conv_pre.weight_v": (512, 80, 7),
        "conv_pre.bias": (512,),
        "conv_post.weight_g": (1, 1, 1),
        "conv_post.weight_v": (1, 8, 7),
    }
    for i in range(4):
        hifigan |= {f"ups.{i}.weight_g": (8, 1, 1), f"ups.{i}.weight_v": (8, 8, 16), f"ups.{i}.bias": (8,)}
    for i in range(3):
        hifigan |= {
            f"resblocks.{i}.convs1.0.weight_g": (8, 1, 1),
            f"resblocks.{i}.convs1.0.weight_v": (8, 8, 3),
        }
    c.emit(
        "benign/hifi-gan/generator_v1",
        torch_writer({"generator": c.sd(hifigan)}),
        family="vocoders-and-codecs",
        fmt="pytorch-zip",
        hard_case=3,
        notes="HiFi-GAN V1 {'generator': sd}: ups/resblocks/conv_pre/conv_post, no enc_p/flow/emb_g",
    )

    se = {
        "torch_spec.0.filter": (1, 1, 2),
        "torch_spec.1.mel_scale.fb": (257, 64),
        "conv1.weight": (32, 1, 3, 3),
        **bn_spec("bn1", 32),
        "layer1.0.conv1.weight": (4, 4, 3, 3),
        "layer4.0.conv1.weight": (4, 4, 3, 3),
        "attention.0.weight": (128, 8, 1),
        "attention.2.weight": (8, 128, 1),
        "fc.weight": (512, 8),
        "fc.bias": (512,),
    }
    c.emit(
        "benign/coqui/speaker_encoder/model_se.pth.tar",
        torch_writer({"model": c.sd(se), "optimizer": adam_state(), "step": 1000000}),
        family="speaker-verification",
        fmt="pytorch-zip",
        hard_case=4,
        notes="ResNetSpeakerEncoder alone (the layout XTTS embeds under hifigan_decoder.speaker_encoder.)",
    )

    rrdb: dict[str, Shape] = {**conv_spec("conv_first", 64, 3, 3)}
    for b in range(2):
        for r in (1, 2, 3):
            for k in range(1, 6):
                cin = 64 + 32 * (k - 1)
                cout = 64 if k == 5 else 32
                rrdb |= conv_spec(f"body.{b}.rdb{r}.conv{k}", cout, cin, 3)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        rrdb |= conv_spec(name, 64, 64, 3)
    rrdb |= conv_spec("conv_last", 3, 64, 3)
    c.emit(
        "benign/Real-ESRGAN/weights/RealESRGAN_x4plus.pth",
        torch_writer({"params_ema": c.sd(rrdb)}),
        family="super-resolution-colorization",
        fmt="pytorch-zip",
        hard_case=9,
        notes="BasicSR {'params_ema'} RRDBNet (2 of 23 blocks): shares the wrapper with GFPGAN/CodeFormer",
    )

    bert = c.sd(
        {
            "bert.embeddings.word_embeddings.weight": (32, 16),
            "bert.embeddings.position_embeddings.weight": (16, 16),
            "bert.encoder.layer.0.attention.self.query.weight": (16, 16),
            "bert.encoder.layer.0.attention.self.key.weight": (16, 16),
            "cls.predictions.transform.dense.weight": (16, 16),
        }
    )
    c.emit(
        "benign/bert-base-uncased",
        {
            "config.json": json_writer(
                {"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 30522}
            ),
            "model.safetensors": safetensors_writer(bert, {"format": "pt"}),
        },
        family="text-encoders-and-lms",
        fmt="hf-dir",
        hard_case=4,
        notes="BERT encoder (GPT-SoVITS uses a BERT for text features; a BERT alone is benign)",
    )
    nano = c.sd(
        {
            "_orig_mod.transformer.wte.weight": (64, 16),
            "_orig_mod.transformer.wpe.weight": (32, 16),
            "_orig_mod.transformer.h.0.attn.c_attn.weight": (48, 16),
            "_orig_mod.transformer.ln_f.weight": (16,),
            "_orig_mod.lm_head.weight": (64, 16),
        }
    )
    nano_args = {
        "n_layer": 6,
        "n_head": 6,
        "n_embd": 384,
        "block_size": 256,
        "bias": False,
        "vocab_size": 65,
        "dropout": 0.2,
    }
    c.emit(
        "benign/nanoGPT/out-shakespeare-char/ckpt.pt",
        torch_writer(
            {
                "model": nano,
                "optimizer": adam_state(),
                "model_args": nano_args,
                "iter_num": 5000,
                "best_val_loss": torch.tensor(1.4697),
                "config": {"dataset": "shakespeare_char", "batch_size": 64},
            }
        ),
        family="text-encoders-and-lms",
        fmt="pytorch-zip",
        hard_case=4,
        notes="nanoGPT checkpoint: Bark's top-level layout, single vocab_size, single wte/lm_head",
    )


# ---------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------

SECTIONS = (face_swap, face_reenactment, lip_sync, face_restoration, voice, identity, generation, benign)


def generate(out_dir: Path | str, seed: int = 0) -> list[dict[str, Any]]:
    """Write every fixture under ``out_dir`` and ``out_dir/manifest.json``; return the manifest."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(root=root, seed=seed, gen=torch.Generator().manual_seed(seed))
    for section in SECTIONS:
        section(ctx)
    (root / "manifest.json").write_text(json.dumps(ctx.manifest, indent=1) + "\n", encoding="utf-8")
    return ctx.manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.monotonic()
    manifest = generate(args.out_dir, seed=args.seed)
    files = [p for p in args.out_dir.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(
        f"{len(manifest)} artifacts ({sum(not e['renamed'] for e in manifest)} originals), "
        f"{len(files)} files, "
        f"{size / 2**20:.1f} MiB in {time.monotonic() - start:.1f}s -> {args.out_dir}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
