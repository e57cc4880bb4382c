"""Cross-verification with the reference implementation, model-signing (key method), in both directions."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlwarden.hashing import HashingConfig
from mlwarden.signing import VerificationError, dump_bundle, generate_key, public_key_pem, sign, verify

ms = pytest.importorskip("model_signing", reason="model-signing is a test-only dependency")

CONFIGS = {
    "files-sha256": (HashingConfig(), {"hashing_algorithm": "sha256"}),
    "files-blake3": (HashingConfig().use_blake3(), {"hashing_algorithm": "blake3"}),
    "shards-sha256": (
        HashingConfig().use_shards(1 << 20),
        {"hashing_algorithm": "sha256", "shard_size": 1 << 20},
    ),
}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    files = {
        "config.json": b'{"architectures": ["X"]}',
        "model-00001-of-00002.safetensors": os.urandom(3 * (1 << 20) + 17),
        "model-00002-of-00002.safetensors": os.urandom(1 << 20),
        "a/b": b"component order puts me first",
        "a-b/c": b"code-point order puts me first",
        "tokenizer/vocab.txt": b"hello\nworld\n",
        "tokenizer/added": b"x",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    priv = generate_key("P-256")
    (tmp_path / "key.pem").write_bytes(priv)
    (tmp_path / "pub.pem").write_bytes(public_key_pem(priv))
    return tmp_path / "key.pem", tmp_path / "pub.pem"


def _ms_hashing(name: str) -> Any:
    kwargs = CONFIGS[name][1]
    cfg = ms.hashing.Config()
    if name.startswith("shards"):
        return cfg.use_shard_serialization(**kwargs)
    return cfg.use_file_serialization(**kwargs)


def _ms_verify(model: Path, sig: Path, pub: Path) -> None:
    ms.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig)


@pytest.mark.parametrize("name", ["files-sha256", "files-blake3"])
def test_mlwarden_signs_model_signing_verifies(
    name: str, model: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keys
    sig = tmp_path / "model.sig"
    sig.write_text(dump_bundle(sign(model, priv.read_bytes(), CONFIGS[name][0])))
    _ms_verify(model, sig, pub)
    (model / "config.json").write_bytes(b"{}")
    with pytest.raises(ValueError, match="Signature mismatch"):
        _ms_verify(model, sig, pub)


def test_mlwarden_shards_in_model_signing_spelling_verify_there(
    model: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keys
    sig = tmp_path / "model.sig"
    bundle = sign(model, priv.read_bytes(), CONFIGS["shards-sha256"][0], shard_names="model-signing")
    sig.write_text(dump_bundle(bundle))
    _ms_verify(model, sig, pub)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_model_signing_signs_mlwarden_verifies(
    name: str, model: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keys
    sig = tmp_path / "model.sig"
    ms.signing.Config().use_elliptic_key_signer(private_key=priv).set_hashing_config(_ms_hashing(name)).sign(
        model, sig
    )
    verified = verify(model, sig.read_bytes(), pub.read_bytes())
    assert verified.config.serialization_parameters() == CONFIGS[name][0].serialization_parameters()
    (model / "tokenizer" / "added").write_bytes(b"y")
    with pytest.raises(VerificationError, match="modified: tokenizer/added"):
        verify(model, sig.read_bytes(), pub.read_bytes())


def test_same_digests_different_order(model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    """model-signing lists resources in path-component order, mlwarden in code-point order (OMS v1.0)."""
    priv, _ = keys
    sig = tmp_path / "model.sig"
    ms.signing.Config().use_elliptic_key_signer(private_key=priv).sign(model, sig)

    def resources(bundle: dict[str, Any]) -> list[dict[str, str]]:
        stmt = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        out: list[dict[str, str]] = stmt["predicate"]["resources"]
        return out

    theirs = resources(json.loads(sig.read_text()))
    ours = resources(sign(model, priv.read_bytes()))
    assert sorted(theirs, key=lambda r: r["name"]) == ours
    assert [r["name"] for r in theirs].index("a/b") < [r["name"] for r in theirs].index("a-b/c")
    assert [r["name"] for r in ours].index("a-b/c") < [r["name"] for r in ours].index("a/b")


def test_mlwarden_is_stricter_about_unsigned_files(
    model: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keys
    sig = tmp_path / "model.sig"
    ms.signing.Config().use_elliptic_key_signer(private_key=priv).sign(model, sig)
    (model / "evil.pkl").write_bytes(b"cos\nsystem\n")
    ms.verifying.Config().use_elliptic_key_verifier(public_key=pub).set_ignore_unsigned_files(True).verify(
        model, sig
    )
    with pytest.raises(VerificationError, match=r"unsigned extra files: evil\.pkl"):
        verify(model, sig.read_bytes(), pub.read_bytes())


def test_certificate_method_interoperates_both_ways(model: Path, tmp_path: Path) -> None:
    from mlwarden.signing import CertificateTrust
    from tests.pki import make_pki

    pki = make_pki()
    files = pki.write(tmp_path)
    ours = tmp_path / "ours.sig"
    ours.write_text(dump_bundle(sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)))
    ms_verify = ms.verifying.Config().use_certificate_verifier(certificate_chain=[files["ca.pem"]])
    ms_verify.set_hashing_config(_ms_hashing("files-sha256")).verify(model, ours)

    theirs = tmp_path / "theirs.sig"
    ms.signing.Config().use_certificate_signer(
        private_key=files["leaf.key"],
        signing_certificate=files["leaf.pem"],
        certificate_chain=[files["intermediate.pem"]],
    ).set_hashing_config(_ms_hashing("files-sha256")).sign(model, theirs)
    trust = CertificateTrust(pki.root.cert_pem, "release@example.com")
    assert {r.name for r in verify(model, theirs.read_bytes(), trust).resources} >= {"config.json"}
    with pytest.raises(VerificationError, match="unexpected signer identity"):
        verify(model, theirs.read_bytes(), CertificateTrust(pki.root.cert_pem, "someone@example.com"))
