"""Byte-level builders for hostile pickles and containers, and assertions over scan findings.

Nothing here imports a gadget module, pickles a live object or loads a payload: every stream is
written opcode by opcode, so fixtures can name modules that do not even exist on this machine.
Arguments are harmless (``os.getcwd``, the shell word ``true``, a ``print`` string).
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlwarden.scanning import Finding, Severity, scan_path

CODE = "print('mlwarden-canary')"
CMD = "true"
TMPF = "/tmp/mlwarden-canary.txt"
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C

# -- opcodes ----------------------------------------------------------------------------------------
MARK = b"("
STOP = b"."
POP = b"0"
POP_MARK = b"1"
DUP = b"2"
NONE = b"N"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
EMPTY_TUPLE = b")"
EMPTY_LIST = b"]"
EMPTY_DICT = b"}"
LIST = b"l"
DICT = b"d"
APPEND = b"a"
APPENDS = b"e"
SETITEM = b"s"
SETITEMS = b"u"
REDUCE = b"R"
BUILD = b"b"
OBJ = b"o"
NEWOBJ = b"\x81"
NEWOBJ_EX = b"\x92"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"


def proto(n: int) -> bytes:
    return b"\x80" + bytes([n])


def frame(n: int) -> bytes:
    return b"\x95" + struct.pack("<Q", n)


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE when longer than 255 bytes)."""
    raw = text.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return binunicode(text)


def binunicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def binunicode8(text: str) -> bytes:
    raw = text.encode()
    return b"\x8d" + struct.pack("<Q", len(raw)) + raw


def unicode0(text: str) -> bytes:
    """UNICODE (protocol 0 text, raw-unicode-escape, newline-terminated)."""
    return b"V" + text.encode("raw-unicode-escape") + b"\n"


def string0(text: str) -> bytes:
    """STRING (protocol 0 quoted text)."""
    return b"S" + repr(text).encode("ascii") + b"\n"


def short_binstring(text: str) -> bytes:
    raw = text.encode("latin-1")
    return b"U" + bytes([len(raw)]) + raw


