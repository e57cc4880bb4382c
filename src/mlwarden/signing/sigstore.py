"""Sigstore keyless signatures (optional extra ``mlwarden[sigstore]``), verified fully offline.

Verification uses sigstore-python against a pinned ``trusted_root.json``: no TUF refresh, no Rekor
lookup, no network at all. For a DSSE bundle (what model-signing's ``sign_dsse`` writes: the Fulcio leaf
in ``verificationMaterial.certificate`` and one Rekor entry) sigstore-python checks, in order: a trusted
signing time (the Rekor integrated time backed by its signed entry timestamp, or RFC 3161 stamps from the
root's TSAs), the leaf's chain to a Fulcio CA of the root at that time, its embedded SCT against the CT
logs, KeyUsage and EKU codeSigning, the identity policy, the inclusion proof and its signed checkpoint,
the SET, the leaf's validity at the signing time, the DSSE signature, and that the log entry records
this very envelope. :class:`SigstoreTrust` turns each failure into a one-line
:class:`~mlwarden.signing.errors.VerificationError`.

Signing (:func:`sign_sigstore`) needs the network (Fulcio, Rekor and, without a trust config, the TUF
repository) and an OIDC identity token: an explicit one, or ambient CI credentials (GitHub Actions with
``id-token: write``, GitLab, Buildkite, CircleCI, Google Cloud). There is no interactive browser flow.

sigstore is imported only inside these functions, so ``import mlwarden.signing.sigstore`` works without
the extra and fails with a :class:`~mlwarden.errors.UsageError` only when used.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from mlwarden.errors import UsageError
from mlwarden.signing.bundle import INTOTO_PAYLOAD_TYPE
from mlwarden.signing.errors import SigningError, VerificationError
from mlwarden.signing.trust import Authenticated, Signer, parse_for

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, TrustedRoot
    from sigstore.oidc import IdentityToken
    from sigstore.verify.policy import VerificationPolicy

__all__ = ["SigstoreTrust", "load_trusted_root", "sign_sigstore"]

INSTALL_HINT = "pip install 'mlwarden[sigstore]'"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"

# Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw string (deprecated, still issued)
_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")

_MAX_DETAIL = 160


def _require_sigstore() -> None:
    try:
        import sigstore  # noqa: F401, PLC0415
    except ImportError:
        raise UsageError("Sigstore support is not installed", hint=INSTALL_HINT) from None


def _full_text(err: BaseException) -> str:
    """An exception's message on one line (sigstore messages can span lines or carry tuples)."""
    text = " ".join(str(a) for a in err.args) if len(err.args) > 1 else str(err)
    text = re.sub(r"\s*For further information visit \S+", "", text)  # pydantic's footer
    return re.sub(r"\s+", " ", text).strip() or type(err).__name__


def _text(err: BaseException) -> str:
    """:func:`_full_text`, shortened for a one-line message."""
    text = _full_text(err)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


# -- the trusted root ------------------------------------------------------------------------------------


def _read_trust_document(source: bytes | str | os.PathLike[str], what: str) -> tuple[dict[str, Any], str]:
    """The JSON object of a trusted root or client trust config, and how to name it in messages."""
    if isinstance(source, bytes):
        raw, where = source, what
    else:
        path = Path(source)
        where = f"{what} {path}"
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise UsageError(
                f"cannot read {where}: {err.strerror or err}", hint=f"give a readable {what} file"
            ) from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"invalid {where}: not JSON", hint=f"give a Sigstore {what} JSON file") from None
    if not isinstance(doc, dict):
        raise UsageError(f"invalid {where}: not a JSON object", hint=f"give a Sigstore {what} JSON file")
    return doc, where


