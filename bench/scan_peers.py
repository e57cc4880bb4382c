#!/usr/bin/env python3
"""Compare mlwarden with peer scanners (picklescan, modelscan, fickling, modelaudit) on one corpus.

Run from a virtualenv where mlwarden is installed::

    python bench/scan_peers.py --scale small
    python bench/scan_peers.py --corpus /path/to/corpus --json results.json --markdown

What it does, in one run:

* installs the peers (pinned, see ``PEER_PINS``) into their own virtualenvs under ``--peers-venv``
  (one venv per peer, so that one peer's dependency pins cannot break another's);
* generates a corpus with ``scripts/gen_corpus.py`` (or uses ``--corpus DIR``);
* (a) runs every tool on every (sampled) file, one process per file, with a timeout, and records
  flagged / clean / error / crash / hang;
* (b) runs every tool once over the whole corpus directory for throughput, and counts how many
  files each tool accounted for (a hostile file can abort a whole-directory scan);
* (c) times every tool on a ~2 GiB PyTorch zip checkpoint (built once with torch, cached);
* (d) times CLI start-up (median of 10 runs on one tiny pickle).

Peers run with every telemetry opt-out they document, with HOME pointed at a private directory,
and with HTTP(S) proxies pointed at a closed loopback port, so nothing leaves the machine.

Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

REPO = Path(__file__).resolve().parent.parent
GEN_CORPUS = REPO / "scripts" / "gen_corpus.py"

SEVERITIES = ("info", "low", "medium", "high", "critical")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
HIGH = RANK["high"]

# Exact versions benchmarked. Each peer gets its own venv.
PEER_PINS: dict[str, list[str]] = {
    # picklescan imports numpy lazily for .npy files but does not depend on it; [7z] brings py7zr
    "picklescan": ["picklescan[7z]==1.0.5", "numpy==2.4.6"],
    # numpy>=2.3 removed np.lib.format._check_version, which modelscan 0.8.8's .npy scanner calls
    # (every .npy becomes a scan error); modelscan itself only asks for numpy>=1.24.3.
    "modelscan": ["modelscan[h5py]==0.8.8", "numpy==2.2.6"],
    # fickling 0.1.12 imports typing_extensions on Python < 3.12 but only lists it in its dev extras
    "fickling": ["fickling==0.1.12", "typing-extensions==4.16.0"],
    "modelaudit": ["modelaudit[h5]==0.2.54"],
}
PEER_DISTS: dict[str, list[str]] = {
    "picklescan": ["picklescan", "numpy", "py7zr"],
    "modelscan": ["modelscan", "numpy", "h5py"],
    "fickling": ["fickling", "typing_extensions"],
    "modelaudit": ["modelaudit", "modelaudit-picklescan", "numpy", "h5py"],
}
ALL_TOOLS = ("mlwarden", "picklescan", "modelscan", "fickling", "modelaudit")
NO_NETWORK_PROXY = "http://127.0.0.1:9"  # discard port on loopback: connection refused, locally

# Every opt-out the peers document (read from their sources), plus belt and braces.
TELEMETRY_ENV: dict[str, str] = {
    # modelaudit 0.2.x, modelaudit/telemetry.py TelemetryClient._is_disabled()
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "NO_ANALYTICS": "1",
    # modelaudit: an empty PostHog key means the PostHog client is never created at all
    "PROMPTFOO_POSTHOG_KEY": "",
    "MODELAUDIT_POSTHOG_KEY": "",
    "PROMPTFOO_POSTHOG_HOST": NO_NETWORK_PROXY,
    # modelaudit's auth/cloud client; never used for local paths, pointed at loopback anyway
    "API_HOST": NO_NETWORK_PROXY,
    "MODELAUDIT_API_HOST": NO_NETWORK_PROXY,
    # huggingface_hub (pulled in by modelaudit): no hub calls, no hub telemetry
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    # anything that still tries HTTP goes to a closed loopback port
    "HTTP_PROXY": NO_NETWORK_PROXY,
    "HTTPS_PROXY": NO_NETWORK_PROXY,
    "ALL_PROXY": NO_NETWORK_PROXY,
    "http_proxy": NO_NETWORK_PROXY,
    "https_proxy": NO_NETWORK_PROXY,
    "all_proxy": NO_NETWORK_PROXY,
    "NO_PROXY": "",
    "no_proxy": "",
    # plain, uncoloured, unwrapped output
    "NO_COLOR": "1",
    "TERM": "dumb",
    "COLUMNS": "250",
    "PYTHONIOENCODING": "utf-8",
}
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# running commands


@dataclass
class Run:
    argv: list[str]
    rc: int | None
    elapsed: float
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def text(self) -> str:
        return self.stdout + "\n" + self.stderr

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.text


def run_cmd(argv: list[str], env: dict[str, str], cwd: Path, timeout: float, mem_limit: int) -> Run:
    """Run argv in its own process group; kill the whole group on timeout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    if mem_limit > 0:
        # address-space cap so a decompression bomb cannot take the machine down
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (mem_limit, mem_limit))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    elapsed = time.perf_counter() - t0
    return Run(
        argv=argv,
        rc=None if timed_out else proc.returncode,
        elapsed=elapsed,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        timed_out=timed_out,
    )


def first_line(text: str, pattern: str = r"\S") -> str:
    for line in text.splitlines():
        if re.search(pattern, line):
            return line.strip()[:200]
    return ""


def json_objects(text: str) -> list[object]:
    """Parse one or more concatenated JSON documents (fickling appends to its output file)."""
    dec = json.JSONDecoder()
    out: list[object] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out
        out.append(obj)


