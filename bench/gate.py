"""Cost of the gate: `mlwarden gate` against `mlwarden hash` on the same model, and policy evaluation.

    python bench/gate.py                  # 4 GiB: a 2 GiB safetensors file, 8 x 256 MiB shards, 300 json
    python bench/gate.py --gib 1          # the same shape, scaled down
    python bench/gate.py --repeat 3       # fastest of 3 per cell

Targets (issue 5):
- `mlwarden gate DIR --policy P --signature S --key K --attestations A` costs at most 1.15x the wall time
  of `mlwarden hash DIR`: the gate reads the bytes once (verifying the signature), scanning overlapped
  with hashing, and authenticates attestations without re-hashing;
- evaluating a 50-rule policy over the evidence of that model takes under 50 ms (in-process).

Every CLI measurement is its own subprocess (`python -m mlwarden ...`), timed whole, interpreter start
included, since that is what a CI job pays; CPU is the child's rusage. "Cold" evicts this benchmark's own
files from the page cache (posix_fadvise DONTNEED) before each run, "warm" reads them all first.
The model, keys, signature and attestations are built once and reused while the plan is unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GIB = 1 << 30
MIB = 1 << 20
TARGET_RATIO = 1.15
TARGET_EVAL_MS = 50.0

GATE_POLICY = """\
apiVersion: mlwarden.dev/policy/v1
kind: Policy
name: bench-gate
description: signature, scan and capability attestations, no high findings, no pickle
rules:
  - {id: no-high-findings, type: max_severity, max: medium}
  - {id: signed, type: signatures, min: 1}
  - {id: attested, type: attestations, require: [scan, capability]}
  - {id: safe-formats, type: formats, deny: [pickle-based]}
  - {id: no-deepfake, type: capability, max_severity: medium, unless_approved: false}
