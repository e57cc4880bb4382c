"""Pickle streams (protocols 0-5): plain pickles, legacy torch files, joblib dumps, dill.

Every stream in the blob is interpreted by the symbolic machine: several pickles back to back,
data after a STOP, the five pickles of the legacy torch format and joblib's arrays written inline
between opcodes. What each stream imports is judged against the exact allowlist; byte strings handed
to loaders (``pickle.loads``, ``torch.load(io.BytesIO(...))`` ...) are scanned as nested members.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats import pickle_rules
from mlwarden.scanning._formats.pickle_vm import (
    Call,
    Global,
    Persistent,
    PickleMachine,
    PickleResult,
    SDict,
    SList,
    dotted_name,
)
from mlwarden.scanning.interface import Blob, Buffer, BytesBlob, ScanContext, Scanner

LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_TORCH_PICKLES = 5  # magic, protocol version, sys info, the object, storage keys
_MAX_STREAMS = 10_000
_MAX_TENSOR_FACTS = 20_000
_NAME = "pickle"
_REMEDIATION = "do not load this file; if you trust its source, re-save the weights as safetensors"
_ANOMALY_SEVERITY = {
    "pickle/dynamic-global": Severity.HIGH,
    "pickle/extension-code": Severity.HIGH,
    "pickle/attribute-overwrite": Severity.HIGH,
    "pickle/setstate-override": Severity.HIGH,
    "pickle/nested-loader-dynamic": Severity.HIGH,
    "pickle/misplaced-proto": Severity.LOW,
    "malformed/pickle-frame": Severity.MEDIUM,
}
# Loaders that torch itself emits with a constant argument; the argument is scanned, the call is not news.
_ANALYSED_LOADERS = frozenset({"torch.storage._load_from_bytes"})
_DTYPE_SIZE = re.compile(r"^[<>|=]?([a-zA-Z])(\d*)$")
_KIND_SIZE = {
    "b": 1,
    "?": 1,
    "B": 1,
    "h": 2,
    "H": 2,
    "e": 2,
    "i": 4,
    "I": 4,
    "f": 4,
    "l": 8,
    "L": 8,
    "q": 8,
    "Q": 8,
    "d": 8,
    "g": 16,
    "F": 8,
    "D": 16,
    "G": 32,
}


class PickleScanner(Scanner):
    """Symbolic analysis of pickle programs; never calls ``pickle.load``."""

    name: ClassVar[str] = _NAME
    formats: ClassVar[frozenset[str]] = frozenset({"pickle"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        data = blob.data()
        results = analyse_streams(data, ctx)
        yield from self._findings(results, ctx)
        for result in results:
            for offset, payload, _why in result.embedded:
                yield from ctx.scan_member(BytesBlob(payload), f"@{offset}")
        interrupted = next((r.interrupted for r in results if r.interrupted is not None), None)
        if interrupted is not None:
            raise interrupted
        _record_facts(results, ctx)

    def _findings(self, results: list[PickleResult], ctx: ScanContext) -> Iterator[Finding]:
        first = results[0]
        if first.error is not None and not first.ops > 1:
            yield ctx.finding(
                "malformed/pickle",
                Severity.MEDIUM,
                f"not a valid pickle: {first.error.reason}",
                scanner=self.name,
                offset=first.error.offset,
                remediation="re-export the file with its original tool",
            )
            return
        reported: dict[tuple[str, str], Finding] = {}
        needs_loader_check = any(i.ref.dotted in _ANALYSED_LOADERS for r in results for i in r.imports)
        constant_loads = _constant_loader_calls(results) if needs_loader_check else set()
        for index, result in enumerate(results):
            for item in result.imports:
                verdict = pickle_rules.judge(item.ref.module, item.ref.name)
                if verdict is None:
                    continue
                dotted = item.ref.dotted
                severity = verdict.severity
                if dotted in _ANALYSED_LOADERS and dotted in constant_loads:
                    severity = Severity.INFO
                key = (verdict.rule_id, dotted)
                if key in reported:
                    reported[key].details["count"] = reported[key].details.get("count", 1) + 1
                    continue
                stream = f" (pickle stream {index + 1})" if index else ""
                if result.resynced:
                    stream = f" (in a pickle hidden after non-pickle bytes, at byte {result.start})"
                reported[key] = ctx.finding(
                    verdict.rule_id,
                    severity,
                    f"{verdict.reason}{stream}",
                    scanner=self.name,
                    offset=item.offset,
                    construct=dotted,
                    remediation=_REMEDIATION,
                    via=item.via,
                    invoked=_invoked(result, item.ref),
                )
            for offset, rule, message in result.anomalies:
                key = (rule, str(offset))
                reported[key] = ctx.finding(
                    rule,
                    _ANOMALY_SEVERITY.get(rule, Severity.HIGH),
                    message,
                    scanner=self.name,
                    offset=offset,
                    remediation=_REMEDIATION,
                )
        yield from reported.values()
        if first.value == LEGACY_TORCH_MAGIC and len(results) < _LEGACY_TORCH_PICKLES:
            yield ctx.finding(
                "malformed/pickle",
                Severity.MEDIUM,
                f"legacy torch file ends after {len(results)} of its {_LEGACY_TORCH_PICKLES} pickles",
                scanner=self.name,
                remediation="re-save the checkpoint with torch.save",
            )
        last = results[-1]
        if last.error is not None and (last is first or last.imports):
            yield ctx.finding(
                "malformed/pickle",
                Severity.MEDIUM,
                f"pickle stream is damaged: {last.error.reason}",
                scanner=self.name,
                offset=last.error.offset,
                remediation="re-export the file with its original tool",
            )


def analyse_streams(data: Buffer, ctx: ScanContext | None = None) -> list[PickleResult]:
    """Interpret every pickle stream in ``data``, in order."""
    tick = (lambda n: ctx.charge("ops", n)) if ctx is not None else None
    machine = PickleMachine(data, tick=tick)
    results: list[PickleResult] = []
    machine.build_hook = lambda target, state: _skip_joblib_array(machine, target, state, results)
    pos = 0
    legacy = False
    while pos < len(data) and len(results) < _MAX_STREAMS:
        if ctx is not None:
            ctx.check_time()
        result = machine.run(pos)
        if results and result.ops <= 1 and result.error is not None:
            break  # trailing bytes that are not a pickle
        if results and not result.stopped and not result.imports:
            break  # trailing data that merely happens to start like an opcode
        results.append(result)
        if len(results) == 1 and result.value == LEGACY_TORCH_MAGIC:
            legacy = True
        if not result.stopped or result.interrupted is not None:
            break
        if legacy and len(results) == _LEGACY_TORCH_PICKLES:
            return results  # the rest is raw storage bytes
        pos = result.end
    if results and not legacy and results[-1].interrupted is None:
        last = results[-1]
        tail = last.end if last.stopped else last.start + 1
        results.extend(_resync(machine, data, tail))
    return results


_RESYNC_START = re.compile(rb"\x80[\x02-\x05]|c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")
_RESYNC_WINDOW = 64 << 20
_RESYNC_CANDIDATES = 256


def _resync(machine: PickleMachine, data: Buffer, start: int) -> list[PickleResult]:
    """Pickles hidden after junk or a damaged stream, where custom loaders that skip bytes would find them."""
    window = bytes(data[start : start + _RESYNC_WINDOW])
    found: list[PickleResult] = []
    resume = 0
    for count, match in enumerate(_RESYNC_START.finditer(window)):
        if count >= _RESYNC_CANDIDATES:
            break
        offset = match.start()
        if offset < resume:
            continue
        result = machine.run(start + offset)
        if result.interrupted is not None:
            found.append(result)
            break
        if result.imports and (
            result.stopped
            or any(
                (v := pickle_rules.judge(i.ref.module, i.ref.name)) is not None
                and v.severity >= Severity.HIGH
                for i in result.imports
            )
        ):
            result.resynced = True
            found.append(result)
            resume = result.end - start
    return found


def _skip_joblib_array(machine: PickleMachine, target: Any, state: Any, results: list[PickleResult]) -> None:
    """joblib writes each array's bytes right after its wrapper's BUILD; step over them.

    Object arrays are written as a nested pickle there, which is analysed as a stream of its own.
    """
    if not (isinstance(target, Call) and isinstance(target.func, Global)):
        return
    if target.func.dotted != "joblib.numpy_pickle.NumpyArrayWrapper" or not isinstance(state, SDict):
        return
    shape = state.get("shape")
    dtype = state.get("dtype")
    if isinstance(dtype, Call) and isinstance(dtype.args, tuple) and dtype.args:
        descr = dtype.args[0]
    else:
        descr = None
    machine.frame_end = 0  # joblib commits the frame before writing the array bytes
    if descr in ("O8", "|O"):
        nested = PickleMachine(machine.data, tick=machine.tick).run(machine.pos)
        results.append(nested)
        machine.pos = nested.end
        return
    itemsize = _itemsize(descr)
    if not isinstance(shape, tuple) or not all(isinstance(n, int) for n in shape) or itemsize is None:
        return  # cannot size the array; the machine reports the bytes as a damaged stream
    if state.get("numpy_array_alignment_bytes") is not None and machine.pos < machine.size:
        machine.pos += 1 + machine.data[machine.pos]  # padding-length byte, then the padding
    count = 1
    for n in shape:
        count *= n
    machine.pos += count * itemsize


def _itemsize(descr: Any) -> int | None:
    if not isinstance(descr, str):
        return None
    match = _DTYPE_SIZE.match(descr)
    if not match:
        return None
    kind, digits = match.groups()
    if digits:
        return int(digits) * (4 if kind == "U" else 1)
    return _KIND_SIZE.get(kind)


def _constant_loader_calls(results: list[PickleResult]) -> set[str]:
    """Loader names whose every invocation received constant bytes (scanned as nested members)."""
    good: set[str] = set()
    bad: set[str] = set()
    for result in results:
        dynamic = {offset for offset, rule, _ in result.anomalies if rule == "pickle/nested-loader-dynamic"}
        for call in result.invocations:
            name = dotted_name(call.func)
            (bad if call.offset in dynamic else good).add(name)
    return good - bad


def _invoked(result: PickleResult, ref: Global) -> bool:
    return any(isinstance(c.func, Global) and c.func == ref for c in result.invocations)


def _record_facts(results: list[PickleResult], ctx: ScanContext) -> None:
    """Structure for the capability classifier: state-dict keys and tensor shapes, never tensor bytes."""
    main = results[3] if results[0].value == LEGACY_TORCH_MAGIC and len(results) > 3 else results[0]
    tensors: dict[str, list[int]] = {}
    _walk_tensors(main.value, "", tensors, 0)
    facts = ctx.facts.setdefault(ctx.member or "", {})
    facts["pickle"] = {
        "streams": len(results),
        "protocol": results[0].protocol,
        "legacy_torch": results[0].value == LEGACY_TORCH_MAGIC,
        "imports": sorted({i.ref.dotted for r in results for i in r.imports})[:1000],
        "top_level_keys": _keys(main.value)[:1000],
        "tensors": tensors,
        "config": _plain(main.value, 0),
    }


_PLAIN_BUDGET = 2_000


def _plain(value: Any, depth: int, budget: list[int] | None = None) -> Any:
    """A JSON-able copy of constants, lists and string-keyed dicts (tensors and calls left out)."""
    budget = budget if budget is not None else [_PLAIN_BUDGET]
    budget[0] -= 1
    if budget[0] < 0 or depth > 6:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value if not isinstance(value, str) or len(value) <= 256 else value[:256]
    if isinstance(value, tuple):
        return [_plain(v, depth + 1, budget) for v in value[:64]]
    if isinstance(value, SList):
        return [_plain(v, depth + 1, budget) for v in value.items[:64]]
    is_mapping = isinstance(value, SDict) or (
        isinstance(value, Call) and bool(value.items) and _tensor_shape(value) is None
    )
    if not is_mapping:
        return None
    pairs: list[tuple[Any, Any]] = value.items
    out: dict[str, Any] = {}
    for key, item in pairs[:256]:
        if isinstance(key, str) and not (isinstance(item, Call) and _tensor_shape(item) is not None):
            out[key] = _plain(item, depth + 1, budget)
    return out


def _keys(value: Any) -> list[str]:
    if isinstance(value, SDict):
        return [k for k, _ in value.items if isinstance(k, str)]
    if isinstance(value, Call):
        pairs = value.items + (value.state.items if isinstance(value.state, SDict) else [])
        return [k for k, _ in pairs if isinstance(k, str)]
    return []


def _walk_tensors(value: Any, prefix: str, out: dict[str, list[int]], depth: int) -> None:
    if depth > 12 or len(out) >= _MAX_TENSOR_FACTS:
        return
    if isinstance(value, Call):
        shape = _tensor_shape(value)
        if shape is not None:
            out[prefix.rstrip(".")] = shape
            return
        if value.items:
            _walk_tensors(SDict(value.items), prefix, out, depth + 1)
        if isinstance(value.state, SDict):
            _walk_tensors(value.state, prefix, out, depth + 1)
    elif isinstance(value, SDict):
        for key, item in value.items:
            if isinstance(key, (str, int)):
                _walk_tensors(item, f"{prefix}{key}.", out, depth + 1)
    elif isinstance(value, SList):
        for i, item in enumerate(value.items[:_MAX_TENSOR_FACTS]):
            _walk_tensors(item, f"{prefix}{i}.", out, depth + 1)


def _tensor_shape(call: Call) -> list[int] | None:
    """Shape argument of torch's ``_rebuild_tensor*`` / ``_rebuild_parameter`` calls."""
    if not isinstance(call.func, Global) or not call.func.name.startswith(
        ("_rebuild_tensor", "_rebuild_parameter")
    ):
        return None
    args = call.args if isinstance(call.args, tuple) else ()
    if call.func.name.startswith("_rebuild_parameter") and args and isinstance(args[0], Call):
        return _tensor_shape(args[0])
    if len(args) >= 3 and isinstance(args[0], Persistent) and isinstance(args[2], tuple):
        return [n for n in args[2] if isinstance(n, int)]
    return None


__all__ = ["LEGACY_TORCH_MAGIC", "PickleScanner", "analyse_streams"]