def load_json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def max_sev(sevs: Iterable[str | None]) -> str | None:
    best: str | None = None
    for s in sevs:
        if s in RANK and (best is None or RANK[s] > RANK[best]):
            best = s
    return best


# --------------------------------------------------------------------------------------------------
# verdicts


@dataclass
class Verdict:
    """One tool on one file."""

    flagged: bool = False  # the tool's own "unsafe" verdict (exit code / its own rule)
    severity: str | None = None  # highest finding, mapped onto info..critical
    error: bool = False  # the tool reported that it could not scan the file
    crash: bool = False  # traceback escaped, or an exit code the tool does not document
    hang: bool = False  # killed after --timeout
    unsupported: bool = False  # the tool said it scanned nothing
    rc: int | None = None
    seconds: float = 0.0
    note: str = ""

    @property
    def flagged_high(self) -> bool:
        return self.severity is not None and RANK[self.severity] >= HIGH

    @property
    def status(self) -> str:
        if self.hang:
            return "hang"
        if self.crash:
            return "crash"
        if self.flagged:
            return "flagged"
        if self.error:
            return "error"
        if self.unsupported:
            return "unsupported"
        return "clean"


@dataclass
class DirResult:
    """One tool over the whole corpus directory."""

    seconds: float
    rc: int | None
    hang: bool
    crash: bool
    accounted: int | None  # files the tool reported on (scanned, errored or skipped); None: unknown
    flagged: set[str] = field(default_factory=set)  # corpus paths the tool flagged (when attributable)
    note: str = ""


class Resolver:
    """Maps whatever path string a tool prints back to a corpus file, and a file to its manifest entry."""

    def __init__(self, root: Path, files: Iterable[str], entries: Iterable[str]) -> None:
        self.root = str(root.resolve())
        self.entries = set(entries)
        self.rels = set(files) | self.entries

    def __call__(self, reported: str) -> str | None:
        s = reported.strip()
        s = re.sub(r" \(pos \d+\)$", "", s)
        for prefix in (self.root + os.sep, "./"):
            if s.startswith(prefix):
                s = s[len(prefix) :]
        if s in self.rels:
            return s
        # zip/archive members: "model.pt:archive/data.pkl"
        idx = s.find(":")
        while idx != -1:
            if s[:idx] in self.rels:
                return s[:idx]
            idx = s.find(":", idx + 1)
        return None

    def entry(self, rel: str) -> str | None:
        """The manifest entry holding this file (itself, or a directory entry above it)."""
        if rel in self.entries:
            return rel
        return next((str(p) for p in PurePosixPath(rel).parents if str(p) in self.entries), None)


class Tool:
    name = ""
    expected_rcs: frozenset[int] = frozenset({0, 1, 2})
    supports_dir = True

    def __init__(self, exe: list[str], version: str) -> None:
        self.exe = exe
        self.version = version

    def file_argv(self, path: Path, out: Path) -> list[str]:
        raise NotImplementedError

    def dir_argv(self, path: Path, out: Path) -> list[str]:
        return self.file_argv(path, out)

    def verdict(self, run: Run, out: Path) -> Verdict:
        raise NotImplementedError

    def dir_result(self, run: Run, out: Path, resolve: Resolver) -> DirResult:
        raise NotImplementedError

    # shared helpers
    def base(self, run: Run) -> Verdict:
        v = Verdict(rc=run.rc, seconds=run.elapsed)
        if run.timed_out:
            v.hang = True
            v.note = "timeout"
        elif run.rc is None or run.rc < 0 or run.rc not in self.expected_rcs:
            v.crash = True
            v.note = f"exit {run.rc}: " + first_line(run.stderr or run.stdout)
        return v

    def dir_base(self, run: Run) -> DirResult:
        crash = not run.timed_out and (run.rc is None or run.rc < 0 or run.rc not in self.expected_rcs)
        return DirResult(seconds=run.elapsed, rc=run.rc, hang=run.timed_out, crash=crash, accounted=None)

    def commands(self) -> dict[str, str]:
        f = Path("FILE")
        o = Path("OUT.json")
        cmds = {"file": " ".join(self.file_argv(f, o))}
        if self.supports_dir:
            cmds["dir"] = " ".join(self.dir_argv(Path("DIR"), o))
        return cmds


class Mlwarden(Tool):
    """mlwarden scan PATH --format json: exit 0 clean, 1 unsafe at >= high, 2 error."""

    name = "mlwarden"

    def file_argv(self, path: Path, out: Path) -> list[str]:
        return [*self.exe, "scan", str(path), "--format", "json"]

    def _doc(self, run: Run) -> dict[str, object] | None:
        docs = json_objects(run.stdout)
        return docs[0] if docs and isinstance(docs[0], dict) else None

    def verdict(self, run: Run, out: Path) -> Verdict:
        v = self.base(run)
        if v.hang:
            return v
        doc = self._doc(run)
        files = doc.get("files") if doc else None
        if not isinstance(files, list):
            if run.traceback or run.rc != 2:
                v.crash = True
            v.error = True
            v.note = v.note or first_line(run.stderr or run.stdout)
            return v
        sevs: list[str | None] = []
        for f in files:
            if not isinstance(f, dict):
                continue
            sevs.append(f.get("max_severity"))
            found = [x for x in f.get("findings") or [] if isinstance(x, dict)]
            sevs.extend(x.get("severity") for x in found)
            # mlwarden reports unparseable / over-limit content as findings, not as failures
            broken = [x for x in found if str(x.get("rule_id", "")).startswith(("malformed/", "limit/"))]
            if broken:
                v.error = True
                v.note = f"{broken[0].get('rule_id')}: {broken[0].get('message')}"[:200]
            if f.get("error") or f.get("errors"):
                v.error = True
                v.note = str(f.get("error") or f.get("errors"))[:200]
        v.severity = max_sev(sevs)
        v.flagged = v.flagged_high or run.rc == 1
        if run.rc == 2:
            v.error = True
            v.note = v.note or first_line(run.stderr)
        if not files:
            v.unsupported = True
        return v

    def dir_result(self, run: Run, out: Path, resolve: Resolver) -> DirResult:
        d = self.dir_base(run)
        doc = self._doc(run)
        files = doc.get("files") if doc else None
        if not isinstance(files, list):
            d.crash = d.crash or not d.hang
            d.note = first_line(run.stderr or run.stdout)
            return d
        seen: set[str] = set()
        for f in files:
            if not isinstance(f, dict):
                continue
            rel = resolve(str(f.get("path", "")))
            if rel is None:
                continue
            seen.add(rel)
            s = f.get("max_severity")
            if s in RANK and RANK[s] >= HIGH:
                d.flagged.add(rel)
        d.accounted = len(seen)
        return d


