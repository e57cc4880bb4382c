"""A small real X.509 PKI for tests: root CA, intermediate, and code-signing leaves (ECDSA P-256)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mlwarden tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ku(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    email: str | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    not_before: dt.datetime | None = None,
    days: float = 30,
) -> Issued:
    """A certificate for ``cn``, self-signed when ``issuer`` is None."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or NOW - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_ku(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer_key = issuer.key if issuer else key
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
    )
    if not ca:
        usages = [ExtendedKeyUsageOID.CODE_SIGNING] if eku is None else eku
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if email:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
            )
    return Issued(key, builder.sign(signer_key, hashes.SHA256()))


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    leaf: Issued

    @property
    def chain_pem(self) -> bytes:
        """Leaf first, then the intermediate: what ``--cert`` + ``--chain`` give the signer."""
        return self.leaf.cert_pem + self.intermediate.cert_pem

    def write(self, folder: Path) -> dict[str, Path]:
        files = {
            "ca.pem": self.root.cert_pem,
            "intermediate.pem": self.intermediate.cert_pem,
            "leaf.pem": self.leaf.cert_pem,
            "leaf.key": self.leaf.key_pem,
        }
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return {name: folder / name for name in files}


def make_pki(email: str = "release@example.com", **leaf_options: object) -> Pki:
    root = issue("mlwarden test root", ca=True, days=3650)
    intermediate = issue("mlwarden test signing CA", root, ca=True, days=365)
    leaf = issue("release signer", intermediate, email=email, **leaf_options)  # type: ignore[arg-type]
    return Pki(root, intermediate, leaf)
