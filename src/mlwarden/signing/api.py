"""Sign a model directory or an attestation into an OMS v1.0 bundle, and verify them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from mlwarden.errors import UsageError
from mlwarden.hashing import HashingConfig, HashingError, Manifest, ResourceDigest, hash_model, root_digest_of
from mlwarden.signing.bundle import (
    INTOTO_PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    certificate_bundle,
    key_bundle,
    pae,
    statement,
)
from mlwarden.signing.errors import SigningError, VerificationError
from mlwarden.signing.keys import key_fingerprint, load_private_key, signature_hash
from mlwarden.signing.trust import KeyTrust, Signer, Trust, load_certificates

_HEX_LEN = {"sha256": 64, "blake3": 64}
_HEX = re.compile(r"[0-9a-f]+")
_SHOWN = 3


def _signing_key(
    private_key_pem: bytes, password: bytes | None, certificate_chain: bytes | None
) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """The private key and, for the certificate method, its chain (leaf first), checked to belong together."""
    try:
        key = load_private_key(private_key_pem, password)
        chain = load_certificates(certificate_chain, "certificate chain") if certificate_chain else []
    except UsageError as err:
        raise SigningError(err.message, hint=err.hint) from None
    if chain:
        leaf = chain[0]
        if leaf.public_key() != key.public_key():
            raise SigningError(
                "the certificate does not belong to the signing key",
                hint="pass the leaf certificate issued for --key first, then its chain",
            )
        now = dt.datetime.now(dt.UTC)
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            raise SigningError(
                f"the signing certificate is not valid now (valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
                f"{leaf.not_valid_after_utc:%Y-%m-%d})",
                hint="renew the certificate",
            )
    return key, chain


def _sign_payload(
    payload: bytes, key: ec.EllipticCurvePrivateKey, chain: list[x509.Certificate]
) -> dict[str, Any]:
    public = key.public_key()
    signature = key.sign(pae(INTOTO_PAYLOAD_TYPE, payload), ec.ECDSA(signature_hash(public)))
    if chain:
        return certificate_bundle(payload, signature, [c.public_bytes(Encoding.DER) for c in chain])
    return key_bundle(payload, signature, key_fingerprint(public))


def sign(
    model_path: str | os.PathLike[str],
    private_key_pem: bytes,
    config: HashingConfig | None = None,
    *,
    password: bytes | None = None,
    certificate_chain: bytes | None = None,
    manifest: Manifest | None = None,
    shard_names: Literal["oms", "model-signing"] = "oms",
) -> dict[str, Any]:
    """Hash the model at ``model_path`` and sign it; returns the Sigstore bundle as a JSON-ready dict.

    ``certificate_chain`` (PEM: the key's leaf certificate, then intermediates) selects the OMS
    certificate method; the leaf must match the key and be valid now. Pass ``manifest`` to sign an
    already computed manifest (for example from an incremental hash) instead of hashing again. Write
    the bundle with :func:`dump_bundle`, outside the model directory or under ``config.ignore_paths``.

    ``shard_names="model-signing"`` labels shard resources ``sha256-sharded-<size>`` instead of the
    OMS v1.0 ``sha256``, which model-signing 1.1.1 needs to verify a shards bundle. The signed root
    digest is the same either way, and :func:`verify` accepts both.
    """
    key, chain = _signing_key(private_key_pem, password, certificate_chain)
    if manifest is None:
        manifest = hash_for_signing(model_path, config)
    return _sign_payload(model_payload(manifest, shard_names), key, chain)


def hash_for_signing(model_path: str | os.PathLike[str], config: HashingConfig | None) -> Manifest:
    """:func:`hash_model`, with hashing failures reported as :class:`SigningError`."""
    try:
        return hash_model(model_path, config or HashingConfig())
    except HashingError as err:
        raise SigningError(err.message, hint=err.hint) from None


def model_payload(manifest: Manifest, shard_names: Literal["oms", "model-signing"] = "oms") -> bytes:
    """The OMS v1.0 statement of a manifest, as the DSSE payload bytes every signing method signs."""
    predicate = manifest.to_predicate()
    if shard_names == "model-signing" and manifest.config.method == "shards":
        legacy = f"{manifest.config.algorithm}-sharded-{manifest.config.shard_size}"
        for res in predicate["resources"]:
            res["algorithm"] = legacy
    body = statement(manifest.model_name, manifest.root_digest, predicate)
    return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")


def sign_statement(
    body: dict[str, Any],
    private_key_pem: bytes,
    *,
    password: bytes | None = None,
    certificate_chain: bytes | None = None,
) -> dict[str, Any]:
    """Sign any in-toto Statement v1 (an attestation) into a bundle, like a model signature."""
    if body.get("_type") != STATEMENT_TYPE or not body.get("subject") or "predicateType" not in body:
        raise SigningError(
            "not an in-toto Statement v1", hint="a statement needs _type, subject and predicateType"
        )
    key, chain = _signing_key(private_key_pem, password, certificate_chain)
    payload = json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return _sign_payload(payload, key, chain)


def verify_statement(bundle: dict[str, Any] | str | bytes, trust: Trust) -> tuple[dict[str, Any], Signer]:
    """Authenticate a signed in-toto statement; returns the statement and who signed it.

    Raises :class:`VerificationError` when the signature is not trusted or the payload is no
    in-toto Statement v1. The caller checks the subject and predicate type it expects.
    """
    authenticated = trust.authenticate(_as_dict(bundle))
    if authenticated.payload_type != INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"unsupported payload type {authenticated.payload_type!r}")
    try:
        body = json.loads(authenticated.payload)
    except (ValueError, UnicodeDecodeError):
        raise VerificationError("malformed statement: payload is not JSON") from None
    if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE:
        raise VerificationError(f"malformed statement: _type is not {STATEMENT_TYPE}")
    return body, authenticated.signer


def _as_dict(bundle: dict[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(bundle, dict):
        return bundle
    try:
        value = json.loads(bundle)
    except (ValueError, UnicodeDecodeError) as err:
        raise VerificationError(f"malformed bundle: not JSON ({err})") from None
    if not isinstance(value, dict):
        raise VerificationError("malformed bundle: the bundle is not an object")
    return value


def signed_manifest(payload: bytes) -> tuple[str, str, HashingConfig, list[ResourceDigest]]:
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


@dataclass(frozen=True)
class VerifiedModel:
    """A model that matched every required signature: its manifest and who signed it."""

    manifest: Manifest
    signers: tuple[Signer, ...]


def verify(
    model_path: str | os.PathLike[str],
    bundle: dict[str, Any] | str | bytes,
    trust: Trust | bytes,
    *,
    max_workers: int | None = None,
) -> Manifest:
    """Verify the model at ``model_path`` against one OMS v1.0 bundle; returns the verified manifest.

    ``trust`` is a :class:`KeyTrust`, :class:`CertificateTrust` or ``SigstoreTrust`` (bytes are read
    as a PEM public key). The serialization (method, hash, shard size, ignore paths, symlinks) is read
    from the signed bundle. Stricter than model-signing: every file must be signed (no unsigned
    extras), and symlinks that leave the model directory or special files fail verification.

    Raises :class:`VerificationError` with a one-line message naming what failed.
    """
    return verify_all(model_path, [(bundle, trust)], max_workers=max_workers).manifest


def pair_signatures(
    bundles: Sequence[dict[str, Any] | str | bytes], anchors: Sequence[Trust]
) -> list[tuple[dict[str, Any], Trust]]:
    """Match each bundle to the trust anchor that authenticates it; every anchor must be matched.

    So ``--key publisher.pub --key registry.pub`` requires one signature by each; a bundle that no
    anchor trusts fails with the reason its best candidate gave.
    """
    if not anchors:
        raise UsageError(
            "no trust anchor given", hint="pass --key, --cert-identity/--ca or --sigstore-identity"
        )
    pairs: list[tuple[dict[str, Any], Trust]] = []
    unused = list(anchors)
    for bundle in bundles:
        parsed = _as_dict(bundle)
        errors: list[VerificationError] = []
        for anchor in sorted(anchors, key=lambda a: a not in unused):  # prefer anchors not yet matched
            try:
                anchor.authenticate(parsed)
            except VerificationError as err:
                errors.append(err)
                continue
            pairs.append((parsed, anchor))
            if anchor in unused:
                unused.remove(anchor)
            break
        else:
            raise errors[0]
    if unused:
        raise VerificationError(
            f"required signature missing: none of the {len(bundles)} signature(s) is by "
            + ", ".join(str(a) for a in unused),
            hint="pass each required signer's bundle with --signature",
        )
    return pairs


def verify_all(
    model_path: str | os.PathLike[str],
    signatures: Sequence[tuple[dict[str, Any] | str | bytes, Trust | bytes]],
    *,
    max_workers: int | None = None,
    previous: Manifest | None = None,
) -> VerifiedModel:
    """Require every ``(bundle, trust)`` pair (say the publisher's and the registry's) to hold.

    All signatures are authenticated before any byte of the model is read, and the model is hashed
    once per distinct serialization, so two sha256 signatures cost one pass. ``previous``: digests the
    caller computed itself of these very files (``hash_model``'s incremental reuse; never one taken
    from the bundle or the client).
    """
    if not signatures:
        raise VerificationError("no signature to verify", hint="pass at least one --signature")
    signed: list[tuple[str, str, HashingConfig, list[ResourceDigest], Signer]] = []
    for bundle, trust in signatures:
        anchor = KeyTrust(trust) if isinstance(trust, bytes) else trust
        authenticated = anchor.authenticate(_as_dict(bundle))
        if authenticated.payload_type != INTOTO_PAYLOAD_TYPE:
            raise VerificationError(f"unsupported payload type {authenticated.payload_type!r}")
        name, root, config, resources = signed_manifest(authenticated.payload)
        if root_digest_of(resources) != root:
            raise VerificationError(
                "inconsistent bundle: the resources do not hash to the signed subject digest"
            )
        signed.append((name, root, config, resources, authenticated.signer))
    local_by_config: dict[tuple[str, ...], Manifest] = {}
    for name, _root, config, resources, signer in signed:
        config = config.set_max_workers(max_workers) if max_workers is not None else config
        cache_key = (json.dumps(config.serialization_parameters(), sort_keys=True),)
        local = local_by_config.get(cache_key)
        if local is None:
            try:
                local = hash_model(model_path, config, previous=previous)
            except HashingError as err:
                raise VerificationError(err.message, hint=err.hint) from None
            local_by_config[cache_key] = local
        try:
            _compare(resources, local, config, name)
        except VerificationError as err:
            if len(signed) == 1:
                raise
            raise VerificationError(
                f"signature by {signer.describe()}: {err.message}", hint=err.hint
            ) from None
    _, _, first_config, first_resources, _ = signed[0]
    first_local = next(iter(local_by_config.values()))
    manifest = Manifest(first_local.model_name, first_config, tuple(first_resources), first_local.stats)
    return VerifiedModel(manifest, tuple(s[4] for s in signed))


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
