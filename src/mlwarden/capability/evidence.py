"""Structural evidence of one bundle, gathered from a scan's facts: never from tensor bytes.

A bundle is what a user points at: one file, one archive, or one directory with all its parts (a
diffusers folder, LivePortrait's several checkpoints, an RVC model with its index). Each observation
remembers the part it came from, so a reviewer can see which file contributed what.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwarden.scanning import FileReport

Shape = tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    shape: Shape | None
    part: str


@dataclass(slots=True)
class Evidence:
    """Everything the classifier may look at for one bundle."""

    root: str
    parts: list[str] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    """State-dict keys (nested checkpoint paths joined with '.'), safetensors and GGUF tensors."""
    top_level_keys: list[tuple[str, str]] = field(default_factory=list)
    onnx_inputs: list[Tensor] = field(default_factory=list)
    onnx_outputs: list[Tensor] = field(default_factory=list)
    onnx_initializers: list[Tensor] = field(default_factory=list)
    configs: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    """JSON configs and non-tensor dicts found inside checkpoints, with their part."""
    class_names: list[tuple[str, str]] = field(default_factory=list)
    heads: list[tuple[bytes, str]] = field(default_factory=list)
    hashes: list[tuple[str, str]] = field(default_factory=list)

    def key_suffixes(self) -> dict[str, Tensor]:
        """Each key and every suffix of it after a '.', so ``^enc_p\\.`` matches ``weight.enc_p.x``."""
        out: dict[str, Tensor] = {}
        for tensor in self.tensors:
            key = tensor.name
            while True:
                out.setdefault(key, tensor)
                dot = key.find(".")
                if dot < 0:
                    break
                key = key[dot + 1 :]
        return out


def collect(root: str, files: list[FileReport], *, hash_up_to: int = 0) -> Evidence:
    """Build the evidence of the bundle rooted at ``root`` from the scan reports of its files."""
    evidence = Evidence(root=root)
    base = Path(root).parent
    for report in files:
        rel = _relative(report.path, base)
        evidence.parts.append(rel)
        evidence.heads.append((_head(report.path), rel))
        if 0 < report.size <= hash_up_to:
            digest = _sha256(report.path)
            if digest:
                evidence.hashes.append((digest, rel))
        for member, facts in report.facts.items():
            part = f"{rel}!{member}" if member else rel
            _add_facts(evidence, facts, part)
    return evidence


def _relative(path: str, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:  # noqa: PTH123 - four bytes, no need for a Path object
            return fh.read(8)
    except OSError:
        return b""


def _sha256(path: str) -> str:
    try:
        with open(path, "rb") as fh:  # noqa: PTH123
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return ""


def _shape(raw: Any) -> Shape | None:
    if not isinstance(raw, list):
        return None
    return tuple(n if isinstance(n, int) else None for n in raw)


def _add_facts(evidence: Evidence, facts: dict[str, Any], part: str) -> None:
    pickle = facts.get("pickle")
    if isinstance(pickle, dict):
        for name, shape in pickle.get("tensors", {}).items():
            evidence.tensors.append(Tensor(name, _shape(shape), part))
        evidence.top_level_keys.extend((k, part) for k in pickle.get("top_level_keys", []))
        config = pickle.get("config")
        if isinstance(config, dict):
            for doc in _dicts(config, 0):
                evidence.configs.append((doc, part))
    safetensors = facts.get("safetensors")
    if isinstance(safetensors, dict):
        for item in safetensors.get("tensors", []):
            evidence.tensors.append(Tensor(item["name"], _shape(item.get("shape")), part))
    onnx = facts.get("onnx")
    if isinstance(onnx, dict):
        evidence.onnx_inputs.extend(
            Tensor(i["name"], _shape(i.get("shape")), part) for i in onnx.get("inputs", [])
        )
        evidence.onnx_outputs.extend(
            Tensor(o["name"], _shape(o.get("shape")), part) for o in onnx.get("outputs", [])
        )
        evidence.onnx_initializers.extend(
            Tensor(i["name"], _shape(i.get("dims")), part) for i in onnx.get("initializers", [])
        )
    gguf = facts.get("gguf")
    if isinstance(gguf, dict):
        for item in gguf.get("tensors", []):
            if isinstance(item, dict) and "name" in item:
                evidence.tensors.append(
                    Tensor(item["name"], _shape(item.get("shape") or item.get("dims")), part)
                )
        if isinstance(gguf.get("metadata"), dict):
            evidence.configs.append((gguf["metadata"], part))
    config = facts.get("config")
    if isinstance(config, dict):
        document = config.get("document")
        if isinstance(document, dict):
            evidence.configs.append((document, part))
        class_name = config.get("_class_name")
        if isinstance(class_name, str):
            evidence.class_names.append((class_name, part))
        for name in config.get("architectures", []) if isinstance(config.get("architectures"), list) else []:
            if isinstance(name, str):
                evidence.class_names.append((name, part))


def _dicts(value: dict[str, Any], depth: int) -> Iterator[dict[str, Any]]:
    """A checkpoint's plain dict and the dicts nested in it (Bark's ``model_args``, RVC's ``config``)."""
    yield value
    if depth < 3:
        for item in value.values():
            if isinstance(item, dict):
                yield from _dicts(item, depth + 1)