def binbytes(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def binint(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    return b"J" + struct.pack("<i", n)


def long1(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def put(i: int) -> bytes:
    return b"q" + bytes([i])


def get(i: int) -> bytes:
    return b"h" + bytes([i])


def glob(module: str, name: str) -> bytes:
    """GLOBAL (``c<module>\\n<name>\\n``): the protocol 0-3 import opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sg(module: str, name: str) -> bytes:
    """Operands + STACK_GLOBAL (the protocol 4+ import); ``S4`` in the catalogue without the PROTO."""
    return sbu(module) + sbu(name) + STACK_GLOBAL


@dataclass(frozen=True)
class Raw:
    """Opcodes inserted verbatim where a value is expected (a nested call, a memo GET ...)."""

    ops: bytes


def lit(value: Any, p: int = 4) -> bytes:
    """Opcodes that push ``value`` (str, bytes, int, bool, None, tuple, list, dict or ``Raw``)."""
    if isinstance(value, Raw):
        return value.ops
    if value is None:
        return NONE
    if isinstance(value, bool):
        if p >= 2:
            return NEWTRUE if value else NEWFALSE
        return b"I01\n" if value else b"I00\n"
    if isinstance(value, int):
        return binint(value) if p >= 1 else b"I" + str(value).encode() + b"\n"
    if isinstance(value, str):
        return sbu(value) if p >= 3 else string0(value)
    if isinstance(value, bytes):
        if p < 3:
            raise ValueError("bytes need protocol 3+ here")
        return binbytes(value)
    if isinstance(value, tuple):
        return MARK + b"".join(lit(v, p) for v in value) + TUPLE
    if isinstance(value, list):
        return MARK + b"".join(lit(v, p) for v in value) + LIST
    if isinstance(value, dict):
        return MARK + b"".join(lit(k, p) + lit(v, p) for k, v in value.items()) + DICT
    raise TypeError(type(value))


def call(func: bytes, *args: Any, p: int = 4) -> bytes:
    """``func`` (opcodes that push a callable) applied by REDUCE to ``args``."""
    return func + lit(tuple(args), p) + REDUCE


def p4(*parts: bytes) -> bytes:
    """A protocol 4 program: PROTO 4, the parts, STOP."""
    return proto(4) + b"".join(parts) + STOP


def p2(*parts: bytes) -> bytes:
    return proto(2) + b"".join(parts) + STOP


def p0(*parts: bytes) -> bytes:
    return b"".join(parts) + STOP


def s4_call(module: str, name: str, *args: Any) -> bytes:
    """``S4(module, name) (args) R`` as a complete protocol 4 pickle."""
    return p4(call(sg(module, name), *args))


def g0_call(module: str, name: str, *args: Any, p: int = 0) -> bytes:
    """``G0(module, name) (args) R`` as a complete pickle (protocol 0 unless ``p`` says otherwise)."""
    body = call(glob(module, name), *args, p=p)
    return (proto(p) if p >= 2 else b"") + body + STOP


GETCWD_P2 = p2(glob("os", "getcwd"), EMPTY_TUPLE, REDUCE)
GETCWD_P0 = b"cos\ngetcwd\n(tR."
BENIGN_P2 = p2(EMPTY_LIST, MARK, binint(1), binint(2), binint(3), APPENDS)


# -- containers -----------------------------------------------------------------------------------
def torch_zip(data_pkl: bytes, root: str = "archive", *, extra: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """A PyTorch >= 1.6 checkpoint: a STORED zip with ``<root>/data.pkl`` and the usual records."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{root}/data.pkl", data_pkl)
        for name, content in extra:
            zf.writestr(name, content)
        zf.writestr(f"{root}/byteorder", b"little")
        zf.writestr(f"{root}/version", b"3\n")
    return buf.getvalue()


def plain_zip(members: Iterable[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in members:
            zf.writestr(name, content)
    return buf.getvalue()


def legacy_torch(payload: bytes, *, magic: bytes | None = None, trailer: bytes | None = None) -> bytes:
    """The pre-1.6 torch layout: magic LONG, protocol version, sys info, the object, storage keys."""
    magic_pickle = magic if magic is not None else p2(long1(LEGACY_TORCH_MAGIC))
    keys = trailer if trailer is not None else p2(EMPTY_LIST)
    return magic_pickle + p2(binint(1001)) + p2(EMPTY_DICT) + payload + keys


def npy_object(pickle_bytes: bytes, shape: str = "(1,)") -> bytes:
    """A version 1.0 ``.npy`` file of an object array: hand-written header, then the pickle."""
    header = f"{{'descr': '|O', 'fortran_order': False, 'shape': {shape}, }}"
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + pickle_bytes


def tar_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def seven_zip(path: Path, members: Iterable[tuple[str, bytes]]) -> Path:
    import py7zr

    with py7zr.SevenZipFile(path, "w") as archive:
        for name, content in members:
            archive.writestr(content, name)
    return path


# -- scanning and assertions --------------------------------------------------------------------
def scan_file(tmp_path: Path, name: str, data: bytes) -> list[Finding]:
    """Write ``data`` to ``tmp_path/name`` and scan it; the file is only ever read as bytes."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return scan_path(path).all_findings()


def scan_existing(path: Path) -> list[Finding]:
    return scan_path(path).all_findings()


def describe(findings: list[Finding]) -> str:
    return (
        "\n".join(
            f"  {f.severity.name:8} {f.rule_id:32} construct={f.construct!r} member={f.member!r} {f.message}"
            for f in findings
        )
        or "  (no findings)"
    )


def expect(
    findings: list[Finding],
    severity: Severity,
    *,
    construct: str | None = None,
    rule: str | None = None,
    member: str | None = None,
    member_contains: str | None = None,
) -> Finding:
    """Some finding at ``severity`` or above matching every given field; fail with the full list otherwise.

    ``rule`` is a rule_id prefix (``"pickle/"``, ``"zip/name-mismatch"``).
    """
    for f in findings:
        if f.severity < severity:
            continue
        if construct is not None and f.construct != construct:
            continue
        if rule is not None and not f.rule_id.startswith(rule):
            continue
        if member is not None and f.member != member:
            continue
        if member_contains is not None and (f.member is None or member_contains not in f.member):
            continue
        return f
    wanted = {
        "severity": f">= {severity.name}",
        "construct": construct,
        "rule": rule,
        "member": member,
        "member_contains": member_contains,
    }
    raise AssertionError(f"no finding matches {wanted}; got:\n{describe(findings)}")


def build_code_args(source: str) -> tuple[Any, ...]:
    """The positional arguments of ``types.CodeType`` (3.11 order) for ``source``, as plain values.

    ``compile`` only translates the canary string; nothing is executed.
    """
    code = compile(source, "<canary>", "exec")
    return (
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_nlocals,
        code.co_stacksize,
        code.co_flags,
        code.co_code,
        code.co_consts,
        code.co_names,
        code.co_varnames,
        code.co_filename,
        code.co_name,
        code.co_qualname,
        code.co_firstlineno,
        code.co_linetable,
        code.co_exceptiontable,
        code.co_freevars,
        code.co_cellvars,
    )