class Picklescan(Tool):
    """picklescan -p PATH: exit 0 clean, 1 dangerous globals found, 2 scan error. No JSON output."""

    name = "picklescan"
    FOUND = re.compile(r"^(?P<path>.+?): (?P<kind>dangerous|suspicious) import '(?P<what>.*)' FOUND\s*$")

    def file_argv(self, path: Path, out: Path) -> list[str]:
        return [*self.exe, "-p", str(path)]

    def verdict(self, run: Run, out: Path) -> Verdict:
        v = self.base(run)
        if v.hang:
            return v
        kinds = {m["kind"] for line in run.text.splitlines() if (m := self.FOUND.match(line))}
        m = re.search(r"Suspicious globals: (\d+)", run.stdout)
        if "dangerous" in kinds or run.rc == 1:
            v.severity = "critical"
        elif "suspicious" in kinds or (m and int(m.group(1)) > 0):
            v.severity = "medium"
        v.flagged = run.rc == 1
        if "Unhandled exception" in run.text or run.traceback:
            v.crash = True
            v.note = first_line(run.stderr, r"Error|Exception") or "unhandled exception"
        elif run.rc == 2 or "ERROR:" in run.text:
            v.error = True
            v.note = first_line(run.text, "ERROR")
        elif "could not parse" in run.text:
            v.note = first_line(run.text, "could not parse")  # picklescan logs it and says clean
        m = re.search(r"Scanned files: (\d+)", run.stdout)
        if m and int(m.group(1)) == 0:
            v.unsupported = True
        return v

    def dir_result(self, run: Run, out: Path, resolve: Resolver) -> DirResult:
        d = self.dir_base(run)
        if "Unhandled exception" in run.text or run.traceback:
            d.crash = True
            d.note = first_line(run.stderr, r"^\w*(Error|Exception)") or "unhandled exception"
        for line in run.text.splitlines():
            m = self.FOUND.match(line)
            if m and m["kind"] == "dangerous" and (rel := resolve(m["path"])):
                d.flagged.add(rel)
        m = re.search(r"Scanned files: (\d+)", run.stdout)
        d.accounted = int(m.group(1)) if m else 0
        return d


class Modelscan(Tool):
    """modelscan scan -p PATH -r json -o OUT: exit 0 clean, 1 issues, 2 errors, 3 nothing scanned."""

    name = "modelscan"
    expected_rcs = frozenset({0, 1, 2, 3})
    SEV: ClassVar[dict[str, str | None]] = {
        "LOW": "low",
        "MEDIUM": "medium",
        "HIGH": "high",
        "CRITICAL": "critical",
    }

    def file_argv(self, path: Path, out: Path) -> list[str]:
        return [*self.exe, "scan", "-p", str(path), "-r", "json", "-o", str(out), "--show-skipped"]

    def verdict(self, run: Run, out: Path) -> Verdict:
        v = self.base(run)
        if v.hang:
            return v
        doc = load_json(out)
        if not isinstance(doc, dict):
            v.crash = True  # modelscan's main() turns any exception into "Exception: ..." and exit 2
            v.note = v.note or first_line(run.stdout, "Exception|Error") or first_line(run.stderr)
            return v
        issues = doc.get("issues") or []
        errors = doc.get("errors") or []
        v.severity = max_sev(self.SEV.get(str(i.get("severity")), None) for i in issues)
        v.flagged = bool(issues)
        skipped = ((doc.get("summary") or {}).get("skipped") or {}).get("skipped_files") or []
        errors = errors + [e for e in skipped if e.get("category") != "SCAN_NOT_SUPPORTED"]  # e.g. BAD_ZIP
        if errors:
            v.error = True
            v.note = str(errors[0].get("description", ""))[:200]
        scanned = (doc.get("summary") or {}).get("scanned") or {}
        if not scanned.get("total_scanned") and not errors and not issues:
            v.unsupported = True
        return v

    def dir_result(self, run: Run, out: Path, resolve: Resolver) -> DirResult:
        d = self.dir_base(run)
        doc = load_json(out)
        if not isinstance(doc, dict):
            d.crash = d.crash or not d.hang
            d.note = first_line(run.stdout, "Exception|Error") or first_line(run.stderr)
            d.accounted = 0
            return d
        summary = doc.get("summary") or {}
        names = list((summary.get("scanned") or {}).get("scanned_files") or [])
        names += [e.get("source", "") for e in doc.get("errors") or []]
        names += [e.get("source", "") for e in (summary.get("skipped") or {}).get("skipped_files") or []]
        seen = {r for n in names if (r := resolve(str(n)))}
        d.accounted = len(seen)
        d.flagged = {r for i in doc.get("issues") or [] if (r := resolve(str(i.get("source", ""))))}
        return d


