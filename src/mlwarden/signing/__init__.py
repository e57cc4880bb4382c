"""Model signing and verification in the OpenSSF Model Signing (OMS) v1.0 format.

    >>> from mlwarden.signing import dump_bundle, generate_key, public_key_pem, sign, verify
    >>> key = generate_key("P-256")
    >>> bundle = sign("my-model/", key)                                  # doctest: +SKIP
    >>> verify("my-model/", bundle, public_key_pem(key))                 # doctest: +SKIP

Bundles are in-toto Statement v1 / DSSE / Sigstore bundle v0.3, byte-compatible with what
``model_signing`` 1.1.1 writes for its key method, and verify in both directions. Only EC keys
(P-256, P-384) in this release; certificate and Sigstore keyless signing come later.
"""

from mlwarden.signing.api import sign, verify
from mlwarden.signing.bundle import BUNDLE_MEDIA_TYPE, PREDICATE_TYPE, dump_bundle, pae, parse_bundle
from mlwarden.signing.errors import SigningError, VerificationError
from mlwarden.signing.keys import (
    generate_key,
    key_fingerprint,
    load_private_key,
    load_public_key,
    public_key_pem,
)

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "PREDICATE_TYPE",
    "SigningError",
    "VerificationError",
    "dump_bundle",
    "generate_key",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "pae",
    "parse_bundle",
    "public_key_pem",
    "sign",
    "verify",
]
