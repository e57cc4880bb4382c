"""Proof that the corpus payloads are real: the ONLY test allowed to load a malicious fixture.

Each sample is loaded by the unsafe loader it targets (pickle.load, torch.load(weights_only=False),
joblib.load, np.load(allow_pickle=True)) inside a throwaway ``sys.executable -c`` subprocess that first
installs a ``sys.addaudithook`` hook. The hook raises on every dangerous event (process creation, exec of
code that mentions the marker, writes to the marker, sockets, ctypes ...) and reports it as
``BLOCKED:<event>``. The test asserts that the hook fired with the expected event and that the marker file
was never created. The payloads are harmless anyway (``touch <marker>``), and the marker lives in tmp_path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_script

REPO = Path(__file__).resolve().parents[2]

# Runs in the child: argv = [path, loader, marker]. Prints one JSON line: {"blocked": [...], "error": ...}.
HARNESS = r"""
import io, json, os, pickle, sys, types
path, loader, marker = sys.argv[1], sys.argv[2], sys.argv[3]
# Import the heavy libraries before the hook goes in: their own imports dlopen shared libraries (a ctypes
# event), which must not be mistaken for a payload (nested payloads call torch.load, numpy.load ...).
import importlib
for name in ("numpy", "torch", "joblib", "pandas", "dill"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
if loader == "torch":
    import torch
elif loader == "joblib":
    import joblib
elif loader in ("npy", "npz"):
    import numpy as np

BLOCK_EXACT = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile",
               "subprocess.Popen", "webbrowser.open", "urllib.Request", "pty.spawn"}
BLOCK_PREFIX = ("ctypes.", "socket.", "smtplib.", "ftplib.", "http.client.")
MARKER_B = marker.encode()
blocked = []


def mentions_marker(obj, depth=0):
    if isinstance(obj, str):
        return marker in obj
    if isinstance(obj, (bytes, bytearray)):
        return MARKER_B in obj
    if isinstance(obj, types.CodeType) and depth < 20:
        return any(mentions_marker(c, depth + 1) for c in obj.co_consts)
    return False


def hook(event, args):
    hit = event in BLOCK_EXACT or event.startswith(BLOCK_PREFIX)
    if not hit and event == "open" and args and not isinstance(args[0], int):
        try:
            hit = os.fsdecode(args[0]) == marker
        except TypeError:
            hit = False
    if not hit and event in ("exec", "compile") and args:
        hit = mentions_marker(args[0])
    if hit:
        blocked.append(event)
        raise RuntimeError("mlwarden-audit-block:" + event)


sys.addaudithook(hook)
error = None
try:
    if loader == "pickle":
        with open(path, "rb") as f:
            while True:
                try:
                    pickle.load(f)
                except EOFError:
                    break
    elif loader == "torch":
        torch.load(path, weights_only=False)
    elif loader == "joblib":
        joblib.load(path)
    elif loader == "npy":
        np.load(path, allow_pickle=True)
    elif loader == "npz":
        with np.load(path, allow_pickle=True) as z:
            for k in z.files:
                z[k]
    else:
        raise ValueError(loader)
except BaseException as exc:  # the hook's own exception is expected here
    error = repr(exc)[:300]
for ev in dict.fromkeys(blocked):
    print("BLOCKED:" + ev)
