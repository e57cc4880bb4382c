"""Certificate method: chain, validity, KeyUsage/EKU and a pinned identity; several signatures at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from mlwarden.errors import UsageError
from mlwarden.signing import (
    CertificateTrust,
    KeyTrust,
    SigningError,
    VerificationError,
    generate_key,
    public_key_pem,
    sign,
    sign_statement,
    verify,
    verify_all,
    verify_statement,
)
from tests.pki import NOW, issue, make_pki

IDENTITY = "release@example.com"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "weights.bin").write_bytes(b"\x00" * 4096)
    (root / "config.json").write_text('{"architectures": ["Demo"]}')
    return root


def test_certificate_signature_verifies_with_pinned_identity(model: Path) -> None:
    pki = make_pki()
    bundle = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
    assert len(chain) == 2
    manifest = verify(model, bundle, CertificateTrust(pki.root.cert_pem, IDENTITY))
    assert {r.name for r in manifest.resources} == {"weights.bin", "config.json"}
    result = verify_all(model, [(bundle, CertificateTrust(pki.root.cert_pem, IDENTITY))])
    assert result.signers[0].method == "certificate"
    assert result.signers[0].identity == IDENTITY


def test_identity_may_be_the_subject_common_name(model: Path) -> None:
    pki = make_pki(email="")
    bundle = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    verify(model, bundle, CertificateTrust(pki.root.cert_pem, "release signer"))


def test_unknown_identity_is_refused(model: Path) -> None:
    pki = make_pki()
    bundle = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    with pytest.raises(VerificationError, match=r"^unexpected signer identity: certificate is for release@"):
        verify(model, bundle, CertificateTrust(pki.root.cert_pem, "attacker@example.com"))


def test_chain_to_another_ca_is_refused(model: Path) -> None:
    pki, other = make_pki(), make_pki()
    bundle = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    with pytest.raises(VerificationError, match=r"^untrusted certificate"):
        verify(model, bundle, CertificateTrust(other.root.cert_pem, IDENTITY))


def test_expired_certificate_is_refused(model: Path) -> None:
    """model-signing checks the chain at the leaf's notBefore, so an expired leaf passes there."""
    pki = make_pki()
    bundle = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    later = NOW + dt.timedelta(days=60)
    with pytest.raises(VerificationError, match=r"^certificate expired on"):
        verify(model, bundle, CertificateTrust(pki.root.cert_pem, IDENTITY, at=later))


def test_signing_refuses_an_expired_or_foreign_certificate(model: Path) -> None:
    stale = make_pki(not_before=NOW - dt.timedelta(days=90), days=30)
    with pytest.raises(SigningError, match="not valid now"):
        sign(model, stale.leaf.key_pem, certificate_chain=stale.chain_pem)
    pki = make_pki()
    with pytest.raises(SigningError, match="does not belong to the signing key"):
        sign(model, generate_key(), certificate_chain=pki.chain_pem)
    with pytest.raises(SigningError, match="cannot read certificate chain"):
        sign(model, pki.leaf.key_pem, certificate_chain=b"-----BEGIN CERTIFICATE-----\nnope\n")


@pytest.mark.parametrize(
    ("eku", "message"),
    [
        ([ExtendedKeyUsageOID.SERVER_AUTH], "codeSigning"),
        ([], "missing required extension"),
    ],
)
def test_leaf_must_be_for_code_signing(model: Path, eku: list, message: str) -> None:  # type: ignore[type-arg]
    pki = make_pki(eku=eku)
    bundle = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    with pytest.raises(VerificationError, match=message):
        verify(model, bundle, CertificateTrust(pki.root.cert_pem, IDENTITY))


def test_a_leaf_cannot_act_as_ca(model: Path) -> None:
    pki = make_pki()
    rogue = issue("rogue", pki.leaf, email=IDENTITY)  # issued by a non-CA leaf
    bundle = sign(model, rogue.key_pem, certificate_chain=rogue.cert_pem + pki.chain_pem)
    with pytest.raises(VerificationError, match=r"^untrusted certificate"):
        verify(model, bundle, CertificateTrust(pki.root.cert_pem, IDENTITY))


def test_trust_must_match_the_bundle_method(model: Path) -> None:
    pki = make_pki()
    key = generate_key()
    key_signed = sign(model, key)
    cert_signed = sign(model, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    with pytest.raises(VerificationError, match="bundle is key-signed, but a certificate identity"):
        verify(model, key_signed, CertificateTrust(pki.root.cert_pem, IDENTITY))
    with pytest.raises(VerificationError, match="bundle is certificate-signed, but a public key"):
        verify(model, cert_signed, public_key_pem(key))


def test_bad_trust_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="cannot read CA certificates"):
        CertificateTrust(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", IDENTITY)
    with pytest.raises(UsageError, match="identity is required"):
        CertificateTrust(make_pki().root.cert_pem, "")


def test_publisher_and_registry_signatures_are_both_required(model: Path) -> None:
    publisher, registry = generate_key(), generate_key("P-384")
    pub_bundle = sign(model, publisher)
    reg_bundle = sign(model, registry)
    pairs = [
        (pub_bundle, KeyTrust(public_key_pem(publisher))),
        (reg_bundle, KeyTrust(public_key_pem(registry))),
    ]
    result = verify_all(model, pairs)
    assert [s.method for s in result.signers] == ["key", "key"]
    assert result.signers[0].identity != result.signers[1].identity
    # The registry's signature made by the publisher's key does not count as the registry's.
    forged = sign(model, publisher)
    with pytest.raises(VerificationError, match="wrong key"):
        verify_all(model, [(pub_bundle, pairs[0][1]), (forged, pairs[1][1])])
    # A signature over an older version of the model fails, and names whose it was.
    (model / "weights.bin").write_bytes(b"\x01" * 4096)
    fresh = sign(model, publisher)
    with pytest.raises(
        VerificationError, match=r"^signature by key [0-9a-f]{16}…: model does not match.*modified"
    ):
        verify_all(model, [(fresh, pairs[0][1]), (reg_bundle, pairs[1][1])])
    with pytest.raises(VerificationError, match="no signature"):
        verify_all(model, [])


def test_signed_statement_round_trip_and_tamper() -> None:
    key = generate_key()
    body = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://mlwarden.dev/attestation/scan/v1",
        "predicate": {"verdict": "clean", "n": 3},
    }
    bundle = sign_statement(body, key)
    got, signer = verify_statement(bundle, KeyTrust(public_key_pem(key)))
    assert got == body
    assert signer.method == "key"
    import base64
    import json

    edited = json.loads(json.dumps(bundle))
    payload = json.loads(base64.b64decode(edited["dsseEnvelope"]["payload"]))
    payload["predicate"]["verdict"] = "unsafe"
    edited["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(VerificationError, match="bad signature"):
        verify_statement(edited, KeyTrust(public_key_pem(key)))
    with pytest.raises(SigningError, match="not an in-toto Statement"):
        sign_statement({"predicate": {}}, key)
    pki = make_pki()
    cert_bundle = sign_statement(body, pki.leaf.key_pem, certificate_chain=pki.chain_pem)
    assert (
        verify_statement(cert_bundle, CertificateTrust(pki.root.cert_pem, IDENTITY))[1].identity == IDENTITY
    )
