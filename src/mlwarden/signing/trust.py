"""Trust anchors: who may sign, and how a bundle's DSSE signature is checked against them.

A verifier first authenticates the envelope (signature, key or certificate chain, identity), and only
then parses the payload. Each anchor returns the :class:`Signer` it established, so callers can report
who signed and enforce rules such as "the approver is not the publisher".

- :class:`KeyTrust`: a pinned EC public key (OMS key method; ``publicKey.hint`` must match when present).
- :class:`CertificateTrust`: an X.509 leaf + chain in the bundle, chained to pinned CA certificates,
  valid *now* (a certificate bundle carries no trusted signing time, so an expired leaf fails; model-
  signing instead checks at the leaf's own notBefore, where an expired leaf always passes), with
  KeyUsage digitalSignature, EKU codeSigning and a pinned identity (a SAN value or the subject CN).
- ``SigstoreTrust`` (:mod:`mlwarden.signing.sigstore`, optional extra): Fulcio + Rekor, offline
  against a pinned ``trusted_root.json``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import (
    VerificationError as ChainError,
)

from mlwarden.errors import UsageError
from mlwarden.signing.bundle import ParsedBundle, pae, parse_bundle
from mlwarden.signing.errors import VerificationError
from mlwarden.signing.keys import key_fingerprint, load_public_key, signature_hash


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed, as established by the trust anchor."""

    method: str  # "key" | "certificate" | "sigstore"
    identity: str  # key fingerprint, certificate identity, or Sigstore identity
    issuer: str | None = None

    def describe(self) -> str:
        if self.method == "key":
            return f"key {self.identity[:16]}…"
        return f"{self.method} {self.identity}" + (f" ({self.issuer})" if self.issuer else "")


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A DSSE payload whose signature has been checked against a trust anchor."""

    payload_type: str
    payload: bytes
    signer: Signer


class Trust(Protocol):
    """Checks a bundle's signature; raises :class:`VerificationError` when it is not trusted."""

    def authenticate(self, bundle: dict[str, Any]) -> Authenticated: ...


_TRUST_OPTIONS = {
    "key": "a public key (--key)",
    "certificate": "a certificate identity (--cert-identity/--ca)",
    "sigstore": "a Sigstore identity (--sigstore-identity/--issuer/--trusted-root)",
}


def parse_for(bundle: dict[str, Any], method: str) -> ParsedBundle:
    """Parse ``bundle`` and require the signing method this trust anchor checks."""
    parsed = parse_bundle(bundle)
    if parsed.method != method:
        raise VerificationError(
            f"bundle is {parsed.method}-signed, but {_TRUST_OPTIONS[method]} was given",
            hint=f"verify it with {_TRUST_OPTIONS[parsed.method]}",
        )
    return parsed


def check_dsse(key: ec.EllipticCurvePublicKey, parsed: ParsedBundle) -> None:
    """Pass when one of the envelope's signatures is by ``key`` over the DSSE PAE."""
    message = pae(parsed.payload_type, parsed.payload)
    for sig in parsed.signatures:
        try:
            key.verify(sig, message, ec.ECDSA(signature_hash(key)))
        except InvalidSignature:
            continue
        return
    raise VerificationError(
        "bad signature: the DSSE signature does not match the payload and key",
        hint="the bundle was edited after signing, or signed by another key",
    )


class KeyTrust:
    """A pinned EC public key (PEM SubjectPublicKeyInfo)."""

    def __init__(self, public_key_pem: bytes) -> None:
        self.key = load_public_key(public_key_pem)
        self.fingerprint = key_fingerprint(self.key)

    def __str__(self) -> str:
        return f"key {self.fingerprint[:16]}…"

    def authenticate(self, bundle: dict[str, Any]) -> Authenticated:
        parsed = parse_for(bundle, "key")
        if parsed.hint is not None and parsed.hint.lower() != self.fingerprint:
            raise VerificationError(
                f"wrong key: bundle was signed by key {parsed.hint[:16]}…, the given key is "
                f"{self.fingerprint[:16]}…",
                hint="verify with the publisher's public key",
            )
        check_dsse(self.key, parsed)
        return Authenticated(parsed.payload_type, parsed.payload, Signer("key", self.fingerprint))


