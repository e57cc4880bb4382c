"""Sign a model directory into an OMS v1.0 bundle, and verify a model against one (key method)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden.errors import UsageError
from mlwarden.hashing import HashingConfig, HashingError, Manifest, ResourceDigest, hash_model, root_digest_of
from mlwarden.signing.bundle import (
    INTOTO_PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    key_bundle,
    pae,
    parse_bundle,
    statement,
)
from mlwarden.signing.errors import SigningError, VerificationError
from mlwarden.signing.keys import key_fingerprint, load_private_key, load_public_key, signature_hash

_HEX_LEN = {"sha256": 64, "blake3": 64}
_HEX = re.compile(r"[0-9a-f]+")
_SHOWN = 3


def sign(
    model_path: str | os.PathLike[str],
    private_key_pem: bytes,
    config: HashingConfig | None = None,
    *,
    password: bytes | None = None,
    manifest: Manifest | None = None,
    shard_names: Literal["oms", "model-signing"] = "oms",
) -> dict[str, Any]:
    """Hash the model at ``model_path`` and sign it; returns the Sigstore bundle as a JSON-ready dict.

    Pass ``manifest`` to sign an already computed manifest (for example from an incremental hash)
    instead of hashing again. Write the bundle with :func:`dump_bundle`, outside the model directory
    or under one of ``config.ignore_paths``.

    ``shard_names="model-signing"`` labels shard resources ``sha256-sharded-<size>`` instead of the
    OMS v1.0 ``sha256``, which model-signing 1.1.1 needs to verify a shards bundle. The signed root
    digest is the same either way, and :func:`verify` accepts both.
    """
    try:
        key = load_private_key(private_key_pem, password)
    except UsageError as err:
        raise SigningError(err.message, hint=err.hint) from None
    if manifest is None:
        try:
            manifest = hash_model(model_path, config or HashingConfig())
        except HashingError as err:
            raise SigningError(err.message, hint=err.hint) from None
    predicate = manifest.to_predicate()
    if shard_names == "model-signing" and manifest.config.method == "shards":
        legacy = f"{manifest.config.algorithm}-sharded-{manifest.config.shard_size}"
        for res in predicate["resources"]:
            res["algorithm"] = legacy
    body = statement(manifest.model_name, manifest.root_digest, predicate)
    payload = json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")
    public = key.public_key()
    signature = key.sign(pae(INTOTO_PAYLOAD_TYPE, payload), ec.ECDSA(signature_hash(public)))
    return key_bundle(payload, signature, key_fingerprint(public))


def _check_signature(
    key: ec.EllipticCurvePublicKey, payload_type: str, payload: bytes, sigs: Iterable[bytes]
) -> None:
    message = pae(payload_type, payload)
    for sig in sigs:
        try:
            key.verify(sig, message, ec.ECDSA(signature_hash(key)))
        except InvalidSignature:
            continue
        return
    raise VerificationError(
        "bad signature: the DSSE signature does not match the payload and key",
        hint="the bundle was edited after signing, or signed by another key",
    )


def _signed_manifest(payload: bytes) -> tuple[str, str, HashingConfig, list[ResourceDigest]]:
    """Parse the (already authenticated) statement; returns name, root digest, config, resources."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise VerificationError("malformed statement: payload is not JSON") from None
    if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE:
        raise VerificationError(f"malformed statement: _type is not {STATEMENT_TYPE}")
    if body.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(
            f"unsupported predicate type {body.get('predicateType')!r} (expected {PREDICATE_TYPE})"
        )
    subjects = body.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise VerificationError("malformed statement: expected exactly one subject")
    digest = subjects[0].get("digest")
    root = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(root, str):
        raise VerificationError("malformed statement: subject has no sha256 digest")
    name = subjects[0].get("name", "")
    predicate = body.get("predicate")
    if not isinstance(predicate, dict):
        raise VerificationError("malformed statement: predicate is not an object")
    try:
        config = HashingConfig.from_serialization_parameters(predicate.get("serialization", {}))
    except ValueError as err:
        raise VerificationError(f"unsupported serialization in bundle: {err}") from None
    resources = _signed_resources(predicate.get("resources"), config)
    return str(name), root.lower(), config, resources


