"""Model signing and verification in the OpenSSF Model Signing (OMS) v1.0 format.

    >>> from mlwarden.signing import dump_bundle, generate_key, public_key_pem, sign, verify
    >>> key = generate_key("P-256")
    >>> bundle = sign("my-model/", key)                                  # doctest: +SKIP
    >>> verify("my-model/", bundle, public_key_pem(key))                 # doctest: +SKIP

Bundles are in-toto Statement v1 / DSSE / Sigstore bundle v0.3, byte-compatible with what
``model_signing`` 1.1.1 writes for its key and certificate methods, and verify in both directions.
Trust anchors (:class:`KeyTrust`, :class:`CertificateTrust`, and ``SigstoreTrust`` from the optional
``mlwarden[sigstore]`` extra) decide who may sign; :func:`verify_all` requires several signatures.
Attestations are any in-toto statement, signed with :func:`sign_statement`.
"""

from mlwarden.signing.api import (
    VerifiedModel,
    pair_signatures,
    sign,
    sign_statement,
    verify,
    verify_all,
    verify_statement,
)
from mlwarden.signing.bundle import BUNDLE_MEDIA_TYPE, PREDICATE_TYPE, dump_bundle, pae, parse_bundle
from mlwarden.signing.errors import SigningError, VerificationError
from mlwarden.signing.keys import (
    generate_key,
    key_fingerprint,
    load_private_key,
    load_public_key,
    public_key_pem,
)
from mlwarden.signing.trust import Authenticated, CertificateTrust, KeyTrust, Signer, Trust

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "PREDICATE_TYPE",
    "Authenticated",
    "CertificateTrust",
    "KeyTrust",
    "Signer",
    "SigningError",
    "Trust",
    "VerificationError",
    "VerifiedModel",
    "dump_bundle",
    "generate_key",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "pae",
    "pair_signatures",
    "parse_bundle",
    "public_key_pem",
    "sign",
    "sign_statement",
    "verify",
    "verify_all",
    "verify_statement",
]