def load_trusted_root(source: bytes | str | os.PathLike[str]) -> TrustedRoot:
    """A pinned Sigstore trusted root: JSON bytes, or a path to ``trusted_root.json``.

    A client trust config (``--trust_config`` of model-signing) is accepted too; its ``trustedRoot`` is
    used. Raises :class:`UsageError` when the file is unreadable, not a trusted root, or lists no
    Fulcio CA, no Rekor log or no CT log. Never touches the network.
    """
    _require_sigstore()
    from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
    from sigstore.models import TrustedRoot  # noqa: PLC0415
    from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootMessage  # noqa: PLC0415

    doc, where = _read_trust_document(source, "trusted root")
    if doc.get("mediaType") == CLIENT_TRUST_CONFIG_MEDIA_TYPE:
        inner = doc.get("trustedRoot")
        doc = inner if isinstance(inner, dict) else {}
    if doc.get("mediaType") != TRUSTED_ROOT_MEDIA_TYPE:
        raise UsageError(
            f"invalid {where}: media type is {doc.get('mediaType')!r}, not {TRUSTED_ROOT_MEDIA_TYPE!r}",
            hint="give the trusted_root.json of the Sigstore instance that signed",
        )
    for key, name in (("certificateAuthorities", "Fulcio CA"), ("tlogs", "Rekor log"), ("ctlogs", "CT log")):
        if not isinstance(doc.get(key), list) or not doc[key]:
            raise UsageError(
                f"invalid {where}: it lists no {name} ({key})",
                hint="give the complete trusted_root.json of the Sigstore instance",
            )
    try:
        return TrustedRoot(TrustedRootMessage.from_json(json.dumps(doc)))
    except (SigstoreError, ValueError, TypeError) as err:
        raise UsageError(
            f"invalid {where}: {_text(err)}", hint="give the trusted_root.json of the Sigstore instance"
        ) from None


# -- verification ----------------------------------------------------------------------------------------


