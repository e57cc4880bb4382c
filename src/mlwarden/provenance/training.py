"""Training provenance: run a training command and record it as SLSA Provenance v1.

    >>> from mlwarden.provenance.training import run_training
    >>> run = run_training(["python", "train.py"], output_dir="out/",
    ...                    data_manifests=["train.manifest.json"], seeds=42)     # doctest: +SKIP
    >>> statement = run.to_statement()    # in-toto Statement v1; sign it with mlwarden.signing

The statement's subject is the output directory's OMS root digest (what ``mlwarden hash`` and
``mlwarden sign`` compute), so the provenance and the model signature name the same model.

What is read, and when:

- *Before* the command starts: the dataset manifests (verified when a trust anchor is given), the
  base model's digest, the git state and the environment lock. A bad input then fails in seconds
  rather than after hours of training, and the record describes the state training started from
  (the command itself may well dirty the tree or change the environment).
- The command runs without a shell, with the terminal inherited; SIGINT and SIGTERM reach it so it
  can checkpoint and stop. A non-zero exit records nothing: :class:`TrainingCommandError`.
- *After* a successful exit, the output directory is hashed; an empty or missing one is an error.

Seeds are exported to the command: the main seed (``seeds=42``, or ``{"global": 42}``) as
``MLWARDEN_SEED`` and ``PYTHONHASHSEED``, a named seed ``{"data": 7}`` as ``MLWARDEN_SEED_DATA``.
``MLWARDEN_OUTPUT_DIR`` names the output directory. Seed and determinism variables already set
(``PYTHONHASHSEED``, ``CUBLAS_WORKSPACE_CONFIG``, ``*_SEED`` integers, ...) are recorded as well;
no other environment variable is, since the environment is where tokens live. For the same reason,
values of secret-looking options (``--hf-token X``, ``--api-key=X``) and credentials in URLs are
redacted from the recorded command line.

The record is only as trustworthy as the machine that made it (``builder.id``): it is a faithful
account by that builder, not an isolated, hermetic build.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from mlwarden import __version__
from mlwarden.errors import MlwardenError, UsageError
from mlwarden.hashing import HashingConfig, HashingError, Manifest, hash_model
from mlwarden.provenance.dataset import PREDICATE_TYPE as DATASET_MANIFEST_TYPE
from mlwarden.provenance.dataset import STATEMENT_TYPE, DatasetError, bundle_statement

if TYPE_CHECKING:
    from mlwarden.signing import Trust

SLSA_PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://mlwarden.dev/buildtypes/train/v1"
DEFAULT_BUILDER_ID = "https://mlwarden.dev/builders/local@v1"

SEED_ENV = "MLWARDEN_SEED"
OUTPUT_ENV = "MLWARDEN_OUTPUT_DIR"
MAIN_SEED = "global"

_INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SEED_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_SEED = 2**64 - 1
_MAX_HASH_SEED = 2**32 - 1  # PYTHONHASHSEED's range (and numpy's legacy seeding)

#: Variables that change a run's numerics; recorded with their values whenever they are set.
DETERMINISM_VARIABLES: tuple[str, ...] = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_LAUNCH_BLOCKING",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_ENABLE_ONEDNN_OPTS",
    "PL_SEED_WORKERS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
_SEED_VARIABLE = re.compile(r"(?:[A-Z0-9]+_)*SEED(?:_[A-Z0-9]+)*")
_INTEGER = re.compile(r"-?\d{1,40}")

_SECRET_OPTION = re.compile(
    r"--?[\w.-]*(?:token|secret|passw(?:or)?d|api[-_]?key|access[-_]?key|private[-_]?key|credential)[\w.-]*",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_REDACTED = "<redacted>"

_PYTHON_NAME = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)*)?t?(?:\.exe)?")
_TOOL_TIMEOUT = 10.0  # git, nvidia-smi: a hung tool must not hold up a training run
_TREE_TIMEOUT = 60.0  # git status and diff walk the whole working tree
_PROBE_TIMEOUT = 60.0
_MAX_CHANGES = 100  # modified files listed in the git annotation (all are counted)
_MAX_PROGRAM_BYTES = 512 * 1024 * 1024
_COUNT_CAP = 100_000
_CHUNK = 1024 * 1024


class TrainingError(MlwardenError):
    """Training provenance could not be recorded; the message names the input or step that failed."""


class TrainingCommandError(TrainingError):
    """The training command did not succeed, so there is nothing to vouch for.

    ``returncode`` is the command's exit status, negative for a signal (as in :mod:`subprocess`).
    """

    def __init__(self, returncode: int) -> None:
        if returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
        else:
            how = f"exited {returncode}"
        super().__init__(f"training command {how}; no provenance recorded")
        self.returncode = returncode


# -- seeds and the command's environment ---------------------------------------------------------------


def parse_seeds(values: Iterable[str]) -> dict[str, int]:
    """Parse ``--seed`` values: ``"42"`` is the main seed, ``"data=7"`` a named one.

    Returns ``{"global": 42, "data": 7}``; raises :class:`UsageError` on a bad or repeated name.
    """
    seeds: dict[str, int] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep:
            name, value = MAIN_SEED, raw
        name = name.strip().lower()
        if not _SEED_NAME.fullmatch(name):
            raise UsageError(
                f"--seed {raw!r}: seed names are a letter then letters, digits or _",
                hint="for example --seed 42 or --seed data=7",
            )
        try:
            number = int(value.strip(), 10)
        except ValueError:
            raise UsageError(
                f"--seed {raw!r}: {value!r} is not an integer", hint="for example --seed 42 or --seed data=7"
            ) from None
        if name in seeds:
            raise UsageError(f"--seed {name} is given twice", hint="give each seed once")
        seeds[name] = number
    return _checked_seeds(seeds)


def _checked_seeds(seeds: Mapping[str, int] | int | None) -> dict[str, int]:
    if seeds is None:
        return {}
    table = {MAIN_SEED: seeds} if isinstance(seeds, int) else dict(seeds)
    for name, value in table.items():
        if not _SEED_NAME.fullmatch(name):
            raise UsageError(f"invalid seed name {name!r}", hint="use a lower-case letter, then [a-z0-9_]")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SEED:
            raise UsageError(f"seed {name} must be an integer from 0 to 2**64-1, not {value!r}")
    main = table.get(MAIN_SEED)
    if main is not None and main > _MAX_HASH_SEED:
        raise UsageError(
            f"the main seed {main} does not fit PYTHONHASHSEED (0 to {_MAX_HASH_SEED})",
            hint="choose a smaller seed, or name it (--seed init=N exports MLWARDEN_SEED_INIT)",
        )
    return dict(sorted(table.items()))


def seed_environment(seeds: Mapping[str, int]) -> dict[str, str]:
    """The variables that carry ``seeds`` to the command (see the module docstring)."""
    env: dict[str, str] = {}
    for name, value in seeds.items():
        env[SEED_ENV if name == MAIN_SEED else f"{SEED_ENV}_{name.upper()}"] = str(value)
    if MAIN_SEED in seeds:
        env["PYTHONHASHSEED"] = str(seeds[MAIN_SEED])
    return env


def determinism_env(env: Mapping[str, str]) -> dict[str, str]:
    """Seed and determinism variables in ``env``: the ones in :data:`DETERMINISM_VARIABLES`, and any
    ``*SEED*`` variable holding an integer. Nothing else is copied, so no secret is recorded."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if name in DETERMINISM_VARIABLES:
            found[name] = value[:256]
        elif _SEED_VARIABLE.fullmatch(name) and _INTEGER.fullmatch(value.strip()):
            found[name] = value.strip()
    return dict(sorted(found.items()))