class Fickling(Tool):
    """fickling --check-safety --json-output OUT FILE: exit 0 likely safe, 1 unsafe, 2 parse error.

    The CLI takes one pickle file; it does not walk directories and does not open PyTorch zips
    (its zip support is only in the Python API and in --huggingface mode).
    """

    name = "fickling"
    supports_dir = False
    SEV: ClassVar[dict[str, str | None]] = {
        "LIKELY_SAFE": None,
        "POSSIBLY_UNSAFE": "low",
        "SUSPICIOUS": "medium",
        "LIKELY_UNSAFE": "high",
        "LIKELY_OVERTLY_MALICIOUS": "critical",
        "OVERTLY_MALICIOUS": "critical",
    }

    def file_argv(self, path: Path, out: Path) -> list[str]:
        return [*self.exe, "--check-safety", "--json-output", str(out), str(path)]

    def verdict(self, run: Run, out: Path) -> Verdict:
        v = self.base(run)
        if v.hang:
            return v
        try:
            docs = json_objects(out.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            docs = []
        v.severity = max_sev(self.SEV.get(str(d.get("severity"))) for d in docs if isinstance(d, dict))
        if run.traceback:
            v.crash = True
            v.note = first_line(run.stderr, r"^\w*(Error|Exception)") or "traceback"
        v.flagged = run.rc == 1
        if run.rc == 1 and v.severity is None:
            v.severity = "medium"
        if run.rc == 2:
            v.error = True  # "Fickling failed to parse this pickle file ... DO NOT TRUST this file"
            v.note = first_line(run.stderr, "failed|Error")
        return v

    def dir_result(self, run: Run, out: Path, resolve: Resolver) -> DirResult:
        raise NotImplementedError


class Modelaudit(Tool):
    """modelaudit scan --format json --no-cache -o OUT PATH: exit 0 clean, 1 findings, 2 errors.

    Its exit 1 means any WARNING or CRITICAL finding; INFO/DEBUG findings do not count.
    """

    name = "modelaudit"
    SEV: ClassVar[dict[str, str | None]] = {
        "debug": "info",
        "info": "info",
        "warning": "medium",
        "critical": "critical",
    }

    def file_argv(self, path: Path, out: Path) -> list[str]:
        return [*self.exe, "scan", "--format", "json", "--no-cache", "-o", str(out), str(path)]

    def verdict(self, run: Run, out: Path) -> Verdict:
        v = self.base(run)
        if v.hang:
            return v
        doc = load_json(out)
        if not isinstance(doc, dict):
            v.crash = v.crash or run.traceback or run.rc not in (2,)
            v.error = True
            v.note = v.note or first_line(run.stderr, "Error|error") or first_line(run.stdout)
            return v
        issues = [i for i in doc.get("issues") or [] if isinstance(i, dict)]
        sevs = [str(i.get("severity", "")).lower() for i in issues]
        v.severity = max_sev(self.SEV.get(s) for s in sevs)
        v.flagged = run.rc == 1 or any(s in ("warning", "critical") for s in sevs)
        if run.rc == 2:
            v.error = True
            v.note = first_line(run.stderr, "rror") or "exit 2 (operational error or inconclusive)"
        if not doc.get("files_scanned"):
            v.unsupported = True
        return v

    def dir_result(self, run: Run, out: Path, resolve: Resolver) -> DirResult:
        d = self.dir_base(run)
        doc = load_json(out)
        if not isinstance(doc, dict):
            d.crash = d.crash or not d.hang
            d.note = first_line(run.stderr, "Error|error") or first_line(run.stdout)
            d.accounted = 0
            return d
        names = [str(a.get("path", "")) for a in doc.get("assets") or [] if isinstance(a, dict)]
        names += list((doc.get("file_metadata") or {}).keys())
        d.accounted = len({r for n in names if (r := resolve(n))})
        for i in doc.get("issues") or []:
            if str(i.get("severity", "")).lower() in ("warning", "critical"):
                loc = str(i.get("location") or (i.get("details") or {}).get("pickle_source") or "")
                if rel := resolve(loc):
                    d.flagged.add(rel)
        return d


TOOL_CLASSES: dict[str, type[Tool]] = {
    "mlwarden": Mlwarden,
    "picklescan": Picklescan,
    "modelscan": Modelscan,
    "fickling": Fickling,
    "modelaudit": Modelaudit,
}


# --------------------------------------------------------------------------------------------------
# setting up tools


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_peer_venv(root: Path, name: str, reinstall: bool) -> Path:
    """Create ROOT/NAME with `python -m venv` and pip install the pinned peer into it."""
    venv = root / name
    marker = venv / ".bench-pins.json"
    pins = PEER_PINS[name]
    if not reinstall and marker.exists() and load_json(marker) == pins and venv_python(venv).exists():
        return venv
    if reinstall and venv.exists():
        shutil.rmtree(venv)
    log(f"[setup] creating {venv} and installing {' '.join(pins)}")
    if not venv_python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q", *pins],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise SystemExit(f"pip install {' '.join(pins)} failed in {venv}:\n{tail}")
    marker.write_text(json.dumps(pins))
    return venv


def dist_versions(python: Path | str, dists: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try:\n"
        "        out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([str(python), "-c", code, *dists], capture_output=True, text=True)
    try:
        return dict(json.loads(proc.stdout))
    except ValueError:
        return {}


def peer_home(root: Path) -> Path:
    """A private HOME for the peers: their config and caches land here, not in the user's home."""
    home = root / "home"
    (home / ".modelaudit").mkdir(parents=True, exist_ok=True)
    cfg = home / ".modelaudit" / "user_config.json"
    if not cfg.exists():  # modelaudit's UserConfig.telemetry_enabled reads this
        cfg.write_text(json.dumps({"telemetry_enabled": False}))
    (home / "cwd").mkdir(exist_ok=True)  # empty cwd: no modelscan-settings.toml, no safety_results.json
    return home


def tool_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in KEPT_ENV}
    env.update(TELEMETRY_ENV)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["HF_HOME"] = str(home / ".cache" / "huggingface")
    return env


def mlwarden_exe(override: str | None) -> list[str]:
    if override:
        return override.split()
    beside = Path(sys.executable).parent / "mlwarden"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mlwarden")
    if found:
        return [found]
    return [sys.executable, "-m", "mlwarden"]


def find_torch_python(override: str | None) -> str | None:
    """An interpreter that can import torch (the corpus generator and the 2 GiB checkpoint need it)."""
    candidates = [override] if override else [sys.executable, str(REPO.parent / "venv" / "bin" / "python")]
    for c in candidates:
        if c and Path(c).exists():
            ok = subprocess.run([c, "-c", "import torch"], capture_output=True).returncode == 0
            if ok:
                return c
    return None


# --------------------------------------------------------------------------------------------------
# corpus


@dataclass
class Item:
    path: str
    label: str
    family: str
    format: str
    size: int


def load_manifest(corpus: Path) -> list[Item]:
    raw = load_json(corpus / "manifest.json")
    if isinstance(raw, dict):
        raw = raw.get("files") or raw.get("items") or []
    if not isinstance(raw, list):
        raise SystemExit(f"{corpus}/manifest.json: expected a list of entries")
    items = []
    for e in raw:
        p = corpus / e["path"]
        if p.is_file():
            size = p.stat().st_size
        elif p.is_dir():  # a model that is a directory (e.g. a SavedModel): one entry, scanned as a whole
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        else:
            log(f"[corpus] missing file listed in manifest: {e['path']}")
            continue
        items.append(Item(e["path"], e["label"], e.get("family", "?"), e.get("format", "?"), size))
    return items


def generate_corpus(out: Path, scale: str, python: str | None) -> None:
    if not GEN_CORPUS.exists():
        raise SystemExit(f"{GEN_CORPUS} not found; pass --corpus DIR")
    py = python or sys.executable
    log(f"[corpus] {py} {GEN_CORPUS} {out} --scale {scale}")
    t0 = time.perf_counter()
    subprocess.run([py, str(GEN_CORPUS), str(out), "--scale", scale], check=True, stdout=sys.stderr)
    log(f"[corpus] generated in {time.perf_counter() - t0:.1f}s")


def sample_items(items: list[Item], per_label: int, seed: int) -> list[Item]:
    """Up to per_label files per label, round-robin over families so every family is represented."""
    if per_label <= 0:
        return list(items)
    rng = random.Random(seed)
    out: list[Item] = []
    by_label: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for it in items:
        by_label[it.label][it.family].append(it)
    for fams in by_label.values():
        pools = []
        for fam in sorted(fams):
            pool = list(fams[fam])
            rng.shuffle(pool)
            pools.append(pool)
        picked: list[Item] = []
        while len(picked) < per_label and any(pools):
            for pool in pools:
                if pool and len(picked) < per_label:
                    picked.append(pool.pop())
        out.extend(picked)
    return sorted(out, key=lambda i: i.path)


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "manifest.json")


