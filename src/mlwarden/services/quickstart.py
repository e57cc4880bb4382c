"""``mlwarden quickstart``: a demo workspace that runs the whole pipeline, offline, in seconds.

The workspace holds four small models, two keys and a copy of the production policy:

- ``benign``: safetensors weights with a licence, signed, with scan, capability and SLSA provenance
  attestations: **allowed**;
- ``malicious``: a pickle whose ``__reduce__`` calls ``os.system``, signed and attested all the same
  (a signature says who published the bytes, not that they are safe): **denied** for the finding;
- ``faceswap``: an ONNX graph shaped like insightface's inswapper (the classifier sees face swap,
  high): **denied** until a second key with the approver role signs an approval, then **allowed**;
- ``unsigned``: benign weights nobody signed: **denied**.

Every file is written with the standard library (no torch, onnx or numpy), the malicious pickle is
only ever scanned, never loaded, and nothing touches the network. The ONNX initializers declare their
real shapes but carry no data: the classifier reads structure, so a few kilobytes suffice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlwarden import __version__
from mlwarden.errors import MlwardenError, UsageError

if TYPE_CHECKING:
    from mlwarden.policy.decision import Decision, RuleOutcome

MARKER = ".mlwarden-quickstart.json"
"""Present at the top of a workspace this command made, so re-running may rebuild it without --force."""
DEFAULT_DIR = Path("mlwarden-quickstart")
_CREATED = ("keys", "models", "signatures", "attestations", "policy", "reports", MARKER)
"""Everything the quickstart writes at the top of the workspace; nothing else is ever removed."""
LICENSE = "apache-2.0"
PAYLOAD_COMMAND = "echo mlwarden-quickstart: this command would run when the pickle is loaded"
_TRAIN_CODE = (
    "import os, sys\n"
    "from mlwarden.services.quickstart import write_model\n"
    "write_model(sys.argv[1], os.environ['MLWARDEN_OUTPUT_DIR'])\n"
)
"""The demo's "training" command: it writes one demo model into the directory mlwarden train names."""


# -- demo files, byte by byte ------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value & 0xFFFFFFFFFFFFFFFF)


def _pb_bytes(number: int, payload: bytes | str) -> bytes:
    raw = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


_FLOAT = 1  # TensorProto.DataType FLOAT
_FLOAT16 = 10


def _value_info(name: str, dims: Sequence[int]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1*}}}}."""
    shape = b"".join(_pb_bytes(1, _pb_int(1, d)) for d in dims)
    tensor_type = _pb_int(1, _FLOAT) + _pb_bytes(2, shape)
    return _pb_bytes(1, name) + _pb_bytes(2, _pb_bytes(1, tensor_type))


def _initializer(name: str, dims: Sequence[int], data_type: int) -> bytes:
    """TensorProto{dims=1 (packed), data_type=2, name=8}: the shape, and no data."""
    packed = b"".join(_varint(d) for d in dims)
    return _pb_bytes(1, packed) + _pb_int(2, data_type) + _pb_bytes(8, name)


def _node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str, **ints: int) -> bytes:
    """NodeProto{input=1, output=2, name=3, op_type=4, attribute=5: {name=1, i=3, type=20 (INT=2)}}."""
    body = b"".join(_pb_bytes(1, i) for i in inputs) + b"".join(_pb_bytes(2, o) for o in outputs)
    body += _pb_bytes(3, name) + _pb_bytes(4, op_type)
    for key, value in ints.items():
        body += _pb_bytes(5, _pb_bytes(1, key) + _pb_int(3, value) + _pb_int(20, 2))
    return body


def faceswap_onnx() -> bytes:
    """An ONNX ModelProto shaped like insightface's inswapper_128, hand-encoded.

    Inputs ``target`` [1,3,128,128] and ``source`` [1,512], one output [1,3,128,128], the 12 AdaIN
    ``styles.N.styleK.linear.weight`` [2048,512] initializers and the 512x512 ``emap`` last, as the
    catalogue's ``insightface-inswapper`` family describes. Tensors declare shapes only (no data).
    """
    inits = [
        _initializer(f"styles.{block}.style{k}.linear.weight", (2048, 512), _FLOAT16)
        for block in range(6)
        for k in (1, 2)
    ]
    inits += [
        _initializer("up0.1.weight", (3, 128, 7, 7), _FLOAT16),
        _initializer("buff2fs", (512, 512), _FLOAT),
        _initializer("emap", (512, 512), _FLOAT),  # last, as insightface's INSwapper reads it
    ]
    nodes = [
        _node("MatMul", ["source", "emap"], ["latent"], "/MatMul"),
        _node("Gemm", ["latent", "styles.0.style1.linear.weight"], ["style0"], "/styles.0/Gemm", transB=1),
        _node("Conv", ["target", "up0.1.weight"], ["features"], "/up0/Conv"),
        _node("Identity", ["target"], ["output"], "/Identity"),
    ]
    graph = b"".join(_pb_bytes(1, n) for n in nodes) + _pb_bytes(2, "main_graph")
    graph += b"".join(_pb_bytes(5, t) for t in inits)
    graph += _pb_bytes(11, _value_info("target", (1, 3, 128, 128)))
    graph += _pb_bytes(11, _value_info("source", (1, 512)))
    graph += _pb_bytes(12, _value_info("output", (1, 3, 128, 128)))
    opset = _pb_bytes(1, "") + _pb_int(2, 11)
    return (
        _pb_int(1, 6)  # ir_version
        + _pb_bytes(2, "mlwarden-quickstart")
        + _pb_bytes(3, __version__)
        + _pb_bytes(7, graph)
        + _pb_bytes(8, opset)
    )


def safetensors_bytes(tensors: dict[str, tuple[str, Sequence[int], bytes]]) -> bytes:
    """A safetensors file: ``{name: (dtype, shape, data)}``, laid out back to back as the format says."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(data for _, _, data in tensors.values())


