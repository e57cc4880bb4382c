"""A symbolic pickle machine: it follows every opcode without importing or calling anything.

Values on the stack are either plain constants (int, str, bytes, ...) or symbolic objects that say
what the real unpickler *would* have produced: ``Global`` (an imported callable), ``Call`` (the result
of invoking one), ``ModuleRef`` (an imported module), containers of those, and ``Persistent`` records.
The machine records every import and every invocation with its byte offset, resolves memo
indirection and ``getattr``/``__import__`` chains to the callable they reach, and keeps byte strings
handed to loaders so the scanner can analyse nested payloads.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Python 2 module and name aliases that the real unpickler maps for protocols < 3.
_IMPORT_MAPPING: dict[str, str] = dict(_compat_pickle.IMPORT_MAPPING)
_NAME_MAPPING: dict[tuple[str, str], tuple[str, str]] = dict(_compat_pickle.NAME_MAPPING)

_STRUCT_I = struct.Struct("<i")
_STRUCT_H = struct.Struct("<H")
_STRUCT_L = struct.Struct("<I")
_STRUCT_Q = struct.Struct("<Q")
_STRUCT_D = struct.Struct(">d")


class PickleError(Exception):
    """The stream is not a valid pickle at ``offset``."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset
        self.reason = message


@dataclass(frozen=True, slots=True)
class Global:
    """A callable or class imported by GLOBAL / STACK_GLOBAL / INST (or reached through getattr)."""

    module: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name


@dataclass(frozen=True, slots=True)
class ModuleRef:
    """A module object obtained by calling ``__import__`` / ``importlib.import_module``."""

    module: str


@dataclass(slots=True, eq=False)
class Call:
    """The result of invoking ``func`` (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ)."""

    func: Any
    args: Any
    offset: int
    state: Any = None
    """What BUILD applied to the result, if anything."""
    items: list[tuple[Any, Any]] = field(default_factory=list)
    """Key/value pairs SETITEM(S) stored into the result (an OrderedDict state_dict, say)."""


@dataclass(slots=True, eq=False)
class Persistent:
    """A PERSID / BINPERSID record, resolved by the loader's own persistent_load (torch storages)."""

    pid: Any
    offset: int


@dataclass(slots=True, eq=False)
class SList:
    items: list[Any] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class SDict:
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return None


