"""Score every catalogue family against a bundle's evidence and decide what the bundle can do.

Per family, each indicator counts once, at its best match: full weight when name and shape agree,
half weight when only the name does (fine-tunes and half-size exports keep names, change sizes).
The family's confidence is ``1 - prod(1 - w)``. Names and hashes add confidence but never decide:
without a structural hit, confidence stays below the reporting threshold. When a benign look-alike
explains the same structure better, the deepfake family is not reported at high severity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlwarden.capability.catalog import Catalog, Family, Indicator
from mlwarden.capability.evidence import Evidence, Shape, Tensor

DETECT = 0.7
"""Confidence at which a family is reported with its catalogue severity."""
POSSIBLE = 0.4
"""Confidence at which a family is reported as possible, one severity level lower."""
NAME_ONLY_CAP = 0.5
"""Most confidence file names and hashes alone can give."""
_LOWER = {"high": "medium", "medium": "low", "low": "low"}
_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
_LITERAL = re.compile(r"[A-Za-z0-9_]{3,}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One indicator that fired: where, on what, and what it was worth."""

    kind: str
    indicator: str
    part: str
    matched: str
    weight: float
    shape_matched: bool | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "indicator": self.indicator,
            "part": self.part,
            "matched": self.matched,
            "weight": round(self.weight, 3),
            "shape_matched": self.shape_matched,
        }


@dataclass(frozen=True, slots=True)
class Detection:
    """A family the bundle resembles, how sure we are, and why."""

    family: str
    capability: str | None
    severity: str
    """Reported severity: the catalogue's when detected, one level lower when only possible."""
    confidence: float
    structural_confidence: float
    status: str
    """'detected', 'possible', or 'overruled' (a benign look-alike explains the structure better)."""
    hits: tuple[Hit, ...]
    benign: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "family": self.family,
            "capability": self.capability,
            "severity": self.severity,
            "confidence": round(self.confidence, 3),
            "structural_confidence": round(self.structural_confidence, 3),
            "status": self.status,
            "benign_lookalike": self.benign,
            "indicators": [h.to_dict() for h in self.hits],
        }


@dataclass(slots=True)
class BundleResult:
    """What one bundle can do."""

    path: str
    parts: list[str]
    detections: list[Detection] = field(default_factory=list)

    @property
    def reported(self) -> list[Detection]:
        """Deepfake-capable families detected or possible (benign look-alikes left out)."""
        return [d for d in self.detections if not d.benign and d.status in ("detected", "possible")]

    @property
    def labels(self) -> list[str]:
        """Capability labels of the detected families."""
        return sorted({d.capability for d in self.reported if d.status == "detected" and d.capability})

    @property
    def severity(self) -> str:
        """Highest reported severity, or 'none'."""
        return max((d.severity for d in self.reported), key=_RANK.__getitem__, default="none")

    @property
    def family(self) -> str | None:
        """The most likely deepfake family, if any was detected."""
        best = [d for d in self.reported if d.status == "detected"]
        return best[0].family if best else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "parts": self.parts,
            "labels": self.labels,
            "family": self.family,
            "severity": self.severity,
            "confidence": round(max((d.confidence for d in self.reported), default=0.0), 3),
            "detections": [d.to_dict() for d in self.detections],
        }


def classify_evidence(evidence: Evidence, catalog: Catalog) -> BundleResult:
    """Score all families; keep those at or above ``POSSIBLE``, strongest first."""
    matcher = _Matcher(evidence)
    scored: list[Detection] = []
    for family in catalog.families:
        hits = list(matcher.hits(family))
        if not hits:
            continue
        structural = _combine(h.weight for h in hits if h.kind not in ("filename_regex", "sha256"))
        confidence = _combine(h.weight for h in hits)
        if any(h.kind == "sha256" for h in hits):
            confidence = 1.0  # an exact known file
        elif structural == 0.0:
            confidence = min(confidence, NAME_ONLY_CAP)
        if confidence < POSSIBLE:
            continue
        detected = confidence >= DETECT - 1e-9
        scored.append(
            Detection(
                family=family.name,
                capability=family.capability,
                severity=family.severity if detected else _LOWER[family.severity],
                confidence=confidence,
                structural_confidence=structural,
                status="detected" if detected else "possible",
                hits=tuple(hits),
                benign=family.benign,
            )
        )
    scored = _overrule(_subsume(scored, catalog))
    scored.sort(key=lambda d: (d.status != "detected", -d.confidence, d.family))
    return BundleResult(path=evidence.root, parts=evidence.parts, detections=scored)


def _combine(weights: Iterator[float] | Any) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining


def _subsume(scored: list[Detection], catalog: Catalog) -> list[Detection]:
    """Drop families that a detected family contains as a component."""
    by_name = {f.name: f for f in catalog.families}
    hidden = {n for d in scored if d.status == "detected" for n in by_name[d.family].subsumes}
    return [d for d in scored if d.family not in hidden]


def _overrule(scored: list[Detection]) -> list[Detection]:
    """A benign look-alike that explains the structure better caps a deepfake family below high."""
    benign_best = max((d.structural_confidence for d in scored if d.benign), default=0.0)
    if benign_best == 0.0:
        return scored
    out: list[Detection] = []
    for d in scored:
        if not d.benign and d.structural_confidence < benign_best and d.severity == "high":
            d = Detection(
                d.family,
                d.capability,
                "medium",
                d.confidence,
                d.structural_confidence,
                "overruled",
                d.hits,
                d.benign,
            )
        out.append(d)
    return out