# --------------------------------------------------------------------------------------------------
# measurements


@dataclass
class Ctx:
    tools: dict[str, Tool]
    env: dict[str, str]
    cwd: Path
    scratch: Path
    timeout: float
    mem_limit: int
    _n: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def out_file(self, tool: str) -> Path:
        with self._lock:
            self._n += 1
            n = self._n
        p = self.scratch / f"{tool}-{n}.json"
        p.unlink(missing_ok=True)
        return p

    def scan_one(self, tool: Tool, path: Path, timeout: float | None = None) -> Verdict:
        out = self.out_file(tool.name)
        run = run_cmd(tool.file_argv(path, out), self.env, self.cwd, timeout or self.timeout, self.mem_limit)
        v = tool.verdict(run, out)
        out.unlink(missing_ok=True)
        if v.crash or v.hang:  # a crashed or killed tool gave no verdict
            v.flagged = False
            v.severity = None
        return v


def per_file(ctx: Ctx, corpus: Path, items: list[Item], jobs: int) -> dict[str, dict[str, Verdict]]:
    tasks = [(t, it) for it in items for t in ctx.tools.values()]
    results: dict[str, dict[str, Verdict]] = defaultdict(dict)
    done = 0
    t0 = time.perf_counter()
    lock = threading.Lock()

    def work(task: tuple[Tool, Item]) -> None:
        nonlocal done
        tool, it = task
        v = ctx.scan_one(tool, corpus / it.path)
        with lock:
            results[tool.name][it.path] = v
            done += 1
            if done % 50 == 0 or done == len(tasks):
                log(f"[per-file] {done}/{len(tasks)} runs, {time.perf_counter() - t0:.0f}s")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(work, tasks))
    return results


def dir_scans(ctx: Ctx, corpus: Path, items: list[Item], timeout: float) -> dict[str, DirResult]:
    files = [p.relative_to(corpus).as_posix() for p in corpus_files(corpus)]
    resolve = Resolver(corpus, files, [it.path for it in items])
    out: dict[str, DirResult] = {}
    for tool in ctx.tools.values():
        if not tool.supports_dir:
            continue
        o = ctx.out_file(tool.name)
        log(f"[dir] {tool.name} over {corpus}")
        run = run_cmd(tool.dir_argv(corpus, o), ctx.env, ctx.cwd, timeout, ctx.mem_limit)
        d = tool.dir_result(run, o, resolve)
        d.flagged = {e for r in d.flagged if (e := resolve.entry(r))}  # per manifest entry
        out[tool.name] = d
        o.unlink(missing_ok=True)
        log(f"[dir] {tool.name}: {run.elapsed:.2f}s rc={run.rc}")
    return out


