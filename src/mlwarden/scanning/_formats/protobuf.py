"""ONNX models, TensorFlow SavedModels and GraphDefs, read straight from the protobuf wire format.

Nothing is decoded with the frameworks' own classes: a small bounded wire reader walks only the
messages that matter (graphs, nodes, attributes, tensor headers) and skips every tensor payload.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import Blob, Buffer, ScanContext, Scanner

_MAX_DEPTH = 100
"""Message nesting depth, the same bound protobuf's own parsers use."""
_MAX_FIELDS = 20_000_000
"""Fields decoded in one file, across all messages."""
_FACT_CAP = 5_000
"""Entries kept per list in facts."""
_NAME_CAP = 4_096
"""Bytes of a name or path decoded into text."""

_STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft"}
)
_PYTHON_OPS = frozenset({"PyOp", "PyFunc", "PythonOp", "PythonOpGrad", "PyOpV2", "PythonFunction"})
_EXTERNAL = 1
_SUSPICIOUS_OP = re.compile(
    r"(?i)(exec|shell|system|spawn|popen|eval|script|command|subprocess|download|socket)"
)

_TF_CRITICAL = frozenset({"PyFunc", "EagerPyFunc", "PyFuncStateless"})
_TF_FILE_OPS = frozenset(
    {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "DeleteFile",
        "ImmutableConst",
        "WholeFileReader",
        "WholeFileReaderV2",
        "TextLineReader",
        "TextLineReaderV2",
        "TFRecordReader",
        "TFRecordReaderV2",
        "FixedLengthRecordReader",
        "FixedLengthRecordReaderV2",
        "LMDBReader",
        "TextLineDataset",
        "TFRecordDataset",
        "TFRecordDatasetV2",
        "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2",
        "DatasetToTFRecord",
        "ExperimentalDatasetToTFRecord",
        "SaveDataset",
        "SaveDatasetV2",
        "LoadDataset",
        "InitializeTableFromTextFile",
        "InitializeTableFromTextFileV2",
        "LoadAndRemapMatrix",
        "CreateSummaryFileWriter",
        "CreateSummaryDbWriter",
        "DebugIdentity",
        "DebugIdentityV2",
        "DebugNanCount",
        "DebugNumericSummary",
        "DebugNumericSummaryV2",
    }
)
_TF_CHECKPOINT_OPS = frozenset(
    {"Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints"}
)
_TF_NETWORK_OPS = frozenset(
    {"RpcServer", "RpcServerStart", "RpcServerRegister", "RpcClient", "RpcCall", "RpcCheckStatus"}
)
_TF_RISKY = _TF_CRITICAL | _TF_FILE_OPS | _TF_CHECKPOINT_OPS | _TF_NETWORK_OPS


class _Malformed(Exception):  # noqa: N818 - internal signal
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class _TooDeep(Exception):  # noqa: N818 - internal signal
    pass


class _TooMany(Exception):  # noqa: N818 - internal signal
    pass


_Field = tuple[int, int, int, int]
"""(field number, wire type, a, b): varint/fixed -> (value, 0); LEN -> (start, end) of the payload."""


