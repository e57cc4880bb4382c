"""EC key helpers: generation, PEM, fingerprints (the OMS/Sigstore bundle ``publicKey.hint``)."""

from __future__ import annotations

import hashlib
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden.errors import UsageError

Curve = Literal["P-256", "P-384"]

_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384"}


def generate_key(curve: Curve = "P-256", password: bytes | None = None) -> bytes:
    """A new EC private key as PKCS#8 PEM (encrypted when ``password`` is given)."""
    if curve not in _CURVES:
        raise UsageError(f"unsupported curve {curve!r}", hint="use P-256 or P-384")
    key = ec.generate_private_key(_CURVES[curve])
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(pem: bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Load a PEM EC private key on a supported curve; raises :class:`UsageError` otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise UsageError(
            f"cannot load private key: {err}", hint="give a PEM EC key (P-256 or P-384)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVE_NAMES:
        raise UsageError(
            "unsupported private key type", hint="OMS key signing uses EC keys on P-256 or P-384"
        )
    return key


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """Load a PEM SubjectPublicKeyInfo EC public key on a supported curve."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise UsageError(f"cannot load public key: {err}", hint="give a PEM EC public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVE_NAMES:
        raise UsageError("unsupported public key type", hint="OMS key signing uses EC keys on P-256 or P-384")
    return key


def public_key_pem(private_key_pem: bytes, password: bytes | None = None) -> bytes:
    """The PEM SubjectPublicKeyInfo of a private key."""
    return public_pem(load_private_key(private_key_pem, password).public_key())


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo encoding of ``key``."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_fingerprint(public_key: bytes | ec.EllipticCurvePublicKey) -> str:
    """Hex SHA-256 of the PEM SubjectPublicKeyInfo (model-signing's bundle ``publicKey.hint``)."""
    key = load_public_key(public_key) if isinstance(public_key, bytes) else public_key
    return hashlib.sha256(public_pem(key)).hexdigest()


def signature_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    """ECDSA digest chosen by the curve, as model-signing and Sigstore do."""
    return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
