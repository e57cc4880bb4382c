"""safetensors files: the JSON header is checked against the data section it describes.

The format cannot carry code, but a header whose offsets disagree with shapes, overlap, or point
past the end makes lenient loaders read out of bounds, and bytes nobody describes can carry a
second payload (they are scanned as a member).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import Blob, BytesBlob, ScanContext, Scanner

_MAX_HEADER = 100 << 20
_FACT_CAP = 10_000
_MAX_REPORTED = 50
"""Findings about individual tensors before the rest are summarised."""

_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64,
    "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
_REMEDIATION = "re-save the tensors with the safetensors library; do not load this file"


class _DuplicateKey(Exception):  # noqa: N818 - internal signal
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class SafetensorsScanner(Scanner):
    """Header bounds, dtypes, shapes and offsets; undescribed trailing bytes are scanned as a member."""

    name: ClassVar[str] = "safetensors"
    formats: ClassVar[frozenset[str]] = frozenset({"safetensors"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        size = len(blob)
        if size < 8:
            yield self._bad(
                ctx, "malformed/truncated", Severity.MEDIUM, "file is shorter than its 8-byte header"
            )
            return
        (header_len,) = struct.unpack_from("<Q", blob.head(8))
        if header_len > _MAX_HEADER:
            yield self._bad(
                ctx,
                "safetensors/header-too-large",
                Severity.HIGH,
                f"header claims {header_len:,} bytes (limit {_MAX_HEADER:,})",
            )
            return
        if header_len > size - 8:
            yield self._bad(
                ctx,
                "malformed/truncated",
                Severity.HIGH,
                f"header claims {header_len:,} bytes but only {size - 8:,} follow",
            )
            return
        header = self._header(blob, header_len, ctx)
        if isinstance(header, Finding):
            yield header
            return
        data_start = 8 + header_len
        yield from self._check(header, data_start, size, blob, ctx)

    def _bad(self, ctx: ScanContext, rule: str, severity: Severity, message: str, **kw: Any) -> Finding:
        return ctx.finding(rule, severity, message, scanner=self.name, remediation=_REMEDIATION, **kw)

    def _header(self, blob: Blob, header_len: int, ctx: ScanContext) -> dict[str, Any] | Finding:
        raw = bytes(blob.data()[8 : 8 + header_len])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self._bad(
                ctx,
                "safetensors/header-encoding",
                Severity.MEDIUM,
                f"header is not UTF-8 (byte {exc.start})",
                offset=8 + exc.start,
            )
        try:
            header = json.loads(text, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as exc:
            return self._bad(
                ctx,
                "safetensors/duplicate-key",
                Severity.HIGH,
                f"header names {exc.key!r} twice; parsers disagree on which entry wins",
                construct=exc.key,
            )
        except (ValueError, RecursionError) as exc:
            return self._bad(
                ctx,
                "safetensors/header-json",
                Severity.MEDIUM,
                f"header is not valid JSON ({str(exc)[:120]})",
                offset=8,
            )
        if not isinstance(header, dict):
            return self._bad(
                ctx,
                "safetensors/header-json",
                Severity.MEDIUM,
                f"header is a JSON {type(header).__name__}, not an object",
                offset=8,
            )
        return header

    def _check(
        self, header: dict[str, Any], data_start: int, size: int, blob: Blob, ctx: ScanContext
    ) -> Iterator[Finding]:
        data_len = size - data_start
        facts: dict[str, Any] = {"tensor_count": 0, "tensors": [], "data_bytes": data_len}
        ctx.facts.setdefault(ctx.member or "", {})["safetensors"] = facts
        metadata = header.pop("__metadata__", None)
        if metadata is not None:
            if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
                yield self._bad(
                    ctx,
                    "safetensors/bad-metadata",
                    Severity.MEDIUM,
                    "__metadata__ must map strings to strings",
                )
            else:
                facts["metadata"] = {k: v[:256] for k, v in list(metadata.items())[:256]}
        spans: list[tuple[int, int, str]] = []
        problems = 0
        for index, (name, entry) in enumerate(header.items()):
            if not index & 0x3FFF:
                ctx.check_time()
            problem = self._tensor_problem(name, entry, data_len)
            if problem is not None:
                problems += 1
                if problems <= _MAX_REPORTED:
                    rule, severity, message = problem
                    yield self._bad(ctx, rule, severity, message, construct=name)
                continue
            begin, end = entry["data_offsets"]
            spans.append((begin, end, name))
            if len(facts["tensors"]) < _FACT_CAP:
                facts["tensors"].append({"name": name, "dtype": entry["dtype"], "shape": entry["shape"]})
        facts["tensor_count"] = len(header)
        if problems > _MAX_REPORTED:
            yield self._bad(
                ctx,
                "safetensors/many-problems",
                Severity.HIGH,
                f"{problems - _MAX_REPORTED:,} more malformed tensor entries not listed",
            )
        yield from self._layout(spans, data_start, data_len, blob, ctx)

    @staticmethod
    def _tensor_problem(name: str, entry: object, data_len: int) -> tuple[str, Severity, str] | None:
        if not isinstance(entry, dict):
            return "safetensors/bad-entry", Severity.MEDIUM, f"tensor {name!r} is not described by an object"
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in _DTYPE_BITS:
            return (
                "safetensors/unknown-dtype",
                Severity.MEDIUM,
                f"tensor {name!r} has unknown dtype {dtype!r}",
            )
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            return "safetensors/bad-shape", Severity.HIGH, f"tensor {name!r} has invalid shape {shape!r:.80}"
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            return (
                "safetensors/bad-offsets",
                Severity.HIGH,
                f"tensor {name!r} has invalid offsets {offsets!r:.80}",
            )
        numel = 1
        for d in shape:
            numel *= d
        bits = numel * _DTYPE_BITS[dtype]
        if bits % 8:
            return "safetensors/size-mismatch", Severity.HIGH, f"tensor {name!r} does not fill whole bytes"
        begin, end = offsets
        if end > data_len:
            return (
                "safetensors/out-of-bounds",
                Severity.HIGH,
                f"tensor {name!r} spans bytes {begin:,}..{end:,} of a {data_len:,}-byte data section",
            )
        if end - begin != bits // 8:
            return (
                "safetensors/size-mismatch",
                Severity.HIGH,
                f"tensor {name!r} needs {bits // 8:,} bytes as {dtype} but its offsets span {end - begin:,}",
            )
        return None

    def _layout(
        self, spans: list[tuple[int, int, str]], data_start: int, data_len: int, blob: Blob, ctx: ScanContext
    ) -> Iterator[Finding]:
        spans.sort()
        cursor = 0
        gaps = 0
        for begin, end, name in spans:
            if begin < cursor:
                yield self._bad(
                    ctx,
                    "safetensors/overlap",
                    Severity.HIGH,
                    f"tensor {name!r} overlaps the tensor before it",
                    construct=name,
                )
            elif begin > cursor:
                gaps += begin - cursor
            cursor = max(cursor, end)
        if gaps:
            yield ctx.finding(
                "safetensors/gap",
                Severity.LOW,
                f"{gaps:,} byte(s) between tensors are not described by the header",
                scanner=self.name,
                remediation=_REMEDIATION,
            )
        trailing = data_len - cursor
        if trailing > 0:
            yield ctx.finding(
                "safetensors/trailing-data",
                Severity.LOW,
                f"{trailing:,} byte(s) after the last tensor are not described by the header",
                scanner=self.name,
                offset=data_start + cursor,
                remediation="strip the trailing bytes; the official loader refuses them",
            )
            if trailing >= 16 and trailing <= ctx.limits.max_member_bytes:
                start = data_start + cursor
                yield from ctx.scan_member(
                    BytesBlob(blob.data()[start : start + trailing]), "<trailing-data>"
                )
