"""Incremental re-signing: reuse the digests of unchanged files from a previously *verified* signature.

A bundle holds digests but no file metadata, so signing with ``incremental=True`` also keeps a small
state file (per model directory, in the user's cache) with each file's size, mtime_ns, ctime_ns,
inode and device. On the next signing, a file's digest is reused only when

- the previous bundle authenticates against the signer's own key (a forged bundle reuses nothing), and
- the signed serialization equals the one asked for now, and
- all five stat fields are unchanged (ctime cannot be set back from user space).

Verification never uses this: it always re-hashes every byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden.hashing import FileStat, HashingConfig, Manifest, ResourceDigest
from mlwarden.signing.api import signed_manifest
from mlwarden.signing.bundle import parse_bundle
from mlwarden.signing.errors import VerificationError
from mlwarden.signing.trust import check_dsse

_STATE_VERSION = 1


def state_path(model_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the stat state of ``model_path`` lives: ``$XDG_CACHE_HOME/mlwarden/incremental/<id>.json``."""
    base = Path(cache_dir) if cache_dir else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    ident = hashlib.sha256(os.fsencode(os.path.realpath(model_path))).hexdigest()[:32]
    return base / "mlwarden" / "incremental" / f"{ident}.json"


def previous_manifest(
    bundle: bytes | None, public_key: ec.EllipticCurvePublicKey, state_file: Path, config: HashingConfig
) -> Manifest | None:
    """The manifest to reuse digests from, or None when there is nothing trustworthy to reuse.

    ``bundle`` must carry a DSSE signature by ``public_key`` (the signer's own key, whether the bundle
    used the key or the certificate method).
    """
    if bundle is None or not state_file.is_file():
        return None
    try:
        parsed = parse_bundle(bundle)
        check_dsse(public_key, parsed)
        _, _, signed_config, resources = signed_manifest(parsed.payload)
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (VerificationError, ValueError, OSError):
        return None  # a previous signature we cannot trust is simply not reused
    if signed_config.serialization_parameters() != config.serialization_parameters():
        return None
    if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
        return None
    stats = {name: FileStat(*fields) for name, fields in _stat_entries(state.get("files"))}
    reused = tuple(ResourceDigest(r.name, config.algorithm, r.digest) for r in resources)  # one spelling
    return Manifest("", config, reused, stats)


def _stat_entries(raw: Any) -> list[tuple[str, list[int]]]:
    if not isinstance(raw, dict):
        return []
    return [
        (name, fields)
        for name, fields in raw.items()
        if isinstance(fields, list) and len(fields) == 5 and all(type(v) is int for v in fields)
    ]


def save_state(manifest: Manifest, state_file: Path) -> None:
    """Record the stats the manifest was hashed with (atomically; the cache is best effort)."""
    files = {
        name: [st.size, st.mtime_ns, st.ctime_ns, st.inode, st.device] for name, st in manifest.stats.items()
    }
    text = json.dumps({"version": _STATE_VERSION, "files": files}, separators=(",", ":"))
    with contextlib.suppress(OSError):
        state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=state_file.parent, prefix=".state-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(state_file)