def _floats(count: int, seed: int) -> bytes:
    """Deterministic small F32 values (a linear congruential sequence), so every run writes equal bytes."""
    values = []
    state = seed
    for _ in range(count):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        values.append((state / 0x7FFFFFFF - 0.5) / 8)
    return struct.pack(f"<{count}f", *values)


def benign_safetensors(seed: int = 1) -> bytes:
    """A two-layer classifier (8 -> 16 -> 4), F32."""
    return safetensors_bytes(
        {
            "fc1.weight": ("F32", (16, 8), _floats(128, seed)),
            "fc1.bias": ("F32", (16,), _floats(16, seed + 1)),
            "fc2.weight": ("F32", (4, 16), _floats(64, seed + 2)),
            "fc2.bias": ("F32", (4,), _floats(4, seed + 3)),
        }
    )


def malicious_pickle(command: str = PAYLOAD_COMMAND) -> bytes:
    """Protocol-2 pickle of ``{"weights": os.system(command)}``, opcode by opcode.

    Loading it would run ``command`` (a harmless echo); mlwarden only reads its opcodes. Built by hand
    so that the demo needs no ``pickle.dumps`` of a hostile class.
    """
    text = command.encode()
    return (
        b"\x80\x02"  # PROTO 2
        b"}"  # EMPTY_DICT
        b"X" + struct.pack("<I", 7) + b"weights"  # BINUNICODE key
        b"cos\nsystem\n"  # GLOBAL os.system
        b"X" + struct.pack("<I", len(text)) + text + b"\x85"  # BINUNICODE argument, TUPLE1
        b"R"  # REDUCE: os.system(command)
        b"s"  # SETITEM
        b"."  # STOP
    )


def _config(model_type: str, architecture: str) -> bytes:
    doc = {"model_type": model_type, "architectures": [architecture], "license": LICENSE}
    return (json.dumps(doc, indent=2) + "\n").encode()


def _card(title: str, text: str) -> bytes:
    return f"---\nlicense: {LICENSE}\n---\n\n# {title}\n\n{text}\n".encode()


def model_files(kind: str) -> dict[str, bytes]:
    """The files of one demo model: ``benign``, ``malicious``, ``faceswap`` or ``unsigned``."""
    if kind in ("benign", "unsigned"):
        return {
            "model.safetensors": benign_safetensors(1 if kind == "benign" else 2),
            "config.json": _config("tiny-mlp", "TinyClassifier"),
            "README.md": _card(
                f"{kind} demo model", "A two-layer classifier written by mlwarden quickstart."
            ),
        }
    if kind == "malicious":
        return {
            "pytorch_model.bin": malicious_pickle(),
            "config.json": _config("tiny-mlp", "TinyClassifier"),
            "README.md": _card(
                "malicious demo model",
                "Its pickle calls os.system when loaded (a harmless echo). Never load it; scan it.",
            ),
        }
    if kind == "faceswap":
        return {
            "face_swapper.onnx": faceswap_onnx(),
            "README.md": _card(
                "face-swap demo model",
                "Shaped like insightface's inswapper_128 (inputs target and source); it has no weights.",
            ),
        }
    raise UsageError(f"unknown demo model {kind!r}", hint="use benign, malicious, faceswap or unsigned")


