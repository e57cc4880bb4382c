"""The capability catalogue: families, their indicators and weights, as versioned data.

The shipped catalogue lives in ``data/catalog.json``; extra catalogues named in config
(``[capability] catalogs = ["my-families.json"]``) are merged in, a family of the same name replacing
the shipped one. Regexes are compiled once; a bad catalogue is a ``CapabilityError`` naming the entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlwarden.errors import CapabilityError

CAPABILITIES = (
    "face-swap",
    "face-reenactment",
    "lip-sync",
    "face-restoration",
    "voice-clone",
    "voice-conversion",
    "tts",
    "image-generation",
    "video-generation",
    "identity-adapter",
)
SEVERITIES = ("low", "medium", "high")
STRUCTURAL_KINDS = frozenset(
    {
        "state_dict_key_regex",
        "top_level_key",
        "onnx_input",
        "onnx_output",
        "onnx_initializer",
        "config_field",
        "diffusers_class",
        "file_magic",
        "all_of",
    }
)
NAME_KINDS = frozenset({"filename_regex", "sha256"})
KINDS = STRUCTURAL_KINDS | NAME_KINDS


@dataclass(frozen=True, slots=True)
class Indicator:
    """One observable fact about a family, worth ``weight`` (0..1) when seen."""

    kind: str
    value: str
    weight: float
    shape: tuple[int, ...] | None = None
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    note: str = ""
    of: tuple[Indicator, ...] = ()
    """For ``all_of``: structural indicators that must all match, names and shapes alike."""

    @property
    def structural(self) -> bool:
        """Whether the indicator reads structure (as opposed to a file name or hash)."""
        return self.kind in STRUCTURAL_KINDS


@dataclass(frozen=True, slots=True)
class Family:
    """A model family: what it can do, how bad that is, and how to recognise it."""

    name: str
    capability: str | None
    severity: str
    indicators: tuple[Indicator, ...]
    benign: bool = False
    subsumes: tuple[str, ...] = ()
    """Families this one contains as a component (GFPGAN embeds a StyleGAN2 decoder)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """All families, deepfake-capable and benign look-alikes, with the catalogue version."""

    version: str
    families: tuple[Family, ...]

    @classmethod
    def load(cls, extra: list[Path] | tuple[Path, ...] = ()) -> Catalog:
        """The shipped catalogue, with extra catalogue files merged in."""
        text = resources.files("mlwarden.capability").joinpath("data/catalog.json").read_text("utf-8")
        base = _parse(json.loads(text), "shipped catalogue")
        families = {f.name: f for f in base.families}
        versions = [base.version]
        for path in extra:
            try:
                doc = json.loads(Path(path).read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise CapabilityError(f"cannot read catalogue {path}: {exc}", hint="check the file") from None
            more = _parse(doc, str(path))
            families.update({f.name: f for f in more.families})
            versions.append(more.version)
        return cls(version="+".join(versions), families=tuple(families.values()))


def _parse(doc: Any, where: str) -> Catalog:
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise CapabilityError(f"{where}: not a schema-1 capability catalogue", hint='add "schema": 1')
    families = [_family(raw, where, benign=False) for raw in doc.get("families", [])]
    families += [_family(raw, where, benign=True) for raw in doc.get("benign", [])]
    return Catalog(version=str(doc.get("version", "unversioned")), families=tuple(families))


def _family(raw: Any, where: str, *, benign: bool) -> Family:
    name = raw.get("family") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        raise CapabilityError(f"{where}: a family has no name", hint='give every family a "family" string')
    capability = None if benign else raw.get("capability")
    if not benign and capability not in CAPABILITIES:
        raise CapabilityError(
            f"{where}: family {name}: unknown capability {capability!r}",
            hint=f"use one of {', '.join(CAPABILITIES)}",
        )
    severity = "low" if benign else raw.get("severity")
    if severity not in SEVERITIES:
        raise CapabilityError(
            f"{where}: family {name}: unknown severity {severity!r}", hint="low, medium or high"
        )
    indicators = [
        _indicator(i, where, name) for i in raw.get("indicators", []) + raw.get("extra_indicators", [])
    ]
    return Family(
        name=name,
        capability=capability,
        severity=severity,
        benign=benign,
        indicators=tuple(i for i in indicators if i is not None),
        subsumes=tuple(str(n) for n in raw.get("subsumes", [])),
    )


def _indicator(raw: Any, where: str, family: str) -> Indicator | None:
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind not in KINDS:
        raise CapabilityError(
            f"{where}: family {family}: unknown indicator kind {kind!r}",
            hint=f"use one of {', '.join(sorted(KINDS))}",
        )
    value = raw.get("value")
    weight = raw.get("weight")
    of: tuple[Indicator, ...] = ()
    if kind == "all_of":
        parts = raw.get("of")
        if not isinstance(parts, list) or len(parts) < 2:
            raise CapabilityError(
                f"{where}: family {family}: all_of needs two or more indicators in 'of'",
                hint="list the indicators that must all match",
            )
        of = tuple(
            i for i in (_indicator({**p, "weight": 1.0}, where, family) for p in parts) if i is not None
        )
        if any(not i.structural or i.kind == "all_of" for i in of):
            raise CapabilityError(
                f"{where}: family {family}: all_of takes structural indicators only",
                hint="names and hashes cannot be required",
            )
    if not isinstance(value, str) or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
        raise CapabilityError(
            f"{where}: family {family}: {kind} needs a string value and a weight in (0, 1]",
            hint="fix the indicator",
        )
    shape = raw.get("shape")
    pattern = None
    try:
        if kind in ("state_dict_key_regex", "filename_regex", "diffusers_class") or (
            kind == "onnx_initializer" and value.startswith("^")
        ):
            pattern = re.compile(value)
        elif kind == "file_magic":
            pattern = re.compile(value, re.DOTALL)
    except re.error as exc:
        raise CapabilityError(
            f"{where}: family {family}: bad regex {value!r}: {exc}", hint="fix the regex"
        ) from None
    return Indicator(
        kind=kind,
        value=value,
        weight=float(weight),
        pattern=pattern,
        note=str(raw.get("note", "")),
        shape=tuple(int(n) for n in shape) if isinstance(shape, list) else None,
        of=of,
    )
