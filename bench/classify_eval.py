"""Evaluate the deepfake-capability classifier on the generated fixtures, and on a 2 GiB checkpoint.

    python bench/classify_eval.py [--fixtures DIR] [--large-gib 2] [--markdown]

Prints a confusion table (expected capability against the label reported at high/medium/low), recall at
high severity on the renamed copies (file names carry no signal there), benign look-alikes reported high,
and bytes read per artifact with a cold page cache (each file evicted with posix_fadvise, then classified
in a fresh process that reports /proc/self/io read_bytes). Needs torch for the fixtures and the large file.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys, time
t = time.perf_counter()
from mlwarden.capability import classify
report = classify([sys.argv[1]])
elapsed = time.perf_counter() - t
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
b = report.bundles[0]
print(json.dumps({"seconds": elapsed, "read_bytes": int(io["read_bytes"]), "severity": b.severity,
                  "labels": b.labels, "family": b.family}))
"""


def evict(path: Path) -> None:
    """Drop the artifact's own pages from the page cache, so reads are counted."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def size_of(path: Path) -> int:
    return (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )


def probe(path: Path) -> dict[str, object]:
    evict(path)
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def make_large(path: Path, gib: float) -> None:
    """A SimSwap-shaped generator (its identifying AdaIN blocks at full size) padded to ``gib`` GiB."""
    import torch

    state = {
        "first_layer.1.weight": torch.zeros(64, 3, 7, 7),
        "last_layer.1.weight": torch.zeros(3, 64, 7, 7),
    }
    state.update({f"down{i}.0.weight": torch.zeros(64, 64, 3, 3) for i in (1, 2, 3)})
    state.update({f"up{i}.1.weight": torch.zeros(64, 64, 3, 3) for i in (1, 2, 3)})
    for i in range(9):
        for j in (1, 2):
            state[f"BottleNeck.{i}.style{j}.linear.weight"] = torch.zeros(1024, 512)
            state[f"BottleNeck.{i}.conv{j}.1.weight"] = torch.zeros(512, 512, 3, 3)
    have = sum(t.numel() * 4 for t in state.values())
    state["padding.weight"] = torch.zeros(max(0, int(gib * (1 << 30)) - have) // 4)
    torch.save(state, path)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fixtures", type=Path, help="existing fixtures (DIR/manifest.json); default: generate"
    )
    parser.add_argument("--large-gib", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mlwarden-bench")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    fixtures = args.fixtures
    if fixtures is None:
        fixtures = args.workdir / "deepfake-fixtures"
        if not (fixtures / "manifest.json").exists():
            subprocess.run(
                [sys.executable, str(ROOT / "scripts/gen_deepfake_fixtures.py"), str(fixtures)], check=True
            )
    manifest = json.loads((fixtures / "manifest.json").read_text())

    rows = []
    for entry in manifest:
        result = probe(fixtures / entry["path"])
        rows.append((entry, result, size_of(fixtures / entry["path"])))

    confusion: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for entry, result, _ in rows:
        expected = entry["capability"] or "benign"
        got = ",".join(result["labels"]) or "none"
        confusion[expected][got if expected in got.split(",") or got == "none" else f"other:{got}"] += 1
    high_expected = [(e, r) for e, r, _ in rows if e["expected_severity"] == "high"]
    renamed_high = [(e, r) for e, r in high_expected if e["renamed"]]
    recall_all = sum(r["severity"] == "high" for _, r in high_expected) / len(high_expected)
    recall_renamed = sum(r["severity"] == "high" for _, r in renamed_high) / len(renamed_high)
    benign_high = [e["path"] for e, r, _ in rows if e["benign"] and r["severity"] == "high"]

    print("confusion (expected capability -> reported labels):")
    for expected in sorted(confusion):
        print(f"  {expected:18} " + ", ".join(f"{k}={v}" for k, v in sorted(confusion[expected].items())))
    print(f"recall at high, all high-severity fixtures: {recall_all:.3f} ({len(high_expected)})")
    print(f"recall at high, renamed copies only:        {recall_renamed:.3f} ({len(renamed_high)})")
    print(f"benign look-alikes reported high:           {len(benign_high)} {benign_high}")

    large = args.workdir / f"simswap-padded-{args.large_gib:g}gib.pt"
    if not large.exists():
        started = time.perf_counter()
        make_large(large, args.large_gib)
        print(f"built {large} in {time.perf_counter() - started:.1f}s")
    runs = [probe(large) for _ in range(3)]
    best = min(runs, key=lambda r: r["seconds"])
    size = large.stat().st_size
    print(
        f"large checkpoint {size / (1 << 30):.2f} GiB: classify {best['seconds']:.3f}s (best of 3, cold), "
        f"read {best['read_bytes']:,} bytes = {best['read_bytes'] / size:.5%} of the file; "
        f"labels {best['labels']} severity {best['severity']}"
    )
    if args.markdown:
        print("\n| measure | value | target |\n| --- | --- | --- |")
        print(f"| recall at high, renamed copies | {recall_renamed:.3f} ({len(renamed_high)}) | >= 0.95 |")
        print(f"| recall at high, all | {recall_all:.3f} ({len(high_expected)}) | |")
        print(f"| benign look-alikes at high | {len(benign_high)} | 0 |")
        print(
            f"| {size / (1 << 30):.1f} GiB checkpoint, cold cache | {best['seconds']:.3f} s, "
            f"{best['read_bytes'] / size:.4%} read | < 1 s, < 1 % |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
