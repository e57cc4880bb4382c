"""GGUF (llama.cpp) files: header, metadata, tensor table, and chat templates parsed but never rendered.

A chat template is Jinja source that loaders render with the user's messages. Rendering it in an
unsandboxed environment is code execution (CVE-2024-34359), so the template is parsed with jinja2's
own parser and the syntax tree is searched for the constructs every sandbox escape needs.
"""

from __future__ import annotations

import functools
import itertools
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import Blob, Buffer, ScanContext, Scanner

_FACT_CAP = 5_000
_MAX_STRING = 64 << 20
"""Longest metadata string accepted (a chat template or a merges entry is far shorter)."""
_MAX_ARRAY_NESTING = 4
_MAX_TEMPLATE = 1 << 20
_MAX_TEMPLATE_NODES = 200_000
_MAX_DIMS = 4
"""GGML_MAX_DIMS."""
_DEFAULT_ALIGNMENT = 32
_PLAUSIBLE_COUNT = 1 << 20
"""Entries a real model might have; larger counts than the file can hold are attacks, not truncation."""

# GGUF metadata value types: fixed sizes of the scalar ones.
_STRING, _ARRAY = 8, 9
_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_SCALAR_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

# ggml tensor types: (elements per block, bytes per block), as in ggml's type traits.
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip


class _Malformed(Exception):  # noqa: N818 - internal signal
    def __init__(self, rule: str, message: str, offset: int, severity: Severity = Severity.HIGH) -> None:
        super().__init__(message)
        self.rule = rule
        self.offset = offset
        self.severity = severity


class _Reader:
    """Little- or big-endian GGUF primitives, every read checked against the end of the blob."""

    def __init__(self, buf: Buffer, version: int, endian: str, ctx: ScanContext) -> None:
        self.buf = buf
        self.ctx = ctx
        self.size = len(buf)
        self.pos = 0
        self.endian = endian
        self.wide = version >= 2  # v1 used 32-bit counts and string lengths

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise _Malformed(
                "malformed/truncated", f"{what} runs past the end of the file", self.pos, Severity.MEDIUM
            )

    def unpack(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n, what)
        (value,) = struct.unpack_from(self.endian + fmt, self.buf, self.pos)
        self.pos += n
        return value

    def count(self, what: str) -> int:
        return int(self.unpack("Q" if self.wide else "I", what))

    def string(self, what: str, keep: bool = True) -> str:
        at = self.pos
        length = self.count(what)
        if length > _MAX_STRING:
            raise _Malformed("gguf/oversized-string", f"{what} claims {length:,} bytes", at)
        self.need(length, what)
        start = self.pos
        self.pos += length
        if not keep:
            return ""
        return bytes(self.buf[start : start + length]).decode("utf-8", "replace")


@dataclass
class _Tensor:
    name: str
    dims: list[int]
    ggml_type: int
    offset: int
    at: int