LARGE_SCRIPT = """
import sys, torch
n = int(sys.argv[2])
sd = {}
for i in range(n):
    t = torch.empty(128 * 1024 * 1024, dtype=torch.float32)  # 512 MiB each
    t.fill_(float(i) + 0.5)
    sd[f"layers.{i}.weight"] = t
sd["layers.bias"] = torch.zeros(1024)
torch.save(sd, sys.argv[1])
"""


def build_large(path: Path, python: str | None, gib: int) -> Path | None:
    want = gib * (1 << 30)
    if path.exists() and path.stat().st_size >= want:
        return path
    if python is None:
        log("[large] no interpreter with torch found; skipping the large-file test (use --torch-python)")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    log(f"[large] building {path} ({gib} GiB) with {python}")
    subprocess.run([python, "-c", LARGE_SCRIPT, str(tmp), str(gib * 2)], check=True)
    tmp.replace(path)
    return path


def large_file(ctx: Ctx, path: Path, timeout: float) -> dict[str, Verdict]:
    out = {}
    for tool in ctx.tools.values():
        log(f"[large] {tool.name}")
        out[tool.name] = ctx.scan_one(tool, path, timeout)
        log(f"[large] {tool.name}: {out[tool.name].seconds:.2f}s {out[tool.name].status}")
    return out


def startup(ctx: Ctx, tiny: Path, runs: int) -> dict[str, dict[str, float | str]]:
    out: dict[str, dict[str, float | str]] = {}
    for tool in ctx.tools.values():
        ctx.scan_one(tool, tiny)  # warm the page cache
        times = []
        status = ""
        for _ in range(runs):
            v = ctx.scan_one(tool, tiny)
            times.append(v.seconds)
            status = v.status
        out[tool.name] = {
            "median": statistics.median(times),
            "min": min(times),
            "max": max(times),
            "status": status,
        }
        log(f"[startup] {tool.name}: median {statistics.median(times):.3f}s")
    return out


# --------------------------------------------------------------------------------------------------
# reporting


class Table:
    def __init__(self, title: str, header: list[str]) -> None:
        self.title = title
        self.header = header
        self.rows: list[list[str]] = []
        self.notes: list[str] = []

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self, markdown: bool) -> str:
        if markdown:
            lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
            lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.header))) + "|")
            lines += ["| " + " | ".join(r) + " |" for r in self.rows]
            lines += [""] + [f"*{n}*" for n in self.notes]
            return "\n".join(lines) + "\n"
        widths = [max(len(x) for x in col) for col in zip(self.header, *self.rows, strict=False)]
        fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [f"== {self.title} ==", fmt.format(*self.header), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r) for r in self.rows]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "n/a"


def ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "n/a"
    return f"{ours / theirs:.1f}x"


