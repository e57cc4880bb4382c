#!/usr/bin/env python3
"""Bounded fuzzing of the scanner with hypothesis: hostile bytes must never crash or hang it.

Run from a virtualenv where mlwarden (and hypothesis) is installed::

    python bench/fuzz_scanner.py --examples 20000 --seconds 300
    python bench/fuzz_scanner.py --examples 2000 --seed 1 --crash-dir /tmp/crashes

Inputs come from three strategies:

* ``opcode_streams``: pickle programs assembled opcode by opcode (every opcode ``pickletools``
  knows, with random, sometimes malformed, arguments and a bias toward interesting globals);
* ``mutated_seeds``: bit flips, byte sets, truncations, splices, inserted/deleted/duplicated
  ranges applied to valid seeds (a torch-style zip with ``data.pkl``, plain and joblib-like
  pickles, ``.npy`` files, gzip/bz2/xz wraps of a pickle, a tar with a pickle, a safetensors file,
  a GGUF file with a chat template, ...);
* ``rewrapped``: a fuzzed pickle (from either strategy above) put back inside a well-formed
  container (zip, tar, gzip, object ``.npy``), so the damage reaches the inner scanners.

Each input goes to ``mlwarden.scanning.scan_bytes`` and to the symbolic pickle machine
(``PickleMachine(data).run()``). The oracles:

* crash: an exception escapes either call, or the report cannot be turned into JSON, or the
  JSON does not match ``docs/scan-report.schema.json``. Crashing inputs are saved; exit status 1.
* hang: a call runs longer than ``--hang-seconds`` (interrupted by a timer; counted as a crash).
* slow: the slowest call is reported, and every call above ``--slow-seconds`` is counted and saved.
* swallowed internal errors (reported, not failed unless ``--strict``): the engine turns any
  exception in a scanner into a ``malformed/parse-error`` finding, and the machine records an
  unexpected exception as ``interrupted``; both mean a parser met input it did not expect.

Batches of hypothesis runs (random seeds, no database, no shrinking) continue until
``--examples`` inputs have been run or ``--seconds`` have passed.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import dataclasses
import faulthandler
import gzip
import hashlib
import io
import json
import lzma
import pickle
import pickletools
import signal
import struct
import sys
import tarfile
import time
import traceback
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mlwarden.scanning import scan_bytes
from mlwarden.scanning._formats.pickle_vm import PickleMachine

ROOT = Path(__file__).resolve().parents[1]
REPORT_SCHEMA = ROOT / "docs" / "scan-report.schema.json"

# =============================================================================== seeds


def _pickle_asm(*parts: bytes | str) -> bytes:
    return b"".join(p.encode("latin-1") if isinstance(p, str) else p for p in parts)


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw if len(raw) < 256 else b"X" + struct.pack("<I", len(raw)) + raw


def torch_style_pickle() -> bytes:
    """What ``torch.save({'weight': tensor}, f)`` puts in ``archive/data.pkl`` (protocol 2, by hand)."""
    return _pickle_asm(
        b"\x80\x02",  # PROTO 2
        b"ccollections\nOrderedDict\nq\x00)Rq\x01",  # OrderedDict()
        b"X\x06\x00\x00\x00weightq\x02",
        b"ctorch._utils\n_rebuild_tensor_v2\nq\x03",
        b"((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06",
        b"X\x03\x00\x00\x00cpuq\x07K\x04tq\x08QK\x00K\x02K\x02\x86q\tK\x02K\x01\x86q\n\x89",
        b"ccollections\nOrderedDict\nq\x0b)Rq\x0ctq\rRq\x0e",
        b"s.",  # SETITEM, STOP
    )


def torch_style_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", torch_style_pickle())
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/.data/serialization_id", "0123456789")
    return buffer.getvalue()


def plain_pickle() -> bytes:
    value = {"name": "model", "layers": [1, 2.5, None, True], "shape": (3, 4), "blob": b"\x00\x01", "s": {1}}
    return pickle.dumps(OrderedDict(value), protocol=4)


def protocol0_pickle() -> bytes:
    return pickle.dumps({"a": [1, 2, (3, "x")], "b": 1.5, "c": 2**70}, protocol=0)


def evil_pickle() -> bytes:
    return b"cos\nsystem\n(S'true'\ntR."


def stack_global_pickle() -> bytes:
    # PROTO 4, STACK_GLOBAL builtins.getattr, then getattr(os-module, 'system')('true')
    return _pickle_asm(
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00",  # FRAME 0 (a frame-violation seed too)
        _unicode("builtins"),
        _unicode("getattr"),
        b"\x93\x94",
        _unicode("builtins"),
        _unicode("__import__"),
        b"\x93",
        _unicode("os"),
        b"\x85R",
        _unicode("system"),
        b"\x86R",
        _unicode("true"),
        b"\x85R.",
    )


def joblib_like_pickle() -> bytes:
    """joblib.dump of a numpy array: a NumpyArrayWrapper object, the raw array bytes right after BUILD."""
    head = _pickle_asm(
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00",
        _unicode("joblib.numpy_pickle"),
        _unicode("NumpyArrayWrapper"),
        b"\x93\x94)\x81\x94}\x94(",
        _unicode("subclass"),
        _unicode("numpy"),
        _unicode("ndarray"),
        b"\x93\x94",
        _unicode("shape"),
        b"K\x04\x85\x94",
        _unicode("order"),
        _unicode("C"),
        _unicode("dtype"),
        _unicode("numpy"),
        _unicode("dtype"),
        b"\x93\x94",
        _unicode("f4"),
        b"\x89\x88\x87\x94R\x94(K\x03",
        _unicode("<"),
        b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94b",
        _unicode("allow_mmap"),
        b"\x88",
        _unicode("numpy_array_alignment_bytes"),
        b"K\x10u",
        b"b",  # BUILD
    )
    pad = (-(len(head) + 1)) % 16
    return head + bytes([pad]) + b"\xff" * pad + struct.pack("<4f", 1, 2, 3, 4) + b"."


def npy_file(descr: str = "<f4", shape: tuple[int, ...] = (2, 2), body: bytes | None = None) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    total = 10 + len(header) + 1
    header = header + " " * ((-total) % 64) + "\n"
    data = body if body is not None else struct.pack("<4f", 1, 2, 3, 4)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + data


def object_npy(payload: bytes) -> bytes:
    """``numpy.save`` of an object array: the header, then a pickle."""
    return npy_file("|O", (2,), payload)


def tar_with(name: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        tf.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def zip_with(name: str, payload: bytes, *, compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as zf:
        zf.writestr(name, payload)
    return buffer.getvalue()


def safetensors_file() -> bytes:
    header = {
        "__metadata__": {"format": "pt"},
        "bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "weight": {"dtype": "F16", "shape": [2, 2], "data_offsets": [8, 16]},
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((-len(raw)) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(range(16))


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def gguf_by_hand() -> bytes:
    """GGUF v3: three metadata keys (one an array, one a chat template) and one F32 tensor."""
    kvs = [
        _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("llama"),
        _gguf_string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
        _gguf_string("tokenizer.ggml.tokens")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 8, 3)
        + b"".join(_gguf_string(t) for t in ("<s>", "</s>", "hi")),
        _gguf_string("tokenizer.chat_template") + struct.pack("<I", 8) + _gguf_string(CHAT_TEMPLATE),
    ]
    tensors = _gguf_string("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 2, 2)
    tensors += struct.pack("<IQ", 0, 0)  # type F32, offset 0
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs) + tensors
    head += b"\x00" * ((-len(head)) % 32)
    return head + struct.pack("<4f", 1, 2, 3, 4)


def gguf_with_package() -> bytes | None:
    """The same kind of file written by the ``gguf`` package (None when it is not installed)."""
    try:
        import gguf
        import numpy as np
    except ImportError:
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_context_length(2048)
        writer.add_chat_template(CHAT_TEMPLATE)
        writer.add_token_list(["<s>", "</s>", "hi"])
        writer.add_tensor("token_embd.weight", np.arange(4, dtype=np.float32).reshape(2, 2))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


def legacy_torch_pickles() -> bytes:
    """The legacy (pre-zip) torch format: magic number, protocol, sys info, object, storage keys."""
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    return (
        magic
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
        + torch_style_pickle()
        + pickle.dumps(["0"], protocol=2)
        + struct.pack("<q", 4)
        + struct.pack("<4f", 1, 2, 3, 4)
    )


def build_seeds() -> dict[str, bytes]:
    """Valid files in every format the scanner reads (hand-built, so the same everywhere)."""
    plain = plain_pickle()
    seeds = {
        "torch-zip": torch_style_zip(),
        "torch-legacy": legacy_torch_pickles(),
        "pickle-plain": plain,
        "pickle-proto0": protocol0_pickle(),
        "pickle-evil": evil_pickle(),
        "pickle-stack-global": stack_global_pickle(),
        "joblib-like": joblib_like_pickle(),
        "npy": npy_file(),
        "npy-object": object_npy(pickle.dumps([1, "a"], protocol=3)),
        "gzip-pickle": gzip.compress(plain, mtime=0),
        "bz2-pickle": bz2.compress(plain),
        "xz-pickle": lzma.compress(plain),
        "tar-pickle": tar_with("model/data.pkl", plain),
        "zip-deflated-pickle": zip_with("archive/data.pkl", plain, compressed=True),
        "safetensors": safetensors_file(),
        "gguf": gguf_by_hand(),
    }
    packaged = gguf_with_package()
    if packaged is not None:
        seeds["gguf-package"] = packaged
    return seeds


SEEDS = build_seeds()
PICKLE_SEEDS = [v for k, v in SEEDS.items() if k.startswith(("pickle", "joblib", "torch-legacy"))]

# =============================================================================== strategies

_OPCODES = [op for op in pickletools.opcodes if op.code != "."]
_MODULE_NAMES = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "getattr"),
    ("builtins", "eval"),
    ("builtins", "__import__"),
    ("builtins", "dict"),
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch", "FloatStorage"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "dtype"),
    ("pickle", "loads"),
    ("io", "BytesIO"),
    ("torch.storage", "_load_from_bytes"),
    ("operator", "attrgetter"),
    ("copyreg", "_reconstructor"),
    ("__main__", "Model"),
    ("a" * 300, "b"),
    ("", ""),
]

_small_text = st.one_of(
    st.sampled_from([m for pair in _MODULE_NAMES for m in pair] + ["true", "weight", "0", "cpu"]),
    st.text(max_size=12),
)
_small_bytes = st.binary(max_size=24)


def _length_prefixed(fmt: str, payload: bytes, lie: int) -> bytes:
    """A length-prefixed argument; ``lie`` (usually 0) makes the length disagree with the data."""
    bits = 8 * struct.calcsize(fmt)
    length = (len(payload) + lie) & ((1 << bits) - 1)
    if fmt[-1].islower() and length >= 1 << (bits - 1):  # b h i q are signed
        length -= 1 << bits
    return struct.pack(fmt, length) + payload


@st.composite
def _argument(draw: st.DrawFn, name: str) -> bytes:
    """Bytes for one opcode argument, of the kind ``pickletools`` names."""
    lie = draw(st.sampled_from([0] * 12 + [1, -1, 7, 1 << 20]))
    if name in ("uint1", "uint2", "uint4", "uint8", "int4"):
        fmt = {"uint1": "<B", "uint2": "<H", "uint4": "<I", "uint8": "<Q", "int4": "<i"}[name]
        bits = 8 * struct.calcsize(fmt)
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if fmt == "<i" else (0, (1 << bits) - 1)
        small = draw(st.booleans())
        value = draw(st.integers(0, 40)) if small else draw(st.integers(lo, hi))
        return struct.pack(fmt, value)
    if name == "float8":
        return struct.pack(">d", draw(st.floats(allow_nan=True, allow_infinity=True)))
    if name in ("long1", "long4"):
        value = draw(st.integers(-(1 << 80), 1 << 80))
        raw = pickle.encode_long(value)
        return _length_prefixed("<B" if name == "long1" else "<i", raw, lie)
    if name in ("string1", "bytes1"):
        return _length_prefixed("<B", draw(_small_bytes), lie)
    if name in ("string4", "bytes4"):
        return _length_prefixed("<i" if name == "string4" else "<I", draw(_small_bytes), lie)
    if name in ("bytes8", "bytearray8"):
        return _length_prefixed("<Q", draw(_small_bytes), lie)
    if name in ("unicodestring1", "unicodestring4", "unicodestring8"):
        raw = draw(_small_text).encode("utf-8", "surrogatepass")
        if draw(st.integers(0, 15)) == 0:
            raw = draw(_small_bytes)  # maybe not UTF-8 at all
        fmt = {"unicodestring1": "<B", "unicodestring4": "<I", "unicodestring8": "<Q"}[name]
        return _length_prefixed(fmt, raw, lie)
    if name == "stringnl":
        text = draw(st.one_of(st.builds(repr, _small_text), st.builds(repr, _small_bytes), _small_text))
        return text.encode("utf-8", "surrogatepass") + b"\n"
    if name == "stringnl_noescape":
        return draw(_small_text).encode("utf-8", "surrogatepass") + b"\n"
    if name == "stringnl_noescape_pair":
        module, attr = draw(st.one_of(st.sampled_from(_MODULE_NAMES), st.tuples(_small_text, _small_text)))
        return f"{module}\n{attr}\n".encode("utf-8", "surrogatepass")
    if name == "decimalnl_short":
        return draw(st.sampled_from([b"00", b"01", b"0", b"-1", b"1" * 30, b"x", b""])) + b"\n"
    if name == "decimalnl_long":
        value = draw(st.integers(-(1 << 100), 1 << 100))
        return f"{value}{draw(st.sampled_from(['L', '']))}\n".encode()
    if name == "floatnl":
        return draw(st.sampled_from([b"1.5", b"nan", b"-inf", b"1e999", b"abc", b""])) + b"\n"
    if name == "unicodestringnl":
        return draw(_small_text).encode("raw-unicode-escape") + b"\n"
    raise AssertionError(f"unknown pickletools argument kind {name}")


@st.composite
def _opcode(draw: st.DrawFn) -> bytes:
    op = draw(st.sampled_from(_OPCODES))
    code = op.code.encode("latin-1")
    if op.arg is None:
        return code
    return code + draw(_argument(op.arg.name))


@st.composite
def opcode_streams(draw: st.DrawFn) -> tuple[str, bytes]:
    """A pickle program: an optional PROTO, 0-60 random opcodes, usually a STOP, maybe more after."""
    parts: list[bytes] = []
    if draw(st.integers(0, 3)):
        parts.append(b"\x80" + bytes([draw(st.integers(0, 6))]))
    parts.extend(draw(st.lists(_opcode(), max_size=60)))
    if draw(st.integers(0, 4)):
        parts.append(b".")
    if draw(st.integers(0, 5)) == 0:  # a second stream, or trailing garbage
        parts.append(draw(st.one_of(st.sampled_from(PICKLE_SEEDS), _small_bytes)))
    return "opcodes", b"".join(parts)


@st.composite
def _mutate(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(
            st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice", "duplicate", "int"])
        )
        n = len(buf)
        pos = draw(st.integers(0, max(n - 1, 0)))
        if kind == "flip" and n:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and n:
            buf[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x2E, 0x0A, draw(st.integers(0, 255))]))
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del buf[pos : pos + draw(st.integers(1, 64))]
        elif kind == "splice":
            other = draw(st.sampled_from(list(SEEDS.values())))
            start = draw(st.integers(0, max(len(other) - 1, 0)))
            buf[pos:pos] = other[start : start + draw(st.integers(1, 256))]
        elif kind == "duplicate" and n:
            buf[pos:pos] = buf[pos : pos + draw(st.integers(1, 64))]
        elif kind == "int" and n >= 4:  # an interesting 32/64-bit value over a length field
            width = draw(st.sampled_from([4, 8]))
            value = draw(
                st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 31, (1 << 63) - 1, (1 << 64) - 1])
            )
            raw = (value % (1 << (8 * width))).to_bytes(width, "little")
            buf[pos : pos + width] = raw
    return bytes(buf)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> tuple[str, bytes]:
    """One valid seed with 1-8 random mutations."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    return f"mutated:{name}", draw(_mutate(SEEDS[name]))