class GgufScanner(Scanner):
    """GGUF header, metadata and tensor table bounds; chat templates for sandbox-escape constructs."""

    name: ClassVar[str] = "gguf"
    formats: ClassVar[frozenset[str]] = frozenset({"gguf"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        out: list[Finding] = []
        facts: dict[str, Any] = {}
        ctx.facts.setdefault(ctx.member or "", {})["gguf"] = facts
        try:
            self._parse(blob.data(), ctx, out, facts)
        except _Malformed as exc:
            out.append(
                ctx.finding(
                    exc.rule,
                    exc.severity,
                    f"GGUF {exc}",
                    scanner=self.name,
                    offset=exc.offset,
                    remediation="re-convert the model with llama.cpp's convert script; "
                    "loaders have had memory-safety bugs on such headers",
                )
            )
        yield from out

    def _parse(self, buf: Buffer, ctx: ScanContext, out: list[Finding], facts: dict[str, Any]) -> None:
        if len(buf) < 8:
            raise _Malformed("malformed/truncated", "header is cut short", 0, Severity.MEDIUM)
        (version,) = struct.unpack_from("<I", buf, 4)
        endian = "<"
        if version > 0xFFFF and struct.unpack_from(">I", buf, 4)[0] in (1, 2, 3):
            endian = ">"
            (version,) = struct.unpack_from(">I", buf, 4)
        if version not in (1, 2, 3):
            raise _Malformed(
                "gguf/unsupported-version", f"version {version} is not 1, 2 or 3", 4, Severity.MEDIUM
            )
        facts["version"] = version
        r = _Reader(buf, version, endian, ctx)
        r.pos = 8
        tensor_count = r.count("tensor count")
        kv_count = r.count("metadata count")
        facts["tensor_count"] = tensor_count
        facts["kv_count"] = kv_count
        remaining = r.size - r.pos
        # Each metadata entry takes at least a key length, a type and a one-byte value; each tensor
        # entry at least a name length, n_dims, type and offset. Counts far beyond that are lies aimed
        # at loaders' allocations; modest ones in a short file are reported as truncation further on.
        min_kv, min_tensor = (8 + 4 + 1, 8 + 4 + 4 + 8) if r.wide else (4 + 4 + 1, 4 + 4 + 4 + 8)
        too_many = kv_count * min_kv > remaining or tensor_count * min_tensor > remaining
        if too_many and (kv_count > _PLAUSIBLE_COUNT or tensor_count > _PLAUSIBLE_COUNT):
            raise _Malformed(
                "gguf/count-overflow",
                f"header claims {kv_count:,} metadata entries and {tensor_count:,} tensors, "
                f"more than the {remaining:,} remaining bytes can hold",
                8,
            )
        metadata: dict[str, Any] = {}
        facts["metadata"] = metadata
        seen: set[str] = set()
        alignment = _DEFAULT_ALIGNMENT
        for _ in range(kv_count):
            ctx.check_time()
            at = r.pos
            key = r.string("metadata key")
            value_type = r.unpack("I", f"type of {key!r}")
            if key in seen:
                out.append(
                    ctx.finding(
                        "gguf/duplicate-key",
                        Severity.MEDIUM,
                        f"metadata key {key!r} appears more than once; loaders disagree on which value wins",
                        scanner=GgufScanner.name,
                        offset=at,
                        construct=key,
                        remediation="re-convert the model; one value per key",
                    )
                )
            seen.add(key)
            value = self._value(r, value_type, key, 0)
            if key.startswith("tokenizer.chat_template") and isinstance(value, str):
                out.extend(self._template(value, key, at, ctx))
                if len(metadata) < _FACT_CAP:
                    metadata[key] = {"length": len(value)}
            elif key == "general.alignment" and isinstance(value, int):
                alignment = value
                metadata[key] = value
            elif len(metadata) < _FACT_CAP:
                metadata[key] = value[:256] if isinstance(value, str) else value
        if alignment <= 0 or alignment & (alignment - 1) or alignment > 1 << 20:
            out.append(
                ctx.finding(
                    "gguf/bad-alignment",
                    Severity.MEDIUM,
                    f"general.alignment {alignment} is not a power of two",
                    scanner=self.name,
                    remediation="re-convert the model",
                )
            )
            alignment = _DEFAULT_ALIGNMENT
        tensors = self._tensors(r, tensor_count, ctx)
        data_start = -(-r.pos // alignment) * alignment
        facts["tensors"] = [
            {"name": t.name, "shape": t.dims, "type": t.ggml_type} for t in tensors[:_FACT_CAP]
        ]
        out.extend(self._check_tensors(tensors, data_start, r.size, alignment, ctx))

    def _value(self, r: _Reader, value_type: int, key: str, depth: int) -> Any:
        """A metadata value; arrays come back as a summary unless they are short."""
        if value_type == _STRING:
            return r.string(f"value of {key!r}")
        size = _SCALAR_SIZE.get(value_type)
        if size is not None:
            return r.unpack(_SCALAR_FMT[value_type], f"value of {key!r}")
        if value_type != _ARRAY:
            raise _Malformed(
                "gguf/unknown-value-type", f"metadata {key!r} has value type {value_type}", r.pos - 4
            )
        if depth >= _MAX_ARRAY_NESTING:
            raise _Malformed("limit/gguf-array-depth", f"metadata {key!r} nests arrays too deeply", r.pos)
        at = r.pos
        elem_type = r.unpack("I", f"array type of {key!r}")
        count = r.count(f"array length of {key!r}")
        elem_size = _SCALAR_SIZE.get(elem_type)
        min_size = elem_size if elem_size is not None else (8 if r.wide else 4)
        if count * min_size > r.size - r.pos:
            if count <= _PLAUSIBLE_COUNT * 16:
                raise _Malformed(
                    "malformed/truncated", f"array {key!r} runs past the end of the file", at, Severity.MEDIUM
                )
            raise _Malformed(
                "gguf/count-overflow",
                f"array {key!r} claims {count:,} elements, more than the file holds",
                at,
            )
        if elem_size is not None:
            start = r.pos
            r.pos += count * elem_size
            if count <= 16:
                fmt = f"{r.endian}{count}{_SCALAR_FMT[elem_type]}"
                return list(struct.unpack_from(fmt, r.buf, start))
            return {"array": _SCALAR_FMT[elem_type], "count": count}
        if elem_type == _STRING:
            keep: list[str] = []
            for i in range(count):
                if not i & 0xFFFF:
                    r.ctx.check_time()
                text = r.string(f"element of {key!r}", keep=i < 16)
                if i < 16:
                    keep.append(text[:256])
            return keep if count <= 16 else {"array": "string", "count": count}
        if elem_type == _ARRAY:
            for _ in range(count):
                self._value(r, _ARRAY, key, depth + 1)
            return {"array": "array", "count": count}
        raise _Malformed("gguf/unknown-value-type", f"array {key!r} has unknown element type {elem_type}", at)

    def _tensors(self, r: _Reader, count: int, ctx: ScanContext) -> list[_Tensor]:
        tensors: list[_Tensor] = []
        for i in range(count):
            if not i & 0x3FFF:
                ctx.check_time()
            at = r.pos
            name = r.string("tensor name")
            n_dims = r.unpack("I", f"dimension count of tensor {name!r}")
            if n_dims > _MAX_DIMS:
                raise _Malformed(
                    "gguf/tensor-dims", f"tensor {name!r} claims {n_dims} dimensions (max 4)", at
                )
            dims = [int(r.unpack("Q" if r.wide else "I", f"dimensions of {name!r}")) for _ in range(n_dims)]
            ggml_type = int(r.unpack("I", f"type of tensor {name!r}"))
            offset = int(r.unpack("Q", f"offset of tensor {name!r}"))
            tensors.append(_Tensor(name, dims, ggml_type, offset, at))
        return tensors

    def _check_tensors(
        self, tensors: list[_Tensor], data_start: int, size: int, alignment: int, ctx: ScanContext
    ) -> Iterator[Finding]:
        data_len = size - data_start
        spans: list[tuple[int, int, str]] = []
        names: set[str] = set()
        reported = 0
        for t in tensors:
            if reported >= 50:
                break
            problem: tuple[str, str] | None = None
            numel = 1
            for d in t.dims:
                numel *= d
            traits = _GGML_TYPES.get(t.ggml_type)
            if t.name in names:
                problem = ("gguf/duplicate-tensor", f"tensor name {t.name!r} appears twice")
            elif traits is None:
                problem = (
                    "gguf/unknown-tensor-type",
                    f"tensor {t.name!r} has unknown ggml type {t.ggml_type}",
                )
            elif numel % traits[0]:
                problem = (
                    "gguf/tensor-size",
                    f"tensor {t.name!r} has {numel} elements, not a whole "
                    f"number of {traits[0]}-element blocks",
                )
            elif t.offset % alignment:
                problem = ("gguf/tensor-alignment", f"tensor {t.name!r} offset {t.offset} is not aligned")
            else:
                nbytes = numel // traits[0] * traits[1]
                if t.offset + nbytes > data_len:
                    problem = (
                        "gguf/tensor-out-of-bounds",
                        f"tensor {t.name!r} spans bytes {t.offset:,}..{t.offset + nbytes:,} of a "
                        f"{max(data_len, 0):,}-byte data section",
                    )
                else:
                    spans.append((t.offset, t.offset + nbytes, t.name))
            names.add(t.name)
            if problem is not None:
                reported += 1
                yield ctx.finding(
                    problem[0],
                    Severity.HIGH,
                    problem[1],
                    scanner=self.name,
                    offset=t.at,
                    construct=t.name,
                    remediation="re-convert the model; loaders that trust this table read "
                    "or write out of bounds",
                )
        spans.sort()
        for (_, end_a, name_a), (start_b, _, name_b) in itertools.pairwise(spans):
            if start_b < end_a:
                yield ctx.finding(
                    "gguf/tensor-overlap",
                    Severity.MEDIUM,
                    f"tensors {name_a!r} and {name_b!r} share bytes",
                    scanner=self.name,
                    construct=name_b,
                    remediation="re-convert the model",
                )
                break

    def _template(self, source: str, key: str, offset: int, ctx: ScanContext) -> Iterator[Finding]:
        for severity, rule_tail, construct, message in analyze_chat_template(source):
            yield ctx.finding(
                f"gguf/{rule_tail}",
                severity,
                f"{key}: {message}",
                scanner=self.name,
                offset=offset,
                construct=construct,
                remediation=_TEMPLATE_REMEDIATION
                if severity >= Severity.HIGH
                else "replace the chat template with the one published by the model's authors",
                key=key,
            )


_TEMPLATE_REMEDIATION = (
    "do not load this model; a template that reaches Python internals executes code when rendered"
)

# ---------------------------------------------------------------------------------------------------
# Chat-template analysis (shared with the JSON scanner for tokenizer_config.json).

_DANGEROUS_NAMES = frozenset(
    {
        "os", "popen", "eval", "exec", "import", "__import__", "system", "subprocess", "lipsum", "cycler",
        "joiner", "self", "config", "request", "url_for", "get_flashed_messages", "getattr", "globals",
        "builtins", "__builtins__", "compile", "open", "sys", "importlib",
    }
)  # fmt: skip
"""Names no chat template needs: each is a first step of a known Jinja sandbox escape."""
_GLOBAL_CALLABLES = frozenset({"namespace", "range", "dict", "lipsum", "cycler", "joiner"})
"""Jinja globals that templates may call but never need attributes of."""
_DANGEROUS_ATTRS = frozenset(
    {
        "mro", "os", "popen", "system", "eval", "exec", "subprocess", "import_module", "check_output",
        "getoutput", "spawnv", "spawnl", "execv", "globals", "builtins", "modules", "func_globals",
        "f_globals", "f_locals", "f_back", "gi_frame", "gi_code", "cr_frame", "co_code", "tb_frame",
        "environment", "module", "load_module",
    }
)  # fmt: skip
_DUNDER = re.compile(r"__\w+__|_\w+__\w+")
"""Dunder names and class-private mangled names (``_TemplateReference__context``)."""
_STRING_BUILDERS = frozenset(
    {
        "join",
        "format",
        "replace",
        "reverse",
        "lower",
        "upper",
        "string",
        "first",
        "last",
        "list",
        "trim",
        "title",
        "capitalize",
    }
)


@functools.cache
def _jinja_env() -> Any:
    """An immutable sandbox configured like transformers' (loopcontrols, {% generation %})."""
    from jinja2 import nodes  # noqa: PLC0415 - jinja2 is needed only when a template is present
    from jinja2.ext import Extension  # noqa: PLC0415
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: PLC0415

    class _Generation(Extension):
        tags = {"generation"}  # noqa: RUF012 - jinja2's own attribute

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols", _Generation])


def analyze_chat_template(source: str) -> list[tuple[Severity, str, str, str]]:
    """Parse (never render) a Jinja chat template; return (severity, rule tail, construct, message)."""
    if len(source) > _MAX_TEMPLATE:
        return [
            (
                Severity.MEDIUM,
                "template-too-large",
                "template",
                f"template of {len(source):,} characters was not analysed",
            )
        ]
    from jinja2 import TemplateSyntaxError  # noqa: PLC0415

    try:
        tree = _jinja_env().parse(source)
    except TemplateSyntaxError as exc:
        return [
            (
                Severity.MEDIUM,
                "template-unparseable",
                "template",
                f"chat template does not parse ({exc.message}, line {exc.lineno}); it cannot be vouched for",
            )
        ]
    except RecursionError:
        return [
            (
                Severity.MEDIUM,
                "template-unparseable",
                "template",
                "chat template nests too deeply to parse; it cannot be vouched for",
            )
        ]
    hits = _walk_template(tree)
    out: list[tuple[Severity, str, str, str]] = []
    for construct, why in hits[:20]:
        severity = Severity.LOW if why.startswith("attr filter") else Severity.CRITICAL
        out.append((severity, "template-injection", construct, why))
    return out


def _walk_template(tree: Any) -> list[tuple[str, str]]:
    from jinja2 import nodes  # noqa: PLC0415

    hits: dict[str, str] = {}

    def hit(construct: str, why: str) -> None:
        hits.setdefault(construct, why)

    stack: list[Any] = [tree]
    visited = 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > _MAX_TEMPLATE_NODES:
            hit("template", "template is too large to analyse completely")
            break
        if isinstance(node, nodes.Getattr):
            if _DUNDER.fullmatch(node.attr) or node.attr.startswith("_"):
                hit(node.attr, f"accesses the private attribute .{node.attr}, a sandbox-escape step")
            elif node.attr in _DANGEROUS_ATTRS:
                hit(node.attr, f"accesses .{node.attr}, which no chat template needs")
            elif isinstance(node.node, nodes.Name) and node.node.name in _GLOBAL_CALLABLES:
                hit(
                    f"{node.node.name}.{node.attr}",
                    f"reads .{node.attr} of the Jinja global {node.node.name}",
                )
        elif isinstance(node, nodes.Getitem):
            key = _fold(node.arg)
            if isinstance(key, str) and (_DUNDER.search(key) or key in _DANGEROUS_ATTRS):
                how = "a constant" if isinstance(node.arg, nodes.Const) else "a string built at render time"
                hit(key, f"subscripts [{key!r}] ({how}), a sandbox-escape step")
            if isinstance(node.node, nodes.Name) and node.node.name in _GLOBAL_CALLABLES:
                hit(f"{node.node.name}[...]", f"subscripts the Jinja global {node.node.name}")
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in _DANGEROUS_NAMES:
            hit(node.name, f"references {node.name!r}, a known route to Python internals")
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            arg = _fold(node.args[0]) if node.args else None
            if not isinstance(arg, str):
                hit("|attr", "uses |attr with a name computed at render time, a sandbox-escape step")
            elif _DUNDER.search(arg) or arg.startswith("_") or arg in _DANGEROUS_ATTRS:
                hit(f"|attr({arg!r})", f"uses |attr({arg!r}) to reach Python internals")
            else:
                hit(f"|attr({arg!r})", f"attr filter reads {arg!r} indirectly")
        if isinstance(node, nodes.Const | nodes.TemplateData):
            pass
        elif _is_string_building(node):
            built = _fold(node)
            found = _DUNDER.search(built) if isinstance(built, str) else None
            if found is not None:
                hit(
                    found.group(0),
                    f"builds the string {found.group(0)!r} at render time, a dunder-name disguise",
                )
        stack.extend(reversed(list(node.iter_child_nodes())))
    return list(hits.items())


def _is_string_building(node: Any) -> bool:
    from jinja2 import nodes  # noqa: PLC0415

    if isinstance(node, nodes.Concat | nodes.Add | nodes.Mul | nodes.Mod):
        return True
    if isinstance(node, nodes.Filter) and node.name in _STRING_BUILDERS:
        return True
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr in ("format", "join", "replace")
    )


def _fold(node: Any, depth: int = 0) -> object:
    """The constant value of a string expression, or None when it depends on render-time data."""
    from jinja2 import nodes  # noqa: PLC0415

    if depth > 50:
        return None
    if isinstance(node, nodes.Const):
        value: object = node.value
        return value if isinstance(value, str | int) and not isinstance(value, bool) else None
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_fold(item, depth + 1) for item in node.items[:256]]
        return None if any(i is None for i in items) else items
    if isinstance(node, nodes.Concat):
        parts = [_fold(n, depth + 1) for n in node.nodes[:256]]
        return "".join(str(p) for p in parts) if all(isinstance(p, str | int) for p in parts) else None
    if isinstance(node, nodes.Add | nodes.Mul | nodes.Mod):
        left, right = _fold(node.left, depth + 1), _fold(node.right, depth + 1)
        if isinstance(node, nodes.Add) and isinstance(left, str) and isinstance(right, str):
            return _capped(left + right)
        if isinstance(node, nodes.Mul) and isinstance(left, str) and isinstance(right, int) and right < 64:
            return _capped(left * max(right, 0))
        if isinstance(node, nodes.Mod) and isinstance(left, str):
            return _percent(left, right)
        return None
    if isinstance(node, nodes.Filter) and node.node is not None:
        return _fold_filter(node.name, _fold(node.node, depth + 1), [_fold(a, depth + 1) for a in node.args])
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        target = _fold(node.node.node, depth + 1)
        args = [_fold(a, depth + 1) for a in node.args]
        if node.node.attr == "join" and isinstance(target, str) and args and isinstance(args[0], list):
            return _capped(target.join(str(x) for x in args[0]))
        if node.node.attr == "format" and isinstance(target, str):
            return _brace_format(target, args)
        if node.node.attr == "replace" and isinstance(target, str) and len(args) == 2:
            old, new = args
            if isinstance(old, str) and isinstance(new, str) and old:
                return _capped(target.replace(old, new, 64))
    return None


def _fold_filter(name: str, value: object, args: list[object]) -> object:
    if value is None:
        return None
    if name == "join" and isinstance(value, list):
        sep = args[0] if args and isinstance(args[0], str) else ""
        return _capped(sep.join(str(x) for x in value))
    if name == "format" and isinstance(value, str):
        return _percent(value, args if len(args) != 1 else args[0])
    if name == "reverse" and isinstance(value, str | list):
        return value[::-1]
    if name in ("lower", "upper", "trim", "title", "capitalize") and isinstance(value, str):
        return {
            "lower": value.lower,
            "upper": value.upper,
            "trim": value.strip,
            "title": value.title,
            "capitalize": value.capitalize,
        }[name]()
    if name == "string":
        return str(value)
    if name == "list" and isinstance(value, str):
        return list(value)
    if name in ("first", "last") and isinstance(value, str | list) and value:
        return value[0] if name == "first" else value[-1]
    if name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str) and old:
            return _capped(value.replace(old, new, 64))
    return None


def _capped(text: str) -> str | None:
    return text if len(text) <= 4096 else None


def _percent(fmt: str, args: object) -> str | None:
    """``fmt % args`` for %s/%c/%d only, so that no width or attribute lookup can be smuggled in."""
    if re.search(r"%[^scd%]", fmt):
        return None
    values = tuple(args) if isinstance(args, list) else (args,)
    if not all(isinstance(v, str | int) and (not isinstance(v, int) or 0 <= v < 0x110000) for v in values):
        return None
    try:
        return _capped(fmt % values)
    except (TypeError, ValueError, OverflowError):
        return None


def _brace_format(fmt: str, args: list[object]) -> str | None:
    """``fmt.format(*args)`` for bare positional fields only ({} or {0})."""
    if not all(isinstance(a, str | int) for a in args):
        return None
    pieces = re.split(r"(\{\d*\})", fmt)
    out: list[str] = []
    auto = 0
    for piece in pieces:
        if piece.startswith("{") and piece.endswith("}"):
            index = int(piece[1:-1]) if piece[1:-1] else auto
            auto += 1
            if index >= len(args):
                return None
            out.append(str(args[index]))
        elif "{" in piece or "}" in piece:
            return None
        else:
            out.append(piece)
    return _capped("".join(out))
