"""Keras model configurations (the JSON in a .h5 ``model_config`` attribute or a .keras ``config.json``).

Loading a Keras config imports the modules it names and rebuilds Lambda layers from marshalled
bytecode, so the config alone decides what code runs. The walk is iterative and bounded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import ScanContext

_MAX_NODES = 1_000_000
_MAX_DEPTH = 200
_MAX_FINDINGS = 200

_KERAS_PACKAGES = frozenset(
    {"keras", "tensorflow", "tf_keras", "tf", "keras_hub", "keras_nlp", "keras_cv", "keras_core"}
)
_DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "importlib", "runpy",
        "shutil", "socket", "pickle", "_pickle", "cPickle", "dill", "marshal", "ctypes", "code", "codeop",
        "pty", "commands", "pdb", "bdb", "webbrowser", "multiprocessing", "signal", "platform", "asyncio",
        "requests", "urllib", "urllib2", "urllib3", "http", "httpx", "ftplib", "smtplib", "telnetlib",
        "paramiko", "types", "operator", "functools", "io", "tempfile", "glob", "pathlib", "posixpath",
        "ntpath",
    }
)  # fmt: skip
_GADGETS = {
    "keras.config.enable_unsafe_deserialization": Severity.CRITICAL,
    "keras.utils.get_file": Severity.HIGH,
    "keras.utils.data_utils.get_file": Severity.HIGH,
    "keras.utils.file_utils.get_file": Severity.HIGH,
    "keras.models.load_model": Severity.HIGH,
    "keras.saving.load_model": Severity.HIGH,
    "keras.saving.saving_api.load_model": Severity.HIGH,
    "keras.saving.saving_lib.load_model": Severity.HIGH,
    "keras.layers.TFSMLayer": Severity.HIGH,
    "keras.export.TFSMLayer": Severity.HIGH,
    "tensorflow.io.read_file": Severity.HIGH,
    "tensorflow.io.write_file": Severity.HIGH,
    "tensorflow.io.matching_files": Severity.HIGH,
    "tensorflow.py_function": Severity.CRITICAL,
    "tensorflow.numpy_function": Severity.CRITICAL,
    "tensorflow.compat.v1.py_func": Severity.CRITICAL,
    "tensorflow.saved_model.load": Severity.HIGH,
}
_GADGET_PREFIXES = (
    "tensorflow.io.gfile.",
    "tensorflow.python.",
    "tensorflow.raw_ops.",
    "tensorflow.compat.v1.gfile.",
    "keras.utils.file_utils.",
    "keras.utils.io_utils.",
)
_BYTECODE_NAMES = re.compile(
    rb"(?<![A-Za-z0-9_])(os|posix|system|popen|subprocess|exec|eval|__import__|__builtins__|socket|"
    rb"urlopen|urllib|requests|open|compile|getattr|marshal|pickle|ctypes|shutil|check_output|Popen)"
    rb"(?![A-Za-z0-9_])"
)
_LAMBDA_REMEDIATION = "do not load this model; rebuild the layer as a registered custom layer class"


def _normalise(name: str) -> str:
    for old, new in (
        ("tf.", "tensorflow."),
        ("tensorflow.keras.", "keras."),
        ("keras.src.", "keras."),
        ("tf_keras.", "keras."),
    ):
        if name.startswith(old):
            name = new + name[len(old) :]
    return name


def _gadget(name: str) -> Severity | None:
    name = _normalise(name)
    if name in _GADGETS:
        return _GADGETS[name]
    return Severity.HIGH if name.startswith(_GADGET_PREFIXES) else None


def _bytecode_names(function: object) -> list[str]:
    """Names visible in a marshalled Lambda body (base64), found by byte search; never unmarshalled."""
    encoded = function[0] if isinstance(function, list) and function else function
    if isinstance(encoded, dict):
        encoded = encoded.get("code")
    if not isinstance(encoded, str) or len(encoded) > 4 << 20:
        return []
    try:
        raw = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raw = encoded.encode("utf-8", "replace")
    return sorted({m.decode() for m in _BYTECODE_NAMES.findall(raw)})[:12]


def _layer_name(obj: dict[str, Any]) -> str:
    config = obj.get("config")
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return str(config["name"])
    name = obj.get("name")
    return name if isinstance(name, str) else str(obj.get("class_name", "?"))


class _Walk:
    def __init__(self, ctx: ScanContext, scanner: str) -> None:
        self.ctx = ctx
        self.scanner = scanner
        self.layers: Counter[str] = Counter()
        self.covered: set[int] = set()
        self.seen: set[tuple[str, str]] = set()
        self.count = 0

    def finding(
        self, rule: str, severity: Severity, message: str, construct: str, remediation: str, **details: Any
    ) -> Finding | None:
        if (rule, construct) in self.seen or len(self.seen) >= _MAX_FINDINGS:
            return None
        self.seen.add((rule, construct))
        return self.ctx.finding(
            rule,
            severity,
            message,
            scanner=self.scanner,
            construct=construct,
            remediation=remediation,
            **details,
        )

    def run(self, config: object) -> Iterator[Finding]:
        stack: list[tuple[object, int, str]] = [(config, 0, "")]
        nodes = 0
        while stack:
            obj, depth, key = stack.pop()
            nodes += 1
            if nodes > _MAX_NODES or depth > _MAX_DEPTH:
                what = (
                    f"more than {_MAX_NODES:,} values" if nodes > _MAX_NODES else f"over {_MAX_DEPTH} levels"
                )
                f = self.finding(
                    "limit/keras-config",
                    Severity.HIGH,
                    f"Keras config too large to analyse ({what}); the rest was not checked",
                    "config",
                    "inspect the config by hand",
                )
                if f is not None:
                    yield f
                return
            if not nodes & 0xFFFF:
                self.ctx.check_time()
            if isinstance(obj, dict):
                yield from self.visit(obj, key)
                stack.extend((v, depth + 1, str(k)) for k, v in reversed(list(obj.items())))
            elif isinstance(obj, list):
                stack.extend((v, depth + 1, key) for v in reversed(obj))

    def visit(self, obj: dict[str, Any], key: str) -> Iterator[Finding]:
        class_name = obj.get("class_name")
        class_name = class_name if isinstance(class_name, str) else None
        config = obj.get("config")
        if (
            class_name is not None
            and key in ("layers", "layer", "backward_layer", "forward_layer")
            and (len(self.layers) < 10_000 or class_name in self.layers)
        ):
            self.layers[class_name] += 1
        for found in (
            self.lambda_layer(obj, class_name, config),
            *self.modules(obj, class_name, config),
            self.gadget(obj, class_name, config),
        ):
            if found is not None:
                yield found

    def lambda_layer(self, obj: dict[str, Any], class_name: str | None, config: object) -> Finding | None:
        function: object = None
        if class_name in ("Lambda", "keras.layers.Lambda") and isinstance(config, dict):
            function = config.get("function")
            if isinstance(function, dict | list):
                self.covered.add(id(function))
        elif class_name == "__lambda__" and id(obj) not in self.covered:
            function = config
        elif isinstance(obj.get("function_type"), str) and obj.get("function_type") == "lambda":
            if id(obj) in self.covered:
                return None
            function = obj.get("function")
        else:
            return None
        names = _bytecode_names(function)
        hint = f"; its bytecode mentions {', '.join(names)}" if names else ""
        layer = _layer_name(obj)
        return self.finding(
            "keras/lambda-layer",
            Severity.CRITICAL,
            f"Lambda layer {layer!r} carries Python code that runs when the model loads{hint}",
            layer,
            _LAMBDA_REMEDIATION,
            bytecode_names=names,
        )

    def modules(
        self, obj: dict[str, Any], class_name: str | None, config: object
    ) -> Iterator[Finding | None]:
        registered = obj.get("registered_name")
        registered = registered if isinstance(registered, str) else ""
        custom_package = registered.split(">", 1)[0] if ">" in registered else None
        for field in ("module", "function_module", "output_shape_module"):
            if field == "module" and obj.get("function_type") == "lambda":
                continue  # where a Lambda was written; the Lambda itself is the finding
            module = obj.get(field)
            if not isinstance(module, str) or not module:
                continue
            top = module.split(".", 1)[0]
            target = config if class_name == "function" and isinstance(config, str) else class_name
            if field != "module" and isinstance(obj.get("function"), str):
                target = obj["function"]
            dotted = f"{module}.{target}" if target else module
            if top in _DANGEROUS_MODULES:
                yield self.finding(
                    "keras/dangerous-module",
                    Severity.CRITICAL,
                    f"config imports {dotted!r}; loading the model can run arbitrary commands",
                    dotted,
                    "do not load this model; Keras configs must reference Keras objects only",
                )
            elif top not in _KERAS_PACKAGES:
                if custom_package is not None:
                    continue  # reported once below as a custom object
                yield self.finding(
                    "keras/untrusted-module",
                    Severity.HIGH,
                    f"config imports {dotted!r}, outside Keras and TensorFlow",
                    dotted,
                    "review the named module; load only with code you trust",
                )
        if custom_package is not None:
            top = custom_package.split(".", 1)[0]
            if top in _DANGEROUS_MODULES:
                yield self.finding(
                    "keras/dangerous-module",
                    Severity.CRITICAL,
                    f"config registers {registered!r} from a system module",
                    registered,
                    "do not load this model",
                )
            elif top not in _KERAS_PACKAGES:
                yield self.finding(
                    "keras/custom-object",
                    Severity.MEDIUM,
                    f"config needs the custom object {registered!r}, whose code is not in the file",
                    registered,
                    "review the custom object's code before passing it to load_model",
                )

    def gadget(self, obj: dict[str, Any], class_name: str | None, config: object) -> Finding | None:
        module = obj.get("module")
        candidates: list[str] = []
        if class_name is not None:
            candidates.append(
                f"{module}.{class_name}" if isinstance(module, str) else f"keras.layers.{class_name}"
            )
            if class_name == "function" and isinstance(module, str) and isinstance(config, str):
                candidates.append(f"{module}.{config}")
            if class_name in ("TFOpLambda", "SlicingOpLambda") and isinstance(config, dict):
                function = config.get("function")
                if isinstance(function, str):
                    candidates.append(f"tf.{function}")
        function = obj.get("function")
        if isinstance(function, str) and "." in function:
            candidates.append(function)
        for name in candidates:
            severity = _gadget(name)
            if severity is not None:
                return self.finding(
                    "keras/gadget-function",
                    severity,
                    f"config calls {_normalise(name)!r}, which reads, writes or fetches files "
                    "or runs Python when the model loads",
                    _normalise(name),
                    "do not load this model; rebuild it without the call",
                )
        return None


def analyze_keras_config(config: object, ctx: ScanContext, scanner_name: str) -> Iterator[Finding]:
    """Findings for a decoded Keras config; layer classes are added to ``ctx.facts[member]['keras']``."""
    walk = _Walk(ctx, scanner_name)
    yield from walk.run(config)
    facts = ctx.facts.setdefault(ctx.member or "", {}).setdefault("keras", {"layers": {}, "layer_count": 0})
    for name, count in walk.layers.items():
        facts["layers"][name] = facts["layers"].get(name, 0) + count
    facts["layer_count"] += sum(walk.layers.values())
    if isinstance(config, dict) and isinstance(config.get("class_name"), str) and "model_class" not in facts:
        facts["model_class"] = config["class_name"]