def strip_credentials(url: str) -> str:
    """A remote URL safe to publish: no user, password or token, no query or fragment.

    ``https://user:tok@host/r.git`` -> ``https://host/r.git``; scp-like ``git@host:org/r.git`` ->
    ``ssh://host/org/r.git``. Anything else (a local path) is returned unchanged.
    """
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    scp = re.fullmatch(r"(?:[^@/]+@)?([^:/]+):(.*)", url)
    if scp is not None and len(scp.group(1)) > 1:  # "C:..." is a Windows drive, not a host
        return f"ssh://{scp.group(1)}/{scp.group(2).lstrip('/')}"
    return url


def redact_command(argv: Sequence[str]) -> tuple[list[str], list[int]]:
    """``argv`` as it may be published, and the indices of the arguments that were redacted.

    The value of a secret-looking option (``--hf-token X``, ``--api-key=X``, ``--password X``) is
    replaced, and credentials are removed from URLs in any argument.
    """
    out: list[str] = []
    redacted: list[int] = []
    hide_next = False
    for index, arg in enumerate(argv):
        if hide_next and not arg.startswith("-"):
            out.append(_REDACTED)
            redacted.append(index)
            hide_next = False
            continue
        hide_next = False
        option, eq, _ = arg.partition("=")
        if index > 0 and _SECRET_OPTION.fullmatch(option):
            if eq:
                out.append(f"{option}={_REDACTED}")
                redacted.append(index)
            else:
                out.append(arg)
                hide_next = True
            continue
        clean = _URL_USERINFO.sub(r"\1", arg)
        if clean != arg:
            redacted.append(index)
        out.append(clean)
    return out, redacted


# -- git -------------------------------------------------------------------------------------------------


