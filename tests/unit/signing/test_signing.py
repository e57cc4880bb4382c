"""mlwarden.signing: OMS v1.0 key bundles, round trips and every verification failure, with real crypto."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import mlwarden.signing
from mlwarden.errors import MlwardenError, UsageError
from mlwarden.hashing import HashingConfig, hash_model
from mlwarden.signing import (
    BUNDLE_MEDIA_TYPE,
    SigningError,
    VerificationError,
    dump_bundle,
    generate_key,
    key_fingerprint,
    pae,
    public_key_pem,
    sign,
    verify,
)
from mlwarden.signing.bundle import INTOTO_PAYLOAD_TYPE, key_bundle


@pytest.fixture(scope="module")
def key() -> bytes:
    return generate_key("P-256")


@pytest.fixture(scope="module")
def pub(key: bytes) -> bytes:
    return public_key_pem(key)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    for name, data in {
        "config.json": b"{}",
        "model.safetensors": os.urandom(5000),
        "tok/vocab.txt": b"a\nb\n",
        "empty": b"",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _payload(bundle: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return result


def _resign(statement: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A validly signed bundle around an arbitrary statement (for bundles other tools might write)."""
    priv = serialization.load_pem_private_key(key, None)
    assert isinstance(priv, ec.EllipticCurvePrivateKey)
    payload = json.dumps(statement).encode()
    sig = priv.sign(pae(INTOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    return key_bundle(payload, sig, key_fingerprint(public_key_pem(key)))


def test_facade_all_is_sorted_and_complete() -> None:
    assert len(set(mlwarden.signing.__all__)) == len(mlwarden.signing.__all__)  # order: ruff RUF022
    assert all(hasattr(mlwarden.signing, n) for n in mlwarden.signing.__all__)


def test_error_classes() -> None:
    assert issubclass(VerificationError, MlwardenError) and VerificationError.exit_code == 1
    assert issubclass(SigningError, MlwardenError) and SigningError.exit_code == 2


def test_bundle_layout_matches_model_signing_key_method(model: Path, key: bytes, pub: bytes) -> None:
    bundle = sign(model, key)
    assert list(bundle) == ["mediaType", "verificationMaterial", "dsseEnvelope"]
    assert bundle["mediaType"] == BUNDLE_MEDIA_TYPE
    assert bundle["verificationMaterial"] == {
        "publicKey": {"hint": hashlib.sha256(pub).hexdigest()},
        "tlogEntries": [],
    }
    env = bundle["dsseEnvelope"]
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert [set(s) for s in env["signatures"]] == [{"sig", "keyid"}] and env["signatures"][0]["keyid"] == ""
    stmt = _payload(bundle)
    manifest = hash_model(model)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == "https://model_signing/signature/v1.0"
    assert stmt["subject"] == [{"name": "model", "digest": {"sha256": manifest.root_digest}}]
    assert stmt["predicate"]["serialization"] == HashingConfig().serialization_parameters()
    assert stmt["predicate"]["resources"] == [r.to_dict() for r in manifest.resources]
    assert json.loads(dump_bundle(bundle)) == bundle and " " not in dump_bundle(bundle)


@pytest.mark.parametrize("curve", ["P-256", "P-384"])
@pytest.mark.parametrize(
    "config",
    [HashingConfig(), HashingConfig().use_blake3(), HashingConfig().use_shards(1024)],
    ids=["files-sha256", "files-blake3", "shards-sha256"],
)
def test_round_trip(model: Path, curve: Any, config: HashingConfig) -> None:
    key = generate_key(curve)
    bundle = sign(model, key, config)
    verified = verify(model, dump_bundle(bundle), public_key_pem(key))  # config comes from the bundle
    assert verified.root_digest == _payload(bundle)["subject"][0]["digest"]["sha256"]
    assert verified.config.serialization_parameters() == config.serialization_parameters()


def test_encrypted_key(model: Path) -> None:
    key = generate_key("P-384", password=b"pw")
    bundle = sign(model, key, password=b"pw")
    verify(model, bundle, public_key_pem(key, password=b"pw"))
    with pytest.raises(SigningError, match="cannot load private key"):
        sign(model, key)


def test_unsupported_keys_are_refused(model: Path, pub: bytes) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    pem = ed.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SigningError, match="unsupported private key"):
        sign(model, pem)
    with pytest.raises(UsageError):
        generate_key("P-521")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="cannot load public key"):
        verify(model, sign(model, generate_key()), b"not a key")