"""


def rules_policy(count: int = 50) -> str:
    """A policy of ``count`` rules of every built-in type, a third of them CEL, all passing on the bench
    model (a failing rule costs the same to evaluate, and an all-pass decision exercises every rule)."""
    cel = [
        "evidence.scan.counts.critical == 0",
        "severity_rank(evidence.scan.max_severity) < severity_rank('high')",
        "evidence.subject.total_bytes > 0",
        "evidence.subject.files.all(f, !f.path.startsWith('/'))",
        "evidence.subject.files.exists(f, f.path.endsWith('.safetensors'))",
        "size(evidence.subject.files) < 100000",
        "evidence.signatures.verified",
        "evidence.attestations.exists(a, a.kind == 'scan')",
        "evidence.attestations.all(a, a.signer.method == 'key')",
        "!evidence.subject.formats.exists(f, f == 'pickle')",
        "evidence.capability.families.all(f, severity_rank(f.severity) < severity_rank('high'))",
        "evidence.subject.files.filter(f, f.format == 'json').size() >= 0",
        "evidence.scan.findings.all(f, f.severity != 'critical')",
        "evidence.approvals.all(a, a.root_digest == evidence.subject.root_digest)",
        "evidence.subject.name.size() > 0",
        "evidence.metadata.sources.all(s, s.size() > 0)",
        "evidence.subject.files.map(f, f.size).size() == size(evidence.subject.files)",
    ]
    lines = ["apiVersion: mlwarden.dev/policy/v1", "kind: Policy", f"name: bench-{count}-rules", "rules:"]
    fixed = [
        "{type: max_severity, max: medium}",
        "{type: signatures, min: 1}",
        "{type: attestations, require: [scan, capability]}",
        "{type: formats, deny: [pickle-based]}",
        "{type: capability, max_severity: medium, unless_approved: false}",
        "{type: license, allow: [apache-2.0, mit], require: false}",
        "{type: metadata, require: []}",
    ]
    rules: list[str] = []
    index = 0
    while len(rules) < count:
        if index % 3 == 2:
            expr = cel[(index // 3) % len(cel)]
            rules.append(f"{{id: r{index:03d}, type: cel, expr: {json.dumps(expr)}}}")
        else:
            body = fixed[index % len(fixed)]
            rules.append("{id: r%03d, %s" % (index, body[1:]))  # noqa: UP031 - braces in the body
        index += 1
    lines += [f"  - {r}" for r in rules]
    return "\n".join(lines) + "\n"


def safetensors_header(size: int, tensors: int) -> bytes:
    """A valid safetensors header for a file of exactly ``size`` bytes: ``tensors`` U8 tensors that
    cover the data section, so the scanner reads the header and nothing else."""

    def header(header_len: int, pad: int) -> bytes:
        data_size = size - 8 - header_len
        step = data_size // tensors
        doc: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        for i in range(tensors):
            begin, end = i * step, data_size if i == tensors - 1 else (i + 1) * step
            doc[f"model.layers.{i}.weight"] = {
                "dtype": "U8",
                "shape": [end - begin],
                "data_offsets": [begin, end],
            }
        text = json.dumps(doc, separators=(",", ":")).encode()
        return text + b" " * (-len(text) % 8 + pad)  # 8-byte aligned, as the format recommends

    for pad in range(0, 256, 8):
        length = 0
        for _ in range(8):  # the length depends on the offsets, which depend on the length
            text = header(length, pad)
            if len(text) == length:
                break
            length = len(text)
        # a length whose first byte is 0x80 reads as a pickle PROTO opcode to content sniffers
        if len(text) == length and length & 0xFF != 0x80:
            return struct.pack("<Q", length) + text
    raise RuntimeError("no stable safetensors header")


def build_model(root: Path, gib: float) -> dict[str, int]:
    """Write the synthetic model once (reused while the plan matches); returns the plan."""
    total = int(gib * GIB)
    big = total // 2
    shard = total // 16
    plan = {"model.safetensors": big}
    plan.update({f"shards/model-{i:05d}-of-00008.safetensors": shard for i in range(8)})
    plan["config.json"] = 512  # licence and architecture, as the metadata rules read them
    plan.update({f"configs/{i // 50}/config-{i}.json": 2048 + i for i in range(300)})
    marker = root.parent / "bench-gate-plan.json"
    if marker.exists() and json.loads(marker.read_text()) == plan:
        return plan
    chunk = os.urandom(16 * MIB)
    for name, size in plan.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            if name.endswith(".json"):
                doc: dict[str, Any] = {"name": name, "pad": ""}
                if name == "config.json":
                    doc.update(license="apache-2.0", model_type="llama", architectures=["LlamaForCausalLM"])
                doc["pad"] = "x" * (size - len(json.dumps(doc).encode()))
                f.write(json.dumps(doc).encode())
            else:
                header = safetensors_header(size, 64 if size >= GIB else 16)
                f.write(header)
                left = size - len(header)
                while left:
                    n = min(left, len(chunk))
                    f.write(chunk[:n])
                    left -= n
            f.flush()
            os.fsync(f.fileno())
        assert path.stat().st_size == size, (name, path.stat().st_size, size)
    marker.write_text(json.dumps(plan))
    return plan


def prepare_trust(base: Path, model: Path) -> dict[str, Path]:
    """Keys, a signature and scan + capability attestations, made once per model build."""
    from mlwarden.services.attest import PREDICATE_TYPES, attest, evidence_predicate
    from mlwarden.signing import dump_bundle, generate_key, public_key_pem, sign

    files = {
        "priv": base / "keys" / "publisher.pem",
        "pub": base / "keys" / "publisher.pub",
        "sig": base / "model.sig",
        "att": base / "attestations",
        "policy": base / "gate-policy.yaml",
        "rules": base / "rules-50.yaml",
    }
    files["policy"].write_text(GATE_POLICY)
    files["rules"].write_text(rules_policy(50))
    stamp = base / "bench-gate-trust.json"
    plan = (base / "bench-gate-plan.json").read_text()
    if (
        stamp.exists()
        and stamp.read_text() == plan
        and all(files[k].exists() for k in ("priv", "pub", "sig"))
    ):
        return files
    print("signing and attesting the model once ...", flush=True)
    files["priv"].parent.mkdir(parents=True, exist_ok=True)
    key = generate_key("P-256")
    files["priv"].write_bytes(key)
    files["pub"].write_bytes(public_key_pem(key))
    files["sig"].write_text(dump_bundle(sign(model, key)))
    files["att"].mkdir(exist_ok=True)
    for kind in ("scan", "capability"):
        bundle = attest(
            model,
            kind,
            key,
            predicate=evidence_predicate(kind, model, {}),
            predicate_type=PREDICATE_TYPES[kind],
        )
        (files["att"] / f"{kind}.json").write_text(dump_bundle(bundle))
    stamp.write_text(plan)
    return files


def evict(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def warm(root: Path) -> None:
    buf = bytearray(8 * MIB)
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb", buffering=0) as f:
                while f.readinto(buf):
                    pass


def run_cli(argv: list[str]) -> dict[str, Any]:
    """One `python -m mlwarden ...` run: wall and CPU seconds, exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlwarden", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "code": done.returncode, "stderr": done.stderr.strip()[-500:]}