def _capture(
    argv: Sequence[str], *, env: Mapping[str, str], timeout: float, cwd: Path | None = None
) -> bytes | None:
    """stdout of a trusted helper (git, nvidia-smi, a Python probe), or None if it fails in any way."""
    try:
        done = subprocess.run(  # noqa: S603 - absolute path of a known tool, fixed arguments, no shell
            list(argv),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace").strip()
    return text or None


def git_state(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The git commit ``path`` is at, and whether the working tree differs from it.

    Returns ``None`` when ``path`` is not in a repository with a commit, or git is missing. Keys:
    ``commit``, ``branch`` (None when detached), ``remote`` (credentials stripped; None without one),
    ``root``, ``dirty`` (untracked files count; None if unknown), ``changes`` (porcelain status lines,
    at most 100), ``changeCount`` and ``diffSha256`` (SHA-256 of ``git diff --binary HEAD``, tracked
    changes only, so a reviewer can match the exact uncommitted patch).
    """
    environ = dict(os.environ if env is None else env)
    git = shutil.which("git", path=environ.get("PATH", os.defpath))
    if git is None:
        return None
    # no pager, no prompt, no index lock taken by status, no fsmonitor or external diff programs run
    environ.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"})
    base = [git, "-c", "core.fsmonitor=false", "-c", "core.quotepath=off", "-C", os.fspath(path)]

    def run(*args: str, timeout: float = _TOOL_TIMEOUT) -> bytes | None:
        return _capture([*base, *args], env=environ, timeout=timeout)

    root = _text(run("rev-parse", "--show-toplevel"))
    commit = _text(run("rev-parse", "--verify", "--quiet", "HEAD^{commit}"))
    if root is None or commit is None:
        return None
    branch = _text(run("symbolic-ref", "--quiet", "--short", "HEAD"))
    remote = _remote_url(run, branch)
    status = run("status", "--porcelain=v1", "-z", "--untracked-files=normal", timeout=_TREE_TIMEOUT)
    changes = _parse_status(status) if status is not None else None
    diff = run("diff", "--binary", "--no-ext-diff", "--no-textconv", "HEAD", "--", timeout=_TREE_TIMEOUT)
    return {
        "commit": commit,
        "branch": branch,
        "remote": remote,
        "root": root,
        "dirty": None if changes is None else bool(changes),
        "changes": (changes or [])[:_MAX_CHANGES],
        "changeCount": len(changes or []),
        "diffSha256": hashlib.sha256(diff).hexdigest() if diff else None,
    }


def _remote_url(run: Callable[..., bytes | None], branch: str | None) -> str | None:
    """The URL of the branch's upstream remote, else ``origin``, else the only remote."""
    remotes = (_text(run("remote")) or "").split()
    name = _text(run("config", "--get", f"branch.{branch}.remote")) if branch else None
    if name not in remotes:
        name = "origin" if "origin" in remotes else (remotes[0] if len(remotes) == 1 else None)
    if name is None:
        return None
    url = _text(run("remote", "get-url", name))
    return strip_credentials(url) if url else None


def _parse_status(raw: bytes) -> list[str]:
    """``git status --porcelain=v1 -z`` -> ``["M train.py", "?? notes.txt", ...]``."""
    entries = raw.split(b"\0")
    changes: list[str] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        code = entry[:2].decode("ascii", "replace")
        changes.append(f"{code.strip()} {entry[3:].decode('utf-8', 'replace')}")
        if "R" in code or "C" in code:
            index += 1  # a rename or copy is followed by its original path
    return changes


def _git_descriptor(state: Mapping[str, Any]) -> dict[str, Any]:
    commit = state["commit"]
    ref = f"refs/heads/{state['branch']}" if state.get("branch") else commit
    location = state.get("remote") or Path(state["root"]).as_uri()
    annotations: dict[str, Any] = {"kind": "source", "dirty": state.get("dirty")}
    if state.get("branch"):
        annotations["branch"] = state["branch"]
    if state.get("dirty"):
        annotations["changes"] = state.get("changes", [])
        annotations["changeCount"] = state.get("changeCount", 0)
        if state.get("diffSha256"):
            annotations["diffSha256"] = state["diffSha256"]
    return {
        "name": "source",
        "uri": f"git+{location}@{ref}",
        "digest": {"gitCommit": commit},
        "annotations": annotations,
    }


# -- environment lock --------------------------------------------------------------------------------------

# Run in the training command's own interpreter when it is not mlwarden's: the same facts as
# _interpreter_here(), printed as JSON.
_PROBE = (
    "import importlib.metadata as m, json, platform, sys\n"
    "print(json.dumps({'implementation': platform.python_implementation(),"
    " 'version': platform.python_version(), 'executable': sys.executable,"
    " 'prefix': sys.prefix, 'base_prefix': sys.base_prefix,"
    " 'dists': [[(d.metadata.get_all('Name') or [None])[0], d.version, d.read_text('direct_url.json')]"
    " for d in m.distributions()]}))\n"
)


def _interpreter_here() -> dict[str, Any]:
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "dists": [
            [(d.metadata.get_all("Name") or [None])[0], d.version, d.read_text("direct_url.json")]
            for d in importlib.metadata.distributions()
        ],
    }


def _same_interpreter(python: Path) -> bool:
    """Same executable in the same bin directory (a venv's python is a symlink to the base one)."""
    here = Path(sys.executable)
    return python.absolute().parent == here.absolute().parent and python.resolve() == here.resolve()


def _probe_interpreter(python: Path, env: Mapping[str, str], cwd: Path | None) -> dict[str, Any] | None:
    raw = _capture([os.fspath(python), "-c", _PROBE], env=env, timeout=_PROBE_TIMEOUT, cwd=cwd)
    try:
        facts = json.loads(raw or b"")
    except ValueError:
        return None
    if not isinstance(facts, dict) or not isinstance(facts.get("dists"), list):
        return None
    if not all(isinstance(facts.get(k), str) for k in ("implementation", "version", "executable")):
        return None
    return facts


def _canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _packages(dists: list[Any]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``{name: version}`` (first on sys.path wins, as for imports) and the non-index installs."""
    packages: dict[str, str] = {}
    direct: dict[str, dict[str, Any]] = {}
    for entry in dists:
        if not isinstance(entry, list) or len(entry) != 3:
            continue
        name, version, direct_text = entry
        if not isinstance(name, str) or not name or not isinstance(version, str):
            continue
        key = _canonical_name(name)
        if key in packages:
            continue
        packages[key] = version
        origin = _direct_url(direct_text)
        if origin:
            direct[key] = origin
    return dict(sorted(packages.items())), dict(sorted(direct.items()))


def _direct_url(text: object) -> dict[str, Any] | None:
    """PEP 610 ``direct_url.json`` (VCS, local or editable installs), credentials stripped."""
    if not isinstance(text, str):
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return None
    origin: dict[str, Any] = {"url": strip_credentials(info["url"])}
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("commit_id"), str):
        origin["vcs"] = vcs.get("vcs")
        origin["commit"] = vcs["commit_id"]
    dir_info = info.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable") is True:
        origin["editable"] = True
    return origin


def _os_facts() -> dict[str, Any]:
    uname = platform.uname()
    facts: dict[str, Any] = {
        "system": uname.system,
        "release": uname.release,
        "version": uname.version,
        "machine": uname.machine,
    }
    with suppress(OSError):
        release = platform.freedesktop_os_release()
        facts["distribution"] = release.get("PRETTY_NAME") or release.get("NAME")
        if "ID" in release:
            facts["distributionId"] = release["ID"]
        if "VERSION_ID" in release:
            facts["distributionVersion"] = release["VERSION_ID"]
    with suppress(AttributeError, ValueError, OSError):
        libc = os.confstr("CS_GNU_LIBC_VERSION")
        if libc:
            facts["libc"] = libc
    return facts


def _cpu_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {"count": os.cpu_count()}
    with suppress(AttributeError, OSError):
        facts["available"] = len(os.sched_getaffinity(0))
    with suppress(OSError, UnicodeDecodeError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                facts["model"] = value.strip()
                break
    return facts


def _cuda_facts(env: Mapping[str, str], packages: Mapping[str, str]) -> dict[str, Any] | None:
    """GPU driver and CUDA version from ``nvidia-smi`` (absent when it is missing, fails or hangs)."""
    facts: dict[str, Any] = {}
    search = env.get("PATH", os.defpath)
    smi = shutil.which("nvidia-smi", path=search)
    if smi is not None:
        query = "--query-gpu=name,driver_version,memory.total,uuid"
        rows = _text(_capture([smi, query, "--format=csv,noheader,nounits"], env=env, timeout=_TOOL_TIMEOUT))
        gpus = []
        for row in (rows or "").splitlines():
            cells = [c.strip() for c in row.split(",")]
            if len(cells) == 4:
                facts.setdefault("driverVersion", cells[1])
                gpus.append({"name": cells[0], "memoryMiB": cells[2], "uuid": cells[3]})
        if gpus:
            facts["gpus"] = gpus
        header = _text(_capture([smi], env=env, timeout=_TOOL_TIMEOUT)) or ""
        match = re.search(r"CUDA Version:\s*([0-9.]+)", header)
        if match:
            facts["driverCudaVersion"] = match.group(1)  # the newest CUDA the driver supports
    nvcc = shutil.which("nvcc", path=search)
    if nvcc is not None:
        match = re.search(
            r"release ([0-9.]+)", _text(_capture([nvcc, "--version"], env=env, timeout=_TOOL_TIMEOUT)) or ""
        )
        if match:
            facts["toolkitVersion"] = match.group(1)
    runtime = {
        n: v
        for n, v in packages.items()
        if n.startswith(("nvidia-cuda-runtime", "nvidia-cudnn", "nvidia-nccl"))
    }
    if runtime:
        facts["runtimePackages"] = runtime
    for variable, key in (
        ("CUDA_VISIBLE_DEVICES", "visibleDevices"),
        ("NVIDIA_VISIBLE_DEVICES", "nvidiaVisibleDevices"),
    ):
        if variable in env:
            facts[key] = env[variable]
    return facts or None


def environment_lock(
    python: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """What the training ran on: Python, installed distributions, OS, CPU and CUDA.

    ``python`` is the interpreter the command runs under, when known; if it is not mlwarden's own,
    it is asked (``python -c``, with ``env`` and ``cwd``) for its distributions. Otherwise, or if that
    fails, mlwarden's interpreter is described, and ``python.source`` says which one it was.
    ``packages`` is ``pip freeze`` read through :mod:`importlib.metadata` (pip is not run), and
    ``packagesSha256`` the SHA-256 of its ``name==version`` lines, sorted, one per line. Frameworks
    are never imported; CUDA comes from ``nvidia-smi`` with a short timeout.
    """
    environ = os.environ if env is None else env
    facts: dict[str, Any] | None = None
    source = "mlwarden"
    if python is not None:
        interpreter = Path(python)
        if _same_interpreter(interpreter):
            source = "training-command"
        else:
            facts = _probe_interpreter(interpreter, environ, Path(cwd) if cwd is not None else None)
            source = "training-command" if facts is not None else "mlwarden"
    if facts is None:
        facts = _interpreter_here()
    packages, direct = _packages(facts["dists"])
    freeze = "".join(f"{name}=={version}\n" for name, version in packages.items())
    lock: dict[str, Any] = {
        "python": {
            "implementation": facts["implementation"],
            "version": facts["version"],
            "executable": facts["executable"],
            "virtualenv": facts.get("prefix") != facts.get("base_prefix"),
            "source": source,
        },
        "packages": packages,
        "packagesSha256": hashlib.sha256(freeze.encode("utf-8")).hexdigest(),
    }
    if direct:
        lock["directUrls"] = direct
    lock["os"] = _os_facts()
    lock["cpu"] = _cpu_facts()
    cuda = _cuda_facts(environ, packages)
    if cuda is not None:
        lock["cuda"] = cuda
    return lock


def _command_python(program: Path, env: Mapping[str, str]) -> Path | None:
    """The interpreter a command runs under, when it visibly is Python (``python…``, or a ``#!`` script)."""
    if _PYTHON_NAME.fullmatch(program.name):
        return program
    try:
        with program.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    interpreter: str | None = words[0] if words else None
    if interpreter is not None and Path(interpreter).name == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]  # env -S, VAR=value
        interpreter = shutil.which(names[0], path=env.get("PATH", os.defpath)) if names else None
    if interpreter is not None and _PYTHON_NAME.fullmatch(Path(interpreter).name):
        return Path(interpreter)
    return None


# -- inputs: dataset manifests and the base model ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset the run read, identified by the Merkle root its manifest attests to."""

    manifest: str  #: the manifest file (absolute path)
    manifest_sha256: str  #: SHA-256 of the manifest file's bytes
    name: str  #: the manifest's subject name
    root_digest: str  #: the dataset's Merkle root (hex SHA-256)
    signed: bool  #: the manifest is a signed bundle
    signer: Mapping[str, str] | None = None  #: who signed it, only when the signature was verified
    source_uri: str | None = None  #: where the data came from, as the manifest says (``s3://…``)

    def to_descriptor(self) -> dict[str, Any]:
        """The SLSA ``resolvedDependencies`` entry: the dataset by its root, the manifest in annotations."""
        annotations: dict[str, Any] = {
            "kind": "dataset",
            "manifest": self.manifest,
            "manifestSha256": self.manifest_sha256,
            "manifestSigned": self.signed,
            "manifestVerified": self.signer is not None,
        }
        if self.signer is not None:
            annotations["signer"] = dict(self.signer)
        descriptor: dict[str, Any] = {"name": self.name}
        if self.source_uri is not None:
            descriptor["uri"] = self.source_uri
        descriptor["digest"] = {"sha256": self.root_digest}
        descriptor["annotations"] = annotations
        return descriptor


def dataset_input(path: str | os.PathLike[str], trust: Trust | None = None) -> DatasetInput:
    """Read a dataset manifest: an in-toto statement, or a Sigstore bundle whose DSSE payload is one.

    With ``trust`` (for example ``KeyTrust(public_pem)``) the manifest must be a bundle whose signature
    that anchor accepts; an unsigned manifest is then refused. Without it, a bundle's payload is read
    but its signature is not checked, and the record says so (``manifestVerified: false``).
    """
    file = Path(path).resolve()
    try:
        data = file.read_bytes()
    except OSError as err:
        raise TrainingError(
            f"cannot read dataset manifest {file}: {err.strerror or err}", hint="check the --data path"
        ) from None
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TrainingError(
            f"dataset manifest {file} is not JSON", hint="give the manifest or its signed bundle"
        ) from None
    if not isinstance(document, dict):
        raise TrainingError(f"dataset manifest {file} is not a JSON object")
    signer: dict[str, str] | None = None
    signed = "dsseEnvelope" in document
    if signed and trust is not None:
        from mlwarden.signing import VerificationError, verify_statement  # noqa: PLC0415 - only when verifying

        try:
            statement, who = verify_statement(document, trust)
        except VerificationError as err:
            raise TrainingError(
                f"dataset manifest {file} does not verify: {err.message}",
                hint=err.hint or "verify it with the key of whoever published the dataset",
            ) from None
        signer = {"method": who.method, "identity": who.identity}
        if who.issuer:
            signer["issuer"] = who.issuer
    elif signed:
        statement = _unverified_payload(document, file)
    elif trust is not None:
        raise TrainingError(
            f"dataset manifest {file} is not signed, but a key to verify it was given",
            hint="give the signed bundle of the manifest, or leave out --data-key",
        )
    else:
        statement = document
    name, root = _dataset_subject(statement, file)
    predicate = statement.get("predicate")
    source = predicate.get("source_uri") if isinstance(predicate, dict) else None
    return DatasetInput(
        str(file),
        hashlib.sha256(data).hexdigest(),
        name,
        root,
        signed,
        signer,
        strip_credentials(source) if isinstance(source, str) and source else None,
    )


def _unverified_payload(bundle: Mapping[str, Any], file: Path) -> Any:
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, dict) or envelope.get("payloadType") != _INTOTO_PAYLOAD_TYPE:
        raise TrainingError(f"dataset manifest {file}: the bundle holds no in-toto statement")
    try:
        return bundle_statement(bundle)
    except DatasetError:
        raise TrainingError(
            f"dataset manifest {file}: the bundle's payload is not a JSON statement"
        ) from None


def _dataset_subject(statement: Any, file: Path) -> tuple[str, str]:
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise TrainingError(f"dataset manifest {file} is not an in-toto Statement v1")
    kind = statement.get("predicateType")
    if kind != DATASET_MANIFEST_TYPE:
        raise TrainingError(
            f"{file} is not a dataset manifest (predicate type {kind!r})",
            hint=f"--data takes a manifest with predicateType {DATASET_MANIFEST_TYPE}",
        )
    subjects = statement.get("subject")
    first = subjects[0] if isinstance(subjects, list) and subjects else None
    digest = first.get("digest") if isinstance(first, dict) else None
    root = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(root, str) or not _HEX64.fullmatch(root.lower()):
        raise TrainingError(f"dataset manifest {file} has no sha256 subject digest (the dataset root)")
    name = first.get("name") if isinstance(first, dict) else None
    return (name if isinstance(name, str) and name else file.name), root.lower()


@dataclass(frozen=True, slots=True)
class ModelInput:
    """The base model a run started from: a model directory (OMS root digest) or a single file."""

    path: str
    name: str
    root_digest: str  #: OMS root digest of a directory, or the SHA-256 of a single file
    form: Literal["directory", "file"]
    manifest: Manifest | None = None  #: the directory's per-file digests

    def to_descriptor(self) -> dict[str, Any]:
        """The SLSA ``resolvedDependencies`` entry."""
        annotations: dict[str, Any] = {"kind": "base-model", "path": self.path, "form": self.form}
        if self.manifest is not None:
            annotations["serialization"] = self.manifest.serialization
            annotations["resourceCount"] = len(self.manifest.resources)
        return {"name": self.name, "digest": {"sha256": self.root_digest}, "annotations": annotations}


def base_model_input(path: str | os.PathLike[str], config: HashingConfig | None = None) -> ModelInput:
    """Identify a base model: its OMS root digest (a directory) or its SHA-256 (a single file)."""
    model = Path(path).resolve()
    if model.is_file():
        digest = _file_sha256(model, limit=None)
        if digest is None:
            raise TrainingError(f"cannot read base model {model}", hint="check the --base-model path")
        return ModelInput(str(model), model.name, digest, "file")
    if not model.exists():
        raise TrainingError(f"base model {model} does not exist", hint="check the --base-model path")
    try:
        manifest = hash_model(model, config or HashingConfig())
    except HashingError as err:
        raise TrainingError(f"base model: {err.message}", hint=err.hint) from None
    return ModelInput(str(model), manifest.model_name, manifest.root_digest, "directory", manifest)


def _file_sha256(path: Path, *, limit: int | None) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            if limit is not None and os.fstat(fh.fileno()).st_size > limit:
                return None
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


# -- running the command ------------------------------------------------------------------------------------


def _resolve_program(name: str, cwd: Path, env: Mapping[str, str]) -> Path:
    """The file that will run, found as the command itself would find it (``PATH`` of its environment)."""
    if os.sep in name or (os.altsep is not None and os.altsep in name):
        candidate = cwd / name
        if not candidate.is_file():
            raise TrainingError(f"training command not found: {name}", hint="check the path to the program")
        if not os.access(candidate, os.X_OK):
            raise TrainingError(
                f"training command is not executable: {name}",
                hint="make it executable, or run it through its interpreter (python train.py)",
            )
        return candidate
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise TrainingError(
            f"training command not found: {name}",
            hint="check the spelling and PATH, or give the program's path",
        )
    return Path(found).absolute()


def _in_terminal_foreground() -> bool:
    """True when the terminal's Ctrl-C reaches our whole process group, the command included."""
    for fd in (0, 1, 2):
        with suppress(OSError, AttributeError):  # AttributeError: no process groups (Windows)
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
    return False


@contextmanager
def _forwarding_signals(proc: subprocess.Popen[bytes], received: list[str]) -> Iterator[None]:
    """Pass SIGINT and SIGTERM on to the command, which decides how to stop (checkpoint, clean up).

    Ctrl-C in a terminal already goes to the command (it shares our process group), so a SIGINT is
    forwarded only when it was not sent by the terminal: sending it twice would cut short the
    command's own clean-up. Signal handlers can only be set from the main thread; elsewhere, the
    command gets what the terminal sends and nothing more. Signal names are appended to ``received``:
    a command that was asked to stop and still exits 0 may have written a partial model.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        if signum == signal.SIGINT and _in_terminal_foreground():
            return
        with suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _execute(
    argv: Sequence[str], program: Path, cwd: Path, env: Mapping[str, str]
) -> tuple[int, float, list[str]]:
    """Run the command to completion; returns its exit status, how long it took and the signals passed on."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - the user's own command, as argv, without a shell
            list(argv), executable=program, cwd=cwd, env=dict(env)
        )
    except OSError as err:
        raise TrainingError(
            f"cannot start training command {argv[0]}: {err.strerror or err}",
            hint="check that it is an executable program",
        ) from None
    try:
        received: list[str] = []
        with _forwarding_signals(proc, received):
            returncode = proc.wait()
    finally:
        if proc.poll() is None:  # mlwarden itself is failing: do not leave the run unsupervised
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return returncode, time.monotonic() - start, received


