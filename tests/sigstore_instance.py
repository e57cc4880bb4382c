"""A private Sigstore instance, fabricated offline with ``cryptography`` for tests.

It has what sigstore-python's offline verifier checks, each part real and computed here:

- a Fulcio-like CA: a P-384 root and intermediate; leaf certificates for ephemeral P-256 keys with an
  empty subject, a critical SAN (e-mail or URI), KeyUsage digitalSignature, EKU codeSigning and the
  OIDC issuer in both Fulcio extensions (1.3.6.1.4.1.57264.1.1 raw, 1.3.6.1.4.1.57264.1.8 DER UTF8String);
- a CT log: every leaf embeds one RFC 6962 precertificate SCT, signed over the issuer key hash and the
  TBSCertificate without the SCT list extension;
- a Rekor v1-like log: ``dsse`` 0.0.1 entries (the kind sigstore-python checks a DSSE bundle's
  canonicalized body against for Rekor v1), an RFC 6962 Merkle tree with inclusion proofs, a signed
  checkpoint (signed-note text, key hint = first 4 bytes of the log ID, as Rekor v1 writes it) and a
  signed entry timestamp (SET) over the RFC 8785 form of body, integratedTime, logID and logIndex;
- ``trusted_root.json`` (``application/vnd.dev.sigstore.trustedroot+json;version=0.1``) naming them.

:meth:`SigstoreInstance.sign_bundle` signs a DSSE payload into a Sigstore bundle v0.3 as ``sign_dsse``
returns it, and :meth:`SigstoreInstance.serve` runs Fulcio and Rekor endpoints on 127.0.0.1 so that
sigstore-python's own signing client can sign against this instance.

No network name here resolves: URLs in the trusted root use the reserved ``.invalid`` domain.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

ISSUER_V1_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
UTC = dt.UTC


# -- encodings -------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 for the values used here (ASCII strings, integers, objects, arrays)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_utf8_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"\x0c" + _der_length(len(raw)) + raw


def der_octet_string(raw: bytes) -> bytes:
    return b"\x04" + _der_length(len(raw)) + raw


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 log ID / key ID: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(key)).digest()


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def at_seconds(when: dt.datetime) -> int:
    return int(when.timestamp())


# -- RFC 6962 Merkle tree ----------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree_hash(leaves: list[bytes]) -> bytes:
    """MTH over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1, bottom first."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_path(index, leaves[:k]), tree_hash(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), tree_hash(leaves[:k])]


# -- the instance ------------------------------------------------------------------------------------