def _der_utf8(raw: bytes) -> str | None:
    """The text of a DER UTF8String, or None."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    length, offset = raw[1], 2
    if length & 0x80:
        size = length & 0x7F
        length, offset = int.from_bytes(raw[2 : 2 + size], "big"), 2 + size
    body = raw[offset : offset + length]
    return body.decode("utf-8", "replace") if len(body) == length else None


def _issuers(cert: x509.Certificate) -> dict[x509.ObjectIdentifier, str]:
    found: dict[x509.ObjectIdentifier, str] = {}
    for oid in (_ISSUER_V2, _ISSUER_V1):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        text = _der_utf8(raw) if oid == _ISSUER_V2 else raw.decode("utf-8", "replace")
        found[oid] = text if text is not None else repr(raw)
    return found


def _certificate_identities(cert: x509.Certificate) -> list[str]:
    """The identities a Fulcio certificate asserts, as sigstore-python reads them from the SAN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    names += [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    names += [
        on.value.decode("utf-8", "replace")
        for on in san.get_values_for_type(x509.OtherName)
        if on.type_id == _OTHERNAME
    ]
    return names


class _IdentityPolicy:
    """sigstore-python's ``Identity(identity, issuer)``, checking every Fulcio issuer extension present.

    ``Identity`` reads only the deprecated issuer extension (…57264.1.1); Fulcio also writes …57264.1.8,
    and a certificate carrying only the new one would otherwise fail. Both are checked when present, and
    at least one is required. The checks are sigstore-python's own policies; on failure the reason is
    kept so that :class:`SigstoreTrust` can say which of issuer and identity did not match.
    """

    def __init__(self, identity: str, issuer: str) -> None:
        self.identity = identity
        self.issuer = issuer
        self.failure: VerificationError | None = None

    def verify(self, cert: x509.Certificate) -> None:
        from sigstore.errors import VerificationError as SigstoreVerificationError  # noqa: PLC0415
        from sigstore.verify.policy import Identity, OIDCIssuer, OIDCIssuerV2  # noqa: PLC0415

        present = _issuers(cert)
        issuer_checks: list[VerificationPolicy] = [OIDCIssuerV2(self.issuer)] if _ISSUER_V2 in present else []
        if _ISSUER_V1 in present or not present:
            issuer_checks.append(OIDCIssuer(self.issuer))
        try:
            for check in issuer_checks:
                check.verify(cert)
        except SigstoreVerificationError:
            got = ", ".join(sorted({v for v in present.values() if v != self.issuer})) or "no issuer"
            self.failure = VerificationError(
                f"unexpected OIDC issuer: the signing certificate was issued for {got}, not {self.issuer}",
                hint="check --issuer",
            )
            raise
        try:
            Identity(identity=self.identity).verify(cert)
        except SigstoreVerificationError:
            names = ", ".join(_certificate_identities(cert)) or "no identity"
            self.failure = VerificationError(
                f"unexpected signer identity: the signing certificate is for {names}, not {self.identity}",
                hint="check --sigstore-identity",
            )
            raise


def _integrated_time(bundle: dict[str, Any]) -> dt.datetime | None:
    """The (unauthenticated) integrated time of the bundle's log entry, for messages only."""
    try:
        seconds = int(bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"])
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, OSError):
        return None


def _utc(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


_TIME_HINT = "a Fulcio certificate lives ~10 minutes: the signature must be logged within that time"
_ROOT_HINT = "the bundle is from another Sigstore instance, or the pinned trusted root is out of date"
_LOG_HINT = "the log entry was altered, or it comes from a log the trusted root does not list"


def _explain(err: BaseException, cert: x509.Certificate | None, bundle: dict[str, Any]) -> VerificationError:
    """A sigstore-python failure as a one-line error naming what failed.

    Classified by how sigstore-python's messages start (4.5.1), never by text further in, which can
    quote attacker-controlled bundle content such as a checkpoint.
    """
    text = _text(err)
    lower = _full_text(err).lower()
    if lower.startswith("not enough sources of verified time"):
        return VerificationError(
            "no trusted signing time: the log entry has no signed entry timestamp and no trusted RFC 3161 "
            "timestamp is present",
            hint="the bundle is incomplete; re-sign it",
        )
    if lower.startswith(("failed to build timestamp certificate chain", "invalid signing cert: expired")):
        when = _integrated_time(bundle)
        if (
            cert is not None
            and when is not None
            and not (cert.not_valid_before_utc <= when <= cert.not_valid_after_utc)
        ):
            return VerificationError(
                f"signing certificate was not valid at the signing time {_utc(when)} (valid "
                f"{_utc(cert.not_valid_before_utc)} to {_utc(cert.not_valid_after_utc)})",
                hint=_TIME_HINT,
            )
        if "not valid at validation time" in lower or "expired" in lower:
            return VerificationError(
                f"signing certificate chain was not valid at the signing time: {text}", hint=_ROOT_HINT
            )
        return VerificationError(
            f"untrusted signing certificate: it does not chain to a Fulcio CA of the trusted root ({text})",
            hint=_ROOT_HINT,
        )
    if lower.startswith("failed to verify sct"):
        return VerificationError(
            f"invalid certificate transparency proof: the signing certificate's SCT does not verify ({text})",
            hint=_ROOT_HINT,
        )
    if lower.startswith(("key usage is not", "extended usage does not")):
        return VerificationError(f"signing certificate is not for code signing: {text}")
    if lower.startswith("invalid log entry: "):
        # a wrapped two-argument error reads "invalid log entry: ('…', '…')"
        return _explain_log_entry(lower.removeprefix("invalid log entry: ").lstrip("('\""), text)
    if lower.startswith("dsse: invalid signature"):
        return VerificationError(
            "bad signature: the DSSE signature does not match the payload and the signing certificate",
            hint="the bundle was edited after signing, or signed by another key",
        )
    if lower.startswith(("log entry ", "transparency log entry is inconsistent", "invalid dsse log entry")):
        return VerificationError(
            f"transparency log entry does not record this envelope: {text}",
            hint="the log entry belongs to another signature",
        )
    return VerificationError(f"Sigstore verification failed: {text}")


def _explain_log_entry(lower: str, text: str) -> VerificationError:
    """Step (4)/(5): Merkle inclusion proof, signed checkpoint, signed entry timestamp."""
    if lower.startswith("inclusion proof has wrong size"):
        message = "the inclusion proof has the wrong size"
    elif lower.startswith("inclusion proof contains invalid root hash signature"):
        message = "the inclusion proof's root hash is not the one the signed checkpoint commits to"
    elif lower.startswith("inclusion proof contains invalid root hash"):
        message = "the inclusion proof does not lead to the logged root hash"
    elif lower.startswith("checkpoint:"):
        message = "the signed checkpoint does not verify against the trusted Rekor keys"
    elif lower.startswith(("malformed", "note must contain", "inclusion proof does not contain")):
        message = f"the signed checkpoint is malformed ({text.removeprefix('invalid log entry: ')})"
    elif lower.startswith("set:"):
        message = "the signed entry timestamp (SET) does not verify against the trusted Rekor keys"
    else:
        message = text.removeprefix("invalid log entry: ")
    return VerificationError(f"invalid transparency log entry: {message}", hint=_LOG_HINT)


class SigstoreTrust:
    """Sigstore keyless: a Fulcio certificate for ``identity`` from ``issuer``, logged in Rekor.

    ``trusted_root`` is the instance's ``trusted_root.json`` (bytes of JSON, or a path), pinned by the
    operator and refreshed out of band; verification never uses the network.
    """

    def __init__(self, trusted_root: bytes | str | os.PathLike[str], identity: str, issuer: str) -> None:
        if not identity:
            raise UsageError("a Sigstore identity is required", hint="pass --sigstore-identity")
        if not issuer:
            raise UsageError("an OIDC issuer is required", hint="pass --issuer")
        self.identity = identity
        self.issuer = issuer
        root = load_trusted_root(trusted_root)
        from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
        from sigstore.verify import Verifier  # noqa: PLC0415

        try:
            self._verifier = Verifier(trusted_root=root)
        except (SigstoreError, ValueError) as err:
            raise UsageError(f"invalid trusted root: {_text(err)}", hint=_ROOT_HINT) from None

    def authenticate(self, bundle: dict[str, Any]) -> Authenticated:
        parse_for(bundle, "sigstore")
        from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
        from sigstore.models import Bundle  # noqa: PLC0415

        try:
            sigstore_bundle = Bundle.from_json(json.dumps(bundle))
        except (SigstoreError, ValueError, TypeError, x509.ExtensionNotFound) as err:
            raise VerificationError(f"malformed Sigstore bundle: {_text(err)}") from None
        policy = _IdentityPolicy(self.identity, self.issuer)
        try:
            payload_type, payload = self._verifier.verify_dsse(sigstore_bundle, policy)
        except (SigstoreError, ValueError, TypeError, x509.ExtensionNotFound) as err:
            if policy.failure is not None:
                raise policy.failure from None
            raise _explain(err, sigstore_bundle.signing_certificate, bundle) from None
        return Authenticated(payload_type, payload, Signer("sigstore", self.identity, self.issuer))


# -- signing ---------------------------------------------------------------------------------------------


def _identity_token(explicit: str | None) -> IdentityToken:
    from sigstore import oidc  # noqa: PLC0415
    from sigstore.errors import Error as SigstoreError  # noqa: PLC0415

    raw = explicit
    if raw is None:
        try:
            raw = oidc.detect_credential()
        except SigstoreError as err:
            raise SigningError(
                f"cannot get the CI's OIDC identity token: {_text(err)}",
                hint="GitHub Actions needs `permissions: id-token: write`",
            ) from None
    if not raw:
        raise SigningError(
            "no OIDC identity token: none was given and no ambient CI credentials were found",
            hint="sign in CI with an OIDC token (GitHub Actions: `permissions: id-token: write`) "
            "or pass an identity token",
        )
    try:
        return oidc.IdentityToken(raw)
    except SigstoreError as err:
        raise SigningError(
            f"invalid OIDC identity token: {_text(err)}", hint="pass a current token with audience 'sigstore'"
        ) from None


def _client_trust_config(staging: bool, trust_config: str | os.PathLike[str] | None) -> ClientTrustConfig:
    from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
    from sigstore.models import ClientTrustConfig  # noqa: PLC0415

    if trust_config is not None:
        doc, where = _read_trust_document(trust_config, "trust config")
        if doc.get("mediaType") != CLIENT_TRUST_CONFIG_MEDIA_TYPE:
            raise UsageError(
                f"invalid {where}: media type is {doc.get('mediaType')!r}, not "
                f"{CLIENT_TRUST_CONFIG_MEDIA_TYPE!r}",
                hint="a trust config holds the trusted root and the signing config of a Sigstore instance",
            )
        try:
            config = ClientTrustConfig.from_json(json.dumps(doc))
            _ = config.signing_config  # validates the signing services now rather than mid-signing
        except (SigstoreError, ValueError, TypeError) as err:
            raise UsageError(f"invalid {where}: {_text(err)}", hint="check the signing config") from None
        return config
    try:
        return ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
    except (SigstoreError, OSError, ValueError) as err:
        instance = "staging" if staging else "production"
        raise SigningError(
            f"cannot fetch the Sigstore {instance} trust configuration (TUF): {_text(err)}",
            hint="signing needs network access to the Sigstore TUF repository (or a private instance's "
            "trust config)",
        ) from None


def sign_sigstore(
    payload_type: str,
    payload: bytes,
    *,
    identity_token: str | None = None,
    staging: bool = False,
    trust_config: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Sign an in-toto statement keylessly; returns the Sigstore bundle v0.3 (DSSE) as a JSON-ready dict.

    The bundle is what sigstore-python's ``sign_dsse`` returns, as model-signing writes it: the Fulcio
    leaf in ``verificationMaterial.certificate`` and one Rekor entry with its inclusion proof (plus
    RFC 3161 timestamps where the instance has a TSA). ``identity_token`` is a raw OIDC token; without
    it ambient CI credentials are used. ``staging`` uses Sigstore's staging instance; ``trust_config``
    (a client trust config JSON file) a private one. Production otherwise.

    Needs the network. Raises :class:`SigningError` when no token is found or a service cannot be
    reached, and :class:`UsageError` for bad arguments or a missing extra.
    """
    _require_sigstore()
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise UsageError(
            f"Sigstore signs in-toto statements only, not {payload_type!r}",
            hint=f"the payload type must be {INTOTO_PAYLOAD_TYPE}",
        )
    if staging and trust_config is not None:
        raise UsageError("choose either the staging instance or a trust config, not both")
    from sigstore.dsse import Statement  # noqa: PLC0415
    from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
    from sigstore.oidc import ExpiredIdentity  # noqa: PLC0415
    from sigstore.sign import SigningContext  # noqa: PLC0415

    try:
        statement = Statement(payload)
    except SigstoreError as err:
        raise SigningError(f"not an in-toto Statement v1: {_text(err)}") from None
    token = _identity_token(identity_token)
    config = _client_trust_config(staging, trust_config)
    # sigstore-python's Fulcio and Rekor clients raise requests errors (OSError), its own errors, and
    # plain Exception subclasses from private modules; these are the ones a signing run can meet.
    from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError  # noqa: PLC0415
    from sigstore._internal.rekor import RekorClientError  # noqa: PLC0415

    try:
        context = SigningContext.from_trust_config(config)
        with context.signer(token) as signer:
            signed = signer.sign_dsse(statement)
    except (ExpiredIdentity, ExpiredCertificate) as err:
        raise SigningError(
            f"Sigstore signing failed: the identity token or certificate expired ({type(err).__name__})",
            hint="get a fresh identity token and sign again",
        ) from None
    except OSError as err:  # requests' errors: no route, refused, DNS, TLS, timeouts
        request = getattr(err, "request", None)
        url = getattr(request, "url", None) or "the Sigstore services"
        raise SigningError(
            f"Sigstore signing failed: cannot reach {url} ({type(err).__name__})",
            hint="signing needs network access to the instance's Fulcio and Rekor",
        ) from None
    except (FulcioClientError, RekorClientError, SigstoreError, ValueError) as err:
        raise SigningError(
            f"Sigstore signing failed: {type(err).__name__}: {_text(err)}",
            hint="signing needs network access to the instance's Fulcio and Rekor and a valid OIDC token",
        ) from None
    result: dict[str, Any] = json.loads(signed.to_json())
    return result