def write_model(kind: str, directory: str | os.PathLike[str]) -> None:
    """Write one demo model into ``directory`` (the demo's training command calls this)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in model_files(kind).items():
        (out / name).write_bytes(data)


# -- the workspace ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOutcome:
    """One gate run of the demo: what was decided, what was expected, and the command to repeat it."""

    label: str
    model: str
    expected_allowed: bool
    expected_rule: str | None
    """The rule type that must be among the blocking ones for a denial to be the one demonstrated."""
    allowed: bool
    reason: str
    blocking: tuple[str, ...]
    """Rule ids that denied."""
    blocking_types: tuple[str, ...]
    command: str

    @property
    def as_expected(self) -> bool:
        """The decision and, for a denial, its reason are the ones the demo is about."""
        if self.allowed != self.expected_allowed:
            return False
        return self.expected_rule is None or self.expected_rule in self.blocking_types


@dataclass
class QuickstartResult:
    """The workspace, every gate outcome in the order run, and how long it all took."""

    workspace: Path
    outcomes: list[DemoOutcome] = field(default_factory=list)
    seconds: float = 0.0
    try_next: list[tuple[str, str]] = field(default_factory=list)
    """(command, what it shows)"""

    @property
    def ok(self) -> bool:
        return all(o.as_expected for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace),
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "outcomes": [
                {
                    "label": o.label,
                    "model": o.model,
                    "decision": "allow" if o.allowed else "deny",
                    "expected": "allow" if o.expected_allowed else "deny",
                    "as_expected": o.as_expected,
                    "reason": o.reason,
                    "blocking_rules": list(o.blocking),
                    "command": o.command,
                }
                for o in self.outcomes
            ],
            "try_next": [{"command": c, "shows": what} for c, what in self.try_next],
        }


_REASON_ORDER = ("max_severity", "formats", "signatures", "capability", "attestations")
"""Which failed rule a summary line names first: what is in the bytes, then who vouches for them."""


def main_reason(decision: Decision) -> tuple[str, tuple[RuleOutcome, ...]]:
    """The reason a person should read first, and every blocking outcome (policy order)."""
    blocking = tuple(o for o in decision.outcomes if o.blocking)
    if decision.allowed:
        approved = [o for o in decision.outcomes if o.type == "capability" and "approved" in o.reason]
        if approved:
            return approved[0].reason, blocking
        passed = [o.rule_id for o in decision.outcomes if not o.failed]
        noun = "rule" if len(passed) == 1 else "rules"
        return f"all {len(passed)} {noun} passed: {', '.join(passed)}", blocking
    if not blocking:
        return decision.error or decision.summary(), blocking

    def rank(o: RuleOutcome) -> int:
        return _REASON_ORDER.index(o.type) if o.type in _REASON_ORDER else len(_REASON_ORDER)

    first = min(blocking, key=rank)
    others = [o.rule_id for o in blocking if o is not first]
    more = f" (also failed: {', '.join(others)})" if others else ""
    return f"{first.rule_id}: {first.reason}{more}", blocking


def prepare_workspace(directory: Path, *, force: bool) -> None:
    """Make ``directory`` ready: new, empty, a previous quickstart workspace, or anything with ``force``.

    Only the entries the quickstart itself creates are removed, never the directory or other files, so a
    mistaken ``--dir`` with ``--force`` cannot delete someone's work.
    """
    import shutil  # noqa: PLC0415

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory", hint="choose another --dir")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MARKER).is_file() and not force:
        raise UsageError(
            f"{directory} exists and is not a quickstart workspace",
            hint="choose another --dir, or pass --force to write the demo into it",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in _CREATED:
            entry = directory / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
    except OSError as exc:
        raise MlwardenError(
            f"cannot prepare {directory}: {exc.strerror or exc}", hint="choose a writable --dir"
        ) from None


def _write_private(path: Path, data: bytes) -> None:
    """A private key, readable by its owner only from the first byte on (mode 600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def workspace_policy(approver_fingerprint: str) -> str:
    """The shipped production policy, with the demo approver key given the ``approvers`` role.

    The key is written into the shipped text (comments kept, so the copy reads like the original); if
    the shipped layout ever changes, the policy is re-emitted from its parsed form instead.
    """
    import re  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    from mlwarden.policy import shipped_text  # noqa: PLC0415

    text = shipped_text("production")
    header = (
        "# Written by mlwarden quickstart: the shipped 'production' policy (see: mlwarden policy show\n"
        "# production) with one change, the demo approver key (keys/approver.pub) in the approvers role.\n"
    )
    block = re.compile(r"^(roles:\n  approvers:\n    keys: )\[\]", re.MULTILINE)
    if block.search(text):
        return header + block.sub(lambda m: f"{m.group(1)}[{approver_fingerprint}]", text, count=1)
    doc = yaml.safe_load(text)
    roles = doc.get("roles") or {}
    approvers = roles.get("approvers") or {}
    approvers["keys"] = [*(approvers.get("keys") or []), approver_fingerprint]
    roles["approvers"] = approvers
    doc["roles"] = roles
    return header + yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


def _quote(path: Path) -> str:
    return shlex.quote(str(path))


@dataclass(frozen=True)
class _Paths:
    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def model(self, name: str) -> Path:
        return self.root / "models" / name

    def signature(self, name: str) -> Path:
        return self.root / "signatures" / f"{name}.sig"

    def attestations(self, name: str) -> Path:
        return self.root / "attestations" / name

    @property
    def policy(self) -> Path:
        return self.root / "policy" / "production.yaml"

    def report(self, label: str) -> Path:
        return self.root / "reports" / f"{label}.decision.json"


def gate_command(paths: _Paths, name: str, *, signed: bool, extra: Sequence[str] = ()) -> str:
    """The ``mlwarden gate`` line that repeats one demo decision."""
    words = ["mlwarden", "gate", _quote(paths.model(name)), "--policy", _quote(paths.policy)]
    if signed:
        words += ["--signature", _quote(paths.signature(name)), "--key", _quote(paths.keys / "publisher.pub")]
    if paths.attestations(name).is_dir():
        words += ["--attestations", _quote(paths.attestations(name))]
        words += ["--approver-key", _quote(paths.keys / "approver.pub")]
    return " ".join([*words, *extra])


def run_quickstart(
    directory: Path = DEFAULT_DIR,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> QuickstartResult:
    """Build the workspace and gate every demo model with the production policy; see the module doc.

    Raises :class:`UsageError` when ``directory`` holds something else and ``force`` is not set.
    """
    from mlwarden.provenance.training import run_training  # noqa: PLC0415
    from mlwarden.services.approve import approve  # noqa: PLC0415
    from mlwarden.services.attest import PREDICATE_TYPES, attest, evidence_predicate  # noqa: PLC0415
    from mlwarden.services.gate import GateRequest, run_gate  # noqa: PLC0415
    from mlwarden.signing import (  # noqa: PLC0415
        KeyTrust,
        dump_bundle,
        generate_key,
        key_fingerprint,
        public_key_pem,
        sign,
    )

    say = progress or (lambda _line: None)
    start = time.monotonic()
    prepare_workspace(directory, force=force)
    paths = _Paths(directory)
    result = QuickstartResult(directory)
    _write_json(directory / MARKER, {"mlwarden": __version__, "created": _now()})

    say("keys: publisher (signs models and attestations) and approver (approves deepfake-capable models)")
    paths.keys.mkdir()
    keys: dict[str, tuple[bytes, bytes]] = {}
    for who in ("publisher", "approver"):
        private = generate_key("P-256")
        public = public_key_pem(private)
        _write_private(paths.keys / f"{who}.pem", private)
        (paths.keys / f"{who}.pub").write_bytes(public)
        keys[who] = (private, public)
    publisher, approver = keys["publisher"], keys["approver"]

    paths.policy.parent.mkdir()
    paths.policy.write_text(workspace_policy(key_fingerprint(approver[1])), encoding="utf-8")

    # The "training" environment: no git repository above the workspace is described (or walked), and
    # the command imports this very mlwarden, wherever it was imported from.
    env = dict(os.environ)
    env["GIT_CEILING_DIRECTORIES"] = str(directory.resolve().parent)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    for name in ("benign", "malicious", "faceswap"):
        say(f"models/{name}: train (recording SLSA provenance), sign, attest scan and capability")
        run = run_training(
            [sys.executable, "-c", _TRAIN_CODE, name],
            output_dir=paths.model(name),
            seeds=42,
            workdir=directory,
            env=env,
        )
        paths.signature(name).parent.mkdir(exist_ok=True)
        paths.signature(name).write_text(dump_bundle(sign(paths.model(name), publisher[0])), encoding="utf-8")
        folder = paths.attestations(name)
        folder.mkdir(parents=True)
        statements = {
            kind: (PREDICATE_TYPES[kind], evidence_predicate(kind, paths.model(name), {}))
            for kind in ("scan", "capability")
        }
        statement = run.to_statement()
        statements["provenance"] = (statement["predicateType"], statement["predicate"])
        for kind, (predicate_type, predicate) in statements.items():
            bundle = attest(
                paths.model(name), kind, publisher[0], predicate=predicate, predicate_type=predicate_type
            )
            (folder / f"{kind}.json").write_text(dump_bundle(bundle), encoding="utf-8")
    say("models/unsigned: written, neither signed nor attested")
    write_model("unsigned", paths.model("unsigned"))

    trust = [KeyTrust(publisher[1])]
    attestation_trust = [KeyTrust(publisher[1]), KeyTrust(approver[1])]

    def gate(label: str, name: str, *, expect_allow: bool, expect_rule: str | None) -> None:
        signed = paths.signature(name).is_file()
        request = GateRequest(
            path=paths.model(name),
            policy=str(paths.policy),
            signatures=[paths.signature(name).read_bytes()] if signed else [],
            trust=trust,
            attestations=paths.attestations(name) if paths.attestations(name).is_dir() else None,
            attestation_trust=attestation_trust,
        )
        decision = run_gate(request).decision
        _write_json(paths.report(label), decision.to_dict())
        reason, blocking = main_reason(decision)
        outcome = DemoOutcome(
            label=label,
            model=name,
            expected_allowed=expect_allow,
            expected_rule=expect_rule,
            allowed=decision.allowed,
            reason=reason,
            blocking=tuple(o.rule_id for o in blocking),
            blocking_types=tuple(o.type for o in blocking),
            command=gate_command(paths, name, signed=signed),
        )
        result.outcomes.append(outcome)
        verdict = "allowed" if outcome.allowed else "denied"
        say(f"gate {label}: {verdict}" + ("" if outcome.as_expected else " (NOT the expected outcome)"))

    gate("benign", "benign", expect_allow=True, expect_rule=None)
    gate("malicious", "malicious", expect_allow=False, expect_rule="max_severity")
    gate("faceswap-unapproved", "faceswap", expect_allow=False, expect_rule="capability")
    say("models/faceswap: approved by the approver key (a second person), for these exact bytes")
    approval = approve(
        paths.model("faceswap"),
        approver[0],
        reason="demo: consented face-swap research, reviewed by trust and safety",
        expires=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
        scope=None,
    )
    (paths.attestations("faceswap") / "approval.json").write_text(dump_bundle(approval), encoding="utf-8")
    gate("faceswap-approved", "faceswap", expect_allow=True, expect_rule=None)
    gate("unsigned", "unsigned", expect_allow=False, expect_rule="signatures")

    result.try_next = try_next(paths)
    result.seconds = time.monotonic() - start
    return result


def try_next(paths: _Paths) -> list[tuple[str, str]]:
    """Commands to paste, each with what it shows."""
    faceswap_sarif = gate_command(
        paths, "faceswap", signed=True, extra=["--format", "sarif", "-o", "faceswap.sarif"]
    )
    tamper = f"echo tampered >> {_quote(paths.model('benign') / 'config.json')}"
    return [
        (faceswap_sarif, "the approved face-swap model's decision as SARIF, for GitHub code scanning"),
        (f"mlwarden scan {_quote(paths.model('malicious'))}", "the os.system call the pickle would make"),
        (
            f"mlwarden classify {_quote(paths.model('faceswap'))}",
            "face swap, recognised from the graph alone",
        ),
        (
            "mlwarden policy show production",
            f"the rules applied ({paths.policy} adds the approver key to the approvers role)",
        ),
        (
            f"{tamper} && {gate_command(paths, 'benign', signed=True)}",
            "one changed file and the signature no longer verifies (re-run the quickstart to restore)",
        ),
    ]


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