def _count_files(path: Path) -> int:
    """Files already in ``path`` (stops counting at 100 000)."""
    count = 0
    for _root, _dirs, files in os.walk(path):
        count += len(files)
        if count >= _COUNT_CAP:
            break
    return count


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class TrainingRun:
    """A finished, successful training run and everything recorded about it."""

    command: tuple[str, ...]  #: argv as given (the statement records it redacted)
    working_directory: str
    program: str  #: the executable that ran, as resolved on PATH
    program_sha256: str | None
    output_dir: str
    output: Manifest  #: the output model's per-file digests; ``output.root_digest`` is the subject
    files_before_run: int  #: files already in the output directory when the command started
    seeds: Mapping[str, int]
    determinism_env: Mapping[str, str]
    environment: Mapping[str, Any]  #: :func:`environment_lock`
    git: Mapping[str, Any] | None  #: :func:`git_state`
    datasets: tuple[DatasetInput, ...]
    base_model: ModelInput | None
    builder_id: str
    invocation_id: str
    started_on: datetime
    finished_on: datetime
    duration_seconds: float
    exit_code: int = 0
    #: signals received during the run (``"SIGTERM"``): the model may be from a run stopped early
    signals: tuple[str, ...] = ()

    @property
    def root_digest(self) -> str:
        """The output model's OMS root digest: the provenance subject."""
        return self.output.root_digest

    def resolved_dependencies(self) -> list[dict[str, Any]]:
        """Source commit, training program, datasets and base model, as SLSA ResourceDescriptors."""
        deps: list[dict[str, Any]] = []
        if self.git is not None:
            deps.append(_git_descriptor(self.git))
        program: dict[str, Any] = {"name": Path(self.program).name}
        if self.program_sha256 is not None:
            program["digest"] = {"sha256": self.program_sha256}
        else:
            program["uri"] = Path(self.program).as_uri()
        program["annotations"] = {"kind": "program", "path": self.program}
        deps.append(program)
        deps.extend(d.to_descriptor() for d in self.datasets)
        if self.base_model is not None:
            deps.append(self.base_model.to_descriptor())
        return deps

    def to_statement(self) -> dict[str, Any]:
        """The in-toto Statement v1 with an SLSA Provenance v1 predicate, ready to sign."""
        command, redacted = redact_command(self.command)
        external: dict[str, Any] = {"command": command}
        if redacted:
            external["redactedArguments"] = redacted
        external["workingDirectory"] = self.working_directory
        external["outputDirectory"] = self.output_dir
        external["seeds"] = dict(self.seeds)
        external["determinismEnv"] = dict(self.determinism_env)
        external["datasets"] = [d.manifest for d in self.datasets]
        if self.base_model is not None:
            external["baseModel"] = self.base_model.path
        status: dict[str, Any] = {
            "exitCode": self.exit_code,
            "durationSeconds": round(self.duration_seconds, 3),
        }
        if self.signals:
            status["signals"] = list(self.signals)
        status_json = json.dumps(status, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return {
            "_type": STATEMENT_TYPE,
            "subject": [
                {
                    "name": self.output.model_name,
                    "digest": {"sha256": self.root_digest},
                    "annotations": {
                        "serialization": self.output.serialization,
                        "resourceCount": len(self.output.resources),
                        "filesBeforeRun": self.files_before_run,
                    },
                }
            ],
            "predicateType": SLSA_PROVENANCE_TYPE,
            "predicate": {
                "buildDefinition": {
                    "buildType": BUILD_TYPE,
                    "externalParameters": external,
                    "internalParameters": dict(self.environment),
                    "resolvedDependencies": self.resolved_dependencies(),
                },
                "runDetails": {
                    "builder": {
                        "id": self.builder_id,
                        "version": {"mlwarden": __version__},
                        "builderDependencies": [
                            {"name": "mlwarden", "uri": f"pkg:pypi/mlwarden@{__version__}"},
                            {
                                "name": "python",
                                "uri": f"pkg:generic/python@{platform.python_version()}",
                                "annotations": {"implementation": platform.python_implementation()},
                            },
                        ],
                    },
                    "metadata": {
                        "invocationId": self.invocation_id,
                        "startedOn": _rfc3339(self.started_on),
                        "finishedOn": _rfc3339(self.finished_on),
                    },
                    "byproducts": [
                        {
                            "name": "exit-status",
                            "mediaType": "application/json",
                            "content": base64.b64encode(status_json).decode("ascii"),
                            "annotations": status,
                        }
                    ],
                },
            },
        }


def _check_builder_id(builder_id: str) -> None:
    parts = urlsplit(builder_id)
    if not parts.scheme or not (parts.netloc or parts.path) or any(c.isspace() for c in builder_id):
        raise UsageError(f"builder id {builder_id!r} is not a URI", hint=f"for example {DEFAULT_BUILDER_ID}")


def run_training(
    command: Sequence[str],
    *,
    output_dir: str | os.PathLike[str],
    data_manifests: Iterable[str | os.PathLike[str]] = (),
    data_trust: Trust | None = None,
    base_model: str | os.PathLike[str] | None = None,
    seeds: Mapping[str, int] | int | None = None,
    builder_id: str = DEFAULT_BUILDER_ID,
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    hashing_config: HashingConfig | None = None,
) -> TrainingRun:
    """Run ``command`` (argv, no shell) in ``workdir`` and record the run; see the module docstring.

    ``output_dir`` is created if needed and hashed after a successful exit with ``hashing_config``
    (which also hashes a base model directory). ``env`` replaces the inherited environment; seeds and
    ``MLWARDEN_OUTPUT_DIR`` are added to it. ``data_trust`` verifies signed dataset manifests.

    Raises :class:`TrainingCommandError` when the command exits non-zero or is killed, and
    :class:`TrainingError` or :class:`UsageError` for anything that stops a faithful record.
    """
    argv = [os.fspath(a) for a in command]
    if not argv or not argv[0]:
        raise UsageError(
            "no training command given", hint="for example: mlwarden train --output out -- python train.py"
        )
    _check_builder_id(builder_id)
    seed_table = _checked_seeds(seeds)
    config = hashing_config or HashingConfig()
    cwd = Path(workdir if workdir is not None else Path.cwd()).resolve()
    if not cwd.is_dir():
        raise TrainingError(f"working directory {cwd} is not a directory", hint="check --workdir")
    output = Path(output_dir).resolve()
    if output.exists() and not output.is_dir():
        raise TrainingError(f"output {output} is not a directory", hint="--output names the model directory")
    child_env = dict(os.environ if env is None else env)
    child_env.update(seed_environment(seed_table))
    child_env[OUTPUT_ENV] = str(output)

    # Everything that can fail is checked before the (possibly hours-long) run.
    program = _resolve_program(argv[0], cwd, child_env)
    program_sha256 = _file_sha256(program, limit=_MAX_PROGRAM_BYTES)
    datasets = tuple(dataset_input(p, data_trust) for p in data_manifests)
    base = base_model_input(base_model, config) if base_model is not None else None
    git = git_state(cwd, env=child_env)
    lock = environment_lock(_command_python(program, child_env), env=child_env, cwd=cwd)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TrainingError(f"cannot create output directory {output}: {err.strerror or err}") from None
    files_before = _count_files(output)

    started = datetime.now(UTC)
    returncode, duration, received = _execute(argv, program, cwd, child_env)
    finished = datetime.now(UTC)
    if returncode != 0:
        raise TrainingCommandError(returncode)

    try:
        manifest = hash_model(output, config)
    except HashingError as err:
        missing = not output.is_dir()
        raise TrainingError(
            f"output directory {output} is missing after the run" if missing else f"output: {err.message}",
            hint="the command must write the model to --output" if missing else err.hint,
        ) from None
    if not manifest.resources:
        raise TrainingError(
            f"the training command left no files in {output}; no provenance recorded",
            hint="write the model to --output (the command sees it as $MLWARDEN_OUTPUT_DIR)",
        )
    return TrainingRun(
        command=tuple(argv),
        working_directory=str(cwd),
        program=str(program),
        program_sha256=program_sha256,
        output_dir=str(output),
        output=manifest,
        files_before_run=files_before,
        seeds=seed_table,
        determinism_env=determinism_env(child_env),
        environment=lock,
        git=git,
        datasets=datasets,
        base_model=base,
        builder_id=builder_id,
        invocation_id=uuid.uuid4().urn,
        started_on=started,
        finished_on=finished,
        duration_seconds=duration,
        signals=tuple(received),
    )