def test_wrong_key(model: Path, key: bytes) -> None:
    other = public_key_pem(generate_key())
    bundle = sign(model, key)
    with pytest.raises(VerificationError, match=r"^wrong key: bundle was signed by key"):
        verify(model, bundle, other)
    # Without the hint, the signature check catches it.
    del bundle["verificationMaterial"]["publicKey"]["hint"]
    with pytest.raises(VerificationError, match=r"^bad signature"):
        verify(model, bundle, other)


def test_edited_payload_fails_signature(model: Path, key: bytes, pub: bytes) -> None:
    bundle = sign(model, key)
    stmt = _payload(bundle)
    stmt["predicate"]["resources"][0]["digest"] = "0" * 64
    edited = copy.deepcopy(bundle)
    edited["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    with pytest.raises(VerificationError, match=r"^bad signature"):
        verify(model, edited, pub)
    edited = copy.deepcopy(bundle)
    sig = bytearray(base64.b64decode(edited["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 1
    edited["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(VerificationError, match=r"^bad signature"):
        verify(model, edited, pub)
    edited = copy.deepcopy(bundle)
    edited["dsseEnvelope"]["payloadType"] = "text/plain"
    with pytest.raises(VerificationError, match=r"^bad signature"):
        verify(model, edited, pub)


def test_bundle_for_another_model(model: Path, tmp_path: Path, key: bytes, pub: bytes) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "w.bin").write_bytes(b"different")
    with pytest.raises(VerificationError, match=r"^bundle is for another model") as info:
        verify(model, sign(other, key), pub)
    assert "'other'" in info.value.hint


def test_modified_missing_and_extra_files(model: Path, key: bytes, pub: bytes) -> None:
    bundle = sign(model, key)
    (model / "config.json").write_bytes(b'{"evil": 1}')
    with pytest.raises(
        VerificationError, match=r"^model does not match its signature: modified: config.json$"
    ):
        verify(model, bundle, pub)
    (model / "tok" / "vocab.txt").unlink()
    (model / "payload.pkl").write_bytes(b"x")
    with pytest.raises(VerificationError) as info:
        verify(model, bundle, pub)
    assert str(info.value) == (
        "model does not match its signature: modified: config.json; missing: tok/vocab.txt;"
        " unsigned extra files: payload.pkl"
    )


def test_extra_empty_file_is_caught(model: Path, key: bytes, pub: bytes) -> None:
    bundle = sign(model, key)
    (model / "tok" / "extra").write_bytes(b"")
    with pytest.raises(VerificationError, match="unsigned extra files: tok/extra"):
        verify(model, bundle, pub)


def test_modified_shard_names_the_file(model: Path, key: bytes, pub: bytes) -> None:
    bundle = sign(model, key, HashingConfig().use_shards(1024))
    with (model / "model.safetensors").open("r+b") as f:
        f.seek(2000)
        f.write(b"\0")
    with pytest.raises(VerificationError, match=r"modified: model.safetensors$"):
        verify(model, bundle, pub)


def test_symlink_and_special_file_fail_verification(
    model: Path, tmp_path: Path, key: bytes, pub: bytes
) -> None:
    strict = sign(model, key)  # allow_symlinks False
    lenient = sign(model, key, HashingConfig().set_allow_symlinks(True))
    (model / "link").symlink_to("config.json")
    with pytest.raises(VerificationError, match=r"^symlink in model: .*link"):
        verify(model, strict, pub)
    (model / "link").unlink()
    (tmp_path / "outside").write_bytes(b"x")
    (model / "esc").symlink_to(tmp_path / "outside")
    with pytest.raises(VerificationError, match=r"^symlink escapes the model directory: .*esc"):
        verify(model, lenient, pub)
    (model / "esc").unlink()
    os.mkfifo(model / "fifo")
    with pytest.raises(VerificationError, match=r"^special file in model: .*fifo"):
        verify(model, lenient, pub)


def test_ignore_paths_come_from_the_bundle(model: Path, key: bytes, pub: bytes) -> None:
    bundle = sign(model, key, HashingConfig().add_ignore_paths(["model.sig", "logs"]))
    (model / "model.sig").write_text(dump_bundle(bundle))
    (model / "logs").mkdir()
    (model / "logs" / "run.txt").write_bytes(b"log")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_bytes(b"ref")
    verify(model, (model / "model.sig").read_bytes(), pub)


def test_model_signing_shard_spelling_and_float_shard_size(tmp_path: Path, key: bytes, pub: bytes) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "a:b.bin").write_bytes(b"0123456789")
    manifest = hash_model(root, HashingConfig().use_shards(4))
    stmt = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": manifest.root_digest}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "resources": [
                {"digest": r.digest, "algorithm": "sha256-sharded-4", "name": r.name}
                for r in manifest.resources
            ],
            "serialization": {
                "hash_type": "sha256",
                "method": "shards",
                "ignore_paths": [".gitattributes", ".gitignore", ".github", ".git"],
                "shard_size": 4.0,
                "allow_symlinks": False,
            },
        },
    }
    verify(root, _resign(stmt, key), pub)
    bundle = sign(root, key, HashingConfig().use_shards(4), shard_names="model-signing")
    assert {r["algorithm"] for r in _payload(bundle)["predicate"]["resources"]} == {"sha256-sharded-4"}
    verify(root, bundle, pub)