@dataclass(slots=True, eq=False)
class SSet:
    items: list[Any] = field(default_factory=list)
    frozen: bool = False


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value the machine cannot know statically (an extension code, an out-of-band buffer)."""

    why: str


@dataclass(frozen=True, slots=True)
class Import:
    """One reference to a global, with how it was reached."""

    ref: Global
    offset: int
    via: str
    """Opcode or mechanism: GLOBAL, STACK_GLOBAL, INST, getattr, __import__."""


@dataclass(frozen=True, slots=True)
class Invocation:
    func: Any
    offset: int
    opcode: str


@dataclass(slots=True)
class PickleResult:
    """Everything learnt from one pickle stream (one STOP-terminated program)."""

    start: int
    end: int = 0
    stopped: bool = False
    protocol: int = 0
    ops: int = 0
    value: Any = None
    imports: list[Import] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    embedded: list[tuple[int, bytes, str]] = field(default_factory=list)
    """Byte strings handed to loaders or shaped like nested content: (offset, data, why)."""
    anomalies: list[tuple[int, str, str]] = field(default_factory=list)
    """(offset, rule, message) for constructs that are not imports but still suspicious."""
    persistent: list[Persistent] = field(default_factory=list)
    error: PickleError | None = None
    resynced: bool = False
    """Found by searching bytes that follow a damaged stream or non-pickle data."""
    interrupted: Exception | None = None
    """Set when ``tick`` stopped the machine (a scan limit); what was learnt so far is kept."""


def dotted_name(value: Any) -> str:
    """A readable name for a callable value, resolving chains (``getattr(os, 'system')`` -> ``os.system``)."""
    if isinstance(value, Global):
        return value.dotted
    if isinstance(value, ModuleRef):
        return value.module
    if isinstance(value, Call):
        return f"{dotted_name(value.func)}(...)"
    if isinstance(value, Unknown):
        return f"<{value.why}>"
    return type(value).__name__


_LOADERS_WITH_BYTES = frozenset(
    {
        "pickle.loads",
        "_pickle.loads",
        "cPickle.loads",
        "dill.loads",
        "dill._dill.loads",
        "cloudpickle.loads",
        "torch.storage._load_from_bytes",
        "torch.load",
        "torch.serialization.load",
        "joblib.load",
        "joblib.numpy_pickle.load",
        "numpy.load",
        "numpy.lib.npyio.load",
        "pandas.read_pickle",
        "pandas.io.pickle.read_pickle",
        "marshal.loads",
        "pickle.load",
        "_pickle.load",
        "dill.load",
        "pickle._loads",
        "pickle._load",
    }
)
_IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
_GETATTRS = frozenset({"builtins.getattr", "operator.attrgetter"})
_BYTESIO = frozenset({"io.BytesIO", "_io.BytesIO"})
_NESTED_MAGICS = (
    b"\x80\x02",
    b"\x80\x03",
    b"\x80\x04",
    b"\x80\x05",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\x93NUMPY",
)

Handler = Callable[["PickleMachine", PickleResult], None]


class PickleMachine:
    """Interprets one pickle program symbolically. Create one per stream; call ``run``."""

    def __init__(self, data: bytes | memoryview, *, tick: Callable[[int], None] | None = None) -> None:
        self.data = data
        self.size = len(data)
        self.tick = tick
        self.pos = 0
        self.op_offset = 0
        self.frame_end = 0
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.attrs: dict[tuple[str, str], Any] = {}
        self.result = PickleResult(start=0)
        self._dispatch = self._dispatch_table()

    # -- reading -------------------------------------------------------------------------------
    def _take(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if n < 0 or end > self.size:
            raise PickleError(pos, f"truncated: needs {n} bytes, {self.size - pos} left")
        self.pos = end
        return bytes(self.data[pos:end])

    def _line(self) -> bytes:
        data, pos = self.data, self.pos
        limit = min(self.size, pos + 1_048_576)
        i = pos
        while i < limit and data[i] != 10:
            i += 1
        if i >= limit:
            raise PickleError(pos, "unterminated text argument")
        self.pos = i + 1
        return bytes(data[pos:i])

    # -- running ---------------------------------------------------------------------------------
    def run(self, start: int = 0) -> PickleResult:
        """Interpret from ``start`` to the first STOP (or to the error that ends the stream)."""
        self.pos = start
        self.stack = []
        self.metastack = []
        self.memo = {}
        self.attrs = {}
        self.frame_end = 0
        result = PickleResult(start=start)
        self.result = result
        dispatch = self._dispatch
        data = self.data
        ops = 0
        try:
            while True:
                if self.pos >= self.size:
                    raise PickleError(self.pos, "truncated: stream ends before STOP")
                self.op_offset = self.pos
                code = data[self.pos]
                self.pos += 1
                ops += 1
                if ops & 0x3FFF == 0 and self.tick is not None:
                    self.tick(0x4000)
                if code == 0x2E:  # STOP
                    result.value = self._pop()
                    result.stopped = True
                    break
                handler = dispatch.get(code)
                if handler is None:
                    raise PickleError(self.op_offset, f"unknown opcode 0x{code:02x}")
                handler(self, result)
                if self.pos > self.frame_end > self.op_offset:
                    result.anomalies.append(
                        (self.op_offset, "pickle/frame-violation", "an opcode runs past the end of its FRAME")
                    )
                    self.frame_end = 0
        except PickleError as exc:
            result.error = exc
        except (IndexError, ValueError, struct.error, UnicodeDecodeError, OverflowError) as exc:
            result.error = PickleError(self.op_offset, f"invalid argument ({exc})")
        except Exception as exc:  # noqa: BLE001 - a limit raised by ``tick``; the caller re-raises it
            result.interrupted = exc
        result.ops = ops
        result.end = self.pos
        if self.tick is not None:
            self.tick(ops & 0x3FFF)
        return result

    # -- stack helpers ---------------------------------------------------------------------------
    def _pop(self) -> Any:
        if not self.stack:
            raise PickleError(self.op_offset, "stack underflow")
        return self.stack.pop()

    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise PickleError(self.op_offset, "no MARK on the stack")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _push(self, value: Any) -> None:
        self.stack.append(value)
        if isinstance(value, bytes) and len(value) >= 16 and value.startswith(_NESTED_MAGICS):
            self.result.embedded.append((self.op_offset, value, "bytes shaped like a serialised object"))

    # -- imports and calls -----------------------------------------------------------------------
    def _import(self, module: str, name: str, via: str) -> Global:
        if self.result.protocol < 3:
            if (module, name) in _NAME_MAPPING:
                module, name = _NAME_MAPPING[(module, name)]
            elif module in _IMPORT_MAPPING:
                module = _IMPORT_MAPPING[module]
        ref = Global(module, name)
        self.result.imports.append(Import(ref, self.op_offset, via))
        return ref

    def _remember_attrs(self, target: Global | ModuleRef, state: Any) -> None:
        """BUILD on an imported object sets its attributes (``numpy.prod.a = "os"``); later imports of
        ``prod.a`` then yield that value, as the real unpickler's getattr would (modelscan issue #85)."""
        if isinstance(state, tuple) and len(state) == 2:
            state = state[1] if isinstance(state[1], SDict) else state[0]
        if not isinstance(state, SDict):
            return
        module, base = (target.module, target.name) if isinstance(target, Global) else (target.module, "")
        for key, value in state.items:
            if isinstance(key, str):
                self.attrs[(module, f"{base}.{key}" if base else key)] = value

    def _resolve(self, ref: Global) -> Any:
        return self.attrs.get((ref.module, ref.name), ref) if self.attrs else ref

    def _call(self, func: Any, args: Any, opcode: str) -> Any:
        offset = self.op_offset
        self.result.invocations.append(Invocation(func, offset, opcode))
        name = func.dotted if isinstance(func, Global) else None
        argv = args if isinstance(args, tuple) else ()
        if name in _IMPORTERS and argv and isinstance(argv[0], str):
            self.result.imports.append(Import(Global(argv[0], ""), offset, "__import__"))
            return ModuleRef(argv[0])
        if name in _GETATTRS and len(argv) >= 2 and isinstance(argv[1], str):
            target = argv[0]
            if isinstance(target, ModuleRef):
                ref = Global(target.module, argv[1])
            elif isinstance(target, Global):
                ref = Global(target.module, f"{target.name}.{argv[1]}" if target.name else argv[1])
            else:
                ref = Global(f"{dotted_name(target)}", argv[1])
            self.result.imports.append(Import(ref, offset, "getattr"))
            return ref
        if name in _BYTESIO and argv and isinstance(argv[0], bytes):
            return argv[0]  # torch.load(io.BytesIO(b"...")) reads the same bytes
        if name in _LOADERS_WITH_BYTES:
            if argv and isinstance(argv[0], (bytes, bytearray)):
                self.result.embedded.append((offset, bytes(argv[0]), f"argument of {name}"))
            else:
                self.result.anomalies.append(
                    (offset, "pickle/nested-loader-dynamic", f"{name} called on a value not known statically")
                )
        return Call(func, args, offset)

    # -- opcode handlers -------------------------------------------------------------------------
    @staticmethod
    @functools.cache
    def _dispatch_table() -> dict[int, Handler]:
        """Opcode byte -> handler(machine, result); built once per process."""
        table: dict[bytes, Handler] = {}

        def op(code: bytes) -> Callable[[Handler], Handler]:
            def register(fn: Handler) -> Handler:
                table[code] = fn
                return fn

            return register

        @op(b"\x80")
        def proto(m: PickleMachine, r: PickleResult) -> None:
            if m.op_offset != r.start:
                r.anomalies.append((m.op_offset, "pickle/misplaced-proto", "PROTO opcode inside the stream"))
            r.protocol = m._take(1)[0]
            if r.protocol > 5:
                raise PickleError(m.op_offset, f"unsupported protocol {r.protocol}")

        @op(b"\x95")
        def frame(m: PickleMachine, r: PickleResult) -> None:
            (length,) = _STRUCT_Q.unpack(m._take(8))
            if m.frame_end > m.op_offset:
                r.anomalies.append(
                    (m.op_offset, "pickle/frame-violation", "FRAME starts inside another frame")
                )
            m.frame_end = m.pos + length
            if m.frame_end > m.size:
                r.anomalies.append(
                    (
                        m.op_offset,
                        "malformed/pickle-frame",
                        f"FRAME of {length:,} bytes runs past the end of the data",
                    )
                )

        @op(b"(")
        def mark(m: PickleMachine, r: PickleResult) -> None:
            m.metastack.append(m.stack)
            m.stack = []

        @op(b"0")
        def pop(m: PickleMachine, r: PickleResult) -> None:
            if m.stack:
                m.stack.pop()
            else:
                m._pop_mark()

        @op(b"1")
        def pop_mark(m: PickleMachine, r: PickleResult) -> None:
            m._pop_mark()

        @op(b"2")
        def dup(m: PickleMachine, r: PickleResult) -> None:
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")
            m.stack.append(m.stack[-1])

        # constants
        @op(b"N")
        def none(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(None)

        @op(b"\x88")
        def newtrue(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(True)

        @op(b"\x89")
        def newfalse(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(False)

        @op(b"I")
        def int_(m: PickleMachine, r: PickleResult) -> None:
            text = m._line()
            m.stack.append(False if text == b"00" else True if text == b"01" else _c_int(text))

        @op(b"J")
        def binint(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(_STRUCT_I.unpack(m._take(4))[0])

        @op(b"K")
        def binint1(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(m._take(1)[0])

        @op(b"M")
        def binint2(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(_STRUCT_H.unpack(m._take(2))[0])

        @op(b"L")
        def long_(m: PickleMachine, r: PickleResult) -> None:
            text = m._line()
            m.stack.append(int(text[:-1] if text.endswith(b"L") else text, 0))

        @op(b"\x8a")
        def long1(m: PickleMachine, r: PickleResult) -> None:
            n = m._take(1)[0]
            m.stack.append(int.from_bytes(m._take(n), "little", signed=True))

        @op(b"\x8b")
        def long4(m: PickleMachine, r: PickleResult) -> None:
            n = _STRUCT_I.unpack(m._take(4))[0]
            if n < 0:
                raise PickleError(m.op_offset, "negative LONG4 length")
            m.stack.append(int.from_bytes(m._take(n), "little", signed=True))

        @op(b"F")
        def float_(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(float(m._line()))

        @op(b"G")
        def binfloat(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(_STRUCT_D.unpack(m._take(8))[0])

        @op(b"S")
        def string(m: PickleMachine, r: PickleResult) -> None:
            text = m._line()
            if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b'"', b"'"):
                raise PickleError(m.op_offset, "STRING argument is not quoted")
            m._push(codecs.escape_decode(text[1:-1])[0].decode("latin-1"))

        @op(b"T")
        def binstring(m: PickleMachine, r: PickleResult) -> None:
            n = _STRUCT_I.unpack(m._take(4))[0]
            m._push(m._take(n).decode("latin-1"))

        @op(b"U")
        def short_binstring(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(m._take(1)[0]).decode("latin-1"))

        @op(b"B")
        def binbytes(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(_STRUCT_L.unpack(m._take(4))[0]))

        @op(b"C")
        def short_binbytes(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(m._take(1)[0]))

        @op(b"\x8e")
        def binbytes8(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(_STRUCT_Q.unpack(m._take(8))[0]))

        @op(b"\x96")
        def bytearray8(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(_STRUCT_Q.unpack(m._take(8))[0]))

        @op(b"V")
        def unicode_(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._line().decode("raw-unicode-escape"))

        @op(b"X")
        def binunicode(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(_STRUCT_L.unpack(m._take(4))[0]).decode("utf-8", "surrogatepass"))

        @op(b"\x8c")
        def short_binunicode(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(m._take(1)[0]).decode("utf-8", "surrogatepass"))

        @op(b"\x8d")
        def binunicode8(m: PickleMachine, r: PickleResult) -> None:
            m._push(m._take(_STRUCT_Q.unpack(m._take(8))[0]).decode("utf-8", "surrogatepass"))

        @op(b"\x97")
        def next_buffer(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(Unknown("out-of-band buffer"))

        @op(b"\x98")
        def readonly_buffer(m: PickleMachine, r: PickleResult) -> None:
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")

        # containers
        @op(b")")
        def empty_tuple(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(())

        @op(b"t")
        def tuple_(m: PickleMachine, r: PickleResult) -> None:
            items = tuple(m._pop_mark())  # pop first: it switches m.stack back to the outer list
            m.stack.append(items)

        @op(b"\x85")
        def tuple1(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append((m._pop(),))

        @op(b"\x86")
        def tuple2(m: PickleMachine, r: PickleResult) -> None:
            b = m._pop()
            m.stack.append((m._pop(), b))

        @op(b"\x87")
        def tuple3(m: PickleMachine, r: PickleResult) -> None:
            c = m._pop()
            b = m._pop()
            m.stack.append((m._pop(), b, c))

        @op(b"]")
        def empty_list(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(SList())

        @op(b"l")
        def list_(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            m.stack.append(SList(items))

        @op(b"}")
        def empty_dict(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(SDict())

        @op(b"d")
        def dict_(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            m.stack.append(SDict(list(zip(items[::2], items[1::2], strict=False))))

        @op(b"\x8f")
        def empty_set(m: PickleMachine, r: PickleResult) -> None:
            m.stack.append(SSet())

        @op(b"\x91")
        def frozenset_(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            m.stack.append(SSet(items, frozen=True))

        @op(b"a")
        def append(m: PickleMachine, r: PickleResult) -> None:
            value = m._pop()
            target = m.stack[-1] if m.stack else None
            if isinstance(target, SList):
                target.items.append(value)
            elif target is None:
                raise PickleError(m.op_offset, "stack underflow")

        @op(b"e")
        def appends(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")
            target = m.stack[-1]
            if isinstance(target, SList):
                target.items.extend(items)

        @op(b"\x90")
        def additems(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")
            target = m.stack[-1]
            if isinstance(target, SSet):
                target.items.extend(items)

        @op(b"s")
        def setitem(m: PickleMachine, r: PickleResult) -> None:
            value = m._pop()
            key = m._pop()
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")
            target = m.stack[-1]
            if isinstance(target, (SDict, Call)):
                target.items.append((key, value))

        @op(b"u")
        def setitems(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")
            target = m.stack[-1]
            if isinstance(target, (SDict, Call)):
                target.items.extend(zip(items[::2], items[1::2], strict=False))

        # memo
        def put(m: PickleMachine, index: int) -> None:
            if not m.stack:
                raise PickleError(m.op_offset, "memo store from an empty stack")
            m.memo[index] = m.stack[-1]

        def get(m: PickleMachine, index: int) -> None:
            if index not in m.memo:
                raise PickleError(m.op_offset, f"memo key {index} was never stored")
            m.stack.append(m.memo[index])

        table[b"p"] = lambda m, r: put(m, int(m._line()))
        table[b"q"] = lambda m, r: put(m, m._take(1)[0])
        table[b"r"] = lambda m, r: put(m, _STRUCT_L.unpack(m._take(4))[0])
        table[b"\x94"] = lambda m, r: put(m, len(m.memo))
        table[b"g"] = lambda m, r: get(m, int(m._line()))
        table[b"h"] = lambda m, r: get(m, m._take(1)[0])
        table[b"j"] = lambda m, r: get(m, _STRUCT_L.unpack(m._take(4))[0])

        # imports
        @op(b"c")
        def global_(m: PickleMachine, r: PickleResult) -> None:
            module = m._line().decode("utf-8")
            name = m._line().decode("utf-8")
            m.stack.append(m._resolve(m._import(module, name, "GLOBAL")))

        @op(b"\x93")
        def stack_global(m: PickleMachine, r: PickleResult) -> None:
            name = m._pop()
            module = m._pop()
            if isinstance(module, str) and isinstance(name, str):
                m.stack.append(m._resolve(m._import(module, name, "STACK_GLOBAL")))
            else:
                ref = Global(f"<{dotted_name(module)}>", f"<{dotted_name(name)}>")
                r.anomalies.append(
                    (
                        m.op_offset,
                        "pickle/dynamic-global",
                        "STACK_GLOBAL with a module or name computed at load time",
                    )
                )
                r.imports.append(Import(ref, m.op_offset, "STACK_GLOBAL"))
                m.stack.append(ref)

        def ext(m: PickleMachine, code: int) -> None:
            r = m.result
            r.anomalies.append(
                (
                    m.op_offset,
                    "pickle/extension-code",
                    f"EXT opcode imports copyreg extension {code}, whose callable is registered at load time",
                )
            )
            m.stack.append(Unknown(f"copyreg extension {code}"))

        table[b"\x82"] = lambda m, r: ext(m, m._take(1)[0])
        table[b"\x83"] = lambda m, r: ext(m, _STRUCT_H.unpack(m._take(2))[0])
        table[b"\x84"] = lambda m, r: ext(m, _STRUCT_I.unpack(m._take(4))[0])

        # calls
        @op(b"R")
        def reduce(m: PickleMachine, r: PickleResult) -> None:
            args = m._pop()
            func = m._pop()
            m.stack.append(m._call(func, args, "REDUCE"))

        @op(b"\x81")
        def newobj(m: PickleMachine, r: PickleResult) -> None:
            args = m._pop()
            cls = m._pop()
            m.stack.append(m._call(cls, args, "NEWOBJ"))

        @op(b"\x92")
        def newobj_ex(m: PickleMachine, r: PickleResult) -> None:
            m._pop()  # kwargs
            args = m._pop()
            cls = m._pop()
            m.stack.append(m._call(cls, args, "NEWOBJ_EX"))

        @op(b"i")
        def inst(m: PickleMachine, r: PickleResult) -> None:
            module = m._line().decode("utf-8")
            name = m._line().decode("utf-8")
            args = tuple(m._pop_mark())
            m.stack.append(m._call(m._import(module, name, "INST"), args, "INST"))

        @op(b"o")
        def obj(m: PickleMachine, r: PickleResult) -> None:
            items = m._pop_mark()
            if not items:
                raise PickleError(m.op_offset, "OBJ without a class")
            m.stack.append(m._call(items[0], tuple(items[1:]), "OBJ"))

        @op(b"b")
        def build(m: PickleMachine, r: PickleResult) -> None:
            state = m._pop()
            if not m.stack:
                raise PickleError(m.op_offset, "stack underflow")
            target = m.stack[-1]
            if isinstance(target, Call):
                target.state = state
            elif isinstance(target, (Global, ModuleRef)):
                m._remember_attrs(target, state)
                r.anomalies.append(
                    (
                        m.op_offset,
                        "pickle/attribute-overwrite",
                        f"BUILD sets attributes on the imported object {dotted_name(target)}",
                    )
                )
            if isinstance(state, SDict) and state.get("__setstate__") is not None:
                r.anomalies.append(
                    (m.op_offset, "pickle/setstate-override", "BUILD state replaces __setstate__")
                )
            if m.build_hook is not None:
                m.build_hook(target, state)

        @op(b"P")
        def persid(m: PickleMachine, r: PickleResult) -> None:
            record = Persistent(m._line().decode("ascii"), m.op_offset)
            r.persistent.append(record)
            m.stack.append(record)

        @op(b"Q")
        def binpersid(m: PickleMachine, r: PickleResult) -> None:
            record = Persistent(m._pop(), m.op_offset)
            r.persistent.append(record)
            m.stack.append(record)

        return {code[0]: fn for code, fn in table.items()}

    build_hook: Callable[[Any, Any], None] | None = None
    """Called after each BUILD with (target, state); lets joblib skip its inline array bytes."""


def _c_int(text: bytes) -> int:
    """INT's argument as CPython reads it: ``strtol(s, NULL, 0)``, so ``0x10`` and octal ``010`` work."""
    body = text.strip()
    sign = -1 if body.startswith(b"-") else 1
    digits = body.lstrip(b"+-")
    if digits[:2].lower() == b"0x":
        return sign * int(digits[2:], 16)
    if len(digits) > 1 and digits.startswith(b"0"):
        return sign * int(digits, 8)
    return int(body, 0)


def decodes_as_pickle(data: bytes | memoryview, max_ops: int = 1_000_000) -> bool:
    """Whether ``data`` starts with a well-formed pickle program (for protocol 0/1 sniffing)."""
    spent = [0]

    def tick(n: int) -> None:
        spent[0] += n
        if spent[0] > max_ops:
            raise PickleError(0, "too many opcodes for a sniff")

    result = PickleMachine(data, tick=tick).run(0)
    return result.stopped and result.error is None and result.ops > 1