def time_policy(model: Path, files: dict[str, Path], runs: int) -> dict[str, float]:
    """Load the 50-rule policy, collect the model's evidence once, then time ``evaluate`` alone."""
    from mlwarden.policy import evaluate, load_policy
    from mlwarden.services.gate import GateRequest, collect_evidence
    from mlwarden.signing import KeyTrust

    t0 = time.perf_counter()
    policy = load_policy(str(files["rules"]))
    load_ms = (time.perf_counter() - t0) * 1000
    rules = len(policy.document.rules)
    request = GateRequest(
        path=model,
        policy=str(files["rules"]),
        signatures=[files["sig"].read_bytes()],
        trust=[KeyTrust(files["pub"].read_bytes())],
        attestations=files["att"],
    )
    evidence = collect_evidence(request)
    t0 = time.perf_counter()
    first = evaluate(policy, evidence)
    first_ms = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        decision = evaluate(policy, evidence)
        times.append((time.perf_counter() - t0) * 1000)
    failed = [o.rule_id for o in decision.failed]
    if failed:
        print(f"  note: {len(failed)} rule(s) did not pass: {', '.join(failed[:5])}", flush=True)
    return {
        "rules": rules,
        "files_in_evidence": len(evidence["subject"]["files"]),
        "load_ms": load_ms,
        "first_ms": first_ms,
        "median_ms": statistics.median(times),
        "max_ms": max(times),
        "allowed": float(first.allowed),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gib", type=float, default=4.0, help="model size in GiB (default 4)")
    p.add_argument("--dir", type=Path, default=None, help="where to build the model (default: a temp dir)")
    p.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is reported")
    p.add_argument("--eval-runs", type=int, default=50, help="timed policy evaluations (median reported)")
    p.add_argument("--no-cold", action="store_true")
    p.add_argument("--skip-policy", action="store_true", help="only the gate against hash")
    p.add_argument("--json", type=Path, default=None, help="also write raw results here")
    a = p.parse_args()

    base = a.dir or Path(tempfile.gettempdir()) / f"mlwarden-bench-gate-{a.gib:g}gib"
    model = base / "model"
    model.mkdir(parents=True, exist_ok=True)
    print(f"building {a.gib:g} GiB model in {model} ...", flush=True)
    plan = build_model(model, a.gib)
    gib = sum(plan.values()) / GIB
    files = prepare_trust(base, model)

    commands = {
        "hash": ["hash", str(model)],
        "gate": [
            "gate", str(model), "--policy", str(files["policy"]), "--signature", str(files["sig"]),
            "--key", str(files["pub"]), "--attestations", str(files["att"]),
        ],
    }  # fmt: skip
    caches = ["warm"] if a.no_cold else ["warm", "cold"]
    rows: list[dict[str, Any]] = []
    for cache in caches:
        for _ in range(a.repeat):
            for name, argv in commands.items():  # interleaved, so drift hits both alike
                if cache == "cold":
                    evict(model)
                else:
                    warm(model)
                r = run_cli(argv)
                if r["code"] != 0:
                    print(f"  {name} exited {r['code']}: {r['stderr']}", flush=True)
                rows.append({"cache": cache, "command": name, **r})

    def best(cache: str, name: str) -> dict[str, Any]:
        return min((r for r in rows if r["cache"] == cache and r["command"] == name), key=lambda r: r["wall"])

    print(f"\n{gib:.2f} GiB, {len(plan)} files, {os.cpu_count()} cores; fastest of {a.repeat}")
    checks: list[tuple[str, float, str]] = []
    for cache in caches:
        h, g = best(cache, "hash"), best(cache, "gate")
        for r in (h, g):
            print(
                f"  {cache:4} {r['command']:4}  {r['wall']:6.2f}s wall  {r['cpu']:6.2f}s cpu  "
                f"{gib / r['wall']:5.2f} GiB/s  exit {r['code']}",
                flush=True,
            )
        ratio = g["wall"] / h["wall"]
        verdict = "meets" if ratio <= TARGET_RATIO and g["code"] == 0 else "MISSES"
        checks.append((f"gate / hash wall, {cache}", ratio, f"target <= {TARGET_RATIO}x: {verdict}"))

    policy: dict[str, float] | None = None
    if not a.skip_policy:
        print("\ncollecting evidence in-process for the policy timing ...", flush=True)
        policy = time_policy(model, files, a.eval_runs)
        print(
            f"  {policy['rules']:.0f} rules over {policy['files_in_evidence']:.0f} files: load+compile "
            f"{policy['load_ms']:.1f} ms, first evaluation {policy['first_ms']:.1f} ms, "
            f"median of {a.eval_runs} {policy['median_ms']:.2f} ms (max {policy['max_ms']:.2f} ms)"
        )
        verdict = "meets" if policy["median_ms"] < TARGET_EVAL_MS else "MISSES"
        checks.append(
            ("50-rule evaluation, median ms", policy["median_ms"], f"target < {TARGET_EVAL_MS}: {verdict}")
        )

    print()
    for label, value, target in checks:
        print(f"  {label:32} {value:8.3f}  ({target})")
    if a.json:
        a.json.write_text(
            json.dumps({"gib": gib, "rows": rows, "policy": policy, "checks": checks}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