def build_tables(res: dict[str, object], tools: list[str]) -> list[Table]:
    tables: list[Table] = []
    pf: dict[str, dict[str, dict[str, object]]] = res.get("per_file", {})  # type: ignore[assignment]
    items: list[dict[str, object]] = res.get("sample", [])  # type: ignore[assignment]
    if pf:
        mal = [it for it in items if it["label"] == "malicious"]
        ben = [it for it in items if it["label"] == "benign"]
        bad = [it for it in items if it["label"] == "malformed"]
        fams = sorted({str(it["family"]) for it in mal})
        title = "Detection per malicious family (files flagged / files; tool's own verdict)"
        t = Table(title, ["family", *tools])
        for fam in fams:
            sub = [it for it in mal if it["family"] == fam]
            t.add(fam, *(f"{sum(pf[tl][it['path']]['flagged'] for it in sub)}/{len(sub)}" for tl in tools))
        tables.append(t)

        s = Table(
            "Detection and false positives (per-file runs)",
            [
                "tool",
                "malicious detected",
                "detected >=high",
                "benign FP",
                "benign FP >=high",
                "median s/file",
            ],
        )
        m = Table(
            f"Malformed files ({len(bad)}) and robustness (all {len(items)} files)",
            [
                "tool",
                "flagged",
                "error reported",
                "silently clean",
                "crash",
                "hang",
                "crash (all)",
                "hang (all)",
            ],
        )
        for tl in tools:
            r = pf[tl]

            def count(sub: list[dict[str, object]], key: str, r: dict[str, dict[str, object]] = r) -> int:
                return sum(bool(r[it["path"]][key]) for it in sub)

            def silent(sub: list[dict[str, object]], r: dict[str, dict[str, object]] = r) -> int:
                return sum(
                    r[it["path"]]["status"] in ("clean", "unsupported") and r[it["path"]]["severity"] is None
                    for it in sub
                )

            det, det_hi = count(mal, "flagged"), count(mal, "flagged_high")
            s.add(
                tl,
                f"{det}/{len(mal)} ({pct(det, len(mal))})",
                f"{det_hi}/{len(mal)} ({pct(det_hi, len(mal))})",
                f"{count(ben, 'flagged')}/{len(ben)}",
                f"{count(ben, 'flagged_high')}/{len(ben)}",
                f"{statistics.median(float(v['seconds']) for v in r.values()):.2f}" if r else "n/a",
            )
            m.add(
                tl,
                f"{count(bad, 'flagged')}/{len(bad)}",
                f"{count(bad, 'error')}/{len(bad)}",
                f"{silent(bad)}/{len(bad)}",
                f"{count(bad, 'crash')}/{len(bad)}",
                f"{count(bad, 'hang')}/{len(bad)}",
                count(items, "crash"),
                count(items, "hang"),
            )
        s.notes.append(
            "detected / benign FP: the tool's own unsafe verdict (exit code). '>=high' maps each tool's "
            "severities onto info..critical (modelscan as is; modelaudit warning=medium, critical=critical; "
            "fickling POSSIBLY_UNSAFE=low, SUSPICIOUS=medium, LIKELY_UNSAFE=high, *MALICIOUS=critical; "
            "picklescan dangerous global=critical, suspicious=medium). "
            "Crashed or killed runs count as not flagged."
        )
        m.notes.append(
            "crash: a traceback escaped or the exit code is not one the tool documents; "
            "hang: killed after the per-file timeout; "
            "silently clean: no finding at any severity and no error for a broken file."
        )
        tables += [s, m]

    ds: dict[str, dict[str, object]] = res.get("dir_scan", {})  # type: ignore[assignment]
    if ds:
        meta = res["corpus"]  # type: ignore[index]
        nfiles, nbytes = int(meta["files"]), int(meta["bytes"])  # type: ignore[index]
        nmal = int(meta["malicious"])  # type: ignore[index]
        ours = ds.get("mlwarden")
        ours_fps = nfiles / float(ours["seconds"]) if ours and not ours["hang"] else None
        t = Table(
            f"Whole-directory scan ({nfiles} files, {nbytes / 1e6:.1f} MB)",
            [
                "tool",
                "seconds",
                "files/s",
                "MB/s",
                "mlwarden speed-up",
                "files accounted",
                "malicious flagged",
                "exit",
                "outcome",
            ],
        )
        for tl in tools:
            d = ds.get(tl)
            if d is None:
                t.add(tl, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "no directory mode")
                continue
            sec = float(d["seconds"])
            fps = nfiles / sec if sec and not d["hang"] else None
            outcome = "hang" if d["hang"] else "crashed/aborted" if d["crash"] else "completed"
            acc = "?" if d["accounted"] is None else f"{d['accounted']}/{nfiles}"
            t.add(
                tl,
                f"{sec:.2f}",
                f"{fps:.1f}" if fps else "n/a",
                f"{nbytes / 1e6 / sec:.1f}" if fps else "n/a",
                "-" if tl == "mlwarden" else ratio(ours_fps, fps),
                acc,
                f"{d['malicious_flagged']}/{nmal}",
                d["rc"],
                outcome,
            )
        t.notes.append("files accounted: corpus files the tool reported on (scanned, errored or skipped).")
        tables.append(t)

    lg: dict[str, object] = res.get("large_file", {})  # type: ignore[assignment]
    if lg and lg.get("results"):
        lr: dict[str, dict[str, object]] = lg["results"]  # type: ignore[assignment]
        ours_s = float(lr["mlwarden"]["seconds"]) if "mlwarden" in lr else None
        t = Table(
            f"Large file: {lg['size_bytes'] / (1 << 30):.2f} GiB PyTorch zip checkpoint",  # type: ignore[operator]
            ["tool", "seconds", "MB/s", "mlwarden speed-up", "outcome"],
        )
        for tl in tools:
            v = lr.get(tl)
            if not v:
                continue
            sec = float(v["seconds"])
            t.add(
                tl,
                f"{sec:.2f}",
                f"{lg['size_bytes'] / 1e6 / sec:.0f}",  # type: ignore[operator]
                "-" if tl == "mlwarden" else ratio(sec, ours_s),
                v["status"],
            )
        if ours_s is not None:
            t.notes.append(f"mlwarden target < 1 s: {'met' if ours_s < 1.0 else 'MISSED'} ({ours_s:.2f} s)")
        tables.append(t)

    su: dict[str, dict[str, object]] = res.get("startup", {})  # type: ignore[assignment]
    if su:
        ours_s = float(su["mlwarden"]["median"]) if "mlwarden" in su else None
        t = Table(
            f"CLI start-up: one tiny pickle, median of {res.get('startup_runs')} runs",
            ["tool", "median s", "min s", "max s", "mlwarden speed-up"],
        )
        for tl in tools:
            v = su.get(tl)
            if v:
                med = float(v["median"])
                t.add(
                    tl,
                    f"{med:.3f}",
                    f"{float(v['min']):.3f}",
                    f"{float(v['max']):.3f}",
                    "-" if tl == "mlwarden" else ratio(med, ours_s),
                )
        if ours_s is not None:
            met = "met" if ours_s <= 0.3 else "MISSED"
            t.notes.append(f"mlwarden target <= 0.3 s: {met} ({ours_s:.3f} s)")
        tables.append(t)
    return tables


def verdict_dict(v: Verdict) -> dict[str, object]:
    d = asdict(v)
    d["flagged_high"] = v.flagged_high
    d["status"] = v.status
    return d


