"""OMS v1.0 bundles: in-toto Statement v1 in a DSSE envelope in a Sigstore bundle v0.3.

Three kinds of verification material: ``publicKey`` (key method), ``x509CertificateChain`` (certificate
method: leaf first, then intermediates) and ``certificate`` + ``tlogEntries`` (Sigstore keyless).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from mlwarden.signing.errors import VerificationError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_ACCEPTED_MEDIA_TYPES = (BUNDLE_MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(model_name: str, root_digest: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """The in-toto Statement v1 of an OMS v1.0 signature."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": root_digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def key_bundle(payload: bytes, signature: bytes, hint: str) -> dict[str, Any]:
    """A Sigstore bundle v0.3 for the key method, field for field as model-signing 1.1.1 writes it."""
    return _bundle({"publicKey": {"hint": hint}, "tlogEntries": []}, payload, signature)


def certificate_bundle(payload: bytes, signature: bytes, chain_der: list[bytes]) -> dict[str, Any]:
    """A Sigstore bundle v0.3 for the certificate method: the leaf first, then its intermediates."""
    certificates = [{"rawBytes": base64.b64encode(der).decode("ascii")} for der in chain_der]
    return _bundle(
        {"x509CertificateChain": {"certificates": certificates}, "tlogEntries": []}, payload, signature
    )


def _bundle(material: dict[str, Any], payload: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": INTOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }


def dump_bundle(bundle: dict[str, Any]) -> str:
    """Compact JSON, as model-signing writes ``model.sig``."""
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ParsedBundle:
    """The parts of a bundle a verifier needs (signature not yet checked)."""

    method: str  # "key" | "certificate" | "sigstore"
    hint: str | None
    certificates: tuple[bytes, ...]  # DER, leaf first (certificate and Sigstore methods)
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"malformed bundle: {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"malformed bundle: {what} is not valid base64") from None


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError(f"malformed bundle: {what} is not an object")
    return value


def parse_bundle(bundle: dict[str, Any] | str | bytes) -> ParsedBundle:
    """Read a bundle (dict, or its JSON text) and check its structure; raises :class:`VerificationError`."""
    if isinstance(bundle, str | bytes):
        try:
            bundle = json.loads(bundle)
        except (ValueError, UnicodeDecodeError) as err:
            raise VerificationError(f"malformed bundle: not JSON ({err})") from None
    top = _obj(bundle, "the bundle")
    media_type = top.get("mediaType")
    if media_type not in _ACCEPTED_MEDIA_TYPES:
        raise VerificationError(
            f"unsupported bundle media type {media_type!r} (expected {BUNDLE_MEDIA_TYPE})"
        )
    material = _obj(top.get("verificationMaterial"), "verificationMaterial")
    method, hint, certificates = _material(material)
    envelope = _obj(top.get("dsseEnvelope"), "dsseEnvelope")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise VerificationError("malformed bundle: dsseEnvelope.payloadType is missing")
    payload = _b64(envelope.get("payload"), "dsseEnvelope.payload")
    raw_sigs = envelope.get("signatures")
    if not isinstance(raw_sigs, list) or not raw_sigs:
        raise VerificationError("malformed bundle: dsseEnvelope has no signatures")
    sigs = tuple(_b64(_obj(s, "a DSSE signature").get("sig"), "a DSSE signature") for s in raw_sigs)
    return ParsedBundle(method, hint, certificates, payload_type, payload, sigs)


def _material(material: dict[str, Any]) -> tuple[str, str | None, tuple[bytes, ...]]:
    if "publicKey" in material:
        hint = _obj(material["publicKey"], "verificationMaterial.publicKey").get("hint")
        if hint is not None and not isinstance(hint, str):
            raise VerificationError("malformed bundle: publicKey.hint is not a string")
        return "key", hint or None, ()
    if "x509CertificateChain" in material:
        chain = _obj(material["x509CertificateChain"], "verificationMaterial.x509CertificateChain")
        raw = chain.get("certificates")
        if not isinstance(raw, list) or not raw:
            raise VerificationError("malformed bundle: x509CertificateChain has no certificates")
        certs = tuple(_b64(_obj(c, "a certificate").get("rawBytes"), "a certificate") for c in raw)
        return ("sigstore" if material.get("tlogEntries") else "certificate"), None, certs
    if "certificate" in material:
        leaf = _b64(
            _obj(material["certificate"], "verificationMaterial.certificate").get("rawBytes"), "certificate"
        )
        return "sigstore", None, (leaf,)
    kinds = ", ".join(sorted(k for k in material if k != "tlogEntries")) or "none"
    raise VerificationError(f"malformed bundle: unknown verification material ({kinds})")