def _load_certificates(pem_or_der: bytes, what: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in pem_or_der:
            return x509.load_pem_x509_certificates(pem_or_der)
        return [x509.load_der_x509_certificate(pem_or_der)]
    except ValueError as err:
        raise UsageError(f"cannot read {what}: {err}", hint="give PEM certificates") from None


def load_certificates(pem_or_der: bytes, what: str = "certificates") -> list[x509.Certificate]:
    """PEM (one or more) or DER certificates; raises :class:`UsageError` on garbage."""
    return _load_certificates(pem_or_der, what)


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """The identities a certificate asserts: SAN e-mail, URI and DNS values, then the subject CN."""
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
            names.extend(str(v) for v in san.get_values_for_type(kind))
    names.extend(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return names


def _leaf_policy() -> ExtensionPolicy:
    """Code signing, not TLS: KeyUsage digitalSignature and EKU codeSigning are required."""

    def key_usage(_policy: object, _cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
        if ku is None or not ku.digital_signature:
            raise ValueError("leaf KeyUsage lacks digitalSignature")

    def eku(_policy: object, _cert: x509.Certificate, value: x509.ExtendedKeyUsage | None) -> None:
        if value is None or ExtendedKeyUsageOID.CODE_SIGNING not in value:
            raise ValueError("leaf ExtendedKeyUsage lacks codeSigning")

    def any_san(_policy: object, _cert: x509.Certificate, _value: object) -> None:
        return None

    return (
        ExtensionPolicy.permit_all()
        .require_present(x509.KeyUsage, Criticality.AGNOSTIC, key_usage)
        .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, eku)
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, any_san)
    )


class CertificateTrust:
    """Pinned CA certificates plus the identity the signing certificate must carry."""

    def __init__(self, ca_pems: bytes | list[bytes], identity: str, *, at: dt.datetime | None = None) -> None:
        blobs = [ca_pems] if isinstance(ca_pems, bytes) else ca_pems
        self.roots = [cert for blob in blobs for cert in _load_certificates(blob, "CA certificates")]
        if not self.roots:
            raise UsageError("no CA certificates given", hint="pass the PEM file of your signing CA")
        if not identity:
            raise UsageError("a certificate identity is required", hint="pass --cert-identity")
        self.identity = identity
        self.at = at

    def __str__(self) -> str:
        return f"certificate identity {self.identity}"

    def authenticate(self, bundle: dict[str, Any]) -> Authenticated:
        parsed = parse_for(bundle, "certificate")
        chain = [_bundle_certificate(der) for der in parsed.certificates]
        leaf, intermediates = chain[0], chain[1:]
        now = self.at or dt.datetime.now(dt.UTC)
        if now > leaf.not_valid_after_utc:
            raise VerificationError(
                f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                hint="re-sign the model with a current certificate",
            )
        if now < leaf.not_valid_before_utc:
            raise VerificationError(
                f"certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
            )
        verifier = (
            PolicyBuilder()
            .store(Store(self.roots))
            .time(now)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_leaf_policy())
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, intermediates)
        except ChainError as err:
            raise VerificationError(
                f"untrusted certificate: {err}", hint="the signing certificate must chain to the given CA"
            ) from None
        names = certificate_identities(leaf)
        if self.identity not in names:
            raise VerificationError(
                f"unexpected signer identity: certificate is for {', '.join(names) or 'no identity'}, "
                f"not {self.identity}",
                hint="check --cert-identity",
            )
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise VerificationError("unsupported certificate key type (OMS signs with EC keys)")
        check_dsse(key, parsed)
        return Authenticated(parsed.payload_type, parsed.payload, Signer("certificate", self.identity))


def _bundle_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as err:
        raise VerificationError(f"malformed bundle: a certificate does not parse ({err})") from None
