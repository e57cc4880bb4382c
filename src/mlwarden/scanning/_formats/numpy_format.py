"""NumPy ``.npy`` arrays (``.npz`` files are zips of them). Object arrays carry a pickle: scan it."""

from __future__ import annotations

import ast
import re
import struct
from collections.abc import Iterator
from typing import ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import Blob, BytesBlob, ScanContext, Scanner

_MAX_HEADER = 1 << 20
_DESCR = re.compile(r"^[<>|=]?([biufcmMOSUV?]\d*|[a-zA-Z]\d+)(\[\w+\])?$")


class NumpyScanner(Scanner):
    """Parses the .npy header as a literal (never evaluated) and checks the data length."""

    name: ClassVar[str] = "numpy"
    formats: ClassVar[frozenset[str]] = frozenset({"numpy"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        data = blob.data()
        if len(data) < 10:
            yield self._malformed(ctx, "truncated .npy header")
            return
        major = data[6]
        if major == 1:
            (hlen,) = struct.unpack_from("<H", data, 8)
            start = 10
        elif major in (2, 3):
            (hlen,) = struct.unpack_from("<I", data, 8)
            start = 12
        else:
            yield self._malformed(ctx, f"unknown .npy version {major}")
            return
        if hlen > _MAX_HEADER or start + hlen > len(data):
            yield self._malformed(ctx, "header length runs past the file")
            return
        try:
            header = ast.literal_eval(bytes(data[start : start + hlen]).decode("latin-1").strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            yield self._malformed(ctx, "header is not a Python literal")
            return
        if not isinstance(header, dict) or not {"descr", "shape"} <= header.keys():
            yield self._malformed(ctx, "header lacks descr/shape")
            return
        descr, shape = header["descr"], header["shape"]
        offset = start + hlen
        ctx.facts.setdefault(ctx.member or "", {})["numpy"] = {
            "descr": str(descr),
            "shape": list(shape) if isinstance(shape, tuple) else None,
        }
        if "O" in str(descr):
            yield ctx.finding(
                "numpy/object-array",
                Severity.LOW,
                "object array: numpy.load(allow_pickle=True) unpickles its content",
                scanner=self.name,
                offset=offset,
                remediation="store numeric arrays; object arrays need allow_pickle",
            )
            yield from ctx.scan_member(BytesBlob(data[offset:]), "<array pickle>")
            return
        yield from self._check_size(descr, shape, len(data) - offset, ctx)

    def _check_size(
        self, descr: object, shape: object, available: int, ctx: ScanContext
    ) -> Iterator[Finding]:
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            yield self._malformed(ctx, "shape is not a tuple of sizes")
            return
        if isinstance(descr, str) and not _DESCR.match(descr):
            yield self._malformed(ctx, f"unknown dtype {descr!r}")
            return
        if not isinstance(descr, str) or not descr[-1:].isdigit():
            return  # structured dtype: size check not attempted
        digits = "".join(ch for ch in descr if ch.isdigit())
        itemsize = int(digits) * (4 if "U" in descr else 1)
        count = 1
        for n in shape:
            count *= n
        if count * itemsize > available:
            yield self._malformed(ctx, f"array needs {count * itemsize:,} bytes, file holds {available:,}")

    def _malformed(self, ctx: ScanContext, why: str) -> Finding:
        return ctx.finding(
            "malformed/numpy",
            Severity.MEDIUM,
            why,
            scanner=self.name,
            remediation="re-save the array with numpy.save",
        )