@st.composite
def rewrapped(draw: st.DrawFn) -> tuple[str, bytes]:
    """A fuzzed pickle put back inside an intact container, so the inner scanners see the damage."""
    inner_kind, inner = draw(
        st.one_of(
            opcode_streams(),
            st.sampled_from(PICKLE_SEEDS).flatmap(lambda s: _mutate(s).map(lambda b: ("m", b))),
        )
    )
    wrapper = draw(st.sampled_from(["zip", "zip-deflated", "tar", "gzip", "npy-object", "legacy-torch-tail"]))
    if wrapper == "zip":
        data = zip_with("archive/data.pkl", inner)
    elif wrapper == "zip-deflated":
        data = zip_with("archive/data.pkl", inner, compressed=True)
    elif wrapper == "tar":
        data = tar_with("model.pkl", inner)
    elif wrapper == "gzip":
        data = gzip.compress(inner, mtime=0)
    elif wrapper == "npy-object":
        data = object_npy(inner)
    else:
        data = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + inner
    return f"rewrapped:{wrapper}:{inner_kind}", data


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 65), 1 << 65), st.floats(), st.text(max_size=8)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def safetensors_headers(draw: st.DrawFn) -> tuple[str, bytes]:
    """A safetensors file whose JSON header has random (often inconsistent) entries."""
    offsets = st.lists(st.integers(-4, 1 << 40) | st.integers(0, 64), min_size=0, max_size=3)
    entry = (
        st.fixed_dictionaries(
            {
                "dtype": st.sampled_from(["F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "X", ""]),
                "shape": st.lists(st.integers(-1, 1 << 33) | st.integers(0, 4), max_size=4),
                "data_offsets": offsets,
            }
        )
        | _json_values
    )
    header = draw(st.dictionaries(st.text(max_size=10), entry, max_size=6))
    if draw(st.booleans()):
        header["__metadata__"] = draw(_json_values)
    raw = json.dumps(header).encode()
    body = draw(st.binary(max_size=64))
    declared = len(raw) + draw(st.sampled_from([0] * 8 + [1, -1, 1 << 40]))
    return "safetensors-header", struct.pack("<Q", max(declared, 0)) + raw + body


def fuzz_inputs() -> st.SearchStrategy[tuple[str, bytes]]:
    """Every strategy, mixed."""
    return st.one_of(opcode_streams(), mutated_seeds(), rewrapped(), safetensors_headers())


# =============================================================================== oracle


class Hang(BaseException):
    """Raised by the watchdog timer inside a call that ran too long."""


@dataclasses.dataclass
class Stats:
    """What a fuzz run found."""

    examples: int = 0
    vm_runs: int = 0
    bytes_total: int = 0
    crashes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    swallowed: Counter[str] = dataclasses.field(default_factory=Counter)
    swallowed_samples: dict[str, bytes] = dataclasses.field(default_factory=dict)
    slowest: float = 0.0
    slowest_kind: str = ""
    slowest_size: int = 0
    slowest_data: bytes = b""
    slow_count: int = 0
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    formats: Counter[str] = dataclasses.field(default_factory=Counter)


def _file_schema_validator() -> Callable[[Any], list[str]] | None:
    try:
        import jsonschema
    except ImportError:
        return None
    schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
    file_schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/file"}
    validator = jsonschema.Draft202012Validator(file_schema)

    def errors(document: Any) -> list[str]:
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]

    return errors


_VALIDATE = _file_schema_validator()


@contextlib.contextmanager
def _watchdog(seconds: float) -> Any:
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no result after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_input(
    kind: str,
    data: bytes,
    stats: Stats,
    *,
    hang_seconds: float = 0.0,
    slow_seconds: float = 2.0,
    inflight: Path | None = None,
) -> None:
    """Run one input through the machine and the scanner; record, never raise (except KeyboardInterrupt).

    ``inflight``: a file the input is written to first, so that a crash of the whole process (a
    segfault in a C extension) leaves the input behind.
    """
    if inflight is not None:
        inflight.write_bytes(data)
    stats.examples += 1
    stats.bytes_total += len(data)
    stats.kinds[kind.split(":")[0]] += 1

    def crash(where: str, detail: str) -> None:
        stats.crashes.append({"where": where, "kind": kind, "data": data, "detail": detail})

    # 1. the symbolic pickle machine, straight on the bytes
    started = time.perf_counter()
    try:
        with _watchdog(hang_seconds):
            result = PickleMachine(data).run()
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - that is what is being looked for
        crash("PickleMachine.run", traceback.format_exc())
        result = None
    _timing(stats, "vm:" + kind, data, time.perf_counter() - started, slow_seconds)
    stats.vm_runs += 1
    if result is not None and result.interrupted is not None:
        exc = result.interrupted
        _swallowed(stats, f"vm: {type(exc).__name__}: {str(exc)[:80]}", data)

    # 2. the whole scanner, as a user's file would be scanned
    started = time.perf_counter()
    try:
        with _watchdog(hang_seconds):
            report = scan_bytes(data, "fuzz.bin")
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001
        crash("scan_bytes", traceback.format_exc())
        return
    finally:
        _timing(stats, "scan:" + kind, data, time.perf_counter() - started, slow_seconds)
    stats.formats[report.format] += 1
    for finding in report.findings:
        if finding.rule_id == "malformed/parse-error":
            _swallowed(
                stats, f"scan[{report.formats.get(finding.member or '', '?')}]: {finding.message[:110]}", data
            )

    # 3. the report must be JSON the documented schema accepts
    try:
        document = json.loads(json.dumps(report.to_dict()))
    except Exception:  # noqa: BLE001
        crash("FileReport.to_dict/json", traceback.format_exc())
        return
    if _VALIDATE is not None:
        problems = _VALIDATE(document)
        if problems:
            crash("report schema", "\n".join(problems[:5]))


def _timing(stats: Stats, kind: str, data: bytes, seconds: float, slow_seconds: float) -> None:
    if seconds > stats.slowest:
        stats.slowest, stats.slowest_kind, stats.slowest_size, stats.slowest_data = (
            seconds,
            kind,
            len(data),
            data,
        )
    if seconds > slow_seconds:
        stats.slow_count += 1


def _swallowed(stats: Stats, key: str, data: bytes) -> None:
    stats.swallowed[key] += 1
    if key not in stats.swallowed_samples or len(data) < len(stats.swallowed_samples[key]):
        stats.swallowed_samples[key] = data


# =============================================================================== driver


def run_batch(
    stats: Stats,
    batch: int,
    *,
    seed: int | None,
    hang_seconds: float,
    slow_seconds: float,
    inflight: Path | None = None,
) -> None:
    """One hypothesis run of ``batch`` examples; failures are recorded in ``stats``, not raised."""

    @settings(
        max_examples=batch,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=fuzz_inputs())
    def run(case: tuple[str, bytes]) -> None:
        check_input(*case, stats, hang_seconds=hang_seconds, slow_seconds=slow_seconds, inflight=inflight)

    if seed is not None:
        from hypothesis import seed as hypothesis_seed

        run = hypothesis_seed(seed)(run)
    run()


def _save(folder: Path, label: str, data: bytes, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    path = folder / f"{label}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20_000, help="inputs to run (default 20000)")
    parser.add_argument("--seconds", type=float, default=300.0, help="wall-clock budget (default 300)")
    parser.add_argument("--batch", type=int, default=500, help="examples per hypothesis run (default 500)")
    parser.add_argument("--seed", type=int, help="hypothesis seed of the first batch (then seed+1, ...)")
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"), help="where inputs are saved")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="interrupt a call after this long")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help="count calls slower than this")
    parser.add_argument("--strict", action="store_true", help="also fail on swallowed internal errors")
    args = parser.parse_args(argv)

    with contextlib.suppress(io.UnsupportedOperation, AttributeError, ValueError):
        faulthandler.enable()  # a segfault in a C extension still prints where (needs a real stderr)
    print(f"seeds: {', '.join(f'{k} ({len(v)} B)' for k, v in SEEDS.items())}", flush=True)
    stats = Stats()
    started = time.monotonic()
    batch_no = 0
    args.crash_dir.mkdir(parents=True, exist_ok=True)
    inflight = args.crash_dir / ".inflight.bin"
    try:
        while stats.examples < args.examples and time.monotonic() - started < args.seconds:
            batch = min(args.batch, args.examples - stats.examples)
            seed = None if args.seed is None else args.seed + batch_no
            before = stats.examples
            run_batch(
                stats,
                batch,
                seed=seed,
                hang_seconds=args.hang_seconds,
                slow_seconds=args.slow_seconds,
                inflight=inflight,
            )
            batch_no += 1
            elapsed = time.monotonic() - started
            print(
                f"  batch {batch_no}: {stats.examples} examples, {len(stats.crashes)} crashes, "
                f"{sum(stats.swallowed.values())} swallowed, slowest {stats.slowest:.3f}s, {elapsed:.0f}s",
                flush=True,
            )
            if stats.examples == before:
                break
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    with contextlib.suppress(OSError):
        inflight.unlink()
    with contextlib.suppress(OSError):
        args.crash_dir.rmdir()  # only if nothing was saved
    elapsed = time.monotonic() - started

    print()
    print(
        f"examples run:     {stats.examples} (+{stats.vm_runs} direct PickleMachine runs) in {elapsed:.1f}s"
    )
    print(f"input kinds:      {dict(stats.kinds)}")
    print(f"formats sniffed:  {dict(stats.formats.most_common())}")
    print(f"bytes scanned:    {stats.bytes_total}")
    print(f"crashes:          {len(stats.crashes)}")
    print(
        f"slowest input:    {stats.slowest:.3f}s ({stats.slowest_kind}, {stats.slowest_size} B); "
        f"{stats.slow_count} call(s) over {args.slow_seconds:g}s"
    )
    print(f"swallowed internal errors: {sum(stats.swallowed.values())} ({len(stats.swallowed)} distinct)")
    for key, count in stats.swallowed.most_common(25):
        print(f"  {count:6d}  {key}")

    if stats.slowest > args.slow_seconds:
        _save(args.crash_dir, "slowest", stats.slowest_data, f"{stats.slowest:.3f}s {stats.slowest_kind}\n")
    seen: set[tuple[str, str]] = set()
    for crash in stats.crashes:
        last_line = crash["detail"].strip().splitlines()[-1] if crash["detail"].strip() else ""
        key = (crash["where"], last_line)
        if key in seen:
            continue
        seen.add(key)
        path = _save(
            args.crash_dir, "crash", crash["data"], f"{crash['where']} ({crash['kind']})\n\n{crash['detail']}"
        )
        print(f"\nCRASH in {crash['where']} ({crash['kind']}), input saved to {path}\n{crash['detail']}")
    if stats.swallowed and args.strict:
        for i, (key, data) in enumerate(sorted(stats.swallowed_samples.items())):
            _save(args.crash_dir, f"swallowed{i}", data, key + "\n")
    failed = bool(stats.crashes) or (args.strict and bool(stats.swallowed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