print(json.dumps({"blocked": blocked, "error": error}), flush=True)
os._exit(0)
"""


def run_guarded(path: Path, loader: str, marker: Path, timeout: float = 120) -> dict[str, object]:
    """Load `path` with `loader` in an audit-hooked child process; return {"blocked": [...], "error": ...}."""
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, str(path), loader, str(marker)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=marker.parent,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"harness produced no report: rc={proc.returncode} stderr={proc.stderr[-2000:]}"
    result: dict[str, object] = json.loads(lines[-1])
    result["stdout"] = proc.stdout
    return result


def loader_for(fmt: str) -> str | None:
    if fmt in ("pickle", "dill"):
        return "pickle"
    if fmt.startswith("torch"):
        return "torch"
    if fmt.startswith("joblib"):
        return "joblib"
    if fmt in ("npy", "npz"):
        return fmt
    return None


def _load_generator() -> ModuleType:
    return load_script("gen_corpus")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, str]]]:
    pytest.importorskip("torch")
    base = tmp_path_factory.mktemp("fire")
    marker = base / "marker-must-not-exist"
    out = base / "corpus"
    manifest = _load_generator().generate(out, scale="small", marker=str(marker), seed=0)
    return out, marker, manifest


# (sample id, manifest path prefix, events any of which proves the payload ran up to its dangerous call)
SAMPLES = [
    ("os-system-pickle", "malicious/pickle/os-system/os_system-", {"os.system"}),
    ("reduce-class-pickle", "malicious/pickle/reduce-class/reducesystem-p2", {"os.system"}),
    ("subprocess-pickle", "malicious/pickle/subprocess/subprocess_call-", {"subprocess.Popen"}),
    ("exec-pickle", "malicious/pickle/builtins-eval-exec/builtins_exec-", {"compile", "exec", "open"}),
    ("torch-zip", "malicious/torch-zip/torch-save-reduce-0", {"os.system"}),
    ("torch-legacy", "malicious/torch-legacy/", {"*"}),  # payload varies with the seed: any block counts
    ("joblib-compressed", "malicious/joblib/real-zlib-", {"os.system"}),
    ("joblib-lz4", "malicious/joblib/real-lz4-", {"os.system"}),
    ("numpy-object-npy", "malicious/numpy/np-save-object.npy", {"os.system"}),
    ("numpy-object-npz", "malicious/numpy/np-savez-object.npz", {"compile", "exec", "open"}),
    ("nested-pickle-loads", "malicious/pickle/nested-pickle-loads/nested_pickle_loads-", {"os.system"}),
    ("nested-torch-load", "malicious/pickle/nested-pickle-loads/nested_torch_load-", {"os.system"}),
    ("getattr-chain", "malicious/pickle/getattr-chain/getattr_import_os-", {"os.system"}),
    ("ext-opcode", "malicious/pickle/ext-copyreg/ext_self_registering_ext2-", {"os.system"}),
    ("build-setstate", "malicious/pickle/build-setstate/build_setstate_ns-", {"os.system"}),
    ("memo-indirection", "malicious/pickle/memo-indirection/memo_binput-", {"os.system"}),
    ("stack-global-dotted", "malicious/pickle/stack-global-dynamic/sg_dotted-", {"os.system"}),
    ("inst-opcode", "malicious/pickle/inst-obj-opcodes/inst_os_system-", {"os.system"}),
    ("ml-gadget-runstring", "malicious/pickle/ml-gadget/numpy_runstring-", {"compile", "exec", "open"}),
    ("file-write", "malicious/pickle/file-write/io_fileio-", {"open"}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("sample", "prefix", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_payload_fires_and_is_blocked(
    corpus: tuple[Path, Path, list[dict[str, str]]], sample: str, prefix: str, expected: set[str]
) -> None:
    out, marker, manifest = corpus
    entries = [e for e in manifest if e["path"].startswith(prefix) and e["label"] == "malicious"]
    assert entries, f"no corpus entry starts with {prefix}"
    entry = entries[0]
    loader = loader_for(entry["format"])
    assert loader, entry
    result = run_guarded(out / entry["path"], loader, marker)
    blocked = set(result["blocked"])  # type: ignore[arg-type]
    hits = blocked if "*" in expected else blocked & expected
    assert hits, f"{sample}: hook did not fire as expected: {result}"
    assert f"BLOCKED:{sorted(hits)[0]}" in str(result["stdout"])
    assert not marker.exists(), f"{sample}: payload escaped the audit hook and created the marker"


@pytest.mark.slow
def test_benign_counterpart_does_not_trip_the_hook(corpus: tuple[Path, Path, list[dict[str, str]]]) -> None:
    """The harness itself must not cry wolf: a real state_dict and a real sklearn pickle load cleanly."""
    out, marker, manifest = corpus
    for prefix in ("benign/torch/mlp-state_dict", "benign/sklearn/"):
        entry = next(e for e in manifest if e["path"].startswith(prefix) and loader_for(e["format"]))
        result = run_guarded(out / entry["path"], loader_for(entry["format"]) or "", marker)
        assert result["blocked"] == [], (entry, result)
        assert result["error"] is None, (entry, result)
    assert not marker.exists()