def test_inconsistent_subject_digest(model: Path, key: bytes, pub: bytes) -> None:
    stmt = _payload(sign(model, key))
    stmt["subject"][0]["digest"]["sha256"] = "0" * 64
    with pytest.raises(VerificationError, match=r"^inconsistent bundle"):
        verify(model, _resign(stmt, key), pub)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.update(predicateType="https://model_signing/Digests/v0.1"),
            "unsupported predicate type",
        ),
        (lambda s: s.update(_type="x"), "malformed statement: _type"),
        (lambda s: s.update(subject=[]), "exactly one subject"),
        (lambda s: s["predicate"]["serialization"].update(hash_type="blake2b"), "unsupported serialization"),
        (lambda s: s["predicate"]["resources"][0].update(algorithm="blake3"), "uses algorithm 'blake3'"),
        (lambda s: s["predicate"]["resources"][0].update(digest="zz"), "invalid digest"),
        (lambda s: s["predicate"]["resources"].append(s["predicate"]["resources"][0]), "listed twice"),
    ],
)
def test_malformed_statements(model: Path, key: bytes, pub: bytes, edit: Any, message: str) -> None:
    stmt = _payload(sign(model, key))
    edit(stmt)
    with pytest.raises(VerificationError, match=message):
        verify(model, _resign(stmt, key), pub)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b.update(mediaType="application/json"), "unsupported bundle media type"),
        (
            lambda b: b.update(verificationMaterial={"x509CertificateChain": {}, "tlogEntries": []}),
            "x509CertificateChain has no certificates",
        ),
        (
            lambda b: b.update(verificationMaterial={"pgpKey": {}, "tlogEntries": []}),
            r"unknown verification material \(pgpKey\)",
        ),
        (lambda b: b["dsseEnvelope"].update(signatures=[]), "has no signatures"),
        (lambda b: b["dsseEnvelope"].update(payload="***"), "not valid base64"),
        (lambda b: b.pop("dsseEnvelope"), "dsseEnvelope is not an object"),
    ],
)
def test_malformed_bundles(model: Path, key: bytes, pub: bytes, edit: Any, message: str) -> None:
    bundle = sign(model, key)
    edit(bundle)
    with pytest.raises(VerificationError, match=message):
        verify(model, bundle, pub)


def test_not_json(model: Path, pub: bytes) -> None:
    with pytest.raises(VerificationError, match="not JSON"):
        verify(model, "{nope", pub)


def test_sign_unhashable_model_is_a_signing_error(model: Path, key: bytes) -> None:
    (model / "link").symlink_to("/etc/passwd")
    with pytest.raises(SigningError, match="symlink in model"):
        sign(model, key)