class _Wire:
    """A bounded protobuf wire-format reader over one buffer."""

    def __init__(self, buf: Buffer, ctx: ScanContext) -> None:
        self.buf = buf
        self.ctx = ctx
        self.count = 0

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        buf = self.buf
        result = shift = 0
        while True:
            if pos >= end:
                raise _Malformed("varint runs past the end of its message", pos)
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise _Malformed("varint longer than 10 bytes", pos)

    def fields(self, start: int, end: int) -> Iterator[_Field]:
        buf = self.buf
        pos = start
        while pos < end:
            self.count += 1
            if self.count > _MAX_FIELDS:
                raise _TooMany
            if not self.count & 0xFFFF:
                self.ctx.check_time()
            key_at = pos
            b = buf[pos]
            if b < 0x80:
                key = b
                pos += 1
            else:
                key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise _Malformed("field number 0", key_at)
            if wire == 0:
                value, pos = self.varint(pos, end)
                yield number, 0, value, 0
            elif wire == 2:
                length, pos = self.varint(pos, end)
                if length > end - pos:
                    raise _Malformed(f"field {number} claims {length:,} bytes, past the end", key_at)
                yield number, 2, pos, pos + length
                pos += length
            elif wire == 5:
                if pos + 4 > end:
                    raise _Malformed("fixed32 runs past the end", key_at)
                yield number, 5, int.from_bytes(buf[pos : pos + 4], "little"), 0
                pos += 4
            elif wire == 1:
                if pos + 8 > end:
                    raise _Malformed("fixed64 runs past the end", key_at)
                yield number, 1, int.from_bytes(buf[pos : pos + 8], "little"), 0
                pos += 8
            else:
                raise _Malformed(
                    f"unsupported wire type {wire} (groups are not used by these schemas)", key_at
                )

    def text(self, start: int, end: int) -> str:
        return bytes(self.buf[start : min(end, start + _NAME_CAP)]).decode("utf-8", "replace")

    def ints(self, wire: int, a: int, b: int) -> list[int]:
        """A repeated integer field, packed (LEN) or not (one varint)."""
        if wire == 0:
            return [a]
        if wire != 2:
            return []
        out: list[int] = []
        pos = a
        while pos < b and len(out) < 64:
            value, pos = self.varint(pos, b)
            out.append(value)
        return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _path_escapes(location: str) -> str | None:
    """Why an external-data path leaves the model directory, or None when it stays inside."""
    if not location:
        return "empty location"
    if "\x00" in location:
        return "NUL byte in path"
    if location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location):
        return "absolute path"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):
        return "URL"
    if ".." in re.split(r"[\\/]+", location):
        return "parent-directory traversal"
    if location.startswith("~"):
        return "home-directory path"
    return None