# --------------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=("small", "full"), default="small", help="corpus scale to generate")
    ap.add_argument("--corpus", type=Path, help="use this existing corpus (DIR/manifest.json)")
    ap.add_argument(
        "--peers-venv",
        type=Path,
        default=Path("/tmp/mlwarden-bench-peers"),
        help="directory holding one virtualenv per peer (created if missing)",
    )
    ap.add_argument("--reinstall-peers", action="store_true", help="recreate the peer virtualenvs")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated subset of the default")
    ap.add_argument("--mlwarden", help="command running mlwarden (default: the one beside this interpreter)")
    ap.add_argument("--torch-python", help="interpreter with torch, for the corpus and the large checkpoint")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mlwarden-bench",
        help="scratch space; the large checkpoint is cached here",
    )
    ap.add_argument("--keep-corpus", action="store_true", help="keep a generated corpus (path is printed)")
    ap.add_argument(
        "--sample",
        type=int,
        default=60,
        help="per-file runs on at most N files per label, round-robin over families (0 = all)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0, help="per-file timeout in seconds (then: hang)")
    ap.add_argument("--dir-timeout", type=float, default=900.0, help="whole-directory scan timeout")
    ap.add_argument("--large-timeout", type=float, default=600.0, help="large-file scan timeout")
    ap.add_argument("--large-gib", type=int, default=2, help="size of the large checkpoint in GiB")
    ap.add_argument("--startup-runs", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2, help="parallel per-file runs")
    ap.add_argument("--mem-limit-gib", type=float, default=16.0, help="address-space cap per run (0 = none)")
    ap.add_argument("--no-files", action="store_true", help="skip (a) per-file runs")
    ap.add_argument("--no-dir", action="store_true", help="skip (b) whole-directory scans")
    ap.add_argument("--no-large", action="store_true", help="skip (c) the large-file test")
    ap.add_argument("--no-startup", action="store_true", help="skip (d) start-up timing")
    ap.add_argument("--json", type=Path, help="write all results here")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(names) - set(ALL_TOOLS))
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(unknown)}")
    names = [t for t in ALL_TOOLS if t in names]
    args.workdir.mkdir(parents=True, exist_ok=True)

    # tools
    peers = [n for n in names if n != "mlwarden"]
    args.peers_venv.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        made = pool.map(lambda n: ensure_peer_venv(args.peers_venv, n, args.reinstall_peers), peers)
        venvs = dict(zip(peers, made, strict=True))
    tools: dict[str, Tool] = {}
    versions: dict[str, dict[str, str]] = {}
    for n in names:
        if n == "mlwarden":
            exe = mlwarden_exe(args.mlwarden)
            versions[n] = dist_versions(sys.executable, ["mlwarden"])
        else:
            exe = [str(venvs[n] / "bin" / n)]
            versions[n] = dist_versions(venv_python(venvs[n]), PEER_DISTS[n])
        tools[n] = TOOL_CLASSES[n](exe, versions[n].get(n, "?"))
    for n in names:
        pins = " ".join(f"{d}=={v}" for d, v in versions[n].items())
        log(f"[tools] {n}: {pins}  ({' '.join(tools[n].exe)})")

    home = peer_home(args.peers_venv)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    ctx = Ctx(
        tools=tools,
        env=tool_env(home),
        cwd=home / "cwd",
        scratch=scratch,
        timeout=args.timeout,
        mem_limit=int(args.mem_limit_gib * (1 << 30)),
    )
    torch_python = find_torch_python(args.torch_python)

    # corpus
    generated: Path | None = None
    if args.corpus:
        corpus = args.corpus.resolve()
    else:
        generated = Path(tempfile.mkdtemp(prefix=f"corpus-{args.scale}-", dir=args.workdir))
        corpus = generated
        generate_corpus(corpus, args.scale, torch_python)
    items = load_manifest(corpus)
    files = corpus_files(corpus)
    labels = defaultdict(int)
    for it in items:
        labels[it.label] += 1
    log(f"[corpus] {corpus}: {len(items)} manifest entries {dict(labels)}, {len(files)} files")

    res: dict[str, object] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "versions": versions,
        "commands": {n: t.commands() for n, t in tools.items()},
        "telemetry_env": TELEMETRY_ENV,
        "corpus": {
            "path": str(corpus),
            "scale": None if args.corpus else args.scale,
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "labels": dict(labels),
            "malicious": labels.get("malicious", 0),
        },
    }

    t_all = time.perf_counter()
    try:
        if not args.no_files:
            sample = sample_items(items, args.sample, args.seed)
            log(
                f"[per-file] {len(sample)} files x {len(tools)} tools, "
                f"{args.jobs} jobs, timeout {args.timeout}s"
            )
            pf = per_file(ctx, corpus, sample, args.jobs)
            res["sample"] = [asdict(it) for it in sample]
            res["per_file"] = {t: {p: verdict_dict(v) for p, v in r.items()} for t, r in pf.items()}

        if not args.no_dir:
            ds = dir_scans(ctx, corpus, items, args.dir_timeout)
            mal = {it.path for it in items if it.label == "malicious"}
            res["dir_scan"] = {
                t: {
                    **{k: v for k, v in asdict(d).items() if k != "flagged"},
                    "malicious_flagged": len(d.flagged & mal),
                    "benign_flagged": len(d.flagged & {it.path for it in items if it.label == "benign"}),
                }
                for t, d in ds.items()
            }

        if not args.no_large:
            big = build_large(args.workdir / f"large-{args.large_gib}gib.pt", torch_python, args.large_gib)
            if big is not None:
                lr = large_file(ctx, big, args.large_timeout)
                res["large_file"] = {
                    "path": str(big),
                    "size_bytes": big.stat().st_size,
                    "results": {t: verdict_dict(v) for t, v in lr.items()},
                }

        if not args.no_startup:
            tiny = scratch / "tiny.pkl"
            tiny.write_bytes(pickle.dumps({"weights": [0.5, 1.5], "name": "tiny"}, protocol=4))
            res["startup_runs"] = args.startup_runs
            res["startup"] = startup(ctx, tiny, args.startup_runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if generated is not None and not args.keep_corpus:
            shutil.rmtree(generated, ignore_errors=True)
        elif generated is not None:
            log(f"[corpus] kept at {generated}")
    res["wall_seconds"] = time.perf_counter() - t_all

    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
        log(f"[json] {args.json}")

    out = []
    vers = ", ".join(f"{n} {tools[n].version}" for n in names)
    out.append(("**Tools:** " if args.markdown else "tools: ") + vers + "\n")
    out += [t.render(args.markdown) for t in build_tables(res, names)]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