class SigstoreInstance:
    """Fulcio CA + CT log + Rekor log keys and state, with the trusted root that lists them."""

    def __init__(
        self,
        name: str = "mlwarden-test",
        *,
        valid_from: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=UTC),
        valid_to: dt.datetime = dt.datetime(2036, 1, 1, tzinfo=UTC),
    ) -> None:
        self.name = name
        self.valid_from = valid_from
        self.valid_to = valid_to
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = self._ca_certificate(
            f"{name} root", self.root_key, None, None, path_length=1, code_signing=False
        )
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = self._ca_certificate(
            f"{name} intermediate", self.intermediate_key, self.root, self.root_key, path_length=0
        )
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.log_name = f"rekor.{name}.invalid"
        self.origin = f"{self.log_name} - {secrets.randbelow(1 << 62)}"
        # A log that already holds a few entries, so proofs have inner and border nodes.
        self.leaves = [leaf_hash(f"{name} entry {i}".encode()) for i in range(5)]
        self._lock = threading.Lock()
        self.served_requests: list[str] = []  # paths requested during the last serve()

    @property
    def log_id(self) -> bytes:
        return key_id(self.rekor_key.public_key())

    # -- certificates --

    def _ca_certificate(
        self,
        common_name: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Certificate | None,
        issuer_key: ec.EllipticCurvePrivateKey | None,
        *,
        path_length: int,
        code_signing: bool = True,
    ) -> x509.Certificate:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.name),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        signer_key = issuer_key or key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.valid_from)
            .not_valid_after(self.valid_to)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
            )
        if code_signing:  # Fulcio's intermediate carries EKU codeSigning
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
        return builder.sign(signer_key, hashes.SHA384())

    def issue_leaf(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        identity: str,
        issuer: str,
        not_before: dt.datetime,
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
        issuer_extensions: tuple[ObjectIdentifier, ...] = (ISSUER_V1_OID, ISSUER_V2_OID),
        legacy_issuer: str | None = None,
        ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
        ct_key: ec.EllipticCurvePrivateKey | None = None,
        code_signing: bool = True,
    ) -> x509.Certificate:
        """A Fulcio-style leaf with one embedded SCT (from this instance's CT log unless ``ct_key``).

        ``legacy_issuer`` puts another issuer into the legacy extension (…1.1) than into …1.8.
        """
        ca_key, ca_cert = ca or (self.intermediate_key, self.intermediate)
        not_before = not_before.replace(microsecond=0)
        san: x509.GeneralName = (
            x509.UniformResourceIdentifier(identity) if "://" in identity else x509.RFC822Name(identity)
        )
        eku = ExtendedKeyUsageOID.CODE_SIGNING if code_signing else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + lifetime)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        )
        if ISSUER_V1_OID in issuer_extensions:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ISSUER_V1_OID, (legacy_issuer or issuer).encode("utf-8")),
                critical=False,
            )
        if ISSUER_V2_OID in issuer_extensions:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ISSUER_V2_OID, der_utf8_string(issuer)), critical=False
            )
        # The CT log signs the TBSCertificate without its SCT list (RFC 6962 3.2: the precertificate's
        # TBS minus the poison extension is the final TBS minus the SCT list). ``cryptography`` computes
        # that form from a certificate that carries an SCT list extension, so a draft with an empty
        # list in the same place gives the exact bytes the verifier rebuilds from the final leaf.
        draft = builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, der_octet_string(b"\x00\x00")), critical=False
        ).sign(ca_key, hashes.SHA384())
        sct_list = self._sct_list(draft.tbs_precertificate_bytes, ca_key.public_key(), not_before, ct_key)
        leaf = builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, der_octet_string(sct_list)), critical=False
        ).sign(ca_key, hashes.SHA384())
        assert leaf.tbs_precertificate_bytes == draft.tbs_precertificate_bytes
        return leaf

    def _sct_list(
        self,
        tbs: bytes,
        issuer_key: ec.EllipticCurvePublicKey,
        when: dt.datetime,
        ct_key: ec.EllipticCurvePrivateKey | None,
    ) -> bytes:
        """A SignedCertificateTimestampList with one v1 precert_entry SCT (RFC 6962 section 3.2-3.3)."""
        log_key = ct_key or self.ct_key
        timestamp_ms = at_seconds(when) * 1000  # whole seconds: the verifier goes through a float
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)  # v1, certificate_timestamp, timestamp, precert_entry
            + key_id(issuer_key)
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)  # no CtExtensions
        )
        signature = log_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            struct.pack("!B", 0)
            + key_id(log_key.public_key())
            + struct.pack("!QH", timestamp_ms, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )
        return struct.pack("!HH", len(sct) + 2, len(sct)) + sct

    # -- DSSE and the transparency log --

    @staticmethod
    def dsse_envelope(payload_type: str, payload: bytes, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        signature = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
        return {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(signature)}]}

    @staticmethod
    def dsse_entry_body(envelope: dict[str, Any], certificate: x509.Certificate) -> bytes:
        """The canonicalized body Rekor v1 stores for a ``dsse`` 0.0.1 entry."""
        payload = base64.b64decode(envelope["payload"])
        verifier = b64(certificate.public_bytes(serialization.Encoding.PEM))
        spec = {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(canonical_json(envelope)).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": s["sig"], "verifier": verifier} for s in envelope["signatures"]],
        }
        return canonical_json({"apiVersion": "0.0.1", "kind": "dsse", "spec": spec})

    def checkpoint(self, size: int, root: bytes, key: ec.EllipticCurvePrivateKey | None = None) -> str:
        """A signed note over origin, tree size and root hash."""
        note = f"{self.origin}\n{size}\n{b64(root)}\n"
        signature = (key or self.rekor_key).sign(note.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        return f"{note}\n\u2014 {self.log_name} {b64(self.log_id[:4] + signature)}\n"

    def signed_entry_timestamp(self, body: bytes, integrated_time: int, log_index: int) -> bytes:
        promise = {
            "body": b64(body),
            "integratedTime": integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": log_index,
        }
        return self.rekor_key.sign(canonical_json(promise), ec.ECDSA(hashes.SHA256()))

    def _integrate(self, body: bytes) -> tuple[int, int, bytes, list[bytes]]:
        with self._lock:
            index = len(self.leaves)
            self.leaves.append(leaf_hash(body))
            leaves = list(self.leaves)
        return index, len(leaves), tree_hash(leaves), inclusion_path(index, leaves)

    def log_entry(self, body: bytes, integrated_time: int) -> dict[str, Any]:
        """Append ``body`` to the log; the bundle's ``tlogEntries[0]`` for it (protobuf JSON form)."""
        index, size, root, path = self._integrate(body)
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {
                "signedEntryTimestamp": b64(self.signed_entry_timestamp(body, integrated_time, index))
            },
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(size),
                "hashes": [b64(h) for h in path],
                "checkpoint": {"envelope": self.checkpoint(size, root)},
            },
            "canonicalizedBody": b64(body),
        }

    # -- bundles --

    def sign_bundle(
        self,
        payload: bytes,
        *,
        identity: str,
        issuer: str,
        signed_at: dt.datetime,
        payload_type: str = INTOTO_PAYLOAD_TYPE,
        logged_after: dt.timedelta = dt.timedelta(seconds=30),
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
        dsse_key: ec.EllipticCurvePrivateKey | None = None,
        **leaf_options: Any,
    ) -> dict[str, Any]:
        """Sign ``payload`` as ``sign_dsse`` does: ephemeral key, Fulcio leaf, DSSE, one Rekor entry.

        ``dsse_key`` signs the envelope instead of the certificate's key (a forgery);
        ``leaf_options`` go to :meth:`issue_leaf`.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = self.issue_leaf(
            key.public_key(),
            identity=identity,
            issuer=issuer,
            not_before=signed_at,
            lifetime=lifetime,
            **leaf_options,
        )
        envelope = self.dsse_envelope(payload_type, payload, dsse_key or key)
        entry = self.log_entry(self.dsse_entry_body(envelope, leaf), at_seconds(signed_at + logged_after))
        return bundle_of(leaf, envelope, entry)

    # -- trust material --

    def trusted_root(self) -> dict[str, Any]:
        start = {"start": rfc3339(self.valid_from)}

        def log(url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki_der(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": start,
                },
                "logId": {"keyId": b64(key_id(key.public_key()))},
            }

        chain = [self.intermediate, self.root]
        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [log(f"https://{self.log_name}", self.rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": self.name, "commonName": self.name},
                    "uri": f"https://fulcio.{self.name}.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))} for c in chain
                        ]
                    },
                    "validFor": start,
                }
            ],
            "ctlogs": [log(f"https://ctfe.{self.name}.invalid", self.ct_key)],
            "timestampAuthorities": [],
        }

    def trusted_root_json(self) -> bytes:
        return json.dumps(self.trusted_root(), indent=2).encode("utf-8")

    def client_trust_config(self, url: str) -> dict[str, Any]:
        """A ClientTrustConfig (as ``--trust_config`` of model-signing takes) signing against ``url``."""

        def service() -> dict[str, Any]:
            return {
                "url": url,
                "majorApiVersion": 1,
                "validFor": {"start": rfc3339(self.valid_from)},
                "operator": self.name,
            }

        return {
            "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
                "caUrls": [service()],
                "oidcUrls": [service()],
                "rekorTlogUrls": [service()],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }

    # -- Fulcio and Rekor over HTTP on the loopback interface --

    def _fulcio_sign(self, request: dict[str, Any], authorization: str) -> dict[str, Any]:
        csr = x509.load_pem_x509_csr(base64.b64decode(request["certificateSigningRequest"]))
        assert csr.is_signature_valid
        claims = unverified_claims(authorization.removeprefix("Bearer "))
        public_key = csr.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        leaf = self.issue_leaf(
            public_key,
            identity=str(claims.get("email") or claims["sub"]),
            issuer=str(claims["iss"]),
            not_before=dt.datetime.now(UTC) - dt.timedelta(seconds=5),
        )
        chain = [leaf, self.intermediate, self.root]
        pems = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain]
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

    def _rekor_create(self, request: dict[str, Any]) -> dict[str, Any]:
        assert request["kind"] == "dsse" and request["apiVersion"] == "0.0.1"
        proposed = request["spec"]["proposedContent"]
        envelope = json.loads(proposed["envelope"])
        certificate = x509.load_pem_x509_certificate(base64.b64decode(proposed["verifiers"][0]))
        body = self.dsse_entry_body(envelope, certificate)
        integrated_time = at_seconds(dt.datetime.now(UTC))
        index, size, root, path = self._integrate(body)
        uuid = leaf_hash(body).hex()
        return {
            uuid: {
                "body": b64(body),
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "logIndex": index,
                        "rootHash": root.hex(),
                        "treeSize": size,
                        "hashes": [h.hex() for h in path],
                        "checkpoint": self.checkpoint(size, root),
                    },
                    "signedEntryTimestamp": b64(self.signed_entry_timestamp(body, integrated_time, index)),
                },
            }
        }

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Fulcio (``/api/v2/signingCert``) and Rekor v1 (``/api/v1/log/entries``) on 127.0.0.1, and
        the OIDC discovery document that sigstore-python's ``Issuer`` fetches before any token flow."""
        instance = self
        requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    base = f"http://127.0.0.1:{self.server.server_address[1]}"
                    self.answer(
                        200, {"authorization_endpoint": f"{base}/auth", "token_endpoint": f"{base}/token"}
                    )
                else:
                    self.answer(404, {"code": 404, "message": "not found"})

            def do_POST(self) -> None:
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                requests.append(self.path)
                if self.path == "/api/v2/signingCert":
                    self.answer(200, instance._fulcio_sign(data, self.headers["Authorization"]))
                elif self.path == "/api/v1/log/entries":
                    self.answer(201, instance._rekor_create(data))
                else:
                    self.answer(404, {"code": 404, "message": "not found"})

            def answer(self, status: int, answer: dict[str, Any]) -> None:
                raw = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
        self.served_requests = requests


def bundle_of(leaf: x509.Certificate, envelope: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A Sigstore bundle v0.3 laid out as sigstore-python's ``Bundle.to_json`` writes it."""
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(leaf.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [entry],
            "timestampVerificationData": {},
        },
        "dsseEnvelope": envelope,
    }


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (what a test Fulcio needs from an identity token)."""
    body = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return claims


def identity_token(
    *,
    issuer: str,
    identity: str,
    audience: str = "sigstore",
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
) -> str:
    """An OIDC-shaped JWT (HS256 with a throwaway secret: clients never check the signature; Fulcio does)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode("ascii")

    now = at_seconds(dt.datetime.now(UTC))
    claims = {
        "iss": issuer,
        "sub": identity,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + int(lifetime.total_seconds()),
    }
    if "@" in identity and "://" not in identity:
        claims |= {"email": identity, "email_verified": True}
    head = part({"alg": "HS256", "typ": "JWT"})
    body = part(claims)
    mac = hmac.new(secrets.token_bytes(32), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"