def _signed_resources(raw: object, config: HashingConfig) -> list[ResourceDigest]:
    if not isinstance(raw, list):
        raise VerificationError("malformed statement: predicate.resources is not a list")
    accepted: set[str] = {config.algorithm}
    if config.method == "shards":
        accepted.add(f"{config.algorithm}-sharded-{config.shard_size}")
    out: list[ResourceDigest] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise VerificationError("malformed statement: a resource is not an object")
        name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        if not isinstance(name, str) or not isinstance(digest, str) or not isinstance(algorithm, str):
            raise VerificationError("malformed statement: a resource lacks name, algorithm or digest")
        if algorithm not in accepted:
            raise VerificationError(
                f"resource {name!r} uses algorithm {algorithm!r}, not {config.algorithm!r}"
            )
        digest = digest.lower()
        if len(digest) != _HEX_LEN[config.algorithm] or not _HEX.fullmatch(digest):
            raise VerificationError(f"malformed statement: resource {name!r} has an invalid digest")
        key = _canonical_name(name, config)
        if key in seen:
            raise VerificationError(f"malformed statement: resource {name!r} is listed twice")
        seen.add(key)
        out.append(ResourceDigest(name, algorithm, digest))
    return out


def _canonical_name(name: str, config: HashingConfig) -> str:
    """Files: the name. Shards: ``path:start:end``, the last two fields as integers (paths may hold ``:``)."""
    if config.method == "files":
        return name
    parts = name.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise VerificationError(f"malformed statement: shard name {name!r} is not path:start:end")
    return f"{parts[0]}:{int(parts[1])}:{int(parts[2])}"


def _file_of(name: str, config: HashingConfig) -> str:
    return name if config.method == "files" else name.rsplit(":", 2)[0]


def _listing(label: str, names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN]) + (f", … ({len(names)} in all)" if len(names) > _SHOWN else "")
    return f"{label}: {shown}"


def verify(
    model_path: str | os.PathLike[str],
    bundle: dict[str, Any] | str | bytes,
    public_key_pem: bytes,
    *,
    max_workers: int | None = None,
) -> Manifest:
    """Verify the model at ``model_path`` against an OMS v1.0 key bundle; returns the verified manifest.

    The serialization (method, hash, shard size, ignore paths, symlinks) is read from the signed
    bundle. Stricter than model-signing: every file must be signed (no unsigned extras), and
    symlinks that leave the model directory or special files fail verification.

    Raises :class:`VerificationError` with a one-line message naming what failed.
    """
    try:
        key = load_public_key(public_key_pem)
    except UsageError as err:
        raise VerificationError(err.message, hint=err.hint) from None
    parsed = parse_bundle(bundle)
    fingerprint = key_fingerprint(key)
    if parsed.hint is not None and parsed.hint.lower() != fingerprint:
        raise VerificationError(
            f"wrong key: bundle was signed by key {parsed.hint[:16]}…, the given key is {fingerprint[:16]}…",
            hint="verify with the publisher's public key",
        )
    _check_signature(key, parsed.payload_type, parsed.payload, parsed.signatures)
    if parsed.payload_type != INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"unsupported payload type {parsed.payload_type!r}")
    subject_name, root, config, signed = _signed_manifest(parsed.payload)
    if root_digest_of(signed) != root:
        raise VerificationError("inconsistent bundle: the resources do not hash to the signed subject digest")
    if max_workers is not None:
        config = config.set_max_workers(max_workers)
    try:
        local = hash_model(model_path, config)
    except HashingError as err:
        raise VerificationError(err.message, hint=err.hint) from None
    _compare(signed, local, config, subject_name)
    return Manifest(local.model_name, config, tuple(signed), local.stats)


def _compare(signed: list[ResourceDigest], local: Manifest, config: HashingConfig, subject: str) -> None:
    expected = {_canonical_name(r.name, config): r.digest for r in signed}
    actual = {_canonical_name(r.name, config): r.digest for r in local.resources}
    if expected == actual:
        return
    exp_files = {_file_of(n, config) for n in expected}
    act_files = {_file_of(n, config) for n in actual}
    missing = sorted(exp_files - act_files)
    extra = sorted(act_files - exp_files)
    modified = sorted(
        {_file_of(n, config) for n in expected.keys() | actual.keys() if expected.get(n) != actual.get(n)}
        - set(missing)
        - set(extra)
    )
    if expected and not (set(expected.items()) & set(actual.items())):
        raise VerificationError(
            f"bundle is for another model: none of its {len(exp_files)} signed files match"
            f" {local.model_name!r}",
            hint=f"the bundle signs a model named {subject!r}",
        )
    parts = []
    if modified:
        parts.append(_listing("modified", modified))
    if missing:
        parts.append(_listing("missing", missing))
    if extra:
        parts.append(_listing("unsigned extra files", extra))
    raise VerificationError("model does not match its signature: " + "; ".join(parts))