def _shape_ok(expected: tuple[int, ...] | None, actual: Shape | None) -> bool | None:
    if expected is None:
        return None
    if actual is None or len(actual) != len(expected):
        return False
    return all(e == -1 or a is None or a == e for e, a in zip(expected, actual, strict=True))


def _literal(pattern: str) -> str:
    """The longest plain token every match must contain, to skip most keys without a regex call."""
    text = re.sub(r"\(.*?\)|\[.*?\]|\\[dDwWsSbB]|\{.*?\}", " ", pattern)
    text = text.replace("\\.", " ")
    tokens = [t for t in _LITERAL.findall(text) if not re.search(re.escape(t) + r"[?*]", text)]
    return max(tokens, key=len, default="")


class _Matcher:
    """Evaluates indicators against one bundle's evidence, caching what is shared between families."""

    def __init__(self, evidence: Evidence) -> None:
        self.e = evidence
        self.suffixes = evidence.key_suffixes()
        self.top_keys = evidence.top_level_keys
        self.names = [(p.split("!", 1)[0], p) for p in evidence.parts]

    def hits(self, family: Family) -> Iterator[Hit]:
        for indicator in family.indicators:
            hit = self._match(indicator)
            if hit is not None:
                yield hit

    def _match(self, ind: Indicator) -> Hit | None:
        kind = ind.kind
        if kind == "all_of":
            subs = [self._match(sub) for sub in ind.of]
            if any(h is None or h.shape_matched is False for h in subs):
                return None
            found = [h for h in subs if h is not None]
            return Hit(kind, ind.value, found[0].part, " & ".join(h.matched for h in found), ind.weight, True)
        if kind == "state_dict_key_regex":
            return self._best(ind, self._key_candidates(ind))
        if kind == "onnx_input":
            return self._best(ind, ((t, t.name) for t in self.e.onnx_inputs if ind.value in ("*", t.name)))
        if kind == "onnx_output":
            return self._best(ind, ((t, t.name) for t in self.e.onnx_outputs if ind.value in ("*", t.name)))
        if kind == "onnx_initializer":
            pattern = ind.pattern
            return self._best(
                ind,
                (
                    (t, t.name)
                    for t in self.e.onnx_initializers
                    if (pattern.search(t.name) if pattern is not None else ind.value in ("*", t.name))
                ),
            )
        if kind == "top_level_key":
            for key, part in self.top_keys:
                if key == ind.value:
                    return Hit(kind, ind.value, part, key, ind.weight, None)
            return None
        if kind == "config_field":
            for doc, part in self.e.configs:
                if _config_matches(doc, ind.value):
                    return Hit(kind, ind.value, part, ind.value, ind.weight, None)
            return None
        if kind == "diffusers_class":
            assert ind.pattern is not None
            for name, part in self.e.class_names:
                if ind.pattern.search(name):
                    return Hit(kind, ind.value, part, name, ind.weight, None)
            return None
        if kind == "filename_regex":
            assert ind.pattern is not None
            for name, part in self.names:
                if ind.pattern.search(name):
                    return Hit(kind, ind.value, part, name, ind.weight, None)
            return None
        if kind == "sha256":
            for digest, part in self.e.hashes:
                if digest == ind.value.lower():
                    return Hit(kind, ind.value, part, digest, ind.weight, None)
            return None
        if kind == "file_magic":
            assert ind.pattern is not None
            for head, part in self.e.heads:
                if ind.pattern.search(head.decode("latin-1")):
                    return Hit(kind, ind.value, part, head[:4].hex(), ind.weight, None)
            return None
        return None

    def _key_candidates(self, ind: Indicator) -> Iterator[tuple[Tensor, str]]:
        assert ind.pattern is not None
        literal = _literal(ind.value)
        search = ind.pattern.search
        for key, tensor in self.suffixes.items():
            if literal and literal not in key:
                continue
            if search(key):
                yield tensor, key

    def _best(self, ind: Indicator, candidates: Iterator[tuple[Tensor, str]]) -> Hit | None:
        best: Hit | None = None
        for tensor, matched in candidates:
            ok = _shape_ok(ind.shape, tensor.shape)
            weight = ind.weight if ok in (True, None) else ind.weight / 2
            if best is None or weight > best.weight:
                best = Hit(ind.kind, ind.value, tensor.part, matched, weight, ok)
                if ok in (True, None):
                    break
        return best


def _config_matches(doc: dict[str, Any], expression: str) -> bool:
    """``a.b=v AND c~regex AND d`` over a JSON document (values compared as JSON literals)."""
    for clause in expression.split(" AND "):
        clause = clause.strip()
        if "=" in clause:
            path, _, raw = clause.partition("=")
            found, value = _lookup(doc, path)
            if not found or value != _literal_value(raw):
                return False
        elif "~" in clause:
            path, _, pattern = clause.partition("~")
            found, value = _lookup(doc, path)
            if not found or not isinstance(value, str) or not re.search(pattern, value):
                return False
        else:
            found, _ = _lookup(doc, clause)
            if not found:
                return False
    return True


def _lookup(doc: Any, path: str) -> tuple[bool, Any]:
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _literal_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