class ProtobufScanner(Scanner):
    """ONNX ModelProto, TF SavedModel and GraphDef: risky ops, external data paths, structure facts."""

    name: ClassVar[str] = "protobuf"
    formats: ClassVar[frozenset[str]] = frozenset({"protobuf"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        wire = _Wire(blob.data(), ctx)
        out: list[Finding] = []
        try:
            top = list(wire.fields(0, len(blob)))
            schema = _schema(wire, top)
            if schema == "onnx":
                _Onnx(wire, ctx, out, self.name).model(top)
            elif schema in ("saved_model", "graph_def"):
                _TensorFlow(wire, ctx, out, self.name, schema).run(top)
            else:
                ctx.facts.setdefault(ctx.member or "", {})["protobuf"] = {"schema": "unknown"}
        except _Malformed as exc:
            out.append(
                ctx.finding(
                    "malformed/truncated" if "past the end" in str(exc) else "malformed/protobuf",
                    Severity.MEDIUM,
                    f"protobuf could not be decoded: {exc}",
                    scanner=self.name,
                    offset=exc.offset,
                    remediation="re-export the model with its original tool; damaged files cannot be vouched",
                )
            )
        except _TooDeep:
            out.append(
                ctx.finding(
                    "limit/protobuf-depth",
                    Severity.HIGH,
                    f"protobuf messages nested deeper than {_MAX_DEPTH} levels; the rest was not analysed",
                    scanner=self.name,
                    remediation="inspect the model by hand; real models do not nest this deeply",
                )
            )
        except _TooMany:
            out.append(
                ctx.finding(
                    "limit/protobuf-fields",
                    Severity.HIGH,
                    f"more than {_MAX_FIELDS:,} protobuf fields; the rest was not analysed",
                    scanner=self.name,
                    remediation="inspect the model by hand or split it",
                )
            )
        yield from out


def _schema(wire: _Wire, top: list[_Field]) -> str:
    """'onnx', 'saved_model', 'graph_def' or 'unknown', decided from the top-level fields."""
    numbers = {f[0] for f in top}
    len_fields = {f[0] for f in top if f[1] == 2}
    varint_fields = {f[0] for f in top if f[1] == 0}
    if 7 in len_fields and (1 in varint_fields or 8 in len_fields) and _plausible_onnx_graph(wire, top):
        return "onnx"
    if numbers <= {1, 2} and 2 in len_fields and 1 not in len_fields and _plausible_meta_graph(wire, top):
        return "saved_model"
    if 1 in len_fields and numbers <= {1, 2, 3, 4} and _plausible_graph_def(wire, top):
        return "graph_def"
    return "unknown"


def _try_fields(wire: _Wire, start: int, end: int, limit: int = 64) -> list[_Field] | None:
    out: list[_Field] = []
    try:
        for f in wire.fields(start, end):
            out.append(f)
            if len(out) >= limit:
                break
    except _Malformed:
        return None
    return out


def _plausible_onnx_graph(wire: _Wire, top: list[_Field]) -> bool:
    graph = next(f for f in top if f[0] == 7 and f[1] == 2)
    fields = _try_fields(wire, graph[2], graph[3])
    return fields is not None and all(f[0] <= 30 for f in fields)


def _plausible_meta_graph(wire: _Wire, top: list[_Field]) -> bool:
    meta = next(f for f in top if f[0] == 2 and f[1] == 2)
    fields = _try_fields(wire, meta[2], meta[3])
    return (
        fields is not None
        and any(f[0] == 2 and f[1] == 2 for f in fields)
        and all(f[0] <= 10 for f in fields)
    )


_OP_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_>.]{0,200}")


def _plausible_graph_def(wire: _Wire, top: list[_Field]) -> bool:
    nodes = [f for f in top if f[0] == 1 and f[1] == 2][:8]
    for node in nodes:
        fields = _try_fields(wire, node[2], node[3], limit=8)
        if not fields:
            return False
        ops = [f for f in fields if f[0] == 2]
        if not ops or ops[0][1] != 2 or not _OP_NAME.fullmatch(bytes(wire.buf[ops[0][2] : ops[0][3]])):
            return False
    return bool(nodes)


class _Onnx:
    """Walks an ONNX ModelProto: graphs (recursively through attributes), functions, tensors."""

    def __init__(self, wire: _Wire, ctx: ScanContext, out: list[Finding], scanner: str) -> None:
        self.w = wire
        self.ctx = ctx
        self.out = out
        self.scanner = scanner
        self.op_types: Counter[str] = Counter()
        self.custom_ops: Counter[tuple[str, str]] = Counter()
        self.local_functions: set[tuple[str, str]] = set()
        self.first_node: dict[tuple[str, str], str] = {}
        self.external: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {
            "inputs": [],
            "outputs": [],
            "initializers": [],
            "op_types": {},
            "opset_import": {},
            "functions": [],
            "graph_count": 0,
            "node_count": 0,
        }

    def model(self, top: list[_Field]) -> None:
        w = self.w
        ctx = self.ctx
        key = ctx.member or ""
        try:
            for number, wt, a, b in top:
                if wt == 0 and number == 1:
                    self.facts["ir_version"] = a
                elif wt != 2:
                    continue
                elif number == 2:
                    self.facts["producer_name"] = w.text(a, b)
                elif number == 3:
                    self.facts["producer_version"] = w.text(a, b)
                elif number == 8:
                    self._opset(a, b)
                elif number == 25:
                    self._function_header(a, b)
            for number, wt, a, b in top:
                if wt != 2:
                    continue
                if number == 7:
                    self._graph(a, b, depth=1, main=True)
                elif number == 25:
                    self._function(a, b)
                elif number == 20:  # TrainingInfoProto: initialization=1, algorithm=2 graphs
                    for n2, w2, a2, b2 in w.fields(a, b):
                        if n2 in (1, 2) and w2 == 2:
                            self._graph(a2, b2, depth=2, main=False)
        finally:
            self._report_ops()
            self.facts["op_types"] = dict(self.op_types.most_common(_FACT_CAP))
            if self.external:
                self.facts["external_data"] = self.external[:_FACT_CAP]
            ctx.facts.setdefault(key, {})["onnx"] = self.facts

    def _opset(self, a: int, b: int) -> None:
        domain, version = "", 0
        for number, wt, x, y in self.w.fields(a, b):
            if number == 1 and wt == 2:
                domain = self.w.text(x, y)
            elif number == 2 and wt == 0:
                version = _signed(x)
        if len(self.facts["opset_import"]) < _FACT_CAP:
            self.facts["opset_import"][domain] = version

    def _function_header(self, a: int, b: int) -> None:
        name = domain = ""
        for number, wt, x, y in self.w.fields(a, b):
            if number == 1 and wt == 2:
                name = self.w.text(x, y)
            elif number == 10 and wt == 2:
                domain = self.w.text(x, y)
        self.local_functions.add((domain, name))

    def _function(self, a: int, b: int) -> None:
        name = domain = ""
        nodes: list[tuple[int, int]] = []
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 1:
                name = self.w.text(x, y)
            elif number == 10:
                domain = self.w.text(x, y)
            elif number == 7:
                nodes.append((x, y))
        if len(self.facts["functions"]) < _FACT_CAP:
            self.facts["functions"].append({"domain": domain, "name": name, "nodes": len(nodes)})
        self.out.append(
            self.ctx.finding(
                "onnx/local-function",
                Severity.INFO,
                f"model-local function {domain}:{name} with {len(nodes)} node(s); its nodes were analysed",
                scanner=self.scanner,
                offset=a,
                construct=f"{domain}:{name}" if domain else name,
            )
        )
        for x, y in nodes:
            self._node(x, y, depth=2)

    def _graph(self, a: int, b: int, depth: int, main: bool) -> None:
        if depth > _MAX_DEPTH:
            raise _TooDeep
        self.facts["graph_count"] += 1
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 1:
                self._node(x, y, depth + 1)
            elif number == 5:
                self._tensor(x, y, record=main)
            elif number == 15:  # SparseTensorProto: values=1, indices=2
                for n2, w2, a2, b2 in self.w.fields(x, y):
                    if n2 in (1, 2) and w2 == 2:
                        self._tensor(a2, b2, record=False)
            elif main and number in (11, 12):
                target = self.facts["inputs" if number == 11 else "outputs"]
                if len(target) < _FACT_CAP:
                    target.append(self._value_info(x, y))

    def _value_info(self, a: int, b: int) -> dict[str, Any]:
        name = ""
        shape: list[int | str | None] | None = None
        elem_type = 0
        for number, wt, x, y in self.w.fields(a, b):
            if number == 1 and wt == 2:
                name = self.w.text(x, y)
            elif number == 2 and wt == 2:  # TypeProto.tensor_type=1 -> elem_type=1, shape=2
                for n2, w2, a2, b2 in self.w.fields(x, y):
                    if n2 != 1 or w2 != 2:
                        continue
                    for n3, w3, a3, b3 in self.w.fields(a2, b2):
                        if n3 == 1 and w3 == 0:
                            elem_type = a3
                        elif n3 == 2 and w3 == 2:
                            shape = self._shape(a3, b3)
        return {"name": name, "shape": shape, "elem_type": elem_type}

    def _shape(self, a: int, b: int) -> list[int | str | None]:
        dims: list[int | str | None] = []
        for number, wt, x, y in self.w.fields(a, b):
            if number != 1 or wt != 2 or len(dims) >= 64:
                continue
            dim: int | str | None = None
            for n2, w2, a2, b2 in self.w.fields(x, y):
                if n2 == 1 and w2 == 0:
                    dim = _signed(a2)
                elif n2 == 2 and w2 == 2:
                    dim = self.w.text(a2, b2)
            dims.append(dim)
        return dims

    def _node(self, a: int, b: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _TooDeep
        op_type = domain = name = ""
        attributes: list[tuple[int, int]] = []
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 4:
                op_type = self.w.text(x, y)
            elif number == 7:
                domain = self.w.text(x, y)
            elif number == 3:
                name = self.w.text(x, y)
            elif number == 5:
                attributes.append((x, y))
        self.facts["node_count"] += 1
        label = f"{domain}:{op_type}" if domain not in ("", "ai.onnx") else op_type
        if len(self.op_types) < _FACT_CAP or label in self.op_types:
            self.op_types[label] += 1
        if op_type in _PYTHON_OPS or (
            domain not in _STANDARD_DOMAINS and (domain, op_type) not in self.local_functions
        ):
            if len(self.custom_ops) < _FACT_CAP or (domain, op_type) in self.custom_ops:
                self.custom_ops[(domain, op_type)] += 1
            if self.custom_ops[(domain, op_type)] == 1:
                self.first_node[(domain, op_type)] = name
        for x, y in attributes:
            self._attribute(x, y, depth + 1)

    def _attribute(self, a: int, b: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _TooDeep
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number in (6, 11):  # g, graphs
                self._graph(x, y, depth + 1, main=False)
            elif number in (5, 10):  # t, tensors (a Constant's value may point at external data)
                self._tensor(x, y, record=False)

    def _tensor(self, a: int, b: int, record: bool) -> None:
        name = ""
        dims: list[int] = []
        data_type = 0
        location_kind = 0
        entries: list[tuple[int, int]] = []
        for number, wt, x, y in self.w.fields(a, b):
            if number == 8 and wt == 2:
                name = self.w.text(x, y)
            elif number == 1 and len(dims) < 64:
                dims.extend(_signed(v) for v in self.w.ints(wt, x, y))
            elif number == 2 and wt == 0:
                data_type = x
            elif number == 14 and wt == 0:
                location_kind = x
            elif number == 13 and wt == 2:
                entries.append((x, y))
        if record and len(self.facts["initializers"]) < _FACT_CAP:
            self.facts["initializers"].append({"name": name, "dims": dims, "data_type": data_type})
        if location_kind == _EXTERNAL or entries:
            self._external(name, entries, a)

    def _external(self, tensor: str, entries: list[tuple[int, int]], offset: int) -> None:
        info: dict[str, str] = {}
        for x, y in entries[:16]:
            k = v = ""
            for number, wt, a2, b2 in self.w.fields(x, y):
                if number == 1 and wt == 2:
                    k = self.w.text(a2, b2)
                elif number == 2 and wt == 2:
                    v = self.w.text(a2, b2)
            info[k] = v
        location = info.get("location")
        if len(self.external) < _FACT_CAP:
            self.external.append({"tensor": tensor, "location": location})
        if location is None:
            self.out.append(
                self.ctx.finding(
                    "onnx/external-data-malformed",
                    Severity.MEDIUM,
                    f"tensor {tensor!r} stores its data externally but names no location",
                    scanner=self.scanner,
                    offset=offset,
                    construct=tensor,
                    remediation="re-export the model with onnx.save_model(..., save_as_external_data=True)",
                )
            )
            return
        why = _path_escapes(location)
        if why is not None:
            self.out.append(
                self.ctx.finding(
                    "onnx/external-data-escape",
                    Severity.HIGH,
                    f"tensor {tensor!r} loads external data from {location!r} ({why}), outside the model dir",
                    scanner=self.scanner,
                    offset=offset,
                    construct=location,
                    remediation="keep external data files beside the model, named by relative file name",
                    tensor=tensor,
                )
            )
        for field in ("offset", "length"):
            raw = info.get(field)
            if raw is not None and not raw.isdigit():
                self.out.append(
                    self.ctx.finding(
                        "onnx/external-data-malformed",
                        Severity.MEDIUM,
                        f"tensor {tensor!r} has a non-numeric external data {field} {raw[:64]!r}",
                        scanner=self.scanner,
                        offset=offset,
                        construct=tensor,
                        remediation="re-export the model with its original tool",
                    )
                )

    def _report_ops(self) -> None:
        for (domain, op_type), count in sorted(self.custom_ops.items()):
            node = self.first_node.get((domain, op_type), "")
            construct = f"{domain}:{op_type}" if domain else op_type
            python = (
                op_type in _PYTHON_OPS
                or "python" in domain.lower()
                or (domain == "ai.onnx.contrib" and op_type.startswith("Py"))
            )
            if python:
                self.out.append(
                    self.ctx.finding(
                        "onnx/python-op",
                        Severity.CRITICAL,
                        f"{count} node(s) of {construct} (first: {node!r}) run Python code when executed",
                        scanner=self.scanner,
                        construct=construct,
                        remediation="remove the Python op; export the computation as standard ONNX operators",
                        count=count,
                    )
                )
            else:
                # An unknown op only runs if a custom-op library registers it; one named like a shell
                # or code runner is far more likely a payload than a fused kernel.
                suspicious = _SUSPICIOUS_OP.search(op_type) is not None
                self.out.append(
                    self.ctx.finding(
                        "onnx/custom-op-domain",
                        Severity.HIGH if suspicious else Severity.MEDIUM,
                        f"{count} node(s) of {construct} (first: {node!r}) need a custom operator library"
                        + ("; the op is named like a command or code runner" if suspicious else ""),
                        scanner=self.scanner,
                        construct=construct,
                        remediation="verify and pin the custom-op library, or re-export with standard ops",
                        count=count,
                    )
                )


def _tf_ref(ref: str) -> str:
    """The node a GraphDef/FunctionDef input names: '^ctrl', 'node:1' and 'node:out:0' -> 'node'."""
    return ref.lstrip("^").split(":", 1)[0]


class _TensorFlow:
    """Walks a SavedModel's meta graphs or a bare GraphDef: node ops, function libraries, constant paths."""

    def __init__(self, wire: _Wire, ctx: ScanContext, out: list[Finding], scanner: str, kind: str) -> None:
        self.w = wire
        self.ctx = ctx
        self.out = out
        self.scanner = scanner
        self.op_types: Counter[str] = Counter()
        self.functions: list[str] = []
        self.string_consts: dict[tuple[int, str], str] = {}
        self.risky: list[tuple[int, str, str, list[str], int]] = []
        """(scope, op, node name, inputs, offset) of ops whose arguments matter."""
        self.print_files: list[tuple[str, str, int]] = []
        self.scopes = 0
        self.facts: dict[str, Any] = {"kind": kind, "node_count": 0, "meta_graphs": 0, "tags": []}

    def run(self, top: list[_Field]) -> None:
        key = self.ctx.member or ""
        try:
            if self.facts["kind"] == "graph_def":
                self._graph_def(0, len(self.w.buf), top)
            else:
                for number, wt, a, b in top:
                    if number == 1 and wt == 0:
                        self.facts["schema_version"] = a
                    elif number == 2 and wt == 2:
                        self._meta_graph(a, b)
        finally:
            self._report()
            self.facts["op_types"] = dict(self.op_types.most_common(_FACT_CAP))
            self.facts["functions"] = self.functions[:_FACT_CAP]
            self.ctx.facts.setdefault(key, {})["tensorflow"] = self.facts

    def _meta_graph(self, a: int, b: int) -> None:
        self.facts["meta_graphs"] += 1
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 1:  # MetaInfoDef.tags=4
                for n2, w2, a2, b2 in self.w.fields(x, y):
                    if n2 == 4 and w2 == 2 and len(self.facts["tags"]) < 64:
                        self.facts["tags"].append(self.w.text(a2, b2))
            elif number == 2:
                self._graph_def(x, y, None)

    def _graph_def(self, a: int, b: int, fields: list[_Field] | None) -> None:
        scope = self._scope()
        for number, wt, x, y in fields if fields is not None else self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 1:
                self._node_def(x, y, scope)
            elif number == 2:  # FunctionDefLibrary.function=1
                for n2, w2, a2, b2 in self.w.fields(x, y):
                    if n2 == 1 and w2 == 2:
                        self._function_def(a2, b2)

    def _scope(self) -> int:
        self.scopes += 1
        return self.scopes

    def _function_def(self, a: int, b: int) -> None:
        scope = self._scope()
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 1:  # OpDef.name=1
                for n2, w2, a2, b2 in self.w.fields(x, y):
                    if n2 == 1 and w2 == 2 and len(self.functions) < _FACT_CAP:
                        self.functions.append(self.w.text(a2, b2))
            elif number == 3:
                self._node_def(x, y, scope)

    def _node_def(self, a: int, b: int, scope: int) -> None:
        name = op = ""
        inputs: list[str] = []
        attrs: list[tuple[int, int]] = []
        for number, wt, x, y in self.w.fields(a, b):
            if wt != 2:
                continue
            if number == 1:
                name = self.w.text(x, y)
            elif number == 2:
                op = self.w.text(x, y)
            elif number == 3 and len(inputs) < 8:
                inputs.append(self.w.text(x, y))
            elif number == 5:
                attrs.append((x, y))
        self.facts["node_count"] += 1
        if len(self.op_types) < _FACT_CAP or op in self.op_types:
            self.op_types[op] += 1
        if op == "Const" and len(self.string_consts) < 100_000:
            value = self._attr(attrs, "value")
            if value is not None:
                text = self._tensor_string(*value)
                if text is not None:
                    self.string_consts[(scope, name)] = text
        elif op == "PrintV2":
            stream = self._attr(attrs, "output_stream")
            if stream is not None:
                target = self._attr_string(*stream)
                if target and target.startswith("file://"):
                    self.print_files.append((name, target, a))
        if op in _TF_RISKY and len(self.risky) < 10_000:
            self.risky.append((scope, op, name, inputs, a))

    def _attr(self, attrs: list[tuple[int, int]], wanted: str) -> tuple[int, int] | None:
        """The AttrValue payload of the map entry named ``wanted``."""
        for x, y in attrs:
            key = ""
            value: tuple[int, int] | None = None
            for number, wt, a2, b2 in self.w.fields(x, y):
                if number == 1 and wt == 2:
                    key = self.w.text(a2, b2)
                elif number == 2 and wt == 2:
                    value = (a2, b2)
            if key == wanted:
                return value
        return None

    def _attr_string(self, a: int, b: int) -> str | None:
        for number, wt, x, y in self.w.fields(a, b):
            if number == 2 and wt == 2:  # AttrValue.s
                return self.w.text(x, y)
        return None

    def _tensor_string(self, a: int, b: int) -> str | None:
        for number, wt, x, y in self.w.fields(a, b):
            if number == 8 and wt == 2:  # AttrValue.tensor -> TensorProto.string_val=8
                for n2, w2, a2, b2 in self.w.fields(x, y):
                    if n2 == 8 and w2 == 2:
                        return self.w.text(a2, b2)
        return None

    def _const_path(self, scope: int, inputs: list[str], index: int) -> str | None:
        if index >= len(inputs):
            return None
        return self.string_consts.get((scope, _tf_ref(inputs[index])))

    def _report(self) -> None:
        grouped: dict[str, list[tuple[int, str, list[str], int]]] = {}
        for scope, op, name, inputs, offset in self.risky:
            grouped.setdefault(op, []).append((scope, name, inputs, offset))
        for op, nodes in sorted(grouped.items()):
            scope, name, inputs, offset = nodes[0]
            count = len(nodes)
            if op in _TF_CRITICAL:
                self._add(
                    "tensorflow/python-op",
                    Severity.CRITICAL,
                    f"{count} {op} node(s) (first: {name!r}) call back into Python when the graph runs",
                    op,
                    offset,
                    "remove tf.py_function/tf.numpy_function from the exported graph",
                    count,
                )
            elif op in _TF_FILE_OPS:
                paths = sorted({p for s, _, i, _ in nodes if (p := self._const_path(s, i, 0)) is not None})
                where = f" on {', '.join(repr(p) for p in paths[:3])}" if paths else ""
                self._add(
                    "tensorflow/file-access",
                    Severity.HIGH,
                    f"{count} {op} node(s) (first: {name!r}) read or write files{where}",
                    op,
                    offset,
                    "remove file I/O from the serving graph; feed data through its inputs",
                    count,
                )
            elif op in _TF_CHECKPOINT_OPS:
                for s, n, i, o in nodes:
                    path = self._const_path(s, i, 0)
                    why = _path_escapes(path) if path is not None else None
                    if path is not None and why is not None:
                        self._add(
                            "tensorflow/checkpoint-path",
                            Severity.HIGH,
                            f"{op} node {n!r} uses the fixed path {path!r} ({why})",
                            op,
                            o,
                            "let the loader choose the checkpoint path; do not bake one into the graph",
                            1,
                        )
            elif op in _TF_NETWORK_OPS:
                self._add(
                    "tensorflow/network-op",
                    Severity.LOW,
                    f"{count} {op} node(s) (first: {name!r}) open network connections",
                    op,
                    offset,
                    "confirm the model is meant to talk to the network",
                    count,
                )
        for name, target, offset in self.print_files[:16]:
            self._add(
                "tensorflow/file-access",
                Severity.HIGH,
                f"PrintV2 node {name!r} writes to {target!r}",
                "PrintV2",
                offset,
                "remove tf.print(output_stream='file://...') from the exported graph",
                1,
            )

    def _add(
        self,
        rule: str,
        severity: Severity,
        message: str,
        construct: str,
        offset: int,
        remediation: str,
        count: int,
    ) -> None:
        self.out.append(
            self.ctx.finding(
                rule,
                severity,
                message,
                scanner=self.scanner,
                offset=offset,
                construct=construct,
                remediation=remediation,
                count=count,
            )
        )
